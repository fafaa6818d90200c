"""Speed without changing a bit: a run imports only what it uses; the one-pass comparison (numba)
gives exactly what the NumPy comparison gives; two lanes give exactly the sequential report;
the memory of a long run grows by a few numbers per step, no more. (Timings: bench/step_time.py.)"""
import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from compare.data.recipes import Data, get
from compare.engine import check, frameworks, harness, registry
from compare.engine.lanes import Lanes
from compare.engine.run import run

REPO = Path(__file__).resolve().parent.parent
SHOW_MODULES = ("import sys; from compare.cli import main; code = main({argv!r}); "
                "print('MODULES', sorted(m for m in ('torch', 'tensorflow', 'keras', 'matplotlib', 'numba') "
                "if m in sys.modules), code)")


@pytest.mark.parametrize("frameworks, plot, expected", [
    ("scratch,torch", False, ["torch"]),
    ("scratch,keras", False, ["keras", "tensorflow"]),
    ("scratch,keras", True, ["keras", "matplotlib", "tensorflow"]),
])
def test_a_run_imports_only_what_it_uses(frameworks, plot, expected, tmp_path):
    argv = ["xor", "--steps", "3", "--quiet", "--frameworks", frameworks]
    argv += ["--plot", str(tmp_path / "p.png")] if plot else []
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run([sys.executable, "-c", SHOW_MODULES.format(argv=argv)], capture_output=True, text=True,
                         env=env, cwd=REPO, timeout=300).stdout
    line = [row for row in out.splitlines() if row.startswith("MODULES")][-1]
    if check.kernel() is not None:                       # numba installed (the 'fast' extra): the comparison kernel
        expected = sorted(expected + ["numba"])
    assert line == f"MODULES {expected} 0", out


def cases():
    """Pairs of arrays that exercise every branch of the one-pass scan."""
    rng = np.random.default_rng(7)
    a = rng.standard_normal((13, 17))
    tie = np.zeros((4, 5))
    tie[1, 2] = tie[3, 0] = 1.0                              # two equal maxima: the first (row-major) wins
    kinked = np.array([[1e-12, -1e-12, 3.0], [-2e-13, 5e-13, -4.0]])
    yield "random", a, a + 1e-13 * rng.standard_normal(a.shape)
    yield "transposed", a.T, np.ascontiguousarray(a.T) * (1 + 1e-15)
    yield "ties", np.zeros((4, 5)), tie
    yield "equal", a, a.copy()
    yield "zeros and minus zero", np.zeros((2, 3)), -np.zeros((2, 3))
    yield "vector", a[0], a[0] + 1e-9
    yield "scalar", np.array(2.5), np.array(2.5 + 1e-12)
    yield "kinks", kinked, -kinked
    yield "nan", a, np.where(a > 1, np.nan, a)
    yield "inf", np.full((2, 2), np.inf), np.full((2, 2), np.inf)
    yield "overflow", np.array([[1e308]]), np.array([[-1e308]])
    yield "float32", a.astype(np.float32), a.astype(np.float32) * np.float32(1.0001)
    yield "shapes differ", a, a.T
    yield "readonly", np.frombuffer(a.tobytes()).reshape(a.shape), a


@pytest.mark.parametrize("name, ours, theirs", list(cases()), ids=[c[0] for c in cases()])
def test_the_one_pass_scan_gives_the_numpy_bits(name, ours, theirs):
    pytest.importorskip("numba")                         # the `fast` extra; without it cmp is cmp_numpy
    check._KERNEL.clear()
    assert check.kernel() is not None
    for kink in (None, 1e-13, 1e-9, 1.0):
        fast = check.cmp(name, ours, theirs, kink)
        slow = check.cmp_numpy(name, ours, theirs)
        slow.kinks = check.kinks_numpy(ours, theirs, kink) if kink is not None and slow.shape_ok else 0
        assert repr(fast) == repr(slow)                  # every field, to the bit (repr of floats round-trips)
    if name == "kinks":
        assert [check.cmp(name, ours, theirs, k).kinks for k in (1e-13, 1e-9, 1.0)] == [1, 4, 6]


def report_bits(report):
    document = report.to_json()
    for volatile in ("timing", "environment"):
        document.pop(volatile)
    return json.dumps(document, sort_keys=True)


def mnist_like(n=384, seed=3):
    rng = np.random.default_rng(seed)
    X = rng.random((n, 784))
    return Data(X=X, Y=np.eye(10)[rng.integers(0, 10, n)], X_eval=X[:3], X_test=X[:50],
                Y_test=np.eye(10)[rng.integers(0, 10, 50)])


def lanes_allowed(monkeypatch):
    """Lanes as the CLI runs them (after configure_threads(1)), without changing this process's pools."""
    monkeypatch.setitem(frameworks.CONFIGURED, "threads", 1)


