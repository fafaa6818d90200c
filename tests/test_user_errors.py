"""The user's mistake is never an internal error, and the user's code can never end the run.

Every call into a user's code goes through one door (compare/adapters/boundary.py): sys.exit,
exit() and BaseExceptions become the implementation's failure (exit 1) reported at the user's line;
a closed or replaced sys.stdout is put back so the verdict prints; the global generators are seeded
from the run's seed. Values the user's code returns are checked (compare/adapters/values.py), a file
that cannot be read is one line (exit 2), and API arguments of the wrong type are InputErrors naming
the argument. Each case asserts the exit code and the exact line, through the CLI and the API.

NumPy-only (--against scratch) where the point allows; a few subprocesses where the point is the
process itself (its exit code, its real standard output).
"""
import os
import random
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from compare.views.text import logical_lines

import compare
from compare.adapters import check as check_module
from compare.adapters.check import declared, load_file
from compare.cli import main

REPO = Path(__file__).resolve().parent.parent

# A blog-style 2-4-1 network (tanh, sigmoid, binary cross-entropy). Lines '#FORWARD', '#BACKWARD',
# '#INIT' and '#TOP' are replaced by a case's own code.
BASE = '''import numpy as np
import compare


def init_params():
    W1 = np.random.rand(4, 2) - 0.5
    b1 = np.random.rand(4, 1) - 0.5
    W2 = np.random.rand(1, 4) - 0.5
    b2 = np.random.rand(1, 1) - 0.5
    #INIT
    return W1, b1, W2, b2


def forward_prop(W1, b1, W2, b2, X):
    Z1 = W1.dot(X) + b1
    A1 = np.tanh(Z1)
    Z2 = W2.dot(A1) + b2
    A2 = 1 / (1 + np.exp(-Z2))
    #FORWARD
    return Z1, A1, Z2, A2


def backward_prop(Z1, A1, Z2, A2, W1, W2, X, Y):
    m = X.shape[1]
    dZ2 = A2 - Y
    dW2 = dZ2.dot(A1.T) / m
    db2 = np.sum(dZ2, axis=1, keepdims=True) / m
    dZ1 = W2.T.dot(dZ2) * (1 - A1 ** 2)
    dW1 = dZ1.dot(X.T) / m
    db1 = np.sum(dZ1, axis=1, keepdims=True) / m
    #BACKWARD
    return dZ1, dW1, db1, dZ2, dW2, db2


def update_params(W1, b1, W2, b2, dW1, db1, dW2, db2, alpha):
    W1, b1, W2, b2 = W1 - alpha * dW1, b1 - alpha * db1, W2 - alpha * dW2, b2 - alpha * db2
    return W1, b1, W2, b2


#TOP
mine = compare.functions(forward_prop, backward_prop, update_params, init_params,
                         network=dict(sizes=[2, 4, 1], activations=["tanh", "sigmoid"], loss="binary_crossentropy"))
'''
NET = dict(sizes=[2, 4, 1], activations=["tanh", "sigmoid"], loss="binary_crossentropy")
RUN = ["--against", "scratch", "--steps", "3", "--quiet"]


def user_file(tmp_path, name="my_net", **code):
    """BASE with its markers replaced (code: FORWARD='...', ...). -> (path, text)"""
    lines = []
    for line in BASE.splitlines():
        marker = line.strip().lstrip("#")
        if line.strip().startswith("#") and marker in code:
            indent = line[:len(line) - len(line.lstrip())]
            lines += [indent + part for part in code[marker].split("\n")]
        else:
            lines.append(line)
    text = "\n".join(lines) + "\n"
    path = tmp_path / f"{name}.py"
    path.write_text(text)
    return str(path), text


def line_of(text, snippet, nth=0):
    """The 1-based line number of the nth line containing snippet."""
    found = [i for i, line in enumerate(text.splitlines(), start=1) if snippet in line]
    return found[nth]


