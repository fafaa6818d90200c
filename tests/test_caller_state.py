"""The caller's world after a call is the world before it (compare/engine/caller_state.py): every
global setting the tool or the user's code touches, read here independently of the module that
restores it, is the same after compare.run, compare.check, compare.assert_equivalent and
compare.cli.main (in-process) return or raise; two threads calling at once leave it unchanged too
and get the reports they get one after the other; and a --weights mine report says so."""
import gc
import io
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
import torch
from keras.src.backend.common import global_state
from tensorflow.python.eager import context
from tensorflow.python.framework import config as tf_config
from threadpoolctl import threadpool_info

import compare
from compare.adapters.base import UserImplementation
from compare.cli import main
from compare.data import recipes
from compare.engine import frameworks

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOY = recipes.get("toy3")
SPEC = compare.Spec(sizes=[4, 5, 3], activations=["tanh", "softmax"], loss="categorical_crossentropy",
                    lr=0.1, batch_size=8, steps=1, epochs=None)      # Meddler's step gives Z1 only: one step


def world():
    """Every global setting the brief lists, read with the libraries' own getters."""
    return {
        "keras.floatx": keras.config.floatx(), "keras.epsilon": keras.config.epsilon(),
        "keras.image_data_format": keras.config.image_data_format(),
        "keras.dtype_policy": global_state.get_global_attribute("dtype_policy"),
        "keras.seed": global_state.get_global_attribute("global_random_seed"),
        "keras.seed_generator": global_state.get_global_attribute("global_seed_generator"),
        "tf.seed": context.global_seed(), "tf.op_determinism": tf_config.is_op_determinism_enabled(),
        "tf.threads": (tf.config.threading.get_intra_op_parallelism_threads(),
                       tf.config.threading.get_inter_op_parallelism_threads()),
        "torch.random": torch.get_rng_state().numpy().tobytes(), "torch.dtype": torch.get_default_dtype(),
        "torch.device": str(torch.get_default_device()), "torch.threads": torch.get_num_threads(),
        "torch.threads of a new thread": in_a_new_thread(torch.get_num_threads),
        "torch.deterministic": (torch.are_deterministic_algorithms_enabled(),
                                torch.is_deterministic_algorithms_warn_only_enabled()),
        "torch.grad": torch.is_grad_enabled(), "torch.matmul": torch.get_float32_matmul_precision(),
        "random": random.getstate(), "numpy.random": repr(np.random.get_state()), "numpy.seterr": np.geterr(),
        "numpy.printoptions": np.get_printoptions(), "gc": gc.isenabled(),
        "env": {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"},
        "filters": list(warnings.filters), "showwarning": warnings.showwarning,
        "sys.path": list(sys.path), "stdout": sys.stdout, "stderr": sys.stderr, "cwd": os.getcwd(),
        "recursionlimit": sys.getrecursionlimit(),
        "threadpools": sorted((i["filepath"], i["num_threads"]) for i in threadpool_info()),
        "signals": {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)},
        "user modules": sorted(m for m in sys.modules if m.startswith("user_")),
        "compare threads": frameworks.CONFIGURED["threads"],
    }


def in_a_new_thread(read):
    out = []
    thread = threading.Thread(target=lambda: out.append(read()))
    thread.start()
    thread.join()
    return out[0]


def assert_same_world(before):
    after = world()
    changed = {k: (before[k], after[k]) for k in before if before[k] != after[k]}
    if "env" in changed:                             # the variables that differ, not the whole environment
        b, a = changed["env"]
        changed["env"] = {k: (b.get(k), a.get(k)) for k in set(a) | set(b) if a.get(k) != b.get(k)}
    assert not changed, changed


def meddle():
    """What a hostile user's code does to the process while it runs."""
    random.seed(1)
    np.random.seed(1)
    torch.manual_seed(1)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.set_float32_matmul_precision("medium")
    keras.config.set_floatx("float16")
    keras.config.set_image_data_format("channels_first")
    keras.utils.set_random_seed(4)                   # Python, NumPy, TensorFlow's and Keras's seeds
    tf.config.experimental.enable_op_determinism()
    os.environ["FRAMEWORK_MIRROR_CALLER_VAR"] = "changed by the user"
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
    os.environ.pop("FRAMEWORK_MIRROR_CALLER_GONE", None)
    warnings.simplefilter("ignore")
    sys.path.insert(0, "/nonexistent/user/folder")
    sys.setrecursionlimit(sys.getrecursionlimit() + 77)
    sys.stdout = io.StringIO()
    os.chdir("/")
    np.set_printoptions(precision=3, suppress=True)
    gc.disable()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


