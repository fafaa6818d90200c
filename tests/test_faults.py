"""Every fault ends in one clear line: exit 2 and one line for bad input (before any heavy work),
one line after the verdict for a report that could not be written, one line (or nothing) for a
full or closed stdout, no NumPy warnings before the non-finite report, exit 130 with a complete
'interrupted' report for Ctrl-C, SIGTERM and SIGHUP at any time, and bounded memory per step."""
import errno
import json
import os
import pickle
import signal
import stat
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from conftest import default_signals

import compare
from compare.cli import common, main
from compare.data.recipes import Data
from compare.engine.errors import InputError
from compare.views import files as files_module
from compare.views.text import logical_lines

REPO = Path(__file__).resolve().parent.parent
FAST = ["--frameworks", "scratch,torch"]


def no_training(monkeypatch):
    started = []
    monkeypatch.setattr(sys.modules["compare.engine.run"], "lockstep", lambda *a, **k: started.append(1))
    return started


def one_line_error(argv, capsys, *words):
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2, f"{argv}: exit {code}\n{out}{err}"
    assert err.startswith("error: ") and len(logical_lines(err)) == 1, err
    assert "Traceback" not in out + err, err
    message = logical_lines(err)[0]             # one message, wrapped to 100 columns: joined back
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
    return out, err


def subprocess_env(**extra):
    return dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="3", **extra)


# --- 1. inputs refused before anything heavy -------------------------------------------------

@pytest.mark.parametrize("argv, words", [
    (["--seed", "-1"], ["seed", "-1", "2**32"]),
    (["--seed", "4294967296"], ["seed", "2**32"]),
    (["--threads", "1000000000000"], ["--threads", "1024"]),
    (["--full-batch", "--batch-size", "4"], ["--full-batch", "--batch-size", "contradict"]),
])
def test_cli_numbers_refused_before_training(argv, words, capsys, monkeypatch):
    started = no_training(monkeypatch)
    one_line_error(["toy3", *argv, *FAST, "--quiet"], capsys, *words)
    assert not started


def test_seed_refused_before_the_frameworks_are_imported():
    code = ("import sys; from compare.cli import main; c = main(sys.argv[1:]); "
            "assert 'torch' not in sys.modules and 'tensorflow' not in sys.modules, 'imported'; sys.exit(c)")
    result = subprocess.run([sys.executable, "-c", code, "toy3", "--seed", "-1"], capture_output=True, text=True,
                            env=subprocess_env(), cwd=REPO, timeout=120)
    assert result.returncode == 2 and len(logical_lines(result.stderr)) == 1, result.stderr
    assert "seed" in result.stderr, result.stderr


def toy_spec(**changes):
    spec = compare.Spec(sizes=[3, 3, 3], activations=["tanh", "softmax"], loss="categorical_crossentropy",
                        batch_size=4, steps=1, epochs=None)
    return compare.Spec(**{**spec.__dict__, **changes})


@pytest.mark.parametrize("changes, field", [
    ({"lr": "0.1"}, "lr"), ({"momentum": "0.9"}, "momentum"), ({"lr": None}, "lr"), ({"lr": 10**400}, "lr"),
    ({"lr": True}, "lr"), ({"seed": -1}, "seed"), ({"seed": 1.5}, "seed"), ({"seed": "0"}, "seed"),
    ({"seed": True}, "seed"), ({"seed": 2**32}, "seed"), ({"sizes": [True, 3]}, "width"),
    ({"steps": True}, "steps"), ({"batch_size": 2.0}, "batch size"), ({"sizes": "3,3"}, "sizes"),
    ({"activations": "tanh"}, "activations"), ({"nesterov": "yes"}, "nesterov"), ({"weight_init": "normal"}, "weight_init"),
])
def test_spec_fields_refused_through_the_api(changes, field):
    with pytest.raises(InputError) as caught:
        compare.run(toy_spec(**changes), frameworks=("scratch", "torch"))
    assert field in str(caught.value) and "\n" not in str(caught.value) and len(str(caught.value)) < 200


def test_assert_equivalent_refuses_steps_true():
    with pytest.raises(InputError, match="steps"):
        compare.assert_equivalent(toy_spec(), steps=True, frameworks=("scratch", "torch"))


def good_data(**changes):
    X = np.random.default_rng(0).standard_normal((8, 3))
    fields = {"X": X, "Y": np.eye(3)[np.argmax(X, axis=1)], "X_eval": X[:2]}
    return Data(**{**fields, **changes})