def run_cli(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert "internal error" not in out + err
    return code, out, err


def joined(text):
    """Printed text with each wrapped message's lines joined (compare/views/text.py logical_lines)."""
    return "".join(line + "\n" for line in logical_lines(text))


def error_rows(out):
    """The verdict's ERROR block on stdout -> {row: value}."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("ERROR: an exception inside an implementation"))
    rows, key = {}, None
    for line in lines[start + 1:]:
        if line.startswith(" " * 18) and key is not None:        # a long value wrapped under itself
            rows[key] = f"{rows[key]} {line.strip()}".strip()
        else:
            key = line[2:17].strip()
            rows[key] = line[18:]
    return rows


# --- the user's code ends the run, or hands back what is no array: exit 1 at the user's line ----------

STEP_FAILURES = [
    # (case, code, snippet of the line reported, the exception row)
    ("sys.exit(0) in forward", dict(FORWARD="import sys; sys.exit(0)"), "sys.exit(0)",
     "SystemExit: your forward_prop called sys.exit(0) at {at}: the implementation ended instead of returning"),
    ("raise SystemExit(2) in forward", dict(FORWARD="raise SystemExit(2)"), "SystemExit(2)",
     "SystemExit: your forward_prop called sys.exit(2) at {at}: the implementation ended instead of returning"),
    ("exit() in backward", dict(BACKWARD="exit()"), "exit()",
     "SystemExit: your backward_prop called exit() or sys.exit() at {at}: the implementation ended instead of returning"),
    ("a BaseException of the user's", dict(FORWARD="class MyStop(BaseException):\n    pass\nraise MyStop('stop')"),
     "raise MyStop", "MyStop: your forward_prop raised MyStop (a BaseException, not an Exception) at {at}"),
    ("forward gives None", dict(FORWARD="Z1 = None"), "return Z1, A1, Z2, A2",
     "TypeError: your forward_prop gave Z1 as None, not an array of numbers at {at}"),
    ("forward gives a string", dict(FORWARD="A1 = A1 if False else 'abc'\nZ1 = 'abc'"), "return Z1, A1, Z2, A2",
     "TypeError: your forward_prop gave Z1 as a str, not an array of numbers at {at}"),
    ("forward gives a dict", dict(FORWARD="Z1 = {'a': 1}"), "return Z1, A1, Z2, A2",
     "TypeError: your forward_prop gave Z1 as a dict, not an array of numbers at {at}"),
    ("forward gives a generator", dict(FORWARD="Z1 = (z for z in Z1)"), "return Z1, A1, Z2, A2",
     "TypeError: your forward_prop gave Z1 as a generator, not an array of numbers at {at}"),
    ("forward gives an object", dict(FORWARD="Z1 = object()"), "return Z1, A1, Z2, A2",
     "TypeError: your forward_prop gave Z1 as an object, not an array of numbers at {at}"),
    ("forward gives a ragged list", dict(FORWARD="Z1 = [[1.0, [2.0]], 3.0]"), "return Z1, A1, Z2, A2",
     "TypeError: your forward_prop gave Z1 as a ragged list (not one rectangular array), not an array of numbers at {at}"),
    ("backward gives None", dict(BACKWARD="dW1 = None"), "return dZ1, dW1",
     "TypeError: your backward_prop gave dW1 as None, not an array of numbers at {at}"),
    ("a forward that fails on the evaluation batch (predict)",
     dict(FORWARD="forward_prop.calls = getattr(forward_prop, 'calls', 0) + 1\n"
                  "if forward_prop.calls > 3:\n    raise ValueError('only 3 calls')"),
     "raise ValueError", "ValueError: only 3 calls"),
]


@pytest.mark.parametrize("case, code, snippet, row", STEP_FAILURES, ids=[c[0] for c in STEP_FAILURES])
def test_step_failures_are_the_implementations(case, code, snippet, row, tmp_path, capsys):
    """Exit 1, the verdict's error block naming the user's file and line, nothing on stderr; the
    API's report says 'error' with the same words."""
    path, text = user_file(tmp_path, **code)
    at = f"{path}:{line_of(text, snippet)}"
    status, out, err = run_cli(["check", path, *RUN], capsys)
    assert status == 1, out + err
    assert err == ""
    rows = error_rows(out)
    assert rows["exception"] == row.format(at=at)
    assert rows["at"] == at
    report = compare.check(declared(load_file(path), path)[0], against=("scratch",), steps=3)
    assert report.verdict == "error"
    assert report.summary["error"]["exception"] == row.format(at=at)
    assert f"{report.summary['error']['file']}:{report.summary['error']['line']}" == at


INIT_FAILURES = [
    ("init of the wrong shape", dict(INIT="W1 = W1[:3]"), "def init_params",
     "ValueError: your init_params gave W1 of shape (3, 2); the network 2-4-1 needs (4, 2) (W out_in, bias column) at {at}",
     "return W1, b1, W2, b2"),
    ("init gives None", dict(INIT="b1 = None"), None,
     "TypeError: your init_params gave b1 as None, not an array of numbers at {at}", "return W1, b1, W2, b2"),
    ("init raises", dict(INIT="b1 = b1 + undefined_name"), None, "NameError: name 'undefined_name' is not defined",
     "undefined_name"),
    ("init calls sys.exit", dict(INIT="import sys; sys.exit(3)"), None,
     "SystemExit: your init_params called sys.exit(3) at {at}: the implementation ended instead of returning",
     "sys.exit(3)"),
]


@pytest.mark.parametrize("case, code, _, row, snippet", INIT_FAILURES, ids=[c[0] for c in INIT_FAILURES])
def test_weights_mine_init_failures(case, code, _, row, snippet, tmp_path, capsys):
    """--weights mine: an init that raises, exits, or gives None or a wrong shape is the implementation's
    failure (exit 1, verdict error, the user's line), never 'internal error'."""
    path, text = user_file(tmp_path, **code)
    at = f"{path}:{line_of(text, snippet)}"
    status, out, err = run_cli(["check", path, *RUN, "--weights", "mine"], capsys)
    assert status == 1 and err == "", out + err
    rows = error_rows(out)
    assert rows["exception"] == row.format(at=at)
    assert rows["at"] == at
    report = compare.check(declared(load_file(path), path)[0], against=("scratch",), steps=3, weights="mine")
    assert report.verdict == "error"
    assert report.summary["error"]["exception"] == row.format(at=at)


def test_network_smaller_than_the_recipes(tmp_path, capsys):
    """A 2-4-1 init run with --recipe xor (2-3-1) and --weights mine, the file declaring no network
    (a declared one that differs from the recipe's is exit 2: tests/test_check_data.py): the shapes
    are named, exit 1."""
    path, text = user_file(tmp_path)
    text = text.replace(",\n                         network=dict(sizes=[2, 4, 1], activations=[\"tanh\", \"sigmoid\"], "
                        "loss=\"binary_crossentropy\"))", ")")
    Path(path).write_text(text)
    status, out, err = run_cli(["check", path, *RUN, "--recipe", "xor", "--weights", "mine"], capsys)
    assert status == 1 and err == ""
    assert error_rows(out)["exception"] == (f"ValueError: your init_params gave W1 of shape (4, 2); the network 2-3-1 "
                                            f"needs (3, 2) (W out_in, bias column) at {path}:{line_of(text, 'return W1, b1')}")


def test_a_nielsen_instance_smaller_than_the_recipes(capsys):
    """examples/nielsen_network.py (784-30-10) with --recipe mnist-deep and --weights mine: exit 1, named."""
    path = str(REPO / "examples" / "nielsen_network.py")
    net = compare.Spec(sizes=[784, 128, 64, 10], activations=["sigmoid"] * 3, loss="mse", steps=1, epochs=None)
    item = declared(load_file(path), path)[0]
    X = np.random.default_rng(0).random((4, 784))
    data = compare.Data(X=X, Y=np.eye(10)[[0, 1, 2, 3]], X_eval=X[:2])
    report = compare.check(item, spec=net, data=data, against=("scratch",), weights="mine")
    assert report.verdict == "error"
    assert report.summary["error"]["exception"] == \
        "ValueError: your Network's weights and biases hold 2 layers; the network 784-128-64-10 has 3"
    assert report.summary["error"]["file"] == path


def test_a_forward_whose_output_is_declared_not_compared(tmp_path, capsys):
    """forward_returns with the documented `_` for A_L: the run is judged on the rest (exit 0), and
    no prediction is asked of it (the final outputs leave it out)."""
    path, text = user_file(tmp_path, TOP="def backward(Z1, A1, Z2, W1, W2, X, Y):\n"
                                         "    return backward_prop(Z1, A1, Z2, 1 / (1 + np.exp(-Z2)), W1, W2, X, Y)\n")
    text = text.replace("compare.functions(forward_prop, backward_prop, update_params, init_params,",
                        "compare.functions(forward_prop, backward, update_params, init_params, "
                        "forward_returns='Z1 A1 Z2 _', backward_returns='dZ1 dW1 db1 dZ2 dW2 db2',")
    Path(path).write_text(text)
    status, out, err = run_cli(["check", path, *RUN], capsys)
    assert status == 0 and err == "", out + err
    assert out.startswith("PASS: 3 steps")


# --- the process itself: exit code and real standard output ------------------------------------------

def cli(*argv, cwd=None):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "compare", *argv], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=120)


