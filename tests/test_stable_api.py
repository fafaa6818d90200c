"""The public API holds still: every name in compare.__all__ resolves and is documented, a file
written against 0.1.0 (imports from compare.recipes and compare.bugs) still passes with a
DeprecationWarning naming each new place, the version is one (pyproject, compare.__version__,
`python -m compare --version`, CHANGELOG.md), and models are passed to compare.check and
compare.assert_equivalent as they are."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import compare

REPO = Path(__file__).resolve().parent.parent


def child_env():
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "PYTEST_ADDOPTS")}
    env["PYTHONPATH"] = str(REPO)
    return env


def test_every_public_name_resolves_and_is_documented():
    page = (REPO / "docs" / "testing.md").read_text()
    for name in compare.__all__:
        assert getattr(compare, name) is not None, name
        assert f"`{name}`" in page or f"compare.{name}" in page, f"compare.{name} is not in docs/testing.md"
    assert set(dir(compare)) >= set(compare.__all__)
    with pytest.raises(AttributeError, match="has no attribute 'recipe'"):
        compare.recipe


def test_import_compare_imports_nothing_heavy():
    code = ("import sys, compare; print(sorted(m for m in ('numpy', 'torch', 'tensorflow', 'keras', 'compare.engine.run') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=child_env(), cwd=REPO)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_the_version_is_pyprojects_everywhere():
    version = re.search(r'^version = "([^"]+)"', (REPO / "pyproject.toml").read_text(), re.M).group(1)
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)                      # semantic versioning
    assert compare.__version__ == version
    out = subprocess.run([sys.executable, "-m", "compare", "--version"], capture_output=True, text=True,
                         env=child_env(), cwd=REPO)
    assert (out.returncode, out.stdout) == (0, f"framework-mirror {version}\n"), out.stderr
    changelog = (REPO / "CHANGELOG.md").read_text()
    assert "keepachangelog.com" in changelog and "semver.org" in changelog
    releases = re.findall(r"^## \[(\d+\.\d+\.\d+)\] - (\d{4}-\d{2}-\d{2})$", changelog, re.M)
    assert releases[0][0] == version, releases                          # the newest release first
    assert "## [Unreleased]" in changelog


def test_a_test_file_written_for_0_1_passes_with_deprecation_warnings(tmp_path):
    folder = tmp_path / "old"
    shutil.copytree(REPO / "tests" / "user_project" / "old_api", folder)
    out = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-W", "default",
                          "test_api_0_1.py"], capture_output=True, text=True, env=child_env(), cwd=folder, timeout=300)
    text = out.stdout + out.stderr
    assert out.returncode == 0 and "4 passed" in text, text
    for old, new, line in (("recipes", "data.recipes", 6), ("bugs", "data.bugs", 5)):
        assert f"test_api_0_1.py:{line}: DeprecationWarning: compare.{old} moved to compare.{new}: import " \
               f"compare.{new} (the old name works until framework-mirror 0.3.0)" in text, text


def test_a_moved_module_is_the_new_module_and_warns_once(recwarn):
    code = ("import warnings; warnings.simplefilter('always')\n"
            "import compare.data.bugs as new\nfrom compare import bugs\nimport compare.bugs as again\n"
            "print(bugs is new is again, len(new.BUGS))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=child_env(), cwd=REPO)
    assert out.stdout.split() == ["True", str(len(compare_data_bugs().BUGS))], out.stderr
    assert out.stderr.count("DeprecationWarning: compare.bugs moved to compare.data.bugs") == 1, out.stderr
    assert out.stderr.startswith("<string>:3: DeprecationWarning"), out.stderr


def compare_data_bugs():
    from compare.data import bugs
    return bugs


# --- models passed as they are ---------------------------------------------------------------

def xor_like(n=16, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4))
    return X, np.eye(3)[rng.integers(0, 3, n)]


def test_a_torch_model_and_its_keras_port_passed_as_they_are():
    torch = pytest.importorskip("torch")
    keras = pytest.importorskip("keras")
    torchnet = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3),
                                   torch.nn.Softmax(dim=1))
    kerasnet = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="tanh"),
                                 keras.layers.Dense(3, activation="softmax")])
    report = compare.assert_equivalent(torchnet, kerasnet, data=xor_like(), steps=2, against="scratch")
    assert report.runners == ["torchnet", "scratch", "kerasnet", "scratch@keras"]
    assert set(report.summary["judged_pairs"]) == {"torchnet~scratch", "kerasnet~scratch", "torchnet~kerasnet"}
    assert report.summary["steps_completed"] == 2 and report.config["data"]["source"] == "arrays"

    relu = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                             keras.layers.Dense(3, activation="softmax")])
    with pytest.raises(compare.NotEquivalent) as caught:
        compare.assert_equivalent(torchnet, relu, data=xor_like(), steps=2, against="scratch")
    d = caught.value.report.summary["first_divergence"]
    assert isinstance(caught.value, AssertionError)
    assert (d["step"], d["layer"], d["tensor"], d["ours"], d["theirs"]) == (1, 1, "A1", "torchnet", "kerasnet")
    assert "the activation after Dense 1: tanh (torch) vs relu (keras)" in str(caught.value)


def test_a_module_of_functions_and_arrays_as_data(tmp_path):
    sys.path.insert(0, str(REPO / "tests" / "user_project"))
    try:
        from nets import blog_net
    finally:
        sys.path.remove(str(REPO / "tests" / "user_project"))
    spec = compare.Spec(sizes=[2, 4, 1], activations=["tanh", "sigmoid"], loss="binary_crossentropy")
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    report = compare.check(blog_net, spec=spec, data=(X, [0, 1, 1, 0]), steps=2, against="scratch")
    assert report.passed and report.runners == ["mine", "scratch"]
    old_form = compare.check(blog_net.mine, spec, "xor", against="scratch", steps=2)    # (mine, spec, data)
    assert old_form.passed and old_form.config["data"]["recipe"] == "xor"


@pytest.mark.parametrize("call, message", [
    (lambda: compare.check(object()), "cannot check a object: give a torch nn.Module, a Keras model"),
    (lambda: compare.check(None), "nothing to check: give at least one implementation"),
    (lambda: compare.check(compare.Spec(sizes=[2, 1], activations=["sigmoid"])), "nothing to check"),
])
def test_what_is_not_a_model_is_one_line(call, message):
    with pytest.raises(compare.InputError, match=re.escape(message)):
        call()


def test_a_nielsen_network_instance_passed_as_it_is():
    from compare.adapters.check import load_file

    module = load_file(str(REPO / "examples" / "nielsen_network.py"), seed=0)
    report = compare.check(module.net, steps=2, against="scratch", overrides=dict(batch_size=4, lr=3.0))
    assert report.passed and report.runners == ["mine", "scratch"]
    assert report.config["sizes"] == [784, 30, 10] and report.summary["steps_completed"] == 2
    wrapped = compare.check(module.mine, steps=2, against="scratch")            # the declaration, the same run
    assert wrapped.steps == report.steps
