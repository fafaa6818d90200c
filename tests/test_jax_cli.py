"""JAX on the command line (issue 23, point 5): a run that needs JAX where it cannot be imported is
one line naming the extra; the caller's JAX settings are the same after a run with JAX as before
(returned, raised, interrupted), while the run itself computed in float64; a recipe with all four
frameworks passes through `python -m compare` (the worker process included) with the jax pairs and
JAX's versions in the JSON report; the mnist network with four frameworks gives identical test
predictions (a few steps here; the full run's numbers are in docs/performance.md)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

jax = pytest.importorskip("jax")
pytest.importorskip("flax")
pytest.importorskip("optax")
import jax.numpy as jnp  # noqa: E402

import compare  # noqa: E402
from compare.adapters.base import UserImplementation  # noqa: E402
from compare.cli import main  # noqa: E402
from compare.data import recipes  # noqa: E402
from compare.views.text import logical_lines  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
TOY = recipes.get("toy3")
BROKEN_JAX = ("import sys, importlib.abc\n"
              "class Broken(importlib.abc.MetaPathFinder):\n"
              "    def find_spec(self, name, path=None, target=None):\n"
              "        if name.split('.')[0] in ('jax', 'jaxlib', 'flax', 'optax'):\n"
              "            raise ImportError(f'No module named {name!r} (simulated)')\n"
              "sys.meta_path.insert(0, Broken())\n"
              "sys.argv[0] = 'compare'\nfrom compare.cli import main\nsys.exit(main(sys.argv[1:]))\n")


def subprocess_env():
    env = dict(os.environ, PYTHONPATH=str(REPO), COLUMNS="100")
    for key in ("XLA_FLAGS", "FRAMEWORK_MIRROR_JAX_LANE", "FRAMEWORK_MIRROR_WORKER", "FRAMEWORK_MIRROR_SEQUENTIAL"):
        env.pop(key, None)
    return env


def test_a_check_against_jax_without_it_is_one_line_naming_the_extra():
    """(A recipe run: tests/test_install.py.) check of a torch model --against jax."""
    argv = ["check", "examples/torch_sequential.py", "--against", "jax"]
    result = subprocess.run([sys.executable, "-c", BROKEN_JAX, *argv], capture_output=True, text=True,
                            env=subprocess_env(), cwd=REPO, timeout=300)
    assert result.returncode == 2, result.stderr
    assert logical_lines(result.stderr) == [
        "error: framework 'jax' is not available here (ImportError: No module named 'jax' (simulated)); "
        "install it with pip install -c constraints.txt '.[jax]'"]
    assert result.stdout == "" and "Traceback" not in result.stderr


def test_python_m_compare_without_jax_is_one_line_whichever_process_runs_its_lane(tmp_path):
    """A `jax` that raises ImportError in this process and in the worker (first on the path of both):
    four frameworks through `python -m compare` end with exit 2 and the one line."""
    (tmp_path / "jax").mkdir()
    (tmp_path / "jax" / "__init__.py").write_text("raise ImportError('No module named jax (simulated)')\n")
    env = dict(subprocess_env(), PYTHONPATH=f"{tmp_path}{os.pathsep}{REPO}")
    result = subprocess.run([sys.executable, "-m", "compare", "toy3", "--frameworks", "scratch,torch,keras,jax",
                             "--quiet"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert result.returncode == 2, result.stderr
    assert logical_lines(result.stderr) == [
        "error: framework 'jax' is not available here (ImportError: No module named jax (simulated)); "
        "install it with pip install -c constraints.txt '.[jax]'"]


def jax_settings():
    """The caller's JAX flags, read with JAX's own getters, and what a new array's dtypes are."""
    return {"x64": jax.config.jax_enable_x64, "matmul": jax.config.jax_default_matmul_precision,
            "promotion": jax.config.jax_numpy_dtype_promotion,
            "float array": jnp.asarray(np.ones(2)).dtype, "float32 array": jnp.ones(2, jnp.float32).dtype}


@pytest.fixture(params=[False, True], ids=["x64 off", "x64 on"])
def caller(request):
    """A caller with x64 off (JAX's default) or on, and its own matmul precision; put back after."""
    before = (jax.config.jax_enable_x64, jax.config.jax_default_matmul_precision)
    jax.config.update("jax_enable_x64", request.param)
    jax.config.update("jax_default_matmul_precision", "high")
    try:
        settings = jax_settings()
        assert settings["float array"] == (jnp.float64 if request.param else jnp.float32)
        yield settings
    finally:
        jax.config.update("jax_enable_x64", before[0])
        jax.config.update("jax_default_matmul_precision", before[1])


