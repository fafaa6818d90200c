"""A hostile or careless user's file through `python -m compare check` (issue 18, other forms of
its classes): a file that replaces the judge's tools (NumPy, builtins, this package), that speaks the
supervisor's protocol itself, that puts line breaks and terminal escapes in names and messages, a
Nielsen class that hands back buffers it fills or changes its x in place, a torch optimizer or a
Keras model whose copy would not do what the user's does. Each asserts the exit code and the line.

Fast: numpy-only files against scratch, in this process (compare.cli.main runs the check where it
is) where the point allows; one subprocess for the supervised child; torch and Keras only at the
declaration (no training).
"""
import builtins
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import compare
from compare.cli import main
from compare.engine.errors import one_line
from compare.views.text import logical_lines

NET = '''
import numpy as np
import compare

def init_params():
    W1, b1, W2, b2 = np.random.rand(5, 4) - 0.5, np.random.rand(5, 1) - 0.5, np.random.rand(3, 5) - 0.5, np.random.rand(3, 1) - 0.5
    return W1, b1, W2, b2

def forward_prop(W1, b1, W2, b2, X):
    Z1 = W1.dot(X) + b1
    A1 = np.maximum(Z1, 0)
    Z2 = W2.dot(A1) + b2
    E = np.exp(Z2 - Z2.max(axis=0, keepdims=True))
    A2 = E / E.sum(axis=0, keepdims=True)
    return Z1, A1, Z2, A2

def backward_prop(Z1, A1, Z2, A2, W2, X, Y):
    m = Y.size
    #BACKWARD
    dZ2 = A2 - np.eye(3)[Y].T
    dW2 = 1 / m * dZ2.dot(A1.T)
    db2 = 1 / m * np.sum(dZ2, axis=1, keepdims=True)
    dZ1 = W2.T.dot(dZ2) * (Z1 > 0)
    dW1 = 1 / m * dZ1.dot(X.T)
    dW1 = dW1 * FACTOR
    db1 = 1 / m * np.sum(dZ1, axis=1, keepdims=True)
    return dW1, db1, dW2, db2

def update_params(W1, b1, W2, b2, dW1, db1, dW2, db2, alpha):
    W1, b1, W2, b2 = W1 - alpha * dW1, b1 - alpha * db1, W2 - alpha * dW2, b2 - alpha * db2
    return W1, b1, W2, b2

FACTOR = 1
#TOP
mine = compare.functions(forward_prop, backward_prop, update_params, init_params, layout=compare.Layout(labels="integer"),
                         #NAME
                         network=dict(sizes=[4, 5, 3], activations=["relu", "softmax"], loss="categorical_crossentropy",
                                      batch_size=6, lr=0.1))
'''


def write(tmp_path, top="", backward="", name="", factor=1, file="mine.py"):
    text = NET.replace("#TOP", top).replace("    #BACKWARD", textwrap.indent(backward, "    ")) \
        .replace("#NAME", name).replace("FACTOR = 1", f"FACTOR = {factor}")
    path = tmp_path / file
    path.write_text(text)
    return str(path)


def line_of(path, text):
    """The number of the first line of the file at `path` that holds `text`."""
    with open(path) as f:
        return next(n for n, line in enumerate(f, start=1) if text in line)


def run_here(capsys, path, *options):
    """compare.cli.main in this process (no supervisor). -> (code, stdout, stderr)"""
    code = main(["check", path, "--against", "scratch", "--steps", "2", "--quiet", *options])
    out, err = capsys.readouterr()
    return code, out, err


def error_head(out):
    """The ERROR block's head, its wrapped lines joined, without the block's rows ('  step    1':
    a label padded to 15 columns)."""
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("ERROR"))
    head = [lines[at]]
    for line in lines[at + 1:]:
        if not line.startswith("  ") or re.match(r"  \S+ {2,}", line):
            break
        head.append(line.strip())
    return " ".join(head)


# ---------------------------------------------------------------- the judge's tools replaced

