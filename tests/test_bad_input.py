"""Every user mistake exits 2 with one line on stderr naming the problem, never a traceback;
an interrupted run exits 130 and leaves a complete report (or the previous one), never half of one."""
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import compare
from compare.engine import registry
from compare.views import files as files_module
from compare.cli import main
from compare.engine.errors import InputError
from compare.data.recipes import Data
from compare.views.text import logical_lines

REPO = Path(__file__).resolve().parent.parent


def assert_input_error(argv, capsys, *words):
    """Run the CLI in-process: exit 2, stderr exactly one message 'error: ...' naming the problem
    (wrapped to 100 columns, continuation lines indented: compare/views/text.py)."""
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2, f"{argv}: exit {code}\n{out}{err}"
    assert err.startswith("error: ") and err.endswith("\n"), repr(err)
    assert len(logical_lines(err)) == 1, repr(err)
    assert "Traceback" not in out + err
    message = logical_lines(err)[0]             # one message, wrapped to 100 columns: joined back
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
    return err


@pytest.mark.parametrize("argv, words", [
    (["no-such-recipe"], ["unknown recipe 'no-such-recipe'", "toy3"]),
    (["toy3", "--optimizer", "adafactor"], ["unknown optimizer 'adafactor'", "sgd"]),
    (["toy3", "--dtype", "float16"], ["unknown dtype 'float16'", "float64"]),
    (["toy3", "--steps", "0"], ["--steps", "positive"]),
    (["toy3", "--steps", "-2"], ["--steps", "positive"]),
    (["toy3", "--epochs", "0"], ["--epochs", "positive"]),
    (["toy3", "--batch-size", "0"], ["--batch-size", "positive"]),
    (["toy3", "--batch-size", "-4"], ["--batch-size", "positive"]),
    (["toy3", "--batch-size", "13"], ["batch size 13", "12 training examples"]),
    (["toy3", "--lr", "-0.1"], ["learning rate", "-0.1"]),
    (["toy3", "--lr", "nan"], ["--lr", "finite"]),
    (["toy3", "--lr", "fast"], ["--lr", "'fast'"]),
    (["toy3", "--frameworks", "scratch,mxnet"], ["unknown framework 'mxnet'"]),
    (["toy3", "--frameworks", "torch,torch"], ["twice"]),
    (["toy3", "--no-such-option"], ["unrecognized arguments", "--no-such-option"]),
    (["toy3", "--inject-bug", "typo"], ["unknown bug 'typo'"]),
    (["list", "extra"], ["'list' takes no arguments"]),
    (["bugs", "--json", "/no/such/folder/bugs.json"], ["--json", "does not exist"]),
])
def test_cli_user_mistakes(argv, words, capsys):
    assert_input_error(argv if argv[0] in ("list", "bugs") else argv + ["--quiet"], capsys, *words)


