"""Tier 1 and 2: the scratch backward pass against finite differences (float64), and one tiny
network whose first step is written out by hand, number by number."""
import math

import numpy as np
import pytest

from compare.engine.check import cmp
from compare.engine.spec import Spec
from scratch.activations import relu_grad, softplus_thresholded, softplus_thresholded_grad
from scratch.initializers import initial_params
from scratch.mlp import MLP
from scratch.optimizers import SGD, Adam, RMSprop


def rel_error(x, y):
    """The project's scale-relative error (compare.check.cmp): max |x - y| / max(|x|, |y|).
    Central differences with h = 1e-6 carry ~1e-10 of rounding noise in absolute terms, so an
    element-wise ratio would fail on gradients that happen to be ~1e-6 small."""
    return cmp("grad", x, y).max_rel


def numeric_grad(f, array, h=1e-6):
    """Central differences of the scalar f() with respect to every element of `array` (in place)."""
    grad = np.zeros_like(array)
    for index in np.ndindex(array.shape):
        old = array[index]
        array[index] = old + h
        plus = f()
        array[index] = old - h
        minus = f()
        array[index] = old
        grad[index] = (plus - minus) / (2 * h)
    return grad


def make(spec, convention="torch", seed=1):
    """A scratch MLP with random non-zero parameters and data suited to the loss (non-square widths)."""
    rng = np.random.default_rng(seed)
    params = initial_params(spec.sizes, spec.weight_init, spec.bias_init, seed)
    net = MLP(spec, params, convention)
    m = 5
    X = rng.standard_normal((spec.sizes[0], m))
    n = spec.sizes[-1]
    if spec.loss == "categorical_crossentropy":
        Y = np.eye(n)[:, rng.integers(0, n, m)]
    elif spec.loss == "binary_crossentropy":
        Y = rng.integers(0, 2, (n, m)).astype(float)
    else:
        Y = rng.standard_normal((n, m))
    return net, X, Y


CASES = [
    # (hidden activation, output activation, loss, reduction)
    ("relu", "softmax", "categorical_crossentropy", "mean"),
    ("sigmoid", "sigmoid", "binary_crossentropy", "mean"),
    ("tanh", "linear", "mse", "mean"),
    ("softplus", "linear", "mse", "sum"),
    ("linear", "sigmoid", "mse", "mean"),
    ("tanh", "softmax", "mse", "mean"),          # softmax without cross-entropy: the Jacobian product
    ("sigmoid", "tanh", "mse", "sum"),
    ("relu", "softplus", "mse", "mean"),
    ("softplus", "sigmoid", "binary_crossentropy", "sum"),
]


@pytest.mark.parametrize("convention", ["torch", "keras"])
@pytest.mark.parametrize("hidden,output,loss,reduction", CASES)
def test_backward_matches_finite_differences(hidden, output, loss, reduction, convention):
    spec = Spec(sizes=[3, 5, 4, 2] if output != "sigmoid" or loss != "binary_crossentropy" else [3, 5, 4, 1],
                activations=[hidden, hidden, output], loss=loss, reduction=reduction,
                weight_init=__import__("scratch").Init("normal", scale=0.7),
                bias_init=__import__("scratch").Init("normal", scale=0.3)).validate()
    net, X, Y = make(spec, convention)
    cache = net.forward(X)
    grads = net.backward(cache, Y)
    loss_now = lambda: net.loss(net.forward(X), Y)  # noqa: E731
    if hidden == "relu":   # finite differences across the kink are meaningless: keep |Z| away from 0
        for l in (1, 2):
            assert np.min(np.abs(cache[f"Z{l}"])) > 1e-4, "a ReLU input sits at the kink; pick another seed"
    for l in range(1, net.L + 1):
        for name in (f"W{l}", f"b{l}"):
            numeric = numeric_grad(loss_now, net.params[name])
            assert rel_error(grads["d" + name], numeric) < 1e-7, (
                f"d{name} ({hidden}/{output}/{loss}/{reduction}/{convention}): "
                f"analytic {grads['d' + name].ravel()[:4]} vs numeric {numeric.ravel()[:4]}")
    # dZ of every layer: perturb Z_l and run the rest of the network forward from it
    for l in range(1, net.L + 1):
        Z = cache[f"Z{l}"].copy()

        g = {placed.block: layer.g for placed, layer in net.layers if placed.layer.kind == "activation"}

        def loss_from_Z(l=l, Z=Z):
            A = g[l](Z)
            for k in range(l + 1, net.L + 1):
                Zk = net.params[f"W{k}"] @ A + net.params[f"b{k}"]
                A = g[k](Zk)
            partial = {f"Z{net.L}": Zk if l < net.L else Z, f"A{net.L}": A}
            return net.loss(partial, Y)

        numeric = numeric_grad(loss_from_Z, Z)
        assert rel_error(grads[f"dZ{l}"], numeric) < 1e-7, f"dZ{l} ({hidden}/{output}/{loss}/{convention})"