def test_an_exit_at_import_and_in_forward_ends_with_exit_1(tmp_path):
    """A blog-style file ending with exit(): exit 1 and one line on stderr naming the file and line
    (never exit 0); sys.exit(0) in forward: exit 1 and the error block (the process did not end)."""
    path, text = user_file(tmp_path, "ends_with_exit", TOP="exit()")
    done = cli("check", path, *RUN)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout == ""
    assert joined(done.stderr) == (f"error: your file ends_with_exit.py (while it was imported) called exit() or sys.exit() at "
                           f"{path}:{line_of(text, 'exit()')}: the implementation ended instead of returning\n")
    path, text = user_file(tmp_path, "exits_in_forward", FORWARD="import sys; sys.exit(0)")
    done = cli("check", path, *RUN)
    assert done.returncode == 1 and done.stderr == ""
    assert error_rows(done.stdout)["at"] == f"{path}:{line_of(text, 'sys.exit(0)')}"


def test_a_closed_or_replaced_stdout_is_put_back(tmp_path):
    """A forward that closes sys.stdout, a file that replaces it at import: the verdict still prints
    (exit 0), and the run notes what was put back."""
    path, _ = user_file(tmp_path, "closes", FORWARD="import sys; sys.stdout.close()")
    done = cli("check", path, "--against", "scratch", "--steps", "2")
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert done.stdout.splitlines()[-1].startswith("PASS: 2 steps")
    assert "note, mine: your forward_prop closed or replaced sys.stdout (closed): put back after the call" in done.stdout
    path, _ = user_file(tmp_path, "replaces", TOP="import io, sys\nsys.stdout = io.StringIO()\nsys.stderr = io.StringIO()")
    done = cli("check", path, *RUN)
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.startswith("PASS: 3 steps")


