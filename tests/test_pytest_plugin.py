"""The pytest plugin (compare/pytest_plugin.py) as a user meets it: a small project of its own
(tests/user_project: declaration files, tests using the `mirror` fixture, its marker and plain
pytest) run by pytest in a subprocess, once in order and once under pytest-xdist -n 2 with the
items in reverse order; and an unrelated project, where the plugin must be inert and cost nothing.

Each run happens in a copy of the project, with the plugin registered through its entry point
(a dist-info on PYTHONPATH naming `framework_mirror = compare.pytest_plugin`, as pyproject.toml
does, so the test does not depend on when the package was last installed) and, for the user
project, torch, TensorFlow and Keras made uninstalled (a package of each name raising ImportError):
the project checks against scratch, and a test asking for Keras must be skipped with the reason.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PROJECT = Path(__file__).resolve().parent / "user_project"
BLOCKED = ("torch", "tensorflow", "keras")

PASSED = ["nets/blog_net.py::mine[scratch]", "test_port.py::test_settings_come_from_the_ini_file",
          "test_port.py::test_functions_module_passes", "test_port.py::test_float32_mode",
          "test_port.py::test_plain_pytest_without_the_fixture"]
FAILED = ["nets/blog_net_bug.py::mine[scratch]", "test_port.py::test_functions_module_with_a_mistake"]
SKIPPED = ["test_port.py::test_against_keras", "nets.torch_net"]    # a file skipped as it is collected: junit
#                                                                       names it by its module


def site_dir(tmp_path, block):
    """A folder for PYTHONPATH: the plugin's entry point, a reverse-order plugin, and (block) the
    frameworks made uninstalled."""
    site = tmp_path / "site"
    dist = site / "framework_mirror_entry-0.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: framework-mirror-entry\nVersion: 0.0\n")
    (dist / "entry_points.txt").write_text("[pytest11]\nframework_mirror = compare.pytest_plugin\n")
    (site / "reverse_order.py").write_text("def pytest_collection_modifyitems(items):\n    items.reverse()\n")
    for name in BLOCKED if block else ():
        (site / name).mkdir()
        (site / name / "__init__.py").write_text(f'raise ModuleNotFoundError("No module named {name!r}", name={name!r})\n')
    return site


def pytest_in(folder, site, *args, timeout=300):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "PYTEST_ADDOPTS")}
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(REPO)])
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=timeout)


def outcomes(path, folder):
    """junit XML -> {node id: (outcome, the failure or skip text, `folder` left out of it)}"""
    found = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        classname = case.get("classname")
        node = f"{classname.replace('.', '/')}.py::{case.get('name')}" if classname else case.get("name")
        result = ("passed", "")
        for tag in ("failure", "skipped", "error"):
            element = case.find(tag)
            if element is not None:
                text = element.text or element.get("message") or ""
                result = (tag, text.replace(f"{folder}{os.sep}", ""))
        found[node] = result
    return found


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The user project run in order, then under xdist -n 2 with each worker's items in reverse
    order: -> {way: (CompletedProcess, outcomes, reports folder)}"""
    tmp = tmp_path_factory.mktemp("plugin")
    site = site_dir(tmp, block=True)
    found = {}
    for way, extra in (("plain", []), ("xdist", ["-n", "2", "-p", "reverse_order"])):
        project = tmp / way
        shutil.copytree(PROJECT, project)
        result = pytest_in(project, site, "--mirror", "nets", "test_port.py", "-rA", "--junitxml", "out.xml",
                           "--mirror-reports", "reports", *extra)
        found[way] = (result, outcomes(project / "out.xml", project), project / "reports")
    return found


def test_user_project_passes_fails_and_skips_each_item_as_it_should(runs):
    result, found, _ = runs["plain"]
    assert result.returncode == 1, result.stdout + result.stderr
    assert sorted(found) == sorted(PASSED + FAILED + SKIPPED), found
    assert {node for node, (outcome, _) in found.items() if outcome == "passed"} == set(PASSED)
    assert {node for node, (outcome, _) in found.items() if outcome == "failure"} == set(FAILED)
    assert {node for node, (outcome, _) in found.items() if outcome == "skipped"} == set(SKIPPED)
    assert "keras is not installed: framework 'keras' is not available here" in found[SKIPPED[0]][1]
    assert "torch is not installed: " in found[SKIPPED[1]][1] and "nets/torch_net.py" in found[SKIPPED[1]][1]
    assert "2 failed, 5 passed, 2 skipped" in result.stdout