def test_relu_derivative_at_the_kink_is_zero():
    """ReLU's subgradient at exactly z = 0 is 0, as in torch and TensorFlow (z > 0, not z >= 0)."""
    Z = np.array([[-1.0, 0.0, 1.0]])
    assert relu_grad(Z, None).tolist() == [[0.0, 0.0, 1.0]]
    torch = pytest.importorskip("torch")
    z = torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64, requires_grad=True)
    torch.relu(z).sum().backward()
    assert z.grad.tolist() == [0.0, 0.0, 1.0]


def test_torch_softplus_threshold():
    """torch's softplus is z itself above 20 and its derivative exactly 1 there."""
    Z = np.array([[19.0, 20.0, 20.5, 30.0]])
    out = softplus_thresholded(Z)
    assert out[0, 2] == 20.5 and out[0, 3] == 30.0
    assert out[0, 0] == pytest.approx(math.log1p(math.exp(19.0)), rel=1e-15)
    assert softplus_thresholded_grad(Z, out)[0, 3] == 1.0
    assert softplus_thresholded_grad(Z, out)[0, 0] == pytest.approx(1 / (1 + math.exp(-19.0)), rel=1e-15)


def sig(z):
    return 1 / (1 + math.exp(-z))


def test_tiny_network_first_step_by_hand():
    """A 2-2-1 sigmoid net, squared error, SGD lr 0.5, one example; every number worked out here."""
    W1, b1 = [[0.1, 0.2], [0.3, 0.4]], [0.1, 0.2]
    W2, b2 = [[0.5, 0.6]], [0.3]
    x, y, lr = [1.0, 2.0], 1.0, 0.5
    # forward
    z1 = [W1[0][0] * x[0] + W1[0][1] * x[1] + b1[0],          # 0.1 + 0.4 + 0.1 = 0.6
          W1[1][0] * x[0] + W1[1][1] * x[1] + b1[1]]          # 0.3 + 0.8 + 0.2 = 1.3
    a1 = [sig(z1[0]), sig(z1[1])]                             # 0.645656..., 0.785835...
    z2 = W2[0][0] * a1[0] + W2[0][1] * a1[1] + b2[0]
    a2 = sig(z2)
    loss = (a2 - y) ** 2                                       # mean over one example and one unit
    # backward
    dz2 = 2 * (a2 - y) * a2 * (1 - a2)                         # dL/da2 * sigmoid'
    dW2 = [dz2 * a1[0], dz2 * a1[1]]
    db2 = dz2
    da1 = [W2[0][0] * dz2, W2[0][1] * dz2]
    dz1 = [da1[0] * a1[0] * (1 - a1[0]), da1[1] * a1[1] * (1 - a1[1])]
    dW1 = [[dz1[0] * x[0], dz1[0] * x[1]], [dz1[1] * x[0], dz1[1] * x[1]]]
    db1 = dz1
    assert z1 == pytest.approx([0.6, 1.3], rel=1e-15)

    spec = Spec(sizes=[2, 2, 1], activations=["sigmoid", "sigmoid"], loss="mse", optimizer="sgd", lr=lr).validate()
    params = [(np.array(W1), np.array(b1).reshape(2, 1)), (np.array(W2), np.array(b2).reshape(1, 1))]
    net = MLP(spec, params)
    cache, got_loss, g = net.train_step(np.array(x).reshape(2, 1), np.array([[y]]))
    tight = dict(rel=1e-12)
    assert cache["Z1"][:, 0] == pytest.approx(z1, **tight)
    assert cache["A1"][:, 0] == pytest.approx(a1, **tight)
    assert cache["Z2"][0, 0] == pytest.approx(z2, **tight)
    assert cache["A2"][0, 0] == pytest.approx(a2, **tight)
    assert got_loss == pytest.approx(loss, **tight)
    assert g["dZ2"][0, 0] == pytest.approx(dz2, **tight)
    assert g["dW2"][0] == pytest.approx(dW2, **tight)
    assert g["db2"][0, 0] == pytest.approx(db2, **tight)
    assert g["dZ1"][:, 0] == pytest.approx(dz1, **tight)
    assert g["dW1"] == pytest.approx(np.array(dW1), **tight)
    assert g["db1"][:, 0] == pytest.approx(db1, **tight)
    assert net.params["W2"][0] == pytest.approx([W2[0][0] - lr * dW2[0], W2[0][1] - lr * dW2[1]], **tight)
    assert net.params["b1"][:, 0] == pytest.approx([b1[0] - lr * db1[0], b1[1] - lr * db1[1]], **tight)
    assert net.params["W1"] == pytest.approx(np.array(W1) - lr * np.array(dW1), **tight)