def test_the_door_puts_back_stdout_and_file_descriptors():
    from compare.adapters.boundary import Boundary

    owner = type("Owner", (), {"events": []})()
    before, fd_before = sys.stdout, os.fstat(1).st_ino
    with Boundary(None, owner).calling("f"):
        sys.stdout = open(os.devnull, "w")
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    assert sys.stdout is before and os.fstat(1).st_ino == fd_before
    assert owner.events == ["your f closed or replaced file descriptor 1 (stdout), sys.stdout (replaced): "
                            "put back after the call"]


# --- a file that cannot be read, a declaration that cannot work: exit 2, one line -------------------

def assert_input_error(argv, capsys, line):
    """The CLI: exit 2 and the one line; the API (compare.check on what load_file and declared
    give): an InputError with the same words."""
    status, out, err = run_cli(argv, capsys)
    assert status == 2, out + err
    assert joined(err) == f"error: {line}\n"
    if argv[0] == "check" and not any(a.startswith("--json") for a in argv):
        with pytest.raises(compare.InputError) as caught:
            compare.check(declared(load_file(argv[1]), argv[1]), against=("scratch",), steps=3)
        assert str(caught.value) == line
    return err


def test_files_that_cannot_be_read(tmp_path, capsys, monkeypatch):
    nul = tmp_path / "nul.py"
    nul.write_bytes(b"import compare\nx = 1\0\n")
    assert_input_error(["check", str(nul), *RUN], capsys, f"{nul}:2: contains a null byte: not a Python text file")
    latin = tmp_path / "latin.py"
    latin.write_bytes(b"import compare\nname = 'caf\xe9'\n")
    assert_input_error(["check", str(latin), *RUN], capsys,
                       f"{latin}:2: is not utf-8 text (byte 0xe9): save the file as UTF-8, or declare its encoding "
                       f"on the first line (# -*- coding: latin-1 -*-)")
    folder = tmp_path / "x.py"
    folder.mkdir()
    assert_input_error(["check", str(folder), *RUN], capsys, f"{folder}: is a directory, not a Python file")
    locked, _ = user_file(tmp_path, "locked")
    os.chmod(locked, 0)
    if os.geteuid() == 0:                       # root reads any file: the refusal the kernel gives others

        def refused(*args, **kwargs):
            raise PermissionError(13, "Permission denied")
        monkeypatch.setattr(check_module, "open", refused, raising=False)
    assert_input_error(["check", locked, *RUN], capsys, f"{locked}: cannot be read: permission denied")


