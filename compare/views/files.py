"""Writing what a run produces (JSON, PNG, HTML): checked before the run, written atomically.

Left out: what is written (compare/engine/report.py, compare/views/plots.py, compare/views/html.py).
"""
import json
import os
import tempfile


def check_writable(path, what):
    """Fail before training, not after it, if `path` cannot be written. Raises InputError."""
    from ..engine.errors import InputError

    folder = os.path.dirname(os.path.abspath(path)) or "."
    if os.path.isdir(path):
        raise InputError(f"--{what} {path} is a directory; give a file name")
    if not os.path.isdir(folder):
        raise InputError(f"--{what} {path}: folder {folder} does not exist")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".check-", delete=True):
            pass
    except OSError as error:
        raise InputError(f"--{what} {path} is not writable: {error.strerror}") from None
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise InputError(f"--{what} {path} is not writable: permission denied")


def write_atomic(path, write, mode="w"):
    """Write through a temporary file in the same folder, then rename: readers see the old file
    or the complete new one, never half of it. write(file_object); mode 'w' or 'wb'."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json(report, path):
    write_atomic(path, lambda f: json.dump(report.to_json(), f, indent=1, allow_nan=False))
