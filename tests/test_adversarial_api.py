"""The Python API called as a careless user calls it, and correct code written in the styles
users write it: misuse is an InputError naming the argument (never a TypeError from inside, never
a verdict), correct code passes at 1e-9. All against scratch only (NumPy, a few steps)."""
import numpy as np
import pytest

import compare
from compare import Data, InputError, Spec


def forward_prop(W1, b1, W2, b2, X):
    Z1 = W1.dot(X) + b1
    A1 = np.maximum(Z1, 0)
    Z2 = W2.dot(A1) + b2
    A2 = np.exp(Z2) / np.sum(np.exp(Z2), 0)
    return Z1, A1, Z2, A2


def backward_prop(Z1, A1, Z2, A2, W2, X, Y):
    m = Y.shape[1]
    dZ2 = A2 - Y
    dW2 = 1 / m * dZ2.dot(A1.T)
    db2 = 1 / m * np.sum(dZ2, axis=1, keepdims=True)
    dZ1 = W2.T.dot(dZ2) * (Z1 > 0)
    dW1 = 1 / m * dZ1.dot(X.T)
    db1 = 1 / m * np.sum(dZ1, axis=1, keepdims=True)
    return dW1, db1, dW2, db2


SPEC = Spec(sizes=[4, 5, 3], activations=["relu", "softmax"], loss="categorical_crossentropy", lr=0.1,
            steps=3, epochs=None)


def data(**changes):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((6, 4))
    fields = dict(X=X, Y=np.eye(3)[rng.integers(0, 3, 6)], X_eval=X)
    fields.update(changes)
    return Data(**fields)


def check(**options):
    mine = compare.functions(forward_prop, backward_prop)
    return compare.check(mine, options.pop("spec", SPEC), options.pop("data", data()), against="scratch", **options)


def test_numpy_whole_numbers_are_whole_numbers():
    report = check(steps=np.int64(2))
    assert report.verdict == "pass" and len(report.steps) == 2


@pytest.mark.parametrize("options, words", [
    (dict(steps=True), "steps must be a whole number of steps, got bool True"),
    (dict(steps=2.0), "steps must be a whole number of steps, got float 2.0"),
    (dict(keep_step=-1), "keep_step must be a positive whole number, got -1"),
    (dict(keep_step=np.int64(0)), "keep_step must be a positive whole number, got 0"),
    (dict(overrides=dict(foo=1)), "'foo' is not a Spec field; the fields are listed in compare/engine/spec.py "
                                  "(e.g. lr, optimizer, batch_size)"),
])
def test_wrong_argument_is_an_input_error_naming_it(options, words):
    with pytest.raises(InputError) as raised:
        check(**options)
    assert str(raised.value) == words


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
def test_a_matrix_is_refused_not_run():
    with pytest.raises(InputError) as raised:
        check(data=data(X=np.asmatrix(data().X)))
    assert str(raised.value) == ("training inputs are a np.matrix, whose * and indexing differ from an array's; "
                                 "pass np.asarray(...)")


def test_spec_replace_names_an_unknown_field():
    with pytest.raises(InputError, match="'lrate' is not a Spec field"):
        SPEC.replace(lrate=0.1)


@pytest.mark.parametrize("X", [
    np.asfortranarray(data().X), np.repeat(data().X, 2, axis=1)[:, ::2], data().X.astype(np.float32),
])
def test_other_memory_layouts_pass_and_are_left_unchanged(X):
    before = X.copy()
    given = data(X=X, X_eval=X)
    report = check(data=given)
    assert report.verdict == "pass"
    assert given.X is X and np.array_equal(X, before) and X.dtype == before.dtype


def test_read_only_data_pass():
    X = data().X.copy()
    X.setflags(write=False)
    assert check(data=data(X=X, X_eval=X)).verdict == "pass"


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