class Meddler(UserImplementation):
    """A user implementation that changes the world in build and every step, then does `then`."""
    name = "meddler"

    def __init__(self, then=None, at="step"):
        self.then, self.at = then, at

    def initial_params(self, spec):
        meddle()
        if self.at == "init":
            raise self.then
        rng = np.random.default_rng(0)
        return [(rng.normal(size=(n, m)), np.zeros((n, 1))) for m, n in zip(spec.sizes, spec.sizes[1:])]

    def build(self, spec, params, convention):
        meddle()
        if self.at == "build":
            raise self.then
        owner = self

        class Step:
            def step(self, X, Y):
                meddle()
                if owner.then is not None:
                    raise owner.then
                Z1 = params[0][0] @ X.T + params[0][1]
                return {"Z1": Z1}
        return Step()


@pytest.fixture(scope="module")
def warm():
    """Every library the calls import, imported once (their import-time settings are theirs)."""
    compare.run(TOY.spec, TOY.load())
    from compare.adapters.torch_module import torch_module  # noqa: F401
    from compare.adapters.keras_model import keras_model  # noqa: F401


@pytest.fixture
def caller(warm, tmp_path, monkeypatch):
    """A caller whose settings are not the libraries' defaults; -> its world."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FRAMEWORK_MIRROR_CALLER_VAR", "the caller's")
    monkeypatch.setenv("FRAMEWORK_MIRROR_CALLER_GONE", "the caller's too")
    random.seed(21)
    np.random.seed(22)
    torch.manual_seed(23)
    old = np.seterr(under="warn")
    with warnings.catch_warnings():
        warnings.filterwarnings("default", message="the caller's own filter")
        yield world()
    np.seterr(**old)


def test_run_returns_with_the_world_as_it_was(caller):
    report = compare.run(TOY.spec, TOY.load())
    assert report.verdict == "pass"
    assert_same_world(caller)


def test_check_with_a_meddling_implementation(caller):
    report = compare.check(Meddler(), spec=SPEC, against=("torch", "keras"), weights="mine")
    assert report.verdict == "pass", report.summary["verdict_reason"]
    assert_same_world(caller)


def test_an_implementation_that_raises_leaves_nothing_changed(caller):
    report = compare.check(Meddler(then=ValueError("the user's bug")), spec=SPEC, against=("torch", "keras"))
    assert report.verdict == "error" and "the user's bug" in report.summary["error"]["exception"]
    assert_same_world(caller)


def test_assert_equivalent_raising_leaves_nothing_changed(caller):
    with pytest.raises(AssertionError, match="error: meddler raised ValueError"):
        compare.assert_equivalent(Meddler(then=ValueError("no")), SPEC, against=("torch",))
    assert_same_world(caller)
    with pytest.raises(AssertionError):
        compare.assert_equivalent(TOY.spec.replace(optimizer="adam"), frameworks=("torch", "keras"))
    assert_same_world(caller)


def test_input_error_raised_midway(caller):
    """An InputError the harness raises after the user's build changed everything."""
    with pytest.raises(compare.InputError, match="the user's declaration"):
        compare.check(Meddler(then=compare.InputError("the user's declaration"), at="build"), spec=SPEC,
                      against=("torch",))
    assert_same_world(caller)


def test_keyboard_interrupt_from_the_users_init(caller):
    with pytest.raises(KeyboardInterrupt):
        compare.check(Meddler(then=KeyboardInterrupt(), at="init"), spec=SPEC, against=("torch",), weights="mine")
    assert_same_world(caller)


def test_keyboard_interrupt_in_on_step_is_an_interrupted_report(caller):
    def on_step(result):
        meddle()
        raise KeyboardInterrupt

    report = compare.run(TOY.spec, TOY.load(), frameworks=("scratch", "torch", "keras"), on_step=on_step)
    assert report.verdict == "interrupted"
    assert_same_world(caller)