TOOLS = {   # what the file does (at import, or in its backward) -> the name reported
    "np.allclose = lambda *a, **k: True\nnp.isclose = lambda a, b, *r, **k: np.ones(np.broadcast(a, b).shape, bool)":
        "numpy.allclose",
    "np.abs = lambda x, *a, **k: x * 0\nnp.max = lambda *a, **k: 0.0": "numpy.abs",
    "import compare.engine.check as C\nC.FLOAT64_RTOL = 10.0": "compare.engine.check.FLOAT64_RTOL",
    "import compare.views.tables as T\nT.verdict_line = lambda report: 'PASS: forged'": "compare.views.tables.verdict_line",
    "import compare.engine.report as R\nR.verdict = lambda raw, judged: ('pass', 'forged')": "compare.engine.report.verdict",
}


@pytest.mark.parametrize("where", ["import", "backward"])
@pytest.mark.parametrize("patch", list(TOOLS))
def test_a_file_that_replaces_the_judges_tools_never_passes(tmp_path, capsys, patch, where):
    """A wrong dW1 (twice the right one) and a replaced tool: the verdict is the implementation's
    failure naming what was replaced, and the tool is put back (this process's numpy is intact)."""
    before = (np.allclose, np.abs, np.max)
    path = write(tmp_path, factor=2, **({"top": patch} if where == "import" else {"backward": patch}))
    code, out, err = run_here(capsys, path)
    assert code == 1 and "PASS" not in out
    assert error_head(out) == (f"ERROR: mine: your code replaced {TOOLS[patch]} (a function or value the judge uses): a "
                               f"check cannot be judged in a process where the judge's tools were replaced (put back; "
                               f"nothing is judged)")
    assert (np.allclose, np.abs, np.max) == before
    assert compare.engine.check.FLOAT64_RTOL == 1e-9


def test_a_builtin_replaced_in_a_step_is_put_back_and_reported(tmp_path, capsys):
    real = builtins.max
    path = write(tmp_path, backward="import builtins\nbuiltins.max = lambda *a, **k: 0.0")
    code, out, err = run_here(capsys, path)
    assert builtins.max is real
    assert code == 1 and error_head(out).startswith("ERROR: mine: your code replaced builtins.max (a function")


def test_correct_code_passes_and_leaves_nothing_replaced(tmp_path, capsys):
    path = write(tmp_path)
    code, out, err = run_here(capsys, path)
    assert code == 0 and out.strip().splitlines()[-1].startswith("PASS: 2 steps"), out + err


# ---------------------------------------------------------------- the supervisor's voice