def test_two_lanes_and_the_fast_scan_give_the_sequential_report_bit_for_bit(monkeypatch):
    """float64, the mnist network, two epochs (an evaluation between them): the JSON report of the
    sequential harness with the NumPy comparison is the report of every faster path, bit for bit."""
    lanes_allowed(monkeypatch)
    spec = get("mnist").spec.replace(epochs=2, steps=None, batch_size=96)
    runners, _ = harness.plan(spec, [registry.get("scratch")], [registry.require("torch"), registry.require("keras")])
    assert Lanes(runners).concurrent == ((os.cpu_count() or 1) > 1)   # the lanes are really used here
    monkeypatch.setitem(frameworks.CONFIGURED, "threads", None)
    assert not Lanes(runners).concurrent                 # not with each library's own pools
    lanes_allowed(monkeypatch)
    data = mnist_like()
    monkeypatch.setenv("FRAMEWORK_MIRROR_SEQUENTIAL", "1")
    monkeypatch.setattr(check, "_KERNEL", [None])        # the NumPy comparison
    reference = report_bits(run(spec, data))
    monkeypatch.setenv("FRAMEWORK_MIRROR_SEQUENTIAL", "0")
    assert report_bits(run(spec, data)) == reference
    monkeypatch.setattr(check, "_KERNEL", [])            # the one-pass scan where numba is installed
    assert report_bits(run(spec, data)) == reference
    assert '"steps_completed": 8' in reference and '"verdict": "pass"' in reference


def test_an_exception_in_the_second_lane_is_reported_as_the_sequential_run_reports_it(monkeypatch):
    """Keras (second lane) raising at step 3 stops the run there, named, as when run one after another."""
    from reference import keras_mlp

    real, calls = keras_mlp.KerasMLP.train_step, {"n": 0}

    def failing(self, X, Y):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("boom")
        return real(self, X, Y)
    monkeypatch.setattr(keras_mlp.KerasMLP, "train_step", failing)
    lanes_allowed(monkeypatch)
    spec = get("mnist").spec.replace(steps=5, batch_size=64)
    outcomes = []
    for sequential in ("1", "0"):
        calls["n"] = 0
        monkeypatch.setenv("FRAMEWORK_MIRROR_SEQUENTIAL", sequential)
        report = run(spec, mnist_like(n=320))
        outcomes.append((report.summary["steps_completed"], report.raw["error"]["framework"],
                         report.raw["error"]["exception"]))
    assert outcomes[0] == outcomes[1] == (2, "keras", "RuntimeError: boom")


def test_memory_of_a_long_run_is_flat():
    """1,500 steps of a small network in scratch and torch: what stays allocated grows by the
    step's few numbers (StepResult: loss, accuracy, worst errors per pair; about 1.5 KiB traced),
    never by tensors (a 784-128-64-10 record is 3.2 MB)."""
    spec = get("xor").spec.replace(steps=1500, epochs=None)
    data = get("xor").load()
    marks = {}

    def on_step(result):
        if result.step in (300, 1500):
            marks[result.step] = tracemalloc.get_traced_memory()[0]
    tracemalloc.start()
    try:
        run(spec, data, frameworks=("scratch", "torch"), on_step=on_step)
    finally:
        tracemalloc.stop()
    per_step = (marks[1500] - marks[300]) / 1200
    assert per_step < 4096, f"{per_step:.0f} bytes a step"


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_a_keras_record_read_inside_the_step_is_a_copy_the_next_steps_leave_alone(optimizer):
    """The Keras reference reads its variables inside the traced step (one call instead of a dozen
    eager reads): a record's parameters and optimizer state are those after its own step, equal
    to the eager reads, and stay so while later steps update the variables."""
    from reference.keras_mlp import KerasMLP

    from compare.engine import convert
    from scratch.initializers import initial_params

    spec = get("mnist").spec.replace(sizes=(6, 5, 3), activations=("relu", "softmax"), optimizer=optimizer, momentum=0.9 if optimizer == "sgd" else 0.0)
    params = initial_params(spec.sizes, spec.weight_init, spec.bias_init, spec.seed, spec.dtype, spec.fixed_params)
    model = KerasMLP(spec, convert.to_keras(params))
    rng = np.random.default_rng(3)
    X, Y = rng.standard_normal((8, 6)), np.eye(3)[rng.integers(0, 3, 8)]
    first = model.record(*model.train_step(X, Y))
    eager = {name: v.numpy() for name, v in {**model.params, **model.optimizer_state()}.items()}
    kept = {name: value.copy() for name, value in first.items()}
    assert set(eager) <= set(first) and len(eager) >= 4
    for name, value in eager.items():
        np.testing.assert_array_equal(first[name], value, err_msg=name)
    for _ in range(3):
        later = model.record(*model.train_step(X, Y))
    for name in eager:
        np.testing.assert_array_equal(first[name], kept[name], err_msg=f"{name} changed under a later step")
        assert not np.array_equal(later[name], kept[name]), f"{name} did not move in three steps"
