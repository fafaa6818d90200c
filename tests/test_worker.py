"""The worker process (compare/engine/worker.py): Keras's lane in a process of its own, one step
ahead, gives the report the sequential harness gives, bit for bit; a step it ran ahead for nothing
is undone; an exception inside it is reported as a local one is; its death is an internal error,
never a hang or a pass; it leaves no process and no shared-memory file behind."""
import glob
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import default_signals

from compare.data.recipes import Data, get
from compare.engine import frameworks, harness, registry, worker
from compare.engine.run import run
from scratch.initializers import initial_params

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(not hasattr(os, "fork") or (os.cpu_count() or 1) < 2,
                                reason="the worker runs on POSIX machines with two cores or more")


def blocks():
    return set(glob.glob("/dev/shm/framework-mirror-*")) | set(glob.glob(os.path.join(
        __import__("tempfile").gettempdir(), "framework-mirror-*")))


def cli_report(argv, tmp_path, name, mnist_dir, **env):
    """Run the CLI with --json; -> (exit code, the report without timing and environment, environment)"""
    path = tmp_path / f"{name}.json"
    full_env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", FRAMEWORK_MIRROR_MNIST=str(mnist_dir), **env)
    done = subprocess.run([sys.executable, "-m", "compare", *argv, "--quiet", "--json", str(path)],
                          capture_output=True, text=True, cwd=REPO, env=full_env, timeout=600)
    assert done.returncode in (0, 1), done.stderr
    report = json.loads(path.read_text())
    environment = report.pop("environment")
    report.pop("timing")
    return done.returncode, json.dumps(report, sort_keys=True), environment


@pytest.mark.parametrize("argv", [
    ["mnist", "--batch-size", "6000", "--epochs", "2", "--schedule", "exponential", "--schedule-every", "epoch",
     "--gamma", "0.5"],                                       # an epoch boundary: end_epoch, an evaluation, no step ahead
    ["mnist-dropout", "--batch-size", "500", "--steps", "12"],   # the masks of a step drawn before the last is judged
    ["mnist", "--dtype", "float32", "--steps", "8"],          # resync after each step: no step ahead
    ["mnist", "--steps", "6", "--html", "{tmp}/r.html"],      # a kept step (the worked example) copied out of shared memory
], ids=["epochs", "dropout", "float32", "kept-step"])
def test_the_worker_gives_the_sequential_report_bit_for_bit(argv, tmp_path, mnist_dir):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    before = blocks()
    code, sequential, env_sequential = cli_report(argv, tmp_path, "sequential", mnist_dir, FRAMEWORK_MIRROR_SEQUENTIAL="1")
    code_worker, with_worker, env_worker = cli_report(argv, tmp_path, "worker", mnist_dir)
    assert env_worker["keras"]["process"] == "worker"        # the worker was really used
    assert "process" not in env_sequential["keras"]
    assert env_worker["keras"]["intra_op_threads"] == env_sequential["keras"]["intra_op_threads"] == 1
    assert (code_worker, with_worker) == (code, sequential)
    assert '"verdict": "pass"' in sequential
    assert blocks() <= before                                 # every shared block unlinked


def build_in_worker(spec, params, keys=("scratch@keras", "keras"), preload=()):
    """A worker with the Keras-convention runners of `spec` built. -> (worker, runners)"""
    runners, _ = harness.plan(spec, [registry.get("scratch")], [registry.require("torch"), registry.get("keras")])
    remote = worker.Worker(("keras",), preload)
    remote.start_build({k: runners[k] for k in keys}, params)
    built = remote.finish_build()
    assert all(isinstance(v, worker.RemoteImplementation) for v in built.values()), built
    return remote, runners, built


def test_a_step_run_ahead_for_nothing_is_undone():
    """Three steps sent, the third dropped and rewound: predictions are those after step 2, as a run
    that never took step 3 gives them (and not those after step 3: the test can fail)."""
    spec = get("mnist").spec.replace(sizes=(784, 16, 10), activations=("relu", "softmax"), batch_size=32)
    params = initial_params(spec.sizes, spec.weight_init, spec.bias_init, spec.seed, spec.dtype, spec.fixed_params)
    rng = np.random.default_rng(5)
    batches = [(rng.random((32, 784)), np.eye(10)[rng.integers(0, 10, 32)]) for _ in range(3)]
    X_test = rng.random((40, 784))
    keys = ["scratch@keras", "keras"]
    remote, runners, built = build_in_worker(spec, params)
    try:
        for step, (X, Y) in enumerate(batches[:2], start=1):
            remote.finish_step(remote.start_step(keys, X, Y, step))
        rewound = {}
        remote.start_step(keys, *batches[2], 3)
        remote.rewind(2)
        rewound = {k: np.array(built[k].predict(X_test)) for k in keys}
        remote.finish_step(remote.start_step(keys, *batches[2], 3))
        after_three = {k: np.array(built[k].predict(X_test)) for k in keys}
    finally:
        remote.close()
    for key in keys:
        local = runners[key].entry.builder()(runners[key].spec, [(W.copy(), b.copy()) for W, b in params],
                                             runners[key].convention)
        for X, Y in batches[:2]:
            local.step(X, Y)
        np.testing.assert_array_equal(rewound[key], local.predict(X_test), err_msg=key)
        assert not np.array_equal(after_three[key], rewound[key])
    assert remote.process.poll() is not None                 # the worker has ended


