"""The scratch network as a layer list: lists the shorthand cannot express, each gradient checked
against central finite differences (float64), and the list's rules (one line each)."""
import numpy as np
import pytest

from compare.engine.errors import InputError
from compare.engine.layers import Activation, BatchNorm, Dense, Dropout, LayerNorm, Network
from compare.engine.spec import Spec
from scratch.mlp import MLP

LISTS = {
    "bias-before-batchnorm": ([Dense(5), BatchNorm(momentum=0.1, eps=1e-5, written_in="torch"), Activation("relu"),
                               Dense(3), Activation("softmax")], "categorical_crossentropy"),
    "norm-after-activation": ([Dense(5), Activation("tanh"), BatchNorm(momentum=0.99, eps=1e-3, written_in="keras"),
                               Dense(3), Activation("softmax")], "categorical_crossentropy"),
    "dropout-before-activation": ([Dense(5), Dropout(0.3), Activation("tanh"), LayerNorm(eps=1e-5), Dense(2),
                                   Activation("sigmoid")], "mse"),
    "no-activation-between": ([Dense(4), LayerNorm(), Dense(3, bias=False), Activation("elu"), Dense(2)], "mse"),
}


def build(layers, loss, convention="torch", seed=0):
    spec = Spec(sizes=[3], layers=layers, loss=loss, batch_size=6).validate()
    rng = np.random.default_rng(seed)
    params = [(rng.normal(0, 0.8, (n_out, n_in)), rng.normal(0, 0.3, (n_out, 1)))
              for n_in, n_out in zip(spec.sizes, spec.sizes[1:])]
    net = MLP(spec, params, convention)
    X = rng.normal(0, 1, (3, 6))
    Y = np.eye(spec.sizes[-1])[:, rng.integers(0, spec.sizes[-1], 6)] if loss != "mse" else rng.uniform(0, 1, (
        spec.sizes[-1], 6))
    net.masks = {p.block: (rng.random((p.n_in, 6)) >= p.layer.rate).astype(float)
                 for p in spec.network.of_kind(Dropout)}
    return spec, net, X, Y


def numeric(loss, array, h=1e-6):
    grad = np.zeros_like(array)
    for i in np.ndindex(array.shape):
        keep = array[i]
        array[i] = keep + h
        up = loss()
        array[i] = keep - h
        down = loss()
        array[i] = keep
        grad[i] = (up - down) / (2 * h)
    return grad


@pytest.mark.parametrize("convention", ["torch", "keras"])
@pytest.mark.parametrize("case", list(LISTS))
def test_every_gradient_of_a_layer_list_matches_finite_differences(case, convention):
    layers, loss = LISTS[case]
    spec, net, X, Y = build(layers, loss, convention)
    grads = net.backward(net.forward(X), Y)
    assert set(grads) >= {"d" + name for name in net.params}
    scale = max(np.max(np.abs(g)) for g in grads.values())     # a gradient that is 0 in exact arithmetic (a
    for name, value in net.params.items():                      # bias before batch norm) is judged on this scale
        approx = numeric(lambda: float(net.loss(net.forward(X), Y)), value)
        error = np.max(np.abs(grads["d" + name] - approx)) / max(np.max(np.abs(approx)), 1e-3 * scale)
        assert error < 1e-6, f"{case} {convention}: d{name} analytic {grads['d' + name].ravel()[:3]} " \
                             f"numeric {approx.ravel()[:3]} (relative error {error:.2e})"


def test_the_names_follow_the_blocks():
    spec, net, X, Y = build(*LISTS["norm-after-activation"])
    cache = net.forward(X)
    assert [k for k in cache] == ["A0", "Z1", "A1", "N1", "Z2", "A2"]
    assert np.array_equal(cache["A1"], np.tanh(cache["Z1"]))          # N1 normalises A1: norm after g
    assert set(net.params) == {"W1", "b1", "W2", "b2", "gamma1", "beta1"}
    assert set(net.state()) == {"mean1", "var1"}
    grads = net.backward(cache, Y)
    assert {"dN1", "dgamma1", "dbeta1", "dZ1", "dZ2"} <= set(grads)


