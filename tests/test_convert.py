"""The one conversion module: round trips through real torch and Keras layers, and shape checks."""
import numpy as np
import pytest

from compare.engine import convert
from scratch.initializers import Init, initial_params

SIZES = [5, 3, 2]    # non-square on purpose: a missing transpose cannot hide


def params():
    return initial_params(SIZES, Init("normal"), Init("normal"), seed=7)


def test_torch_round_trip_through_nn_linear():
    torch = pytest.importorskip("torch")
    for l, ((W, b), (weight, bias)) in enumerate(zip(params(), convert.to_torch(params())), start=1):
        layer = torch.nn.Linear(W.shape[1], W.shape[0], dtype=torch.float64)
        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(weight))
            layer.bias.copy_(torch.from_numpy(bias))
        assert np.array_equal(convert.to_scratch("torch", f"W{l}", layer.weight.detach().numpy(), SIZES), W)
        assert np.array_equal(convert.to_scratch("torch", f"b{l}", layer.bias.detach().numpy(), SIZES), b)
        # and the layer computes the scratch Z = W X + b, transposed
        X = np.random.default_rng(l).standard_normal((W.shape[1], 4))
        Z_torch = layer(torch.from_numpy(convert.batch_to_rows(X).copy())).detach().numpy()
        np.testing.assert_allclose(convert.to_scratch("torch", f"Z{l}", Z_torch, SIZES, m=4), W @ X + b,
                                   rtol=1e-15, atol=1e-15)


def test_keras_round_trip_through_dense():
    keras = pytest.importorskip("keras")
    for l, ((W, b), (kernel, bias)) in enumerate(zip(params(), convert.to_keras(params())), start=1):
        assert kernel.shape == (W.shape[1], W.shape[0])
        layer = keras.layers.Dense(W.shape[0], dtype="float64")
        layer.build((None, W.shape[1]))
        layer.set_weights([kernel, bias])
        got_kernel, got_bias = layer.get_weights()
        assert np.array_equal(convert.to_scratch("keras", f"W{l}", got_kernel, SIZES), W)
        assert np.array_equal(convert.to_scratch("keras", f"b{l}", got_bias, SIZES), b)
        X = np.random.default_rng(l).standard_normal((W.shape[1], 4))
        Z_keras = np.asarray(layer(convert.batch_to_rows(X)))
        np.testing.assert_allclose(convert.to_scratch("keras", f"Z{l}", Z_keras, SIZES, m=4), W @ X + b,
                                   rtol=1e-15, atol=1e-15)


def test_optimizer_state_follows_its_parameter():
    kernel_shaped = np.arange(15.0).reshape(5, 3)         # Keras layout of W1 (in, out)
    assert np.array_equal(convert.to_scratch("keras", "W1.m", kernel_shaped, SIZES), kernel_shaped.T)
    assert convert.to_scratch("torch", "b2.momentum", np.ones(2), SIZES).shape == (2, 1)


@pytest.mark.parametrize("framework,name,shape", [
    ("torch", "W1", (5, 3)),        # torch weight must be (out, in) = (3, 5)
    ("keras", "W1", (3, 5)),        # Keras kernel must be (in, out) = (5, 3)
    ("torch", "b2", (2, 1)),
    ("keras", "Z1", (3, 4)),        # batch rows: (m, units) = (4, 3)
])
def test_a_wrong_shape_is_named(framework, name, shape):
    with pytest.raises(AssertionError, match=rf"{framework} {name}: expected shape"):
        convert.to_scratch(framework, name, np.zeros(shape), SIZES, m=4)


def test_batch_layout_round_trip():
    X = np.arange(12.0).reshape(3, 4)                       # 3 units, 4 examples
    rows = convert.batch_to_rows(X)
    assert rows.shape == (4, 3) and rows[1, 2] == X[2, 1]
    assert np.array_equal(convert.rows_to_batch(rows), X)