@pytest.mark.parametrize("data, words", [
    (lambda: good_data(X=good_data().X.tolist()), ["training inputs", "NumPy array", "list"]),
    (lambda: good_data(X_test=np.zeros((2, 3))), ["X_test", "Y_test"]),
    (lambda: good_data(X_eval=None), ["evaluation inputs", "None"]),
    (lambda: {"X": good_data().X}, ["data must be a compare.Data", "dict"]),
    (lambda: good_data(X=np.array([["a", "b", "c"]] * 8)), ["training inputs", "strings"]),
    (lambda: good_data(X=np.ma.masked_array(good_data().X, mask=good_data().X > 1)), ["masked"]),
    (lambda: good_data(X=np.zeros((0, 3)), Y=np.zeros((0, 3))), ["training set has no examples"]),
    (lambda: good_data(X_eval=np.array([[0.0, np.nan, 1.0]])), ["evaluation inputs", "non-finite"]),
    (lambda: good_data(X=good_data().X + 1j), ["training inputs", "complex"]),
    (lambda: good_data(X_test=np.zeros((0, 3)), Y_test=np.zeros((0, 3))), ["test set has no examples"]),
    (lambda: good_data(Y=np.eye(3)[[0] * 8].tolist()), ["training targets", "list"]),
])
def test_data_refused_through_the_api(data, words):
    with pytest.raises(InputError) as caught:
        compare.run(toy_spec(), data(), frameworks=("scratch", "torch"))
    for word in words:
        assert word in str(caught.value), str(caught.value)


# --- 2. report files -------------------------------------------------------------------------

def test_longest_legal_name_is_written(tmp_path, capsys):
    path = tmp_path / ("r" * 250)
    assert main(["toy3", *FAST, "--quiet", "--json", str(path)]) == 0
    assert json.loads(path.read_text())["summary"]["passed"] is True
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_temporary_name_is_the_probed_one(tmp_path, monkeypatch):
    made = []
    real = files_module.make_temp
    monkeypatch.setattr(files_module, "make_temp", lambda target: made.append(target) or real(target))
    files_module.check_writable(str(tmp_path / "a.json"), "json")
    files_module.write_atomic(str(tmp_path / "a.json"), lambda f: f.write("{}"))
    assert made == [str(tmp_path / "a.json")] * 2


def test_disk_full_after_the_run(tmp_path, monkeypatch, capsys):
    path = tmp_path / "report.json"
    path.write_text('{"previous": true}')

    def full(obj, f, **kwargs):
        f.write('{"recipe": ')
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(files_module.json, "dump", full)
    code = main(["toy3", *FAST, "--quiet", "--json", str(path)])
    out, err = capsys.readouterr()
    assert code == 2
    assert out.startswith("PASS: ") and out.count("\n") == 1                        # the verdict still shows
    message = logical_lines(err)
    assert len(message) == 1 and str(path) in message[0] and "No space left on device" in message[0]
    assert "Traceback" not in err
    assert json.loads(path.read_text()) == {"previous": True}
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_file_size_limit_after_the_run(tmp_path):
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
    result = subprocess.run([sys.executable, "-m", "compare", "toy3", *FAST, "--quiet", "--json", "r.json"],
                            capture_output=True, text=True, env=subprocess_env(), cwd=tmp_path, timeout=120,
                            preexec_fn=limit)
    assert result.returncode == 2, result.stderr
    assert result.stdout.startswith("PASS: ")
    assert len(logical_lines(result.stderr)) == 1
    message = logical_lines(result.stderr)[0]
    assert "r.json" in message and "too large" in message
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv, words", [
    (["--json", "{d}/a", "--plot", "{d}/a"], ["--json and --plot both name"]),
    (["--json", "{d}/a", "--html", "{d}/./a"], ["--json and --html both name"]),
    (["--json", ""], ["--json needs a file name"]),
    (["--plot", ""], ["--plot needs a file name"]),
    (["--json", "/dev/null"], ["/dev/null", "a device", "regular files only"]),
    (["--json", "{d}/fifo"], ["FIFO", "regular files only"]),
    (["--json", "{d}/stdout-link"], ["regular files only"]),
])
def test_report_targets_refused(argv, words, tmp_path, capsys, monkeypatch):
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "stdout-link").symlink_to("/proc/self/fd/1")
    started = no_training(monkeypatch)
    one_line_error(["toy3", *FAST, "--quiet", *[a.format(d=tmp_path) for a in argv]], capsys, *words)
    assert not started
    assert stat.S_ISFIFO(os.stat(tmp_path / "fifo").st_mode) and (tmp_path / "stdout-link").is_symlink()


def test_every_writer_refuses_a_device(capsys):
    one_line_error(["bugs", "--json", "/dev/null"], capsys, "a device")
    with pytest.raises(InputError, match="regular files only; not replaced"):
        files_module.write_atomic("/dev/null", lambda f: f.write("x"))