@pytest.mark.parametrize("changes, words", [
    ({"activations": ["swish", "softmax"]}, ["unknown activation 'swish'"]),
    ({"loss": "focal"}, ["unknown loss 'focal'"]),
    ({"optimizer": "adafactor"}, ["unknown optimizer 'adafactor'"]),
    ({"dtype": "float16"}, ["unknown dtype 'float16'"]),
    ({"sizes": [3, 0, 3]}, ["width", "positive", "0"]),
    ({"sizes": [3, -2, 3]}, ["width", "positive", "-2"]),
    ({"steps": 0}, ["steps must be a positive integer"]),
    ({"steps": None, "epochs": -1}, ["epochs must be a positive integer"]),
    ({"batch_size": 0}, ["batch size must be a positive integer"]),
    ({"lr": -1.0}, ["learning rate must be >= 0"]),
])
def test_spec_mistakes_through_the_api(changes, words):
    """Activations, losses and widths have no CLI option: the Spec (the recipe's config) rejects them."""
    spec = compare.Spec(sizes=[3, 3, 3], activations=["tanh", "softmax"], loss="categorical_crossentropy",
                        steps=1, epochs=None)
    bad = compare.Spec(**{**spec.__dict__, **changes})
    with pytest.raises(InputError) as caught:
        compare.run(bad, frameworks=("scratch", "torch"))
    message = str(caught.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def spec3(loss="categorical_crossentropy", out="softmax"):
    return compare.Spec(sizes=[2, 3], activations=[out], loss=loss, steps=1, epochs=None)


@pytest.mark.parametrize("X, Y, words", [
    ([[0.0, np.nan], [1, 1]], [[1, 0, 0], [0, 1, 0]], ["training inputs", "1 non-finite"]),
    ([[0.0, np.inf], [1, -np.inf]], [[1, 0, 0], [0, 1, 0]], ["training inputs", "2 non-finite"]),
    ([[0.0, 1], [1, 1]], [[1, 0, 0], [0, np.nan, 0]], ["training targets", "non-finite"]),
    ([[0.0, 1], [1, 1]], [[1, 0, 0], [0, 0, 0]], ["row 1 sums to 0", "3 classes"]),     # label 3 of 0..2
    ([[0.0, 1], [1, 1]], [[1, 0, 0], [0, 2, 0]], ["targets hold 2", "range"]),
    ([[0.0, 1], [1, 1]], [[1, 0], [0, 1]], ["targets have shape (2, 2)", "expected (2, 3)"]),
    ([[0.0, 1, 2], [1, 1, 2]], [[1, 0, 0], [0, 1, 0]], ["inputs have shape (2, 3)", "2 features"]),
])
def test_bad_data_through_the_api(X, Y, words):
    X, Y = np.array(X, dtype=float), np.array(Y, dtype=float)
    with pytest.raises(InputError) as caught:
        compare.run(spec3(), Data(X=X, Y=Y, X_eval=np.zeros((1, 2))), frameworks=("scratch", "torch"))
    for word in words:
        assert word in str(caught.value)


def test_binary_labels_outside_0_1():
    spec = compare.Spec(sizes=[2, 1], activations=["sigmoid"], loss="binary_crossentropy", steps=1, epochs=None)
    data = Data(X=np.zeros((2, 2)), Y=np.array([[1.0], [-1.0]]), X_eval=np.zeros((1, 2)))
    with pytest.raises(InputError, match=r"targets hold -1 \(row 1, unit 0\)"):
        compare.run(spec, data, frameworks=("scratch", "torch"))


def test_uninstalled_framework(monkeypatch, capsys):
    entry = registry.REGISTRY["keras"]
    monkeypatch.setattr(entry, "requires", ("no_such_keras_module",))
    monkeypatch.setattr(registry, "_UNAVAILABLE", {})
    assert_input_error(["toy3", "--frameworks", "scratch,keras", "--quiet"], capsys,
                       "framework 'keras' is not available", "pip install")


# --- unwritable reports: refused before training ----------------------------------------------

@pytest.mark.parametrize("option", ["--json", "--plot"])
def test_unwritable_report_paths(option, tmp_path, capsys, monkeypatch):
    started = []
    monkeypatch.setattr(sys.modules["compare.engine.run"], "lockstep", lambda *a, **k: started.append(1))
    assert_input_error(["toy3", option, str(tmp_path / "missing" / "r.out")], capsys, "does not exist")
    assert_input_error(["toy3", option, str(tmp_path)], capsys, "is a directory")
    assert_input_error(["toy3", option, "/proc/framework-mirror.out"], capsys, "not writable")
    assert not started, "training started before the path was checked"


# --- MNIST files: missing, unreadable, truncated, corrupt, wrongly sized ------------------------

NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def idx(array, magic):
    array = np.asarray(array, dtype=np.uint8)
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def write_mnist(folder, n=4, side=28, labels=None):
    """Tiny uncompressed IDX files: not the canonical MNIST (their SHA-256 differs), so the runs that
    look at what else is wrong with them pass --allow-other-data (OTHER)."""
    rng = np.random.default_rng(0)
    labels = np.arange(n) % 10 if labels is None else labels
    for prefix, count in (("train", n), ("t10k", n)):
        (folder / f"{prefix}-images-idx3-ubyte").write_bytes(idx(rng.integers(0, 256, (count, side, side)), 2051))
        (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(idx(labels, 2049))
    return folder


OTHER = ["--allow-other-data"]
needs_mnist_recipe = pytest.mark.skipif(not (REPO / "compare" / "data" / "mnist.py").exists(),
                                        reason="compare/data/mnist.py (the mnist recipes) is missing")


@needs_mnist_recipe
@pytest.mark.parametrize("damage, words", [
    ("missing", ["t10k-labels-idx1-ubyte.gz not found"]),
    ("truncated", ["train-images-idx3-ubyte is truncated"]),
    ("header-only", ["t10k-labels-idx1-ubyte is truncated", "shorter than an IDX header"]),
    ("bad-magic", ["train-labels-idx1-ubyte has magic number 1234"]),
    ("corrupt-gz", ["fails its SHA-256 check"]),
    ("wrong-size", ["images of shape (27, 27)", "28x28"]),
    ("label-10", ["label 10", "outside 0..9"]),
    ("too-few", ["batch size 128", "4 training examples"]),
])
def test_bad_mnist_files(damage, words, tmp_path, capsys):
    folder = write_mnist(tmp_path, side=27 if damage == "wrong-size" else 28,
                         labels=np.array([0, 1, 10, 3]) if damage == "label-10" else None)
    if damage == "missing":
        (folder / "t10k-labels-idx1-ubyte").unlink()
    elif damage == "truncated":
        path = folder / "train-images-idx3-ubyte"
        path.write_bytes(path.read_bytes()[:-100])
    elif damage == "header-only":
        (folder / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00")
    elif damage == "bad-magic":
        (folder / "train-labels-idx1-ubyte").write_bytes(idx(np.arange(4), 1234))
    elif damage == "corrupt-gz":
        (folder / "train-images-idx3-ubyte").unlink()
        (folder / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b not really gzip")
    other = [] if damage == "corrupt-gz" else OTHER          # corrupt-gz: refused by its SHA-256 first
    assert_input_error(["mnist", "--data-dir", str(folder), "--offline", "--quiet", *other], capsys, *words)


@needs_mnist_recipe
def test_unreadable_mnist_file(tmp_path, capsys, monkeypatch):
    folder = write_mnist(tmp_path)
    target = folder / "train-labels-idx1-ubyte"
    if os.geteuid() == 0:          # root reads anything: simulate the permission error
        real = Path.read_bytes
        monkeypatch.setattr(Path, "read_bytes", lambda self: (_ for _ in ()).throw(PermissionError(13, "Permission denied"))
                            if self == target else real(self))
    else:
        target.chmod(0)
    assert_input_error(["mnist", "--data-dir", str(folder), "--quiet", *OTHER], capsys, "unreadable", "Permission denied")


def test_corrupt_gzip_through_the_loader(tmp_path):
    """Without the SHA-256 check, a broken .gz is reported as corrupt by the reader itself."""
    from compare.data.mnist_data import load_mnist

    write_mnist(tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte").unlink()
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"0123456789" * 10)[:-8])
    with pytest.raises(InputError, match="unreadable or corrupt"):
        load_mnist(tmp_path, verify=False)


# --- interrupted runs: exit 130, a complete report or the previous one -------------------------

def interrupt_at(monkeypatch, k):
    from compare.implementations.scratch import ScratchImplementation
    real = ScratchImplementation.step
    calls = {"n": 0}

    def step(self, X, Y):
        if self.model.convention == "torch":
            calls["n"] += 1
            if calls["n"] == k:
                raise KeyboardInterrupt
        return real(self, X, Y)
    monkeypatch.setattr(ScratchImplementation, "step", step)


def test_interrupted_run_writes_a_complete_report(tmp_path, monkeypatch, capsys):
    path = tmp_path / "report.json"
    path.write_text('{"previous": true}')
    interrupt_at(monkeypatch, 3)
    code = main(["toy3", "--steps", "5", "--json", str(path)])
    out, err = capsys.readouterr()
    assert code == 130
    assert "interrupted after 2 completed steps" in err and "Traceback" not in out + err
    report = json.loads(path.read_text())              # complete JSON, not half a document
    assert report["summary"]["interrupted"] is True and report["summary"]["steps_completed"] == 2
    assert [row["step"] for row in report["steps"]] == [1, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]    # no temporary left behind


def test_interrupted_write_keeps_the_previous_report(tmp_path, monkeypatch, capsys):
    path = tmp_path / "report.json"
    path.write_text('{"previous": true}')

    def half_then_ctrl_c(obj, f, **kwargs):
        f.write('{"recipe": "toy3", "steps": [')
        raise KeyboardInterrupt
    monkeypatch.setattr(files_module.json, "dump", half_then_ctrl_c)
    code = main(["toy3", "--json", str(path), "--quiet"])
    capsys.readouterr()
    assert code == 130
    assert json.loads(path.read_text()) == {"previous": True}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


# --- the terminal never sees a traceback ------------------------------------------------------

def run_module(*argv, code=None):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    command = [sys.executable, "-c", code, *argv] if code else [sys.executable, "-m", "compare", *argv]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, timeout=120)


def test_subprocess_user_mistake_is_one_line():
    result = run_module("toy3", "--steps", "0")
    assert result.returncode == 2
    assert result.stderr == "error: argument --steps: must be a positive whole number, got 0\n"
    assert result.stdout == ""


def test_subprocess_uninstalled_torch_is_one_line():
    """torch blocked from importing (as if not installed): exit 2, one line, no traceback."""
    block = ("import sys; sys.modules['torch'] = None; sys.argv[0] = 'compare'\n"
             "from compare.cli import main; sys.exit(main(sys.argv[1:]))")
    result = run_module("toy3", "--frameworks", "scratch,torch", "--quiet", code=block)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: framework 'torch' is not available")
    assert len(logical_lines(result.stderr)) == 1
    assert "Traceback" not in result.stderr + result.stdout