def test_declarations_that_cannot_work(tmp_path, capsys):
    """An unknown key in network=dict(...) (with the user's line), a class whose sizes is a string."""
    path, text = user_file(tmp_path)
    text = text.replace('loss="binary_crossentropy")', 'loss="binary_crossentropy", colour="red")')
    Path(path).write_text(text)
    assert_input_error(["check", path, *RUN], capsys,
                       f"{path}:{line_of(text, 'mine = compare.functions')}: network={{...}}: 'colour' is not a field of the network's "
                       f"spec (see compare.Spec: sizes, activations, loss, lr, ...)")
    text = text.replace(', colour="red")', ', lrr=0.1)')
    Path(path).write_text(text)
    assert_input_error(["check", path, *RUN], capsys,
                       f"{path}:{line_of(text, 'mine = compare.functions')}: network={{...}}: 'lrr' is not a field of the network's spec "
                       f"(did you mean 'lr'?)")
    klass = tmp_path / "klass.py"
    klass.write_text("import compare\n\nclass Net:\n    sizes = '784,30,10'\n    weights = biases = []\n"
                     "    def feedforward(self, a): return a\n    def backprop(self, x, y): return [], []\n"
                     "    def update_mini_batch(self, batch, eta): pass\n\nmine = compare.network_class(Net())\n")
    assert_input_error(["check", str(klass), *RUN], capsys,
                       "Net.sizes must be a list of positive whole numbers, e.g. [784, 30, 10], got '784,30,10'")


def test_a_report_name_too_long_and_a_name_matplotlib_would_read_as_tex(tmp_path, capsys):
    path, text = user_file(tmp_path)
    long = str(tmp_path / ("a" * 260 + ".json"))
    assert_input_error(["check", path, *RUN, "--json", long], capsys, f"--json {long[:60]}...: File name too long")
    pytest.importorskip("matplotlib")
    Path(path).write_text(text.replace("init_params,\n", "init_params, name='$x^{$',\n"))
    png = tmp_path / "run.png"
    status, out, err = run_cli(["check", path, *RUN, "--plot", str(png)], capsys)
    assert status == 0 and err == "" and png.stat().st_size > 1000
    assert out.startswith("PASS: 3 steps") and "($x^{$~scratch)" in out


def test_no_library_warning_reaches_the_user(tmp_path, capsys):
    """A NaN everywhere in Z1: the verdict names it; NumPy's 'All-NaN slice' is not printed."""
    path, text = user_file(tmp_path, FORWARD="Z1 = Z1 * np.nan")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        status, out, err = run_cli(["check", path, *RUN], capsys)
    assert status == 1 and err == ""
    assert out.startswith("MISMATCH: first non-finite value: step 1, mine, layer 1, Z1[0, 0] = nan (max|Z1| = nan")
    assert [str(w.message) for w in caught if "/compare/" in w.filename] == []


# --- the API: arguments of the wrong type, unnamed implementations, reproducible own weights -------

