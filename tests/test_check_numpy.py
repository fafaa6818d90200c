"""A learner's NumPy code checked unchanged: compare.functions and compare.network_class on every
file of examples/, each verdict asserted (step, layer, tensor, the diagnosis's words), and the
adapters' own rules: names read from signatures and return statements, batch mean in dZ or dW,
a row layout, --weights mine, an exception inside the user's code.

The MNIST examples run on the first 600 real training images (full batch, 3 steps) so the file
stays fast; examples/*.py's headers give the full-size commands.
"""
import textwrap
from pathlib import Path

import numpy as np
import pytest

import compare
from compare.adapters.check import declared, load_file
from compare.adapters.functions import argument_names, canonical, return_names
from compare.cli import main as cli_main
from compare.engine.data import Data
from compare.views.text import logical_lines

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
RTOL = 1e-9


def load(name):
    path = str(EXAMPLES / name)
    return declared(load_file(path), path)[0]


def run(name, **options):
    options.setdefault("against", ("torch", "keras"))
    return compare.check(load(name), **options)


def divergence(report):
    d = report.summary["first_divergence"]
    assert d is not None, report.summary["verdict_reason"]
    return d


def assert_pass(report, steps):
    s = report.summary
    assert s["verdict"] == "pass", s.get("first_divergence") or s.get("error") or s["verdict_reason"]
    assert s["steps_completed"] == steps
    assert set(s["judged_pairs"]) == {"mine~torch", "mine~keras"}
    assert max(float(v) for v in s["max_rel_err"].values()) <= RTOL


@pytest.fixture(scope="module")
def mnist_600(mnist_dir):
    """The first 600 real MNIST training images, one-hot targets."""
    from compare.data.mnist_data import load_mnist
    m = load_mnist(mnist_dir, offline=True)
    X, labels = m.train_images[:600], m.train_labels[:600]
    return Data(X=X, Y=np.eye(10)[labels], X_eval=X[:10])


# --- the MNIST examples ------------------------------------------------------------------------

def test_mnist_two_layer_passes(mnist_600):
    assert_pass(run("mnist_two_layer.py", recipe="mnist-small", data=mnist_600, steps=3), 3)


def test_mnist_two_layer_db_without_axis_is_a_lost_axis(mnist_600):
    report = run("mnist_two_layer_db_no_axis.py", recipe="mnist-small", data=mnist_600, steps=3)
    d = divergence(report)
    assert report.summary["verdict"] == "mismatch"
    assert (d["step"], d["layer"], d["tensor"]) == (1, 2, "db2")
    assert d["shapes"] == {"mine": [], "torch": [10, 1]}
    assert "lost axis" in d["explanation"] and "summed over units and examples" in d["explanation"]


def test_mnist_deep_passes(mnist_600):
    assert_pass(run("mnist_deep.py", recipe="mnist-deep", data=mnist_600, steps=3), 3)


def test_mnist_deep_db3_without_axis(mnist_600):
    d = divergence(run("mnist_deep_db3_no_axis.py", recipe="mnist-deep", data=mnist_600, steps=3))
    assert (d["step"], d["layer"], d["tensor"], d["shape_ok"]) == (1, 3, "db3", False)
    assert d["shapes"]["mine"] == [] and d["shapes"]["torch"] == [10, 1]
    assert "a lost axis: mine's db3 is ()" in d["explanation"]


def test_softmax_over_the_whole_batch():
    d = divergence(run("mnist_softmax_whole_batch.py", steps=2))
    assert (d["step"], d["layer"], d["tensor"]) == (1, 2, "A2")
    assert "softmax normalised over the whole batch" in d["explanation"]


def test_relu_derivative_of_a_is_harmless():
    assert_pass(run("mnist_relu_grad_of_a.py", steps=5), 5)


def test_z_for_a_in_dw2():
    report = run("mnist_z_a_swapped.py", steps=2)
    d = divergence(report)
    assert (d["step"], d["layer"], d["tensor"]) == (1, 2, "dW2")
    errors = {e.name: e for e in report.raw["first_step_errors"]["mine~torch"]}
    assert errors["dZ2"].max_rel <= RTOL and errors["db2"].max_rel <= RTOL and errors["A2"].max_rel <= RTOL
    assert errors["dW2"].max_rel > 1e-3