def test_a_run_computes_in_float64_and_gives_the_callers_settings_back(caller):
    report = compare.run(TOY.spec.replace(steps=2), TOY.load(), frameworks=("scratch", "jax"))
    assert report.verdict == "pass"
    assert report.summary["pairs"]["jax"]["ours"] == "scratch@jax"
    assert report.summary["max_rel_err"]["jax"] < 1e-12     # float64 agreement: x64 was on inside the run
    assert jax_settings() == caller


def test_an_interrupt_mid_run_gives_the_callers_settings_back(caller):
    def on_step(result):
        raise KeyboardInterrupt

    report = compare.run(TOY.spec.replace(steps=2), TOY.load(), frameworks=("scratch", "jax"), on_step=on_step)
    assert report.verdict == "interrupted" and report.summary["steps_completed"] == 1
    assert jax_settings() == caller


class JaxMeddler(UserImplementation):
    """A user's step that sets JAX's flags process-wide (jax.config.update), then raises."""
    name = "meddler"

    def build(self, spec, params, convention):
        class Step:
            def step(self, X, Y):
                jax.config.update("jax_enable_x64", not jax.config.jax_enable_x64)
                jax.config.update("jax_default_matmul_precision", "bfloat16")
                jax.config.update("jax_numpy_dtype_promotion", "strict")
                raise ValueError("the user's bug")
        return Step()


def test_a_users_code_that_changes_jax_flags_and_raises_leaves_them_as_they_were(caller):
    spec = compare.Spec(sizes=[4, 5, 3], activations=["tanh", "softmax"], loss="categorical_crossentropy",
                        lr=0.1, batch_size=8, steps=1, epochs=None)
    report = compare.check(JaxMeddler(), spec=spec, against=("jax",))
    assert report.verdict == "error" and "the user's bug" in report.summary["error"]["exception"]
    assert jax_settings() == caller


def test_a_recipe_with_four_frameworks_through_the_command_line(tmp_path):
    """python -m compare (its worker process runs Keras's and JAX's lanes): exit 0, the jax pairs
    judged and in the JSON, JAX's versions, devices and XLA flags in the environment."""
    import flax
    import jaxlib
    import optax

    path = tmp_path / "report.json"
    result = subprocess.run([sys.executable, "-m", "compare", "toy3", "--frameworks", "scratch,torch,keras,jax",
                             "--quiet", "--json", str(path)], capture_output=True, text=True, env=subprocess_env(),
                            cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr
    report = json.loads(path.read_text())
    pairs = report["summary"]["pairs"]
    assert {"jax", "torch~jax", "keras~jax"} <= set(pairs)
    assert pairs["jax"]["ours"] == "scratch@jax" and pairs["torch~jax"]["judged"] and pairs["keras~jax"]["judged"]
    assert report["summary"]["verdict"] == "pass"
    assert max(report["summary"]["max_rel_err"][k] for k in ("jax", "torch~jax", "keras~jax")) < 1e-12
    env = report["environment"]
    assert (env["jax"]["version"], env["jax"]["jaxlib"], env["jax"]["flax"], env["jax"]["optax"]) == \
        (jax.__version__, jaxlib.__version__, flax.__version__, optax.__version__)
    assert env["jax"]["backend"] == "cpu" and env["jax"]["devices"]
    assert env["jax"]["process"] == env["keras"]["process"] == "worker"      # JAX's lane beside Keras's
    assert env["jax"]["XLA_FLAGS"] == "--xla_cpu_multi_thread_eigen=false"  # XLA on the calling thread


def test_mnist_with_four_frameworks_predicts_the_same(mnist_dir, tmp_path, capsys):
    """The mnist network, 3 steps, real MNIST: every implementation's 10,000 test predictions the same."""
    path = tmp_path / "report.json"
    code = main(["mnist", "--steps", "3", "--frameworks", "scratch,torch,keras,jax", "--data-dir", str(mnist_dir),
                 "--quiet", "--json", str(path)])
    capsys.readouterr()
    assert code == 0
    summary = json.loads(path.read_text())["summary"]
    assert summary["predictions_identical"] is True
    assert summary["predictions_differing_pairs"] == {"torch": 0, "keras": 0, "jax": 0, "torch~keras": 0,
                                                      "torch~jax": 0, "keras~jax": 0}
    accuracy = summary["test_accuracy"]
    assert set(accuracy) == {"scratch", "torch", "scratch@keras", "keras", "scratch@jax", "jax"}
    assert len(set(accuracy.values())) == 1 and 0.1 < accuracy["jax"] < 1