def functions(module_path=None, **changes):
    """compare.functions on BASE's functions (imported from a file), with changes."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("base_for_api", module_path)
    base = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(base)
    args = dict(forward=base.forward_prop, backward=base.backward_prop, update=base.update_params,
                init_params=base.init_params, network=NET)
    args.update(changes)
    return compare.functions(**args)


@pytest.fixture
def base_path(tmp_path):
    return user_file(tmp_path, "base_for_api")[0]


SPEC = compare.Spec(sizes=[2, 4, 1], activations=["tanh", "sigmoid"], loss="binary_crossentropy", steps=2, epochs=None)


@pytest.mark.parametrize("call, message", [
    (lambda f: compare.run(SPEC, frameworks=None),
     "frameworks must be framework names ('scratch,torch,keras' or a list of them), got NoneType None"),
    (lambda f: functions(f, layout="rows"),
     "layout must be a compare.Layout (e.g. compare.Layout(examples='rows')), got str 'rows'"),
    (lambda f: functions(f, forward_returns=4),
     "forward_returns must be a string of names (e.g. forward_returns='Z1 A1 Z2 A2') or a list of them, got int 4"),
    (lambda f: functions(f, network=[2, 4, 1]),
     "network must be a dict of Spec fields (e.g. network=dict(sizes=[2, 3, 1], activations=['tanh', 'sigmoid'])), "
     "got list"),
    (lambda f: compare.check(functions(f), steps="3", against="scratch"),
     "steps must be a whole number of steps, got str '3'"),
    (lambda f: compare.check(functions(f), against=5),
     "against must be framework names ('torch,keras' or a list of them: scratch, torch, keras, jax), got int 5"),
    (lambda f: compare.check(functions(f, name=5), against="scratch"), "name must be a string, got int 5"),
    (lambda f: compare.check(functions(f), recipe=5, against="scratch"), "recipe must be a recipe name, e.g. 'toy3', got int 5"),
    (lambda f: compare.check(functions(f, init_params=None), weights="mine", against="scratch"),
     "weights='mine', but mine has no init of its own (give init_params=)"),
    (lambda f: compare.network_class(object(), network=[1]),
     "network must be a dict of Spec fields (e.g. network=dict(sizes=[2, 3, 1], activations=['tanh', 'sigmoid'])), "
     "got list"),
], ids=["frameworks=None", "layout=str", "forward_returns=4", "network=list", "steps=str", "against=5", "name=5",
        "recipe=5", "unnamed", "class network=list"])
def test_api_arguments_of_the_wrong_type(call, message, base_path):
    with pytest.raises(compare.InputError) as caught:
        call(base_path)
    assert str(caught.value) == message


def test_unnamed_implementations_are_called_mine(base_path):
    report = compare.check([functions(base_path), functions(base_path)], spec=SPEC, against=("scratch",))
    assert report.verdict == "pass"
    assert set(report.summary["judged_pairs"]) == {"mine~scratch", "mine2~scratch", "mine~mine2"}
    assert "None" not in report.summary["verdict_reason"]


def test_an_exit_inside_the_users_code_through_the_api(base_path, tmp_path):
    path, text = user_file(tmp_path, "exits", BACKWARD="raise SystemExit(0)")
    report = compare.check(declared(load_file(path), path)[0], against=("scratch",), steps=2)
    assert report.verdict == "error"
    assert report.summary["error"]["exception"] == (f"SystemExit: your backward_prop called sys.exit(0) at "
                                                    f"{path}:{line_of(text, 'SystemExit(0)')}: the implementation "
                                                    f"ended instead of returning")


def test_weights_mine_is_reproducible_and_the_callers_generators_are_left_alone(base_path):
    """An unseeded np.random.rand init: the same weights run after run (the door seeds NumPy's,
    Python's and torch's global generators from the run's seed), another seed other weights, the
    report says whose weights and which seed; the caller's generators are as they were."""
    np.random.seed(12345)
    random.seed(54321)
    numpy_before, python_before = np.random.get_state(), random.getstate()
    runs = [compare.check(functions(base_path), spec=SPEC.replace(seed=seed), against=("scratch",), weights="mine")
            for seed in (7, 7, 8)]
    after = np.random.get_state()
    assert all(np.array_equal(a, b) for a, b in zip(numpy_before[1:2], after[1:2])) and numpy_before[2] == after[2]
    assert random.getstate() == python_before
    first = [np.asarray(W) for W, _ in runs[0].raw["initial_params"]]
    again = [np.asarray(W) for W, _ in runs[1].raw["initial_params"]]
    other = [np.asarray(W) for W, _ in runs[2].raw["initial_params"]]
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[0], other[0])
    np.testing.assert_array_equal(first[0], np.random.RandomState(7).rand(4, 2) - 0.5)   # what seed(7) draws
    assert (runs[0].config["weights"], runs[0].config["weight_init"], runs[0].config["seed"]) == ("mine", "mine", 7)
    assert all(r.verdict == "pass" for r in runs)