# --- parity, xor, Nielsen ------------------------------------------------------------------------

def test_parity_one_example_at_a_time_passes_and_compares_the_loss():
    report = run("parity_per_example.py", recipe="parity")
    assert_pass(report, 4)
    first = {e.name for e in report.raw["first_step_errors"]["mine~torch"]}
    assert {"loss", "dZ3", "dW1", "Z1", "A3", "W3", "b1"} <= first


def test_parity_sigmoid_derivative_of_z_through_the_cli(capsys):
    assert cli_main(["check", str(EXAMPLES / "parity_per_example.py"), "--recipe", "parity", "--quiet"]) == 0
    code = cli_main(["check", str(EXAMPLES / "parity_sigmoid_grad_of_z.py"), "--recipe", "parity", "--quiet"])
    out = capsys.readouterr().out
    assert code == 1
    assert "MISMATCH: first divergence at step 1, mine vs torch: layer 3, dZ3" in out


def test_xor_with_a_parameter_dict():
    assert_pass(run("xor_dict.py", recipe="xor", steps=100), 100)


def test_nielsen_network_passes():
    report = run("nielsen_network.py")
    assert_pass(report, 20)
    assert report.spec.sizes == [784, 30, 10] and report.spec.batch_size == 4
    names = {e.name for e in report.raw["first_step_errors"]["mine~torch"]}
    assert names == {"A2", "dW1", "db1", "dW2", "db2", "W1", "b1", "W2", "b2", "accuracy"}


def test_nielsen_update_without_the_mean_is_a_factor_of_m():
    d = divergence(run("nielsen_network_bug.py"))
    assert (d["step"], d["layer"], d["tensor"]) == (1, 1, "W1")
    assert "the update of W1: a factor of m = 4, the batch size" in d["explanation"]


def test_nielsen_gradients_are_scaled_by_2_over_n_L():
    """The compared dW is (2 / n_L) x the mean nabla_w: worked out by hand for one example."""
    mine = compare.network_class(type(load("nielsen_network.py").target), "nielsen")   # built as Network([3, 4])
    spec = compare.Spec(sizes=[3, 4], activations=["sigmoid"], loss="mse", lr=0.5, steps=1, epochs=None)
    W = np.array([[0.1, -0.2, 0.3], [0.4, 0.5, -0.6], [0.7, -0.1, 0.2], [-0.3, 0.2, 0.1]])
    b = np.array([[0.05], [-0.05], [0.1], [0.0]])
    run_ = mine.build(spec, [(W, b)], "torch")
    X, Y = np.array([[1.0, 2.0, -1.0]]), np.array([[1.0, 0.0, 0.0, 1.0]])
    record = run_.step(X, Y)
    a = 1 / (1 + np.exp(-(W @ X.T + b)))
    nabla_b = (a - Y.T) * a * (1 - a)                  # Nielsen's delta for one example
    assert np.allclose(record["db1"], 2 / 4 * nabla_b, rtol=1e-14, atol=0)
    assert np.allclose(record["dW1"], 2 / 4 * nabla_b @ X, rtol=1e-14, atol=0)
    assert np.allclose(record["W1"], W - 0.5 * (2 / 4) * nabla_b @ X, rtol=1e-14, atol=0)


# --- the adapter's rules ------------------------------------------------------------------------

def blog_functions():
    def forward_prop(W1, b1, W2, b2, X):
        Z1 = W1.dot(X) + b1
        A1 = np.tanh(Z1)
        Z2 = W2.dot(A1) + b2
        e = np.exp(Z2 - Z2.max(axis=0))
        A2 = e / e.sum(axis=0)
        return Z1, A1, Z2, A2

    def backward_prop(Z1, A1, Z2, A2, W2, X, one_hot_Y):
        m = X.shape[1]
        dZ2 = A2 - one_hot_Y
        dW2 = 1 / m * dZ2.dot(A1.T)
        db2 = 1 / m * np.sum(dZ2, axis=1, keepdims=True)
        dZ1 = W2.T.dot(dZ2) * (1 - A1 ** 2)
        dw1 = 1 / m * dZ1.dot(X.T)                   # lower case: read as dW1
        db1 = 1 / m * np.sum(dZ1, axis=1, keepdims=True)
        return dZ1, dw1, db1, dZ2, dW2, db2
    return forward_prop, backward_prop