def test_symlink_to_a_file_writes_the_file(tmp_path, capsys):
    (tmp_path / "real.json").write_text("{}")
    (tmp_path / "link.json").symlink_to("real.json")
    assert main(["toy3", *FAST, "--quiet", "--json", str(tmp_path / "link.json")]) == 0
    assert (tmp_path / "link.json").is_symlink()
    assert json.loads((tmp_path / "real.json").read_text())["recipe"] == "toy3"


def test_modes_new_and_kept(tmp_path):
    old = os.umask(0o027)
    try:
        files_module.write_atomic(str(tmp_path / "new.json"), lambda f: f.write("{}"))
        (tmp_path / "old.json").write_text("{}")
        os.chmod(tmp_path / "old.json", 0o644)
        files_module.write_atomic(str(tmp_path / "old.json"), lambda f: f.write("[]"))
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "new.json").st_mode) == 0o640
    assert stat.S_IMODE(os.stat(tmp_path / "old.json").st_mode) == 0o644
    assert (tmp_path / "old.json").read_text() == "[]"


# --- 3. standard output full or closed -------------------------------------------------------

def test_stdout_full_is_one_line():
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "compare", "toy3", *FAST], stdout=full, stderr=subprocess.PIPE,
                                text=True, env=subprocess_env(), cwd=REPO, timeout=120)
    assert result.returncode == 2
    assert result.stderr == "error: cannot write to standard output: No space left on device\n"


def test_stdout_closed_after_one_line_is_quiet():
    process = subprocess.Popen(preexec_fn=default_signals, args=[sys.executable, "-m", "compare", "toy3", *FAST], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=subprocess_env(PYTHONUNBUFFERED="1"), cwd=REPO)
    assert process.stdout.readline().startswith("recipe toy3")
    process.stdout.close()                                  # `| head -1`
    err = process.stderr.read()
    assert process.wait(timeout=120) == 0
    assert err == ""


# --- 4. a diverging run: the non-finite report, not NumPy's warnings ---------------------------

def test_diverging_run_prints_no_numpy_warnings(capsys):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = main(["dosage", "--lr", "1e6", "--steps", "50", *FAST, "--quiet"])
    out, err = capsys.readouterr()
    assert code == 1 and "first non-finite value" in out
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)], [str(w.message) for w in caught]
    assert "RuntimeWarning" not in err


# --- 5. signals ------------------------------------------------------------------------------