# --- a sweep: whatever a user's function hands back where an array belongs -----------------------

NOT_ARRAYS = {
    "None": lambda: None, "str": lambda: "abc", "bytes": lambda: b"ab", "dict": lambda: {"a": 1}, "empty dict": dict,
    "set": lambda: {1.0}, "generator": lambda: (x for x in [1.0]), "object": object, "function": lambda: len,
    "ragged list": lambda: [[1.0, [2.0]], 3.0], "array of objects": lambda: np.array([None, 1.0]),
    "array of strings": lambda: np.array(["a", "b"]),
}
ODD_ARRAYS = {"scalar": lambda: 3.0, "empty list": list, "list of numbers": lambda: [[0.5] * 8] * 4,
              "nan": lambda: np.full((4, 8), np.nan), "int array": lambda: np.ones((4, 8), dtype=int)}


def bad_functions(base_path, where, bad):
    """BASE's functions with one value replaced by bad() (Z1 in forward, dW1 in backward, W1 in update)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("base_for_sweep", base_path)
    base = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(base)

    def forward_prop(W1, b1, W2, b2, X):
        Z1, A1, Z2, A2 = base.forward_prop(W1, b1, W2, b2, X)
        Z1 = bad() if where == "Z1" else Z1
        return Z1, A1, Z2, A2

    def backward_prop(Z1, A1, Z2, A2, W1, W2, X, Y):
        dZ1, dW1, db1, dZ2, dW2, db2 = base.backward_prop(np.asarray(Z1, dtype=float), A1, Z2, A2, W1, W2, X, Y)
        dW1 = bad() if where == "dW1" else dW1
        return dZ1, dW1, db1, dZ2, dW2, db2

    def update_params(W1, b1, W2, b2, dW1, db1, dW2, db2, alpha):
        W1, b1, W2, b2 = base.update_params(W1, b1, W2, b2, np.asarray(dW1, dtype=float), db1, dW2, db2, alpha)
        W1 = bad() if where == "W1" else W1
        return W1, b1, W2, b2
    return compare.functions(forward_prop, backward_prop, update_params, network=NET)


@pytest.mark.parametrize("where, role", [("Z1", "forward_prop"), ("dW1", "backward_prop"), ("W1", "update_params")])
def test_sweep_of_values_that_are_no_array(where, role, base_path):
    """Every value that is no array of numbers, in each place: verdict 'error' (exit 1), the function
    and the tensor named, the line in the user's code; never an exception out of compare.check."""
    for label, bad in NOT_ARRAYS.items():
        report = compare.check(bad_functions(base_path, where, bad), spec=SPEC, against=("scratch",))
        error = report.summary["error"]
        assert report.verdict == "error", (label, report.summary["verdict_reason"])
        assert error["exception"].startswith(f"TypeError: your {role} gave {where} as "), (label, error)
        assert error["file"] == __file__ and error["code"].startswith("return "), (label, error)


@pytest.mark.parametrize("where", ["Z1", "dW1", "W1"])
def test_sweep_of_odd_arrays(where, base_path):
    """Values NumPy reads as numbers but of the wrong shape or kind: judged (a mismatch, a non-finite
    value) or, where the user's next function cannot use them, that function's error at its own line;
    never an exception out of compare.check, never a line of this package."""
    for label, bad in ODD_ARRAYS.items():
        report = compare.check(bad_functions(base_path, where, bad), spec=SPEC, against=("scratch",))
        assert report.verdict in ("mismatch", "nonfinite", "error"), (label, report.summary["verdict_reason"])
        if report.verdict == "error":
            assert report.summary["error"]["file"] in (__file__, base_path), (label, report.summary["error"])
        if where == "Z1" and label != "list of numbers":     # Z1 is the first tensor compared
            assert report.verdict == ("nonfinite" if label == "nan" else "mismatch"), label