SPEC = compare.Spec(sizes=[4, 5, 3], activations=["tanh", "softmax"], loss="categorical_crossentropy",
                    lr=0.1, batch_size=8, steps=3, epochs=None)


def test_names_are_read_from_the_signature_and_the_return_statement():
    forward_prop, backward_prop = blog_functions()
    assert argument_names(forward_prop, "forward_args") == ["W1", "b1", "W2", "b2", "X"]
    assert argument_names(backward_prop, "backward_args") == ["Z1", "A1", "Z2", "A2", "W2", "X", "Y"]
    assert return_names(forward_prop, "forward_returns") == ["Z1", "A1", "Z2", "A2"]
    assert return_names(backward_prop, "backward_returns") == ["dZ1", "dW1", "db1", "dZ2", "dW2", "db2"]
    assert [canonical(w) for w in ("w1", "B2", "A0", "y_onehot", "learning_rate", "eta", "dz3", "dB1")] == \
        ["W1", "b2", "X", "Y", "lr", "lr", "dZ3", "db1"]


def test_an_unreadable_return_or_argument_is_one_clear_input_error():
    def forward_prop(W1, b1, X):
        Z1 = W1 @ X + b1
        return Z1, np.tanh(Z1)

    def backward_prop(cache, X, Y, hidden_size):
        return cache

    with pytest.raises(compare.InputError, match=r"forward_prop returns `\(Z1, np.tanh\(Z1\)\)`.*give forward_returns="):
        return_names(forward_prop, "forward_returns")
    with pytest.raises(compare.InputError, match="backward_prop: cannot tell what its argument 'hidden_size' is: give backward_args="):
        compare.functions(forward_prop, backward_prop, forward_returns="Z1 A1")
    assert return_names(forward_prop, "forward_returns", "z1 a1") == ["Z1", "A1"]


def test_the_batch_mean_in_dw_or_in_dz_both_pass_and_dz_is_compared():
    forward_prop, backward_prop = blog_functions()
    in_dw = compare.functions(forward_prop, backward_prop, name="in_dW")
    assert in_dw.update_kind == "spec" and "divided by the batch size" in in_dw.notes["dZ"]
    report = compare.check(in_dw, SPEC)
    assert_pass_pair(report, "in_dW")

    def backward_in_dz(Z1, A1, Z2, A2, W2, X, Y):
        dZ2 = (A2 - Y) / X.shape[1]
        dW2 = dZ2 @ A1.T
        db2 = dZ2.sum(axis=1, keepdims=True)
        dZ1 = W2.T @ dZ2 * (1 - A1 ** 2)
        return dZ1, dZ1 @ X.T, dZ1.sum(axis=1, keepdims=True), dZ2, dW2, db2

    in_dz = compare.functions(forward_prop, backward_in_dz, name="in_dZ", batch_mean="in_dZ",
                              backward_returns="dZ1 dW1 db1 dZ2 dW2 db2")
    assert_pass_pair(compare.check(in_dz, SPEC), "in_dZ")
    wrong = compare.functions(forward_prop, backward_in_dz, name="wrong", batch_mean="in_dW",
                              backward_returns="dZ1 dW1 db1 dZ2 dW2 db2")
    d = divergence(compare.check(wrong, SPEC))
    assert (d["tensor"], d["layer"]) == ("dZ2", 2) and "a factor of 1/m = 1/8" in d["explanation"]


def assert_pass_pair(report, name):
    s = report.summary
    assert s["verdict"] == "pass", s.get("first_divergence") or s.get("error")
    assert max(float(v) for v in s["max_rel_err"].values()) <= RTOL
    first = {e.name for e in report.raw["first_step_errors"][f"{name}~torch"]}
    assert {"Z1", "A2", "dZ1", "dZ2", "dW1", "db2", "W1", "b2"} <= first