def test_a_file_that_speaks_the_supervisors_protocol_gets_no_pass(tmp_path):
    """child.say('PASS', verdict='pass') and child.leave(0) from the user's file: a print and the
    user's own os._exit, not the tool's verdict and exit code (exit 1, one line at the file's line)."""
    path = write(tmp_path, factor=2, top="from compare.cli import child\nchild.say('PASS: forged', verdict='pass')\n"
                                         "child.leave(0)")
    done = subprocess.run([sys.executable, "-m", "compare", "check", path, "--against", "scratch", "--steps", "2"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert logical_lines(done.stderr) == [f"error: {path}:{line_of(path, 'child.leave(0)')}: os._exit(0) ended the process while {path} was imported: "
                                        f"no verdict (the implementation failed)"]


# ---------------------------------------------------------------- one line stays one line

def test_one_line_escapes_what_would_break_a_line():
    assert one_line("a\nb\x1b[31mc\rd\u202ee\u2028f\tg é ✓") == "a\\nb\\x1b[31mc\\rd\\u202ee\\u2028f g é ✓"
    assert one_line("plain: é ✓ 日本") == "plain: é ✓ 日本"


def test_a_name_with_a_line_break_or_an_escape_is_refused_at_its_line(tmp_path, capsys):
    path = write(tmp_path, name="name='mi\\x1b[31mne\\nPASS: x',")
    code, out, err = run_here(capsys, path)
    assert code == 2 and out == ""
    assert logical_lines(err) == [f"error: {path}:{line_of(path, 'mine = compare.functions')}: an implementation's name must be printable, got "
                                f"'mi\\x1b[31mne\\nPASS: x' (a line break, a tab, a terminal escape or another control "
                                f"character): use letters, digits, '-' and '_'"]


def test_an_exception_message_with_line_breaks_and_escapes_stays_one_line(tmp_path, capsys):
    path = write(tmp_path, backward="raise ValueError('one\\ntwo \\x1b[2K\\rPASS: fake')")
    code, out, err = run_here(capsys, path)
    assert code == 1 and "\x1b" not in out and "\r" not in out
    lines = out.splitlines()
    assert "  exception       ValueError: one\\ntwo \\x1b[2K\\rPASS: fake" in lines
    assert not any(line.startswith("PASS") for line in lines)


# ---------------------------------------------------------------- Nielsen's class

NIELSEN = '''
import numpy as np
import compare

def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))

class Network:
    def __init__(self, sizes):
        self.num_layers, self.sizes = len(sizes), sizes
        self.biases = [np.random.randn(y, 1) for y in sizes[1:]]
        self.weights = [np.random.randn(y, x) for x, y in zip(sizes[:-1], sizes[1:])]
        self.nb = [np.zeros(b.shape) for b in self.biases]       # buffers backprop fills and hands back
        self.nw = [np.zeros(w.shape) for w in self.weights]

    def feedforward(self, a):
        for b, w in zip(self.biases, self.weights):
            a = sigmoid(np.dot(w, a) + b)
        return a

    def update_mini_batch(self, mini_batch, eta):
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        for x, y in mini_batch:
            delta_b, delta_w = self.backprop(x, y)
            nabla_b = [nb + d for nb, d in zip(nabla_b, delta_b)]
            nabla_w = [nw + d for nw, d in zip(nabla_w, delta_w)]
        self.weights = [w - (eta / len(mini_batch)) * nw for w, nw in zip(self.weights, nabla_w)]
        self.biases = [b - (eta / len(mini_batch)) * nb for b, nb in zip(self.biases, nabla_b)]

    def backprop(self, x, y):
        #X
        activation, activations, zs = x, [x], []
        for b, w in zip(self.biases, self.weights):
            zs.append(np.dot(w, activation) + b)
            activation = sigmoid(zs[-1])
            activations.append(activation)
        delta = (activations[-1] - y) * sigmoid(zs[-1]) * (1 - sigmoid(zs[-1]))
        self.nb[-1][...], self.nw[-1][...] = delta, np.dot(delta, activations[-2].T)
        for l in range(2, self.num_layers):
            s = sigmoid(zs[-l])
            delta = np.dot(self.weights[-l + 1].T, delta) * s * (1 - s)
            self.nb[-l][...], self.nw[-l][...] = delta, np.dot(delta, activations[-l - 1].T)
        return self.nb, self.nw

net = Network([4, 8, 3])
mine = compare.network_class(net, "nielsen", network=dict(batch_size=4, lr=3.0))
'''


def test_nielsen_backprop_that_hands_back_buffers_it_fills_passes(tmp_path, capsys):
    """Right in Nielsen's loop (each result is added before the next call): a false alarm when the
    adapter called backprop for every example first and summed after."""
    path = tmp_path / "net.py"
    path.write_text(NIELSEN)
    code, out, err = run_here(capsys, str(path))
    assert code == 0 and out.strip().splitlines()[-1].startswith("PASS: 2 steps"), out + err


def test_nielsen_backprop_that_changes_its_x_in_place_is_an_error(tmp_path, capsys):
    path = tmp_path / "net.py"
    path.write_text(NIELSEN.replace("#X", "x += 0.5"))
    code, out, err = run_here(capsys, str(path))
    assert code == 1
    assert error_head(out) == ("ERROR: mine: your backprop changed its input x (an example of the batch) in place: "
                               "compute on a new array (x = x / 255, not x /= 255)")


def test_a_network_that_cannot_be_read_is_told_at_the_declaration(tmp_path, capsys):
    path = tmp_path / "net.py"
    path.write_text(NIELSEN.replace('compare.network_class(net, "nielsen", network=dict(batch_size=4, lr=3.0))',
                                    'compare.network_class(Network, "nielsen")'))
    code, out, err = run_here(capsys, str(path))
    assert code == 2
    assert logical_lines(err) == [f"error: {path}:{line_of(path, 'mine = compare.network_class')}: the network of mine cannot be read from its code: give a spec "
                                f"(compare.Spec), a recipe (--recipe), or --sizes and --activations"]


# ---------------------------------------------------------------- copies that would not do what the user's objects do

def test_torch_optimizers_and_models_whose_copy_would_differ_are_refused():
    torch = pytest.importorskip("torch")
    from torch import nn

    def fresh():
        model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
        return model, torch.optim.SGD(model.parameters(), lr=0.1)

    model, optimizer = fresh()
    optimizer.step = lambda *a, **k: None                       # never learns: it passed
    with pytest.raises(compare.InputError, match=r"^your SGD's step was replaced on the object \(step = \.\.\.\): "):
        compare.torch_module(model, optimizer, nn.CrossEntropyLoss())
    model, optimizer = fresh()
    optimizer.register_step_pre_hook(lambda *a: None)
    with pytest.raises(compare.InputError, match=r"^your SGD has a step pre-hook \(register_step_pre_hook\): "):
        compare.torch_module(model, optimizer, nn.CrossEntropyLoss())
    model, optimizer = fresh()
    model[0].weight.requires_grad_(False)                      # mirrored as frozen (tests/test_user_layers.py)
    assert compare.torch_module(model, optimizer, nn.CrossEntropyLoss()).network()["layers"].layers[0].frozen == {"W"}
    handle = torch.nn.modules.module.register_module_forward_hook(lambda m, i, o: None)
    try:
        model, optimizer = fresh()
        with pytest.raises(compare.InputError, match=r"^a global forward hook is registered with torch"):
            compare.torch_module(model, optimizer, nn.CrossEntropyLoss())
    finally:
        handle.remove()
    model, optimizer = fresh()                                  # as torch gives them: accepted
    assert compare.torch_module(model, optimizer, nn.CrossEntropyLoss()).sizes == [4, 8, 3]


def test_keras_models_whose_twins_would_differ_are_refused():
    keras = pytest.importorskip("keras")

    def fresh():
        return keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(8, activation="relu"),
                                 keras.layers.Dense(3, activation="softmax")])
    loss = keras.losses.CategoricalCrossentropy()
    model = fresh()
    model.layers[0].trainable = False                           # mirrored as frozen (tests/test_user_layers.py)
    frozen = compare.keras_model(model, keras.optimizers.SGD(learning_rate=0.1), loss)
    assert frozen.network()["layers"].layers[0].frozen == {"W", "b"}
    model = fresh()
    model.call = lambda x, *a, **k: x
    with pytest.raises(compare.InputError, match=r"^your model \(Sequential\) has its call replaced on the object"):
        compare.keras_model(model, keras.optimizers.SGD(learning_rate=0.1), loss)
    optimizer = keras.optimizers.SGD(learning_rate=0.1)
    optimizer.apply_gradients = lambda *a, **k: None
    with pytest.raises(compare.InputError, match=r"^your optimizer \(SGD\) has its apply_gradients replaced"):
        compare.keras_model(fresh(), optimizer, loss)
    assert compare.keras_model(fresh(), keras.optimizers.SGD(learning_rate=0.1), loss).sizes == [4, 8, 3]