def test_a_failure_reads_as_the_verdict_with_the_reports_numbers(runs):
    result, found, reports = runs["plain"]
    out = result.stdout
    assert "Traceback" not in out and "compare/engine" not in out and "harness.py" not in out, out
    assert "raise_unless_passed" not in out and "AssertionError" not in out
    kept = sorted(reports.iterdir())
    assert [p.name for p in kept] == ["nets_blog_net_bug.py_mine[scratch].json",
                                      "test_port.py_test_functions_module_with_a_mistake.json"]
    for node, path in zip(FAILED, kept):
        d = json.loads(path.read_text())["summary"]["first_divergence"]
        assert (d["step"], d["layer"], d["tensor"], d["ours"], d["theirs"]) == (1, 1, "dW1", "mine", "scratch")
        text = found[node][1]
        lines = text.splitlines()
        assert lines[0].startswith("MISMATCH: first divergence at step 1, mine vs scratch: layer 1, dW1[")
        index = "[" + ", ".join(map(str, d["index"])) + "]"
        for line in ("  step       1", "  pair       mine vs scratch", "  layer      1", f"  tensor     dW1{index}",
                     f"  mine       {d['values']['mine']!r}", f"  scratch    {d['values']['scratch']!r}",
                     f"  error      abs {d['max_abs_err']:.3g}, rel {d['max_rel_err']:.3g} > rtol 1e-09",
                     f"  diagnosis  {d['diagnosis']}", "run: 1 of 3 steps, float64 (rtol 1e-09), mine against "
                     "scratch, seed 0"):
            assert line in lines, f"{line!r} not in\n{text}"
        assert abs(d["values"]["mine"] - d["values"]["scratch"]) == pytest.approx(d["max_abs_err"])
        assert lines[-1] == "settings: steps 3, against scratch"       # the ini file's
        assert f"FAILED {node} - MISMATCH" in out


def test_xdist_in_reverse_order_gives_the_same_results(runs):
    (plain, found_plain, kept_plain), (result, found, kept) = runs["plain"], runs["xdist"]
    assert result.returncode == 1, result.stdout + result.stderr
    assert "created: 2/2 workers" in result.stdout
    assert found == found_plain                             # every outcome, every failure's text
    assert sorted(p.name for p in kept.iterdir()) == sorted(p.name for p in kept_plain.iterdir())
    for path in kept.iterdir():                             # the reports' numbers, step by step
        ours, theirs = (json.loads(p.read_text()) for p in (path, kept_plain / path.name))
        assert ours["steps"] == theirs["steps"] and ours["summary"] == theirs["summary"]


UNRELATED = '''import json, os, sys


def test_nothing_heavy_was_imported():
    assert [m for m in ("torch", "tensorflow", "keras", "numpy", "compare.engine.run") if m in sys.modules] == []


def test_write_the_options(pytestconfig):
    options = {k: repr(v) for k, v in sorted(vars(pytestconfig.option).items())
               if not k.startswith("mirror") and k != "plugins"}
    ini = {k: repr(pytestconfig.getini(k)) for k in ("addopts", "python_files", "testpaths", "markers")}
    with open(os.environ["OPTIONS_OUT"], "w") as f:
        json.dump({"options": options, "ini": ini,
                   "plugin": pytestconfig.pluginmanager.has_plugin("framework_mirror")}, f)
'''


def unrelated_project(tmp_path, files=20):
    folder = tmp_path / "unrelated"
    folder.mkdir()
    (folder / "test_options.py").write_text(UNRELATED)
    for i in range(files):
        (folder / f"test_m{i:02d}.py").write_text("".join(f"def test_{j}():\n    assert {j} == {j}\n\n\n"
                                                         for j in range(5)))
    return folder