def test_rows_in_out_weights_and_flat_bias():
    def forward(X, W1, b1, W2, b2):
        Z1 = X @ W1 + b1                      # (m, n1): one example per row, W (in, out), b (n1,)
        A1 = np.tanh(Z1)
        Z2 = A1 @ W2 + b2
        e = np.exp(Z2 - Z2.max(axis=1, keepdims=True))
        return Z1, A1, Z2, e / e.sum(axis=1, keepdims=True)

    def backward(Z1, A1, Z2, A2, W2, X, y):
        m = len(X)
        dZ2 = A2.copy()
        dZ2[np.arange(m), y] -= 1             # integer labels
        dZ1 = dZ2 @ W2.T * (1 - A1 ** 2)
        dW1, db1 = X.T @ dZ1 / m, dZ1.sum(axis=0) / m
        dW2, db2 = A1.T @ dZ2 / m, dZ2.sum(axis=0) / m
        return dW1, db1, dW2, db2

    def update(W1, b1, W2, b2, dW1, db1, dW2, db2, lr):
        return W1 - lr * dW1, b1 - lr * db1, W2 - lr * dW2, b2 - lr * db2

    layout = compare.Layout(examples="rows", weights="in_out", bias="flat", labels="integer")
    with pytest.raises(compare.InputError, match="give update_returns='...' \\(e.g. update_returns='W1 b1 W2 b2'\\)"):
        compare.functions(forward, backward, update, layout=layout, forward_returns="Z1 A1 Z2 A2")
    mine = compare.functions(forward, backward, update, layout=layout, forward_returns="Z1 A1 Z2 A2",
                             update_returns="W1 b1 W2 b2")
    report = compare.check(mine, SPEC)
    assert report.summary["verdict"] == "pass", report.summary.get("first_divergence") or report.summary.get("error")
    assert max(float(v) for v in report.summary["max_rel_err"].values()) <= RTOL
    assert {"Z1", "A2", "dW1", "db2", "W2", "b1"} <= {e.name for e in report.raw["first_step_errors"]["mine~torch"]}


def test_weights_mine_copies_the_users_init_to_torch_and_keras():
    forward_prop, backward_prop = blog_functions()
    rng = np.random.default_rng(7)
    W1, b1, W2, b2 = rng.normal(size=(5, 4)), rng.normal(size=(5, 1)), rng.normal(size=(3, 5)), rng.normal(size=(3, 1))

    def init_params():
        return W1, b1, W2, b2

    mine = compare.functions(forward_prop, backward_prop, init_params=init_params)
    report = compare.check(mine, SPEC, weights="mine")
    assert report.summary["verdict"] == "pass"
    (V1, c1), (V2, c2) = report.raw["initial_params"]
    assert np.array_equal(V1, W1) and np.array_equal(c1, b1) and np.array_equal(V2, W2) and np.array_equal(c2, b2)
    step1 = report.raw["first_step_errors"]["mine~keras"]
    assert max(e.max_rel for e in step1) <= RTOL


def test_an_exception_in_the_users_code_is_reported_with_its_file_and_line(tmp_path):
    path = tmp_path / "broken.py"
    path.write_text(textwrap.dedent("""\
        import numpy as np
        import compare

        def forward_prop(W1, b1, W2, b2, X):
            Z1 = W1.dot(X) + b1
            A1 = np.tanh(Z1)
            Z2 = W2.dot(A1) + b2
            A2 = Z2
            return Z1, A1, Z2, A2

        def backward_prop(Z1, A1, Z2, A2, W2, X, Y):
            raise ValueError("not written yet")

        mine = compare.functions(forward_prop, backward_prop, backward_returns="dW1 db1 dW2 db2")
        """))
    report = compare.check(declared(load_file(str(path)), str(path)), SPEC)
    s = report.summary
    assert s["verdict"] == "error"
    assert s["error"]["file"] == str(path), report.raw["error"]
    assert s["error"]["line"] == 12 and "raise ValueError" in s["error"]["code"]
    assert s["error"]["exception"] == "ValueError: not written yet" and s["error"]["step"] == 1