def test_a_call_inside_a_call_nests(caller):
    """compare.run from an on_step callback (the same thread): the lock is re-entrant, the inner call
    restores nothing of its own, the outer one everything."""
    inner = []

    def on_step(result):
        meddle()
        if not inner:
            inner.append(compare.run(TOY.spec.replace(steps=1), TOY.load(), frameworks=("scratch", "torch")))

    outer = compare.run(TOY.spec, TOY.load(), frameworks=("scratch", "torch"), on_step=on_step)
    assert (outer.verdict, inner[0].verdict, inner[0].summary["steps_completed"]) == ("pass", "pass", 1)
    assert_same_world(caller)


def test_cli_in_process_leaves_threads_modules_and_path(caller, tmp_path, capsys):
    """The command line sets one thread per library and loads the user's file as user_<name>."""
    caller = world()                                 # capsys's sys.stdout, installed after the fixture's reading
    path = tmp_path / "meddling_net.py"
    path.write_text(textwrap.dedent("""\
        import sys, warnings
        sys.path.append("/nonexistent/from/the/file")
        warnings.simplefilter("ignore")
        import numpy as np
        import compare

        def init_params():
            return np.full((5, 4), 0.1), np.zeros((5, 1)), np.full((3, 5), -0.1), np.zeros((3, 1))

        def forward_prop(W1, b1, W2, b2, X):
            Z1 = W1.dot(X) + b1
            A1 = np.tanh(Z1)
            Z2 = W2.dot(A1) + b2
            e = np.exp(Z2 - Z2.max(axis=0))
            A2 = e / e.sum(axis=0)
            return Z1, A1, Z2, A2

        def backward_prop(Z1, A1, Z2, A2, W2, X, Y):
            m = X.shape[1]
            dZ2 = A2 - Y
            dZ1 = W2.T.dot(dZ2) * (1 - A1 ** 2)
            dW1, db1 = dZ1.dot(X.T) / m, dZ1.sum(axis=1, keepdims=True) / m
            return dW1, db1, dZ2.dot(A1.T) / m, dZ2.sum(axis=1, keepdims=True) / m

        mine = compare.functions(forward_prop, backward_prop, init_params=init_params,
                                 backward_returns="dW1 db1 dW2 db2")
        """))
    assert main(["toy3", "--frameworks", "scratch,torch,keras", "--quiet"]) == 0
    assert_same_world(caller)
    main(["check", str(path), "--against", "scratch,torch", "--sizes", "4,5,3", "--activations", "tanh,softmax",
          "--loss", "categorical_crossentropy", "--steps", "1", "--quiet", "--weights", "mine"])
    assert_same_world(caller)
    assert main(["translate", "--from", "torch", "--optimizer", "nadam", "--steps", "2"]) == 1   # torch's default dtype
    assert_same_world(caller)
    capsys.readouterr()


