"""Install paths: what the core install needs and what each extra brings, checked in subprocesses
where an optional package is made to fail on import (.ci/install-paths.sh checks real installs).

- commands that use no framework import neither torch nor TensorFlow;
- a torch whose import raises OSError (a broken CUDA build) or ImportError breaks only runs that
  use torch, and those end in one line (exit 2);
- --plot and --html without their packages exit 2 before any training, naming the extra;
- trace shows one implementation alone; a run still needs two;
- every requirement in pyproject.toml is pinned in constraints.txt.
"""
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from compare.views.text import logical_lines

REPO = Path(__file__).resolve().parent.parent
MAIN = "sys.argv[0] = 'compare'\nfrom compare.cli import main\nrc = main(sys.argv[1:])\n"


def broken(module, error):
    """A prelude that makes `import module` (and its submodules) raise `error`."""
    return ("import sys, importlib.abc\n"
            "class Broken(importlib.abc.MetaPathFinder):\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            f"        if name == {module!r} or name.startswith({module + '.'!r}):\n"
            f"            raise {error}('cannot load {module} (simulated): libcudart.so.12: cannot open shared object file')\n"
            "sys.meta_path.insert(0, Broken())\n")


def run(code, *argv, cwd=REPO):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=300)


def one_line(result):
    assert len(logical_lines(result.stderr)) == 1, result.stderr
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize("argv", [["list"], ["bugs"], ["code", "backward"], ["trace", "parity", "--frameworks", "scratch"]])
def test_commands_without_frameworks_import_neither_torch_nor_tensorflow(argv):
    code = ("import sys\n" + MAIN
            + "heavy = sorted(m for m in ('torch', 'tensorflow', 'keras', 'matplotlib') if m in sys.modules)\n"
            + "print('HEAVY', heavy, file=sys.stderr); sys.exit(rc)\n")
    result = run(code, *argv)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[-1] == "HEAVY []"


@pytest.mark.parametrize("error", ["OSError", "ImportError"])
def test_broken_torch_is_one_line_for_runs_that_use_it(error):
    result = run(broken("torch", error) + MAIN + "sys.exit(rc)\n", "toy3", "--frameworks", "scratch,torch", "--quiet")
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"error: framework 'torch' is not available here ({error}: cannot load torch")
    message = logical_lines(result.stderr)[0]       # wrapped to 100 columns: joined back
    assert message.endswith("install it with pip install -c constraints.txt '.[torch]'")
    one_line(result)


@pytest.mark.parametrize("error", ["OSError", "ImportError"])
def test_broken_jax_is_one_line_for_runs_that_use_it(error):
    result = run(broken("jax", error) + MAIN + "sys.exit(rc)\n", "toy3", "--frameworks", "scratch,jax", "--quiet")
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"error: framework 'jax' is not available here ({error}: cannot load jax")
    assert logical_lines(result.stderr)[0].endswith("install it with pip install -c constraints.txt '.[jax]'")
    one_line(result)


def test_broken_torch_does_not_break_a_keras_run():
    """scratch,keras with a torch that raises OSError on import: runs and passes, torch never tried."""
    pytest.importorskip("tensorflow")
    code = broken("torch", "OSError") + MAIN + "assert 'torch' not in sys.modules\nsys.exit(rc)\n"
    result = run(code, "toy3", "--frameworks", "scratch,keras", "--steps", "2", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "PASS" in result.stdout


@pytest.mark.parametrize("option,missing,extra", [
    ("--plot", "matplotlib", "plot"), ("--html", "pygments", "html"), ("--html", "matplotlib", "html")])
def test_missing_optional_package_is_refused_before_the_run(tmp_path, option, missing, extra):
    out = tmp_path / "out"
    code = f"import sys; sys.modules[{missing!r}] = None\n" + MAIN + "sys.exit(rc)\n"
    result = run(code, "toy3", "--frameworks", "scratch,torch", option, str(out), "--json", str(tmp_path / "r.json"))
    assert result.returncode == 2, result.stderr
    assert logical_lines(result.stderr) == [
        f"error: {option} needs {missing}, which cannot be imported here (ModuleNotFoundError); "
        f"install it with pip install -c constraints.txt '.[{extra}]'"]
    assert result.stdout == "" and not out.exists() and not (tmp_path / "r.json").exists()   # nothing trained


def test_trace_shows_one_implementation_but_a_run_needs_two():
    result = run("import sys\n" + MAIN + "sys.exit(rc)\n", "trace", "parity", "--frameworks", "scratch")
    assert result.returncode == 0, result.stderr
    assert "worked example: recipe parity" in result.stdout and "at the start of the step (scratch)" in result.stdout
    result = run("import sys\n" + MAIN + "sys.exit(rc)\n", "parity", "--frameworks", "scratch")
    assert result.returncode == 2 and "one implementation alone has nothing to be compared with" in result.stderr
    one_line(result)


def requirement_name(requirement):
    return re.match(r"[A-Za-z0-9_.-]+", requirement).group(0).lower()


def test_core_and_extras_and_every_requirement_pinned():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    core = {requirement_name(r) for r in project["project"]["dependencies"]}
    assert core == {"numpy", "tabulate", "tqdm", "threadpoolctl", "pooch"}
    extras = project["project"]["optional-dependencies"]
    assert {requirement_name(r) for r in extras["plot"]} == {"matplotlib"}
    assert {requirement_name(r) for r in extras["html"]} == {"pygments", "matplotlib"}
    assert {requirement_name(r) for r in extras["torch"]} == {"torch"}
    assert {requirement_name(r) for r in extras["jax"]} == {"jax", "jaxlib", "flax", "optax"}
    assert "framework-mirror[torch,keras,jax,plot,html,fast]" in extras["all"]      # and so dev
    pins = {requirement_name(line): line for line in (REPO / "constraints.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")}
    everything = core | {requirement_name(r) for rs in extras.values() for r in rs} - {"framework-mirror"}
    for name in everything:
        assert name in pins and "==" in pins[name], f"{name} is not pinned in constraints.txt"
    data = project["tool"]["setuptools"]["package-data"]["compare.data"]
    assert "mnist_files/*.gz" in data and "mnist_files/*.md" in data