def start_long_run(folder):
    return subprocess.Popen(preexec_fn=default_signals, args=[sys.executable, "-m", "compare", "toy3", "--steps", "100000", *FAST, "--every", "1000",
                             "--json", "r.json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=subprocess_env(FRAMEWORK_MIRROR_PROGRESS_SECONDS="0.2"), cwd=folder)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_signal_mid_run_writes_an_interrupted_report(signum, tmp_path):
    process = start_long_run(tmp_path)
    line = process.stderr.readline()                        # the first progress line: it is stepping
    assert line.startswith("step "), line
    process.send_signal(signum)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "Traceback" not in out + err and err.rstrip().endswith("completed steps")
    summary = json.loads((tmp_path / "r.json").read_text())["summary"]
    assert summary["verdict"] == "interrupted" and summary["passed"] is False and summary["steps_completed"] > 0
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


@pytest.mark.parametrize("delay", [0.05, 0.3, 1.0, 2.0, 3.5])     # the package, torch, torch._dynamo, the worker
def test_signal_during_imports_is_one_line(delay):
    # Steps enough that the run is still going at the latest signal (toy3's default steps can end
    # in under 3.5 s on a quiet machine), and no progress line before it.
    # The delay counts from the moment the package holds signals (its first import, interrupts.py):
    # before that the interpreter itself is starting (site, runpy), where no program can answer a
    # signal, and on a loaded machine 50 ms from the process's start can still be there.
    process = subprocess.Popen(preexec_fn=default_signals, args=[sys.executable, "-X", "importtime", "-m", "compare", "toy3", *FAST, "--steps",
                                "100000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=subprocess_env(FRAMEWORK_MIRROR_PROGRESS_SECONDS="1000"), cwd=REPO)
    for line in process.stderr:                          # -X importtime: one line as each import ends
        if "compare.engine.interrupts" in line:
            break
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    err = "".join(line for line in err.splitlines(keepends=True) if not line.startswith("import time:"))
    assert "Traceback" not in out + err
    # 130, or killed by SIGINT after the line: a shell reports both as exit status 130 (128 + 2)
    assert process.returncode in (130, -signal.SIGINT) and len(logical_lines(err)) == 1 \
        and "interrupted" in err, (
        process.returncode, err)


@pytest.mark.parametrize("where", ["compare", "on_step", "evaluate"])
def test_interrupt_anywhere_in_the_loop_gives_a_report(where, tmp_path, monkeypatch, capsys):
    harness, judge = sys.modules["compare.engine.harness"], sys.modules["compare.engine.judge"]
    calls = {"n": 0}
    real = {"compare": judge.cmp, "evaluate": harness.evaluate}

    def interrupting(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 20:
            raise KeyboardInterrupt
        return real[where](*args, **kwargs)
    if where == "on_step":                                  # the CLI's on_step: the progress bar
        real["on_step"] = lambda: None
        monkeypatch.setattr(common.Progress, "update", lambda self, n=1: interrupting())
    else:
        monkeypatch.setattr(*((judge, "cmp") if where == "compare" else (harness, "evaluate")), interrupting)
    argv = ["toy3", *FAST, "--quiet", "--json", str(tmp_path / "r.json")]
    argv += ["--epochs", "30", "--steps", "90"] if where == "evaluate" else ["--steps", "50"]
    assert main(argv) == 130
    summary = json.loads((tmp_path / "r.json").read_text())["summary"]
    assert summary["verdict"] == "interrupted" and summary["passed"] is False
    assert "Traceback" not in "".join(capsys.readouterr())


def test_sigterm_during_the_write_leaves_no_temporary(tmp_path, monkeypatch, capsys):
    path = tmp_path / "r.json"
    path.write_text('{"previous": true}')

    def half_then_sigterm(obj, f, **kwargs):
        f.write('{"recipe": ')
        os.kill(os.getpid(), signal.SIGTERM)               # main's handler: a KeyboardInterrupt here
        time.sleep(5)
    monkeypatch.setattr(files_module.json, "dump", half_then_sigterm)
    assert main(["toy3", *FAST, "--quiet", "--json", str(path)]) == 130
    assert json.loads(path.read_text()) == {"previous": True}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL        # restored after main


# --- 6. long runs ----------------------------------------------------------------------------

def test_memory_per_step_is_bounded():
    """2,000 steps keep a few numbers per step and pair: no TensorError lists, the same size
    at step 10 as at step 2,000; the worst per kind is folded in as the steps complete."""
    spec = compare.Spec(**{**toy_spec().__dict__, "steps": 2000, "lr": 0.1})
    report = compare.run(spec, good_data(), frameworks=("scratch", "torch"))
    steps = report.raw["steps"]
    assert len(steps) == 2000 and report.passed
    for kept in (steps[9], steps[-1]):
        assert not any(isinstance(v, list) for v in vars(kept).values())
    shape = [{k: len(v) if isinstance(v, dict) else 1 for k, v in vars(r).items()} for r in (steps[9], steps[-1])]
    assert shape[0] == shape[1]                                  # the same numbers kept at step 10 and 2,000
    assert abs(len(pickle.dumps(steps[9])) - len(pickle.dumps(steps[-1]))) < 16 and len(pickle.dumps(steps[-1])) < 400
    assert set(report.summary["worst_by_kind"]["torch"]) >= {"Z", "A", "dW", "db", "params"}


def test_long_run_warning_and_plain_progress(monkeypatch, capsys):
    monkeypatch.setattr(common, "LONG_RUN_S", 0.0)
    monkeypatch.setattr(common, "ESTIMATE_AFTER_S", 0.0)
    monkeypatch.setattr(common, "PLAIN_EVERY_S", 0.0)
    assert main(["toy3", "--steps", "5", *FAST]) == 0          # not --quiet: it silences the progress lines
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("this run will take about") and "--steps" in err[0]
    assert err[-1].startswith("step 5/5,") and "left" in err[-1]


def test_interrupt_while_the_report_is_built(tmp_path, monkeypatch, capsys):
    """A signal after the last step, while the report is put together: the report says so."""
    run_module = sys.modules["compare.engine.run"]
    real = run_module.build_report
    sent = []

    def build_with_a_signal(*args, **kwargs):
        if not sent:
            sent.append(1)
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.1)
        return real(*args, **kwargs)
    monkeypatch.setattr(run_module, "build_report", build_with_a_signal)
    assert main(["toy3", *FAST, "--quiet", "--json", str(tmp_path / "r.json")]) == 130
    summary = json.loads((tmp_path / "r.json").read_text())["summary"]
    assert summary["verdict"] == "interrupted" and summary["steps_completed"] == 3
    assert capsys.readouterr().err == "interrupted after 3 completed steps\n"


def test_closed_stdout_keeps_the_verdicts_exit_code(monkeypatch):
    """The reader left after the work: a mismatch still exits 1."""
    import io

    import compare.cli as cli

    class Closed(io.StringIO):
        def flush(self):
            raise BrokenPipeError(errno.EPIPE, "Broken pipe")
    monkeypatch.setattr(cli, "dispatch", lambda argv: 1)
    monkeypatch.setattr(cli, "silence_stdout", lambda: None)
    monkeypatch.setattr(sys, "stdout", Closed())
    assert main(["toy3"]) == 1