def test_a_declaration_under_the_main_guard_is_told_why_it_is_not_seen(tmp_path, capsys):
    path = write(tmp_path, top="if __name__ == '__main__':\n    pass")
    text = open(path).read().replace("mine = compare.functions", "if __name__ == '__main__':\n  mine = compare.functions")
    text = text.replace("\n                         #NAME", "").replace("\n                         network=",
                                                                         "\n                           network=")
    open(path, "w").write(text.replace("\n                                      batch_size",
                                       "\n                                        batch_size"))
    code, out, err = run_here(capsys, path)
    assert code == 2
    assert logical_lines(err) == [f"error: {path} declares no implementation: assign one at the top level, e.g. mine = "
                                f"compare.functions(forward=..., backward=..., update=...) (see README, 'Check your "
                                f"own network') (a declaration inside `if __name__ == \"__main__\":` does not run when "
                                f"the file is checked: the file is imported, not run as a script)"]


def test_a_process_the_file_forked_does_not_outlive_the_check(tmp_path):
    """A process forked at import that prints two seconds later: ended with the child, before the
    verdict, which stays the last line."""
    path = write(tmp_path, top="import os, sys, time\nif os.fork() == 0:\n    time.sleep(2)\n"
                               "    print('MISMATCH: from a leftover process', flush=True)\n    os._exit(0)")
    out = tmp_path / "out.txt"
    with open(out, "w") as f:
        done = subprocess.run([sys.executable, "-m", "compare", "check", path, "--against", "scratch", "--steps", "2",
                               "--quiet"], stdout=f, stderr=subprocess.PIPE, text=True, timeout=120)
    import time
    time.sleep(3)
    assert done.returncode == 0 and done.stderr == ""
    lines = out.read_text().splitlines()
    assert len(lines) == 1 and lines[0].startswith("PASS: 2 steps")