FAULT = """
from reference import keras_mlp
real, calls = keras_mlp.KerasMLP.train_step, {"n": 0}
def failing(self, X, Y):
    calls["n"] += 1
    if calls["n"] == 3:
        raise RuntimeError("boom")
    return real(self, X, Y)
keras_mlp.KerasMLP.train_step = failing
"""


def worker_allowed(monkeypatch):
    monkeypatch.setitem(frameworks.CONFIGURED, "threads", 1)     # lanes as the CLI runs them


def test_an_exception_in_the_worker_is_reported_as_the_sequential_run_reports_it(monkeypatch, tmp_path):
    """Keras raising at step 3 inside the worker: the run stops there, naming keras, the exception
    and the line that raised it, as when run one after another in this process."""
    (tmp_path / "keras_fault.py").write_text(textwrap.dedent(FAULT))
    monkeypatch.syspath_prepend(str(tmp_path))
    worker_allowed(monkeypatch)
    spec = get("mnist").spec.replace(steps=5, batch_size=64)
    rng = np.random.default_rng(3)
    X = rng.random((320, 784))
    data = Data(X=X, Y=np.eye(10)[rng.integers(0, 10, 320)], X_eval=X[:3])
    worker.start(("keras",), preload=("keras_fault",))
    try:
        report = run(spec, data)
    finally:
        worker.discard_pending()
    assert "process" in report.environment["keras"]
    error = report.raw["error"]
    assert (report.summary["steps_completed"], error["framework"], error["exception"]) == (2, "keras", "RuntimeError: boom")
    assert error["file"].endswith("keras_fault.py") and error["code"] == 'raise RuntimeError("boom")'
    assert report.verdict != "pass"


def test_a_worker_that_dies_is_an_internal_error_not_a_hang(monkeypatch):
    """The worker killed at step 2: the run raises WorkerFailed (the CLI: one line, exit 3) at once."""
    worker_allowed(monkeypatch)
    spec = get("mnist").spec.replace(steps=50, batch_size=64)
    rng = np.random.default_rng(3)
    X = rng.random((3200, 784))
    data = Data(X=X, Y=np.eye(10)[rng.integers(0, 10, 3200)], X_eval=X[:3])
    remote = worker.start(("keras",))

    def on_step(result):
        if result.step == 2:
            os.kill(remote.process.pid, signal.SIGKILL)
    started = time.monotonic()
    try:
        with pytest.raises(worker.WorkerFailed, match="worker process"):
            run(spec, data, on_step=on_step)
    finally:
        worker.discard_pending()
    assert time.monotonic() - started < 60


def test_ctrl_c_stops_the_cli_and_its_worker(tmp_path, mnist_dir):
    """SIGINT while the worker steps: one line, exit 130, and no worker process left."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", FRAMEWORK_MIRROR_MNIST=str(mnist_dir))
    process = subprocess.Popen(preexec_fn=default_signals, args=[sys.executable, "-m", "compare", "mnist", "--quiet", "--epochs", "5"], cwd=REPO, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    children, waited = [], time.monotonic()
    while not children and time.monotonic() - waited < 60:
        time.sleep(0.2)
        children = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True).stdout.split()
    time.sleep(8)                                           # the imports are done; steps are under way
    assert process.poll() is None, process.communicate()
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert err.strip().splitlines()[-1].startswith("interrupted"), err
    assert children, "no worker process was started"
    time.sleep(1)
    for pid in children:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()


@pytest.mark.parametrize("change", ["lr", "params"])
def test_runners_prepared_for_another_spec_or_start_are_built_again(change):
    """The CLI has the worker build its runners before the harness asks; a build request that
    differs (another learning rate, other initial parameters) gets runners built for it."""
    spec = get("mnist").spec.replace(sizes=(784, 16, 10), activations=("relu", "softmax"), batch_size=32)
    asked = spec.replace(lr=0.5) if change == "lr" else spec
    params = initial_params(spec.sizes, spec.weight_init, spec.bias_init, spec.seed, spec.dtype, spec.fixed_params)
    if change == "params":
        params = [(W * 0.5, b) for W, b in params]
    runners, _ = harness.plan(asked, [registry.get("scratch")], [registry.require("torch"), registry.get("keras")])
    keys = ["scratch@keras", "keras"]
    rng = np.random.default_rng(9)
    X, Y = rng.random((32, 784)), np.eye(10)[rng.integers(0, 10, 32)]
    remote = worker.Worker(("keras",))
    try:
        prepared, _ = harness.plan(spec, [registry.get("scratch")], [registry.require("torch"), registry.get("keras")])
        remote.prepare({k: prepared[k] for k in keys}, spec)
        remote.start_build({k: runners[k] for k in keys}, params)
        assert all(isinstance(v, worker.RemoteImplementation) for v in remote.finish_build().values())
        records = {k: worker.copied(v) for k, v in remote.finish_step(remote.start_step(keys, X, Y, 1)).items()}
    finally:
        remote.close()
    for key in keys:
        local = runners[key].entry.builder()(runners[key].spec, [(W.copy(), b.copy()) for W, b in params],
                                             runners[key].convention)
        np.testing.assert_array_equal(records[key]["W1"], local.step(X, Y)["W1"], err_msg=key)