class Network:
    """Nielsen's network.py, as the README prints it (unseeded init: the spec's weights are copied in)."""

    def __init__(self, sizes):
        self.num_layers, self.sizes = len(sizes), sizes
        self.biases = [np.random.randn(y, 1) for y in sizes[1:]]
        self.weights = [np.random.randn(y, x) for x, y in zip(sizes[:-1], sizes[1:])]

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
        activation, activations, zs = x, [x], []
        for b, w in zip(self.biases, self.weights):
            zs.append(np.dot(w, activation) + b)
            activation = sigmoid(zs[-1])
            activations.append(activation)
        nabla_b, nabla_w = [None] * len(self.biases), [None] * len(self.weights)
        delta = (activations[-1] - y) * sigmoid(zs[-1]) * (1 - sigmoid(zs[-1]))
        nabla_b[-1], nabla_w[-1] = delta, np.dot(delta, activations[-2].T)
        for layer in range(2, self.num_layers):
            s = sigmoid(zs[-layer])
            delta = np.dot(self.weights[-layer + 1].T, delta) * s * (1 - s)
            nabla_b[-layer], nabla_w[-layer] = delta, np.dot(delta, activations[-layer - 1].T)
        return nabla_b, nabla_w


@pytest.mark.parametrize("batch_size, lr, steps", [(10, 3.0, 20), (7, 3.0, 20), (1, 3.0, 20), (4, 30.0, 300)])
def test_nielsen_class_passes_at_any_batch_size_and_in_saturation(batch_size, lr, steps):
    rng = np.random.default_rng(1)
    n = 4 if batch_size == 4 else 20
    X = rng.standard_normal((n, 4))
    given = Data(X=X, Y=np.eye(3)[rng.integers(0, 3, n)], X_eval=X)
    mine = compare.network_class(Network([4, 8, 3]), "nielsen", network=dict(batch_size=batch_size, lr=lr))
    report = compare.check(mine, None, given, against="scratch", steps=steps)
    assert report.verdict == "pass"
    assert report.summary["max_rel_err"]["mine~scratch"] < 1e-12


@pytest.mark.parametrize("changes, words", [
    (dict(sizes=np.array([4, 5, 3])), "sizes must be a list of layer widths, e.g. [784, 30, 10], got array([4, 5, 3])"),
    (dict(fixed_params=[1, 2]), "'fixed' initial values need one (W, b) pair per layer (2), got [1, 2]"),
    (dict(fixed_params=[1, 2], weight_init=compare.Init("fixed"), bias_init=compare.Init("fixed")),
     "'fixed' initial values need one (W, b) pair per layer (2), got [1, 2]"),
    (dict(fixed_params=[(np.full((5, 4), "a"), np.zeros(5)), (np.zeros((3, 5)), np.zeros(3))],
          weight_init=compare.Init("fixed"), bias_init=compare.Init("fixed")), "fixed W1 must hold finite real numbers"),
])
def test_spec_fields_of_the_wrong_type_are_input_errors(changes, words):
    with pytest.raises(InputError) as raised:
        compare.run(Spec(**{**SPEC.__dict__, **changes}), data(), frameworks=("scratch", "torch"))
    assert str(raised.value).startswith(words)


@pytest.mark.parametrize("options, words", [
    (dict(recipe=3), "recipe must be a name (a string, the report's label), got int 3"),
    (dict(on_step=3), "on_step must be a function taking a step's result, got int 3"),
    (dict(notes=None), "notes must be a string, got NoneType"),
    (dict(keep_step="x"), "keep_step must be a positive whole number (a step), got 'x'"),
])
def test_run_arguments_of_the_wrong_type_are_input_errors(options, words):
    with pytest.raises(InputError) as raised:
        compare.run(SPEC, data(), frameworks=("scratch", "torch"), **options)
    assert str(raised.value) == words


@pytest.mark.parametrize("entry, words", [
    (None, "register needs a compare.Entry(name, conventions=..., build=...), got NoneType"),
    (compare.Entry("jaxx", conventions=("torch",), build=3),
     "implementation 'jaxx': build must be a function build(spec, params, convention), got int"),
    (compare.Entry("jaxy", conventions="torch", build=lambda *a: None),
     "implementation 'jaxy': conventions must be a tuple of convention names, its own first (e.g. ('torch',)), "
     "got 'torch'"),
])
def test_register_refuses_a_malformed_entry(entry, words):
    from compare.engine import registry
    with pytest.raises(InputError) as raised:
        compare.register(entry)
    assert str(raised.value) == words
    assert "jaxx" not in registry.names() and "jaxy" not in registry.names()