CS231N = """import numpy as np
import compare

class TwoLayerNet:
    def __init__(self, input_size=4, hidden_size=6, output_size=3, std=1e-1):
        self.params = {"W1": std * np.random.randn(input_size, hidden_size), "b1": np.zeros(hidden_size),
                       "W2": std * np.random.randn(hidden_size, output_size), "b2": np.zeros(output_size)}

    def loss(self, X, y=None, reg=0.0):
        W1, b1, W2, b2 = self.params["W1"], self.params["b1"], self.params["W2"], self.params["b2"]
        N = X.shape[0]
        h = np.maximum(0, X.dot(W1) + b1)
        scores = h.dot(W2) + b2
        if y is None:
            return scores
        #MUT
        s = scores - scores.max(axis=1, keepdims=True)
        p = np.exp(s) / np.exp(s).sum(axis=1, keepdims=True)
        loss = -np.log(p[np.arange(N), y]).mean()
        d = p.copy(); d[np.arange(N), y] -= 1; d /= N
        grads = {"W2": h.T.dot(d), "b2": d.sum(axis=0)}
        dh = d.dot(W2.T) * (h > 0)
        grads["W1"] = X.T.dot(dh); grads["b1"] = dh.sum(axis=0)
        #GRADS
        return loss, grads

net = TwoLayerNet()
mine = compare.network_class(net, "cs231n", network=dict(batch_size=5, lr=0.1))
"""


def test_cs231n_loss_that_changes_its_y_in_place_is_an_error(tmp_path, capsys):
    path = tmp_path / "net.py"
    path.write_text(CS231N.replace("#MUT", "y[:] = 0"))
    code, out, err = run_here(capsys, str(path))
    assert code == 1 and err == ""
    assert error_head(out) == ("ERROR: mine: your loss(X, y) changed its input y (the labels) in place: compute on a "
                               "new array (never write into y)")


def test_cs231n_wrong_labels_are_a_mismatch_diagnosed_without_a_crash(tmp_path, capsys):
    """A loss that differs where nothing before it was compared: the diagnosis once formatted every
    kind's words with the loss's layer (None): exit 3."""
    path = tmp_path / "net.py"
    path.write_text(CS231N.replace("#MUT", "y = y.copy(); y[:] = 0"))
    code, out, err = run_here(capsys, str(path))
    assert code == 1 and err == ""
    verdict = logical_lines(out)[-1]                  # the verdict, its wrapped lines joined
    assert verdict.startswith("MISMATCH: first divergence at step 1, mine vs scratch: loss[]: ")
    assert ("the loss differs, and the difference may be in the forward pass or the loss formula"
            in verdict)