def test_cs231n_style_class():
    class TwoLayerNet:
        def __init__(self, sizes):
            self.params = {"W1": np.zeros((sizes[0], sizes[1])), "b1": np.zeros(sizes[1]),
                           "W2": np.zeros((sizes[1], sizes[2])), "b2": np.zeros(sizes[2])}

        def loss(self, X, y=None, reg=0.0):
            W1, b1, W2, b2 = (self.params[k] for k in ("W1", "b1", "W2", "b2"))
            hidden = np.maximum(0, X @ W1 + b1)
            scores = hidden @ W2 + b2
            if y is None:
                return scores
            N = len(X)
            p = np.exp(scores - scores.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            loss = -np.log(p[np.arange(N), y]).sum() / N
            dscores = p.copy()
            dscores[np.arange(N), y] -= 1
            dscores /= N
            dhidden = dscores @ W2.T * (hidden > 0)
            grads = {"W2": hidden.T @ dscores, "b2": dscores.sum(axis=0), "W1": X.T @ dhidden, "b1": dhidden.sum(axis=0)}
            return loss, grads

    mine = compare.network_class(TwoLayerNet, "cs231n")
    spec = compare.Spec(sizes=[4, 6, 3], activations=["relu", "softmax"], loss="categorical_crossentropy",
                        optimizer="adam", lr=0.01, batch_size=4, steps=4, epochs=None)
    report = compare.check(mine, spec)
    assert report.summary["verdict"] == "pass", report.summary.get("first_divergence") or report.summary.get("error")
    assert {"Z2", "loss", "dW1", "db2", "W1", "b2"} <= {e.name for e in report.raw["first_step_errors"]["mine~torch"]}


def test_a_diagnosis_rests_only_on_compared_tensors(tmp_path, capsys):
    """A Nielsen class with sigmoid_prime(activations[-1]) where zs[-1] belongs: it gives no delta, so
    dZ2 was never compared; the diagnosis says so instead of "dZ2 agrees but dW2 does not" (CLI and
    API). A diagnosis whose premise was compared still says it agrees (the cs231n file's dW bug)."""
    source = (EXAMPLES / "nielsen_network.py").read_text()
    assert "sigmoid_prime(zs[-1])      # BP1" in source
    path = tmp_path / "nielsen_bp1.py"
    path.write_text(source.replace("sigmoid_prime(zs[-1])      # BP1", "sigmoid_prime(activations[-1])      # BP1"))
    assert cli_main(["check", str(path), "--against", "scratch", "--steps", "2", "--quiet"]) == 1
    line = " ".join(logical_lines(capsys.readouterr().out.strip()))     # --quiet: the verdict alone
    assert line.startswith("MISMATCH: first divergence at step 1, mine vs scratch: layer 2, dW2[")
    assert "dZ2 was not compared (your code does not return it): dW2 differs, and the difference may be in dZ2" in line
    assert "dZ2 agrees" not in line
    d = divergence(compare.check(declared(load_file(str(path)), str(path))[0], against=("scratch",), steps=2))
    assert d["tensor"] == "dW2" and d["explanation"].startswith("dZ2 was not compared (your code does not return it)")
    from compare.engine import diagnose
    rng = np.random.default_rng(0)
    spec = compare.Spec(sizes=[3, 4, 2], activations=["tanh", "softmax"], loss="categorical_crossentropy")
    dZ2, A1, dW2 = rng.standard_normal((2, 5)), rng.standard_normal((4, 5)), rng.standard_normal((2, 4))
    given = {"dZ2": dZ2, "A1": A1, "dW2": dW2 + 0.1}
    records = {"mine": given, "scratch": dict(given, dW2=dW2)}
    found = {"tensor": "dW2", "ours": "mine", "theirs": "scratch", "layer": 2, "step": 1}
    assert diagnose.explain(found, records, None, None, spec, 5).startswith("dZ2 agrees but dW2 does not")
    records["mine"] = {"A1": A1, "dW2": dW2 + 0.1}
    assert diagnose.explain(found, records, None, None, spec, 5).startswith("dZ2 was not compared (your code")
