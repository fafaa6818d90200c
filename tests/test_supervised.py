"""`python -m compare check` runs the user's code in a supervised child (compare/cli/supervise.py):
exit 0 only when a PASS verdict was reached and printed. Whatever the user's code does to its
process (os._exit, sys.exit or exit() at import or in a function, a BaseException, a fatal signal,
a hang, a closed or replaced stdout), the command ends with the implementation's failure (exit 1,
one line naming the file and line, a JSON report whose verdict is not pass, no stale report) or
with the verdict printed last; `--json -` keeps the standard output pure JSON.

Each case is a small NumPy network (examples/xor_dict.py, --recipe xor --against scratch: about
a second a run) with one line put into it; one torch module (--against torch)."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import default_signals

from compare.cli import main
from compare.views.text import logical_lines

REPO = Path(__file__).resolve().parent.parent
BASE = (REPO / "examples" / "xor_dict.py").read_text()
FAST = ["--recipe", "xor", "--against", "scratch", "--steps", "3"]
NO_VERDICT = "no verdict (the implementation failed)"


def user_file(folder, name, top="", forward="", backward="", end=""):
    """examples/xor_dict.py with `top` after its imports, a line at the start of forward or
    backward, `end` at its end. -> (path, {'top'|'forward'|'backward'|'end': line number})"""
    text = BASE.replace("import compare\n", "import compare\n" + top, 1)
    for function, line in (("forward(X, parameters)", forward), ("backward(parameters, cache, X, Y)", backward)):
        if line:
            text = text.replace(f"def {function}:\n", f"def {function}:\n    {line}\n", 1)
    text += end
    path = Path(folder) / name
    path.write_text(text)
    lines = text.splitlines()
    where = {}
    for key, snippet in (("top", top), ("forward", forward), ("backward", backward), ("end", end)):
        if snippet:
            first = snippet.strip().splitlines()[-1].strip()
            where[key] = max(i for i, line in enumerate(lines, 1) if line.strip() == first)
    return path, where


def env(**extra):
    return dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="3", **extra)


def check(path, *options, folder=None, timeout=120, **extra):
    return subprocess.run([sys.executable, "-m", "compare", "check", str(path), *FAST, *options], capture_output=True,
                          text=True, env=env(**extra), cwd=folder or path.parent, timeout=timeout)


def assert_failed(result, report, line=None, words=()):
    """Exit 1, no traceback, one line on stderr (exactly `line` when given), the report's
    verdict not pass (and not the stale one)."""
    out, err = result.stdout, result.stderr
    assert result.returncode == 1, (result.returncode, out, err)
    assert "Traceback" not in out + err
    assert len(logical_lines(err)) <= 1, err   # one message (wrapped at 100 columns, lines indented)
    if line is not None:                       # the user's file as given or made absolute: both name it
        assert [m.replace(str(report.parent) + os.sep, "") for m in logical_lines(err)] == \
            [f"error: {line}"], err
    for word in words:
        assert word in out + err, (word, out, err)
    summary = json.loads(report.read_text())["summary"]
    assert summary["verdict"] != "pass" and summary["passed"] is False


def stale(folder):
    report = Path(folder) / "r.json"
    report.write_text(json.dumps({"summary": {"verdict": "pass", "passed": True}, "stale": True}))
    return report


# --- what only the supervisor can catch: exact lines ------------------------------------------

@pytest.mark.parametrize("case, edit, how, during", [
    ("os_exit_import", {"top": "import os; os._exit(0)\n"}, "os._exit(0)", "while {name} was imported"),
    ("os_exit_forward", {"forward": "import os; os._exit(0)"}, "os._exit(0) in forward",
     "in mine's training step 1"),
    ("segv_forward", {"forward": "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"},
     "signal SIGSEGV (Segmentation fault) in forward", "in mine's training step 1"),
])
def test_the_process_ended_by_the_users_code(case, edit, how, during, tmp_path):
    path, where = user_file(tmp_path, f"{case}.py", **edit)
    report = stale(tmp_path)
    result = check(path.name, "--quiet", "--json", "r.json", folder=tmp_path)
    line = next(iter(where.values()))
    during = during.format(name=path.name)
    assert_failed(result, report, f"{path.name}:{line}: {how} ended the process {during}: {NO_VERDICT}")
    assert result.stdout == ""
    error = json.loads(report.read_text())["summary"]["error"]
    assert error["where"] in (f"{path}:{line}", f"{path.name}:{line}") \
        and error["message"] in " ".join(logical_lines(result.stderr))


def test_a_hang_ends_at_the_step_timeout(tmp_path):
    path, where = user_file(tmp_path, "hang.py", forward="import time; time.sleep(600)")
    report = stale(tmp_path)
    started = time.monotonic()
    result = check(path.name, "--quiet", "--json", "r.json", "--step-timeout", "2", folder=tmp_path)
    assert time.monotonic() - started < 30
    assert_failed(result, report, f"{path.name}:{where['forward']}: forward ran longer than --step-timeout 2 s in "
                                  f"mine's training step 1; stopped: {NO_VERDICT}")
    summary = json.loads(report.read_text())["summary"]
    assert summary["error"]["implementation"] == "mine" and summary["error"]["step"] == 1
    assert not survivors(path)


def test_a_hang_at_import_ends_at_the_step_timeout(tmp_path):
    path, where = user_file(tmp_path, "hang_import.py", top="import time; time.sleep(600)\n")
    report = stale(tmp_path)
    result = check(path.name, "--quiet", "--json", "r.json", "--step-timeout", "1", folder=tmp_path)
    assert_failed(result, report, f"{path.name}:{where['top']}: ran longer than --step-timeout 1 s while {path.name} "
                                  f"was imported; stopped: {NO_VERDICT}")
    assert not survivors(path)


def test_a_long_call_is_named_in_the_progress(tmp_path):
    path, where = user_file(tmp_path, "slow.py", forward="import time; time.sleep(600)")
    result = check(path.name, "--step-timeout", "3", folder=tmp_path, FRAMEWORK_MIRROR_HANG_NOTICE_SECONDS="0.5")
    *notices, last = logical_lines(result.stderr.replace(str(tmp_path) + os.sep, ""))
    assert result.returncode == 1 and notices, result.stderr
    for line in notices:                                   # after 0.5 s, 1 s, 2 s
        assert line.startswith("in mine's training step 1: still running after ")
        assert line.endswith(f"s (forward at {path.name}:{where['forward']}); --step-timeout SECONDS ends such a call "
                             f"as the implementation's failure")
    assert last.startswith(f"error: {path.name}:{where['forward']}: forward ran longer than --step-timeout 3 s")


def survivors(path):
    """Processes still running the check of `path`."""
    found = []
    for pid in os.listdir("/proc"):
        try:
            if pid.isdigit() and str(path.name).encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
        except OSError:
            pass
    return found


# --- what the child may catch itself (compare/adapters) or the supervisor: exit 1, file:line ----

@pytest.mark.parametrize("case, edit", [
    ("sys_exit_import", {"top": "import sys; sys.exit(0)\n"}),
    ("sys_exit_backward", {"backward": "import sys; sys.exit(0)"}),
    ("exit_at_the_end", {"end": "exit()\n"}),
    ("system_exit_2", {"forward": "raise SystemExit(2)"}),
    ("base_exception", {"top": "class Stop(BaseException):\n    pass\n", "forward": "raise Stop('boom')"}),
])
def test_system_exit_and_base_exceptions_are_the_implementations_failure(case, edit, tmp_path):
    path, where = user_file(tmp_path, f"{case}.py", **edit)
    report = stale(tmp_path)
    result = check(path.name, "--quiet", "--json", "r.json", folder=tmp_path)
    key = next(k for k in ("forward", "backward", "end", "top") if k in where)
    assert_failed(result, report, words=[f"{path.name}:{where[key]}"])


@pytest.mark.parametrize("top", ["import sys; sys.stdout.close()\n", "import io, sys; sys.stdout = io.StringIO()\n",
                                 "import os; os.close(1)\n"])
def test_a_closed_or_replaced_stdout_still_gets_the_verdict(top, tmp_path):
    path, _ = user_file(tmp_path, "stdout.py", top=top)
    result = check(path.name, "--json", "r.json", folder=tmp_path)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert result.stdout.splitlines()[-1].startswith("PASS: 3 steps")
    assert json.loads((tmp_path / "r.json").read_text())["summary"]["verdict"] == "pass"


def test_a_torch_modules_os_exit(tmp_path):
    path = tmp_path / "net.py"
    path.write_text("import os\n\nimport torch\nfrom torch import nn\n\nimport compare\n\n\n"
                    "class Net(nn.Module):\n"
                    "    def __init__(self):\n"
                    "        super().__init__()\n"
                    "        self.hidden, self.act, self.out = nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)\n"
                    "        self.calls = 0\n\n"
                    "    def forward(self, x):\n"
                    "        self.calls += 1\n"
                    "        if self.calls == 3:\n"
                    "            os._exit(0)\n"
                    "        return self.out(self.act(self.hidden(x)))\n\n\n"
                    "torch.manual_seed(0)\nmodel = Net()\n"
                    "mine = compare.torch_module(model, torch.optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss())\n")
    report = stale(tmp_path)
    result = subprocess.run([sys.executable, "-m", "compare", "check", "net.py", "--against", "torch", "--steps", "5",
                             "--quiet", "--json", "r.json"], capture_output=True, text=True, env=env(), cwd=tmp_path,
                            timeout=180)
    assert_failed(result, report)
    line = path.read_text().splitlines().index("            os._exit(0)") + 1
    err = " ".join(logical_lines(result.stderr.replace(str(tmp_path) + os.sep, "")))
    assert err.startswith(f"error: {path.name}:{line}: os._exit(0) in forward ended the process ")
    assert err.endswith(f": {NO_VERDICT}")


# --- where the output goes ---------------------------------------------------------------------

def test_quiet_prints_the_verdict_last(tmp_path):
    path, _ = user_file(tmp_path, "prints.py", top="print('PASS: not the verdict')\n",
                        forward="print('from forward')")
    result = check(path.name, "--quiet", folder=tmp_path)
    lines = result.stdout.splitlines()                  # the verdict alone: the user's prints on stderr
    assert result.returncode == 0 and len(lines) == 1 and lines[0].startswith("PASS: 3 steps, 48 tensors judged")
    printed = result.stderr.splitlines()
    assert printed == ["PASS: not the verdict"] + ["from forward"] * (len(printed) - 1) and len(printed) > 1


def test_quiet_with_a_file_that_prints_pass_and_exits_has_no_pass_on_stdout(tmp_path):
    path, _ = user_file(tmp_path, "forger.py", top="", forward="print('from forward')")
    path.write_text(path.read_text() + "\nprint('PASS: everything agrees')\nexit()\n")
    result = check(path.name, "--quiet", folder=tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.splitlines()[0] == "PASS: everything agrees"
    assert logical_lines(result.stderr)[-1].startswith(
        "error: your file forger.py (while it was imported) called exit()")


@pytest.mark.parametrize("forward, verdict, code", [("print('from forward')", "pass", 0),
                                                    ("print('from forward'); import os; os._exit(0)", "error", 1)])
def test_json_dash_is_pure_json_on_stdout(forward, verdict, code, tmp_path):
    path, _ = user_file(tmp_path, "prints.py", top="print('at import')\n", forward=forward)
    result = check(path.name, "--json", "-", folder=tmp_path)
    assert result.returncode == code, result.stderr
    assert json.loads(result.stdout)["summary"]["verdict"] == verdict
    assert "at import" in result.stderr and "from forward" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prints.py"]


def test_json_dash_in_process(capsys):
    """The recipes and in-process calls too: the report alone on stdout, the rest on stderr."""
    assert main(["toy3", "--frameworks", "scratch,torch", "--steps", "2", "--json", "-"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["summary"]["verdict"] == "pass"
    assert "PASS: 2 steps" in err and "JSON report: standard output" in err


def test_step_timeout_needs_the_command(capsys):
    assert main(["check", str(REPO / "examples" / "xor_dict.py"), *FAST, "--step-timeout", "1"]) == 2
    assert capsys.readouterr().err == ("error: --step-timeout needs the check to run as a command "
                                       "(python -m compare check FILE.py)\n")


# --- signals --------------------------------------------------------------------------------

def start(path, *options, **extra):
    return subprocess.Popen(preexec_fn=default_signals, args=[sys.executable, "-m", "compare", "check", path.name, *FAST, *options],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(**extra), cwd=path.parent)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_mid_run_reaches_the_child(signum, tmp_path):
    path, _ = user_file(tmp_path, "long.py")
    process = start(path, "--steps", "100000", "--every", "1000", "--json", "r.json",
                    FRAMEWORK_MIRROR_PROGRESS_SECONDS="0.2")
    assert process.stderr.readline().startswith("step ")
    process.send_signal(signum)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130 and "Traceback" not in out + err, err
    assert err.rstrip().splitlines()[-1].startswith("interrupted after ")
    assert logical_lines(out)[-1].startswith("INTERRUPTED")     # the verdict, lines joined
    assert json.loads((tmp_path / "r.json").read_text())["summary"]["verdict"] == "interrupted"
    assert not survivors(path)


def test_ctrl_c_at_import_is_one_line(tmp_path):
    path, _ = user_file(tmp_path, "slow_import.py", top="import time; time.sleep(60)\n")
    process = start(path, "--json", "r.json")
    time.sleep(1.5)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert (process.returncode, out, err) == (130, "", "interrupted\n")
    assert json.loads((tmp_path / "r.json").read_text())["summary"]["verdict"] == "interrupted"
    assert not survivors(path)


def test_code_that_swallows_ctrl_c_ends_at_the_second(tmp_path):
    path, _ = user_file(tmp_path, "stubborn.py", forward="import time\n    while True:\n        try:\n"
                        "            time.sleep(1)\n        except BaseException:\n            pass")
    process = start(path, "--quiet", FRAMEWORK_MIRROR_HANG_NOTICE_SECONDS="0.5")
    time.sleep(3)
    process.send_signal(signal.SIGINT)
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert (process.returncode, out, err) == (130, "", "interrupted\n")
    assert not survivors(path)


def test_the_child_does_not_outlive_the_supervisor(tmp_path):
    path, _ = user_file(tmp_path, "orphan.py", forward="import time; time.sleep(600)")
    process = start(path, "--quiet")
    time.sleep(3)
    process.kill()                                     # SIGKILL: the supervisor cannot forward anything
    process.communicate(timeout=30)
    deadline = time.monotonic() + 10
    while survivors(path) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not survivors(path)


def test_a_signal_inside_a_gc_callback_is_sent_again_not_lost():
    """JAX registers a garbage collection callback (jax/_src/lib/__init__.py _xla_gc_callback);
    Python prints an exception raised inside one and drops it, so the handler must see where it
    landed: inside a callback (any frame up the stack) it re-sends, elsewhere it raises."""
    import gc

    from compare.engine import interrupts

    seen = []

    def callback(phase, info):
        seen.append(interrupts.in_gc_callback(sys._getframe()))

    gc.callbacks.append(callback)
    try:
        gc.collect()
    finally:
        gc.callbacks.remove(callback)
    assert seen and all(seen)
    assert not interrupts.in_gc_callback(sys._getframe())


def test_tensorflow_imported_by_a_run_does_not_import_jax():
    """TensorFlow imports jax whenever it can (tensorflow/lite/python/util.py); a Keras run hides it
    (frameworks.jax_hidden_from), and a run with jax still imports it."""
    code = ("import sys; from compare.engine import registry; registry.require('keras'); "
            "print('jax' in sys.modules); registry.require('jax'); print(sys.modules['jax'] is not None)")
    pytest.importorskip("jax")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert out.stdout.split() == ["False", "True"], out.stdout + out.stderr