def scalar_steps(optimizer, grads, p=1.0):
    out = []
    for g in grads:
        p = optimizer.step({"w": np.array(p)}, {"dw": np.array(g)})["w"]
        out.append(float(p))
    return out


GRADS = [0.5, -0.25, 0.125]


def test_sgd_momentum_both_conventions_by_hand():
    lr, mu = 0.1, 0.9
    # torch: v = mu v + g (v starts as g), p -= lr v
    v, p, torch_ps = None, 1.0, []
    for g in GRADS:
        v = g if v is None else mu * v + g
        p = p - lr * v
        torch_ps.append(p)
    assert scalar_steps(SGD(lr, mu, convention="torch"), GRADS) == pytest.approx(torch_ps, rel=1e-15)
    # keras: v = mu' v - lr g, p += v, with mu' = float32(0.9)
    mu32 = float(np.float32(mu))
    v, p, keras_ps = 0.0, 1.0, []
    for g in GRADS:
        v = mu32 * v - lr * g
        p = p + v
        keras_ps.append(p)
    assert scalar_steps(SGD(lr, mu, convention="keras", float32_casts=True), GRADS) == pytest.approx(keras_ps, rel=1e-15)
    # Nesterov, torch: p -= lr (g + mu v)
    v, p, nesterov = None, 1.0, []
    for g in GRADS:
        v = g if v is None else mu * v + g
        p = p - lr * (g + mu * v)
        nesterov.append(p)
    assert scalar_steps(SGD(lr, mu, nesterov=True, convention="torch"), GRADS) == pytest.approx(nesterov, rel=1e-15)


def test_rmsprop_eps_placement_by_hand():
    lr, rho, eps = 0.01, 0.9, 1e-3       # a large eps makes the placement visible
    s, p_torch, p_keras, s_k = 0.0, 1.0, 1.0, 0.0
    torch_ps, keras_ps = [], []
    for g in GRADS:
        s = rho * s + (1 - rho) * g * g
        p_torch -= lr * g / (math.sqrt(s) + eps)
        torch_ps.append(p_torch)
        s_k = rho * s_k + (1 - rho) * g * g
        p_keras -= lr * g / math.sqrt(s_k + eps)
        keras_ps.append(p_keras)
    assert scalar_steps(RMSprop(lr, rho, eps, "torch"), GRADS) == pytest.approx(torch_ps, rel=1e-14)
    assert scalar_steps(RMSprop(lr, rho, eps, "keras"), GRADS) == pytest.approx(keras_ps, rel=1e-14)
    assert abs(torch_ps[-1] - keras_ps[-1]) > 1e-4


def test_adam_both_conventions_by_hand():
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-3
    m = v = 0.0
    p_torch = p_keras = 1.0
    torch_ps, keras_ps = [], []
    b1k, b2k = float(np.float32(b1)), float(np.float32(b2))   # Keras's float32-cast betas
    for t, g in enumerate(GRADS, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p_torch -= lr * (m / (1 - b1**t)) / (math.sqrt(v / (1 - b2**t)) + eps)
        torch_ps.append(p_torch)
        alpha = lr * math.sqrt(1 - b2k**t) / (1 - b1k**t)
        p_keras -= alpha * m / (math.sqrt(v) + eps)
        keras_ps.append(p_keras)
    assert scalar_steps(Adam(lr, b1, b2, eps, "torch"), GRADS) == pytest.approx(torch_ps, rel=1e-13)
    assert scalar_steps(Adam(lr, b1, b2, eps, "keras", float32_casts=True), GRADS) == pytest.approx(keras_ps, rel=1e-13)