def test_a_batchnorm_written_in_keras_words_moves_its_running_mean_by_keras_rule():
    """Keras's momentum 0.99 weights the old average: after one step the running mean is
    0.99 * 0 + 0.01 * mu in Keras's convention, and torch's (momentum 1 - 0.99) the same number
    up to the rounding of 1 - 0.99."""
    layers, loss = LISTS["norm-after-activation"]
    _, keras_net, X, Y = build(layers, loss, "keras")
    _, torch_net, _, _ = build(layers, loss, "torch")
    cache = keras_net.forward(X)
    mu = cache["A1"].mean(axis=1, keepdims=True)
    np.testing.assert_array_equal(keras_net.state()["mean1"], mu * (1 - 0.99))
    torch_net.forward(X)
    np.testing.assert_allclose(torch_net.state()["mean1"], mu * (1 - 0.99), rtol=1e-13)


def test_frozen_parameters_get_no_gradient_and_no_update():
    layers = [Dense(4, frozen=frozenset({"W"})), Activation("sigmoid"), Dense(2), Activation("softmax")]
    spec, net, X, Y = build(layers, "categorical_crossentropy")
    before = {k: v.copy() for k, v in net.params.items()}
    _, _, grads = net.train_step(X, Y)
    assert "dW1" not in grads and "db1" in grads
    np.testing.assert_array_equal(net.params["W1"], before["W1"])
    assert not np.array_equal(net.params["b1"], before["b1"])
    assert not np.array_equal(net.params["W2"], before["W2"])


def test_the_shorthand_is_the_list_it_stands_for():
    spec = Spec([4, 5, 3, 2], ["relu", "tanh", "softmax"], norm="batch", dropout=[0.1, 0.0],
                loss="categorical_crossentropy").validate()
    assert spec.network == Network(4, (Dense(5, bias=False), BatchNorm(written_in="torch"), Activation("relu"),
                                       Dropout(0.1), Dense(3, bias=False), BatchNorm(written_in="torch"),
                                       Activation("tanh"), Dense(2), Activation("softmax")))
    assert spec.to_dict()["layers"]["layers"][0] == {"kind": "dense", "units": 5, "bias": False, "frozen": []}


@pytest.mark.parametrize("layers,words", [
    ([Activation("relu"), Dense(2)], "starts with a Dense layer"),
    ([Dense(3), Activation("relu"), Activation("tanh"), Dense(2)], "repeats an activation after Dense 1"),
    ([Dense(3), BatchNorm(), LayerNorm(), Dense(2)], "a second N-layer after Dense 1"),
    ([Dense(3), Activation("relu"), Dense(2), Dropout(0.1)], "after the last Dense layer"),
    ([Dense(3), Dropout(1.0), Dense(2)], "a dropout rate is in [0, 1), got 1.0"),
    ([Dense(3), BatchNorm(eps=0.0), Dense(2)], "eps must be a finite number > 0"),
    ([Dense(3), BatchNorm(written_in="mxnet"), Dense(2)], "written_in is 'torch', 'keras' or 'jax'"),
    ([Dense(0), Dense(2)], "must be a positive integer, got 0"),
    ([Dense(3), "relu", Dense(2)], "layer 2 (str 'relu') is not a layer kind"),
    ([Dense(3), object(), Dense(2)], "layer 2 (object) is not a layer kind"),
    ([Dense(3, frozen="W"), Dense(2)], "frozen is a set of its parameter roles"),
    ([Dense(3, frozen={"w"}), Dense(2)], "frozen names w, which it does not have"),
])
def test_a_list_the_implementations_cannot_build_is_one_line(layers, words):
    with pytest.raises(InputError) as caught:
        Spec(sizes=[3], layers=layers).validate()
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_frozen_roles_given_as_any_collection_are_a_frozenset():
    assert Dense(3, frozen=["W"]) == Dense(3, frozen=("W",)) == Dense(3, frozen=frozenset({"W"}))
    assert hash(Dense(3, frozen=["W"])) == hash(Dense(3, frozen={"W"}))


def test_a_list_and_a_disagreeing_shorthand_are_refused():
    with pytest.raises(InputError, match="disagree with the layer list"):
        Spec(sizes=[3, 7, 2], layers=[Dense(5), Dense(2)])
    with pytest.raises(InputError, match="as layers of the list"):
        Spec(sizes=[3], layers=[Dense(5), Dense(2)], dropout=0.2)