# --- a torch module: the same door around its forward and backward ---------------------------------

TORCH_NET = '''import sys
import torch
from torch import nn
import compare


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1, self.a1, self.l2, self.a2 = nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1), nn.Sigmoid()

    def forward(self, x):
        out = self.a2(self.l2(self.a1(self.l1(x))))
        if x.abs().sum() > 0:              # not while compare probes the module with zeros
            CHANGE
        return out


model = Net()
mine = compare.torch_module(model, torch.optim.SGD(model.parameters(), lr=0.1), nn.BCELoss())
'''


@pytest.mark.parametrize("change, row, snippet", [
    ("sys.exit(0)", "SystemExit: your Net.forward called sys.exit(0) at {at}: the implementation ended instead of "
                    "returning", "sys.exit(0)"),
    ("return None", "TypeError: your Net.forward returned None, not a tensor", "def forward"),
    ("return (out, out)", "TypeError: your Net.forward returned a tuple of 2 items, not a tensor", "def forward"),
    ("return out[:, :0]", "ValueError: Using a target size (torch.Size([8, 1])) that is different to the input size "
                          "(torch.Size([8, 0])) is deprecated. Please ensure they have the same size.", "def forward"),
], ids=["exit", "None", "tuple", "torch's loss refuses the shape"])
def test_a_torch_forward_that_exits_or_returns_no_tensor(change, row, snippet, tmp_path):
    pytest.importorskip("torch")
    text = TORCH_NET.replace("CHANGE", change)
    path = tmp_path / "torch_net.py"
    path.write_text(text)
    at = f"{path}:{line_of(text, snippet)}"
    report = compare.check(declared(load_file(str(path)), str(path))[0], against=("scratch",), steps=2)
    assert report.verdict == "error"
    error = report.summary["error"]
    assert error["exception"] == row.format(at=at)
    assert f"{error['file']}:{error['line']}" == at


def slow_init():
    """BASE's init, resting between its draws (time.sleep lets the other thread run)."""
    import time

    W1 = np.random.rand(4, 2) - 0.5
    time.sleep(0.02)
    b1 = np.random.rand(4, 1) - 0.5
    time.sleep(0.02)
    W2 = np.random.rand(1, 4) - 0.5
    b2 = np.random.rand(1, 1) - 0.5
    return W1, b1, W2, b2


def test_two_checks_on_two_threads_draw_their_own_numbers(base_path):
    """Two checks with --weights mine at once, on two threads, with inits that rest between their
    draws: each gets the weights its own seed draws (the doors take turns), as when run alone."""
    from concurrent.futures import ThreadPoolExecutor

    def run(seed):
        report = compare.check(functions(base_path, init_params=slow_init), spec=SPEC.replace(seed=seed),
                               against=("scratch",), weights="mine")
        return [np.asarray(b) for _, b in report.raw["initial_params"]]

    with ThreadPoolExecutor(2) as pool:
        together = list(pool.map(run, [3, 4, 3, 4]))
    for seed, (b1, b2) in zip([3, 4, 3, 4], together):
        draws = np.random.RandomState(seed)
        draws.rand(4, 2)
        np.testing.assert_array_equal(b1, draws.rand(4, 1) - 0.5)
        draws.rand(1, 4)
        np.testing.assert_array_equal(b2, draws.rand(1, 1) - 0.5)


def test_a_file_that_raises_while_imported(tmp_path, capsys):
    """An exception at the top of the file is the user's code failing: exit 1, one line at its line
    (a syntax error stays an input error: exit 2)."""
    path, text = user_file(tmp_path, TOP="scale = 1 / 0")
    status, out, err = run_cli(["check", path, *RUN], capsys)
    assert status == 1 and out == ""
    assert joined(err) == f"error: {path}:{line_of(text, '1 / 0')}: importing {path} raised ZeroDivisionError: division by zero\n"
    path, text = user_file(tmp_path, "syntax", TOP="def broken(:")
    assert_input_error(["check", path, *RUN], capsys, f"{path}:{line_of(text, 'def broken')}: syntax error: invalid syntax")