def test_the_plugin_is_inert_in_a_run_that_does_not_use_it(tmp_path):
    folder, site = unrelated_project(tmp_path), site_dir(tmp_path, block=False)
    seen = {}
    for way, extra in (("on", []), ("off", ["-p", "no:framework_mirror"])):
        os.environ["OPTIONS_OUT"] = str(tmp_path / f"{way}.json")
        try:
            result = pytest_in(folder, site, "-q", "test_options.py", *extra)
        finally:
            del os.environ["OPTIONS_OUT"]
        assert result.returncode == 0, result.stdout + result.stderr
        seen[way] = json.loads((tmp_path / f"{way}.json").read_text())
    assert seen["on"]["plugin"] is True and seen["off"]["plugin"] is False
    assert seen["on"]["options"] == seen["off"]["options"]
    assert seen["on"]["ini"]["addopts"] == seen["off"]["ini"]["addopts"] == "[]"
    marks = [m for m in eval(seen["on"]["ini"]["markers"]) if m not in eval(seen["off"]["ini"]["markers"])]
    assert [m.split("(")[0] for m in marks] == ["mirror"]          # its own marker, nothing else


MEASURE = """import contextlib, io, json, sys, time
import pytest

before = set(sys.modules)
start = time.process_time()
import compare.pytest_plugin                  # what loading the entry point costs, alone
cost = time.process_time() - start
added = sorted(set(sys.modules) - before)
times = {"on": [], "off": []}
for _ in range(7):                            # then whole collections, in this warm process
    for way, extra in (("on", []), ("off", ["-p", "no:framework_mirror"])):
        start = time.process_time()
        with contextlib.redirect_stdout(io.StringIO()):
            code = pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider", *extra])
        times[way].append(time.process_time() - start)
        assert code == 0
print(json.dumps({"import": cost, "modules": added, "on": min(times["on"]), "off": min(times["off"])}))
"""


def test_the_plugin_costs_an_unrelated_projects_collection_under_50_ms(tmp_path):
    """What the plugin adds to collecting an unrelated project (102 tests), in CPU time: importing
    it (the modules it brings: itself, compare/__init__.py and compare/engine/display.py, which
    import nothing else), plus what its hooks add to a whole collection (the fastest of seven
    collections with it and seven without, run alternately in one warm process, so no
    interpreter start-up blurs the difference)."""
    folder, site = unrelated_project(tmp_path), site_dir(tmp_path, block=False)
    (tmp_path / "measure.py").write_text(MEASURE)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "PYTEST_ADDOPTS")}
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(REPO)])
    out = subprocess.run([sys.executable, str(tmp_path / "measure.py")], cwd=folder, env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found["modules"] == ["compare", "compare.engine", "compare.engine.display", "compare.pytest_plugin"]
    hooks = found["on"] - found["off"]
    print(f"\nthe plugin in an unrelated project's collection (102 tests): import {found['import'] * 1e3:.1f} ms, "
          f"collection {found['on'] * 1e3:.0f} ms with it, {found['off'] * 1e3:.0f} ms without "
          f"({hooks * 1e3:+.1f} ms)")
    assert found["import"] + max(hooks, 0.0) < 0.050


def test_the_entry_point_is_declared_as_the_tests_register_it():
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["pytest11"] == {"framework_mirror": "compare.pytest_plugin"}
    assert any(req.startswith("pytest-xdist") for req in project["optional-dependencies"]["dev"])
    pinned = (REPO / "constraints.txt").read_text()
    assert re.search(r"^pytest-xdist==\d", pinned, re.M)


def test_the_ci_recipe_runs_the_suite_and_caches_the_frameworks():
    yaml = pytest.importorskip("yaml")
    workflow = yaml.safe_load((REPO / "docs" / "ci" / "github-actions.yml").read_text())
    steps = workflow["jobs"]["test"]["steps"]
    uses = [step.get("uses", "").split("@")[0] for step in steps]
    assert {"actions/setup-python", "actions/cache", "actions/upload-artifact"} <= set(uses)
    setup = next(s for s in steps if s.get("uses", "").startswith("actions/setup-python"))
    assert setup["with"]["cache"] == "pip"
    cache = next(s for s in steps if s.get("uses", "").startswith("actions/cache"))
    install = next(s for s in steps if s.get("name") == "Install")
    assert install["if"] == "steps.site.outputs.cache-hit != 'true'" and "hashFiles" in cache["with"]["key"]
    assert "download.pytorch.org/whl/cpu" in install["run"]
    run = next(s for s in steps if s.get("name") == "Gradient-equivalence tests")["run"]
    assert "-n 2" in run and "--mirror-reports mirror-reports" in run
