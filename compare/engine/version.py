"""compare.__version__ and `python -m compare --version`: the version of the framework-mirror
distribution, as pyproject.toml declares it.

In a source checkout (pyproject.toml beside the package, naming framework-mirror) that file is
read, so an editable install whose metadata was written before the version changed still says the
version of the code it runs; otherwise the installed package's metadata (importlib.metadata).
Versions follow semantic versioning (CHANGELOG.md).
"""
import os
import re

DISTRIBUTION = "framework-mirror"


def source_version():
    """The version in the pyproject.toml of the checkout this package sits in, or None."""
    here = os.path.dirname(os.path.abspath(__file__))                 # compare/engine
    path = os.path.join(os.path.dirname(os.path.dirname(here)), "pyproject.toml")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return None
    project = re.search(r"^\[project\]\s*$(.*?)(?=^\[|\Z)", text, re.M | re.S)
    if not project or not re.search(rf'^name\s*=\s*"{DISTRIBUTION}"', project.group(1), re.M):
        return None
    found = re.search(r'^version\s*=\s*"([^"]+)"', project.group(1), re.M)
    return found.group(1) if found else None


def version():
    """-> '0.2.0'"""
    found = source_version()
    if found:
        return found
    from importlib import metadata
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "0+unknown"