def concurrent_and_sequential(calls):
    """Each call run in a thread of its own, all at once, then one after the other. -> (both, world)"""
    results = [None] * len(calls)

    def run(i):
        results[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    together = list(results)
    alone = [in_a_new_thread(call) for call in calls]            # a thread each, as above (torch's threads: per thread)
    return together, alone


def without_timing(report):
    out = report.to_json()
    out.pop("timing")
    return out


def test_two_threads_at_once(caller):
    """Before: Keras's floatx was left float64 (each call saved the other's float64 as its 'before')."""
    float32 = TOY.spec.replace(dtype="float32", steps=2)
    calls = [lambda: compare.run(TOY.spec, TOY.load()),
             lambda: compare.run(float32, TOY.load()),
             lambda: compare.check(Meddler(), spec=SPEC, against=("torch", "keras"), weights="mine")]
    together, alone = concurrent_and_sequential(calls)
    assert [r.verdict for r in together] == ["pass", "pass", "pass"]
    assert [without_timing(r) for r in together] == [without_timing(r) for r in alone]
    assert_same_world(caller)


def test_weights_mine_is_in_the_report(caller, tmp_path, capsys):
    """Before: a --weights mine run said weight_init kaiming_uniform, seed 0."""
    report = compare.check(Meddler(), spec=SPEC.replace(seed=5), against=("torch",), weights="mine")
    assert (report.config["weights"], report.config["weight_init"], report.config["bias_init"],
            report.config["seed"]) == ("mine", "mine", "mine", 5)
    report = compare.check(Meddler(), spec=SPEC, against=("torch",))
    assert report.config["weights"] == "spec" and report.config["weight_init"]["kind"] == SPEC.weight_init.kind
    out = tmp_path / "report.json"
    code = main(["check", os.path.join(REPO, "examples", "xor_dict.py"), "--recipe", "xor", "--steps", "2",
                 "--against", "scratch", "--weights", "mine", "--seed", "7", "--json", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    rows = [line.split(None, 1) for line in printed.splitlines() if line.split(None, 1)[:1] in (["weights"], ["seed"],
                                                                                                ["weight_init"])]
    assert rows == [["weights", "mine (your init_params), seed 7"], ["seed", "7"]]
    config = json.loads(out.read_text())["config"]
    assert (config["weights"], config["weight_init"], config["seed"]) == ("mine", "mine", 7)


def test_a_fresh_process_reads_no_framework_it_did_not_import_and_keeps_its_environment(tmp_path):
    """Snapshotting imports neither torch nor TensorFlow; a call that imports TensorFlow takes its
    TF_CPP_MIN_LOG_LEVEL and TF_ENABLE_ONEDNN_OPTS away again, and leaves Keras's floatx float32."""
    script = textwrap.dedent("""\
        import os, sys
        before = dict(os.environ)
        import numpy as np
        import compare
        from compare.data import recipes
        assert dict(os.environ) == before, "import compare changed the environment"

        def forward_prop(W1, b1, W2, b2, X):
            Z1 = W1.dot(X) + b1
            A1 = np.tanh(Z1)
            Z2 = W2.dot(A1) + b2
            e = np.exp(Z2 - Z2.max(axis=0))
            A2 = e / e.sum(axis=0)
            return Z1, A1, Z2, A2

        def backward_prop(Z1, A1, Z2, A2, W2, X, Y):
            m = X.shape[1]
            dZ2 = A2 - Y
            dZ1 = W2.T.dot(dZ2) * (1 - A1 ** 2)
            dW1, db1 = dZ1.dot(X.T) / m, dZ1.sum(axis=1, keepdims=True) / m
            return dW1, db1, dZ2.dot(A1.T) / m, dZ2.sum(axis=1, keepdims=True) / m

        spec = compare.Spec(sizes=[4, 5, 3], activations=["tanh", "softmax"], loss="categorical_crossentropy",
                            steps=1, epochs=None, batch_size=8)
        mine = compare.functions(forward_prop, backward_prop, backward_returns="dW1 db1 dW2 db2")
        report = compare.check(mine, spec, against=("scratch",))
        loaded = sorted(m for m in ("torch", "tensorflow", "keras") if m in sys.modules)
        assert loaded == [], loaded
        toy = recipes.get("toy3")
        first = compare.run(toy.spec, toy.load(), frameworks=("scratch", "keras"))
        assert "TF_ENABLE_ONEDNN_OPTS" not in os.environ
        again = compare.run(toy.spec, toy.load(), frameworks=("scratch", "keras"))
        assert (first.verdict, again.verdict) == ("pass", "pass")
        onednn = [r.environment["keras"]["TF_ENABLE_ONEDNN_OPTS"] for r in (first, again)]
        assert onednn == ["0", "0"], onednn              # what TensorFlow was imported with, both times
        import keras
        changed = {k: os.environ.get(k) for k in set(os.environ) | set(before) if os.environ.get(k) != before.get(k)}
        assert not {"TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS"} & set(changed), changed
        assert keras.config.floatx() == "float32"
        print("ok")
        """)
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS")}
    (tmp_path / "fresh.py").write_text(script)
    done = subprocess.run([sys.executable, str(tmp_path / "fresh.py")], capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
    assert "oneDNN" not in done.stderr                  # TensorFlow was imported quietly all the same
