"""Activation functions, each beside its derivative.

Shape convention (the whole of scratch/): one example per COLUMN.
    Z, A : (units, m)      m = examples in the batch
Every function here is elementwise except softmax, which normalises each column.

Derivatives take (Z, A) and return dA/dZ elementwise; each uses whichever of the two is
the textbook form (sigmoid and tanh use A, relu and softplus use Z). Softmax has no
elementwise derivative: its backward is a Jacobian-vector product, `softmax_backward`.

Two conventions differ in one place only, softplus: torch's nn.Softplus(beta=1,
threshold=20) returns z itself above 20, Keras (tf.math.softplus) is log(1 + e^z)
everywhere (the convention's `softplus_threshold`: 20 or None). `activation_table(convention)`
gives the table a convention uses.

The other activations both frameworks ship (leaky_relu, elu, selu, celu, gelu, gelu_tanh, silu,
softsign, hard_sigmoid, hard_silu, relu6, mish, log_sigmoid, hard_tanh) live in
scratch/more_activations.py, with the kinks and float32 constants where torch and Keras differ;
the tables below include them.

Left out: parametric units (PReLU), dropout; anything with trainable parameters of its own.
"""
import numpy as np

from . import conventions
from . import more_activations as more
from .conventions import as_convention

SOFTPLUS_TORCH_THRESHOLD = conventions.TORCH.softplus_threshold  # nn.Softplus default: linear above beta*z > 20


def linear(Z):
    """g(z) = z"""
    return Z


def linear_grad(Z, A):
    """g'(z) = 1"""
    return np.ones_like(Z)


def relu(Z):
    """g(z) = max(0, z)"""
    return np.maximum(Z, 0)


def relu_grad(Z, A):
    """g'(z) = 1 if z > 0 else 0. At exactly z = 0 both torch and TF use 0 (z > 0, not z >= 0)."""
    return (Z > 0).astype(Z.dtype)


def sigmoid(Z):
    """g(z) = 1 / (1 + e^-z), written to stay finite for large |z|."""
    E = np.exp(-np.abs(Z))
    return np.where(Z >= 0, 1 / (1 + E), E / (1 + E))


def sigmoid_grad(Z, A):
    """g'(z) = a (1 - a), with a = sigmoid(z)."""
    return A * (1 - A)


def tanh(Z):
    """g(z) = tanh(z)"""
    return np.tanh(Z)


def tanh_grad(Z, A):
    """g'(z) = 1 - a^2, with a = tanh(z)."""
    return 1 - A**2


def softplus(Z):
    """g(z) = log(1 + e^z), exact for every z (Keras / tf.math.softplus)."""
    return np.logaddexp(0, Z)


def softplus_grad(Z, A):
    """g'(z) = sigmoid(z)"""
    return sigmoid(Z)


def softplus_thresholded(Z):
    """torch nn.Softplus(beta=1, threshold=20): log(1 + e^z), but z itself where z > 20."""
    return np.where(Z > SOFTPLUS_TORCH_THRESHOLD, Z, np.log1p(np.exp(np.minimum(Z, SOFTPLUS_TORCH_THRESHOLD))))


def softplus_thresholded_grad(Z, A):
    """Derivative of torch's softplus: sigmoid(z), but exactly 1 where z > 20."""
    return np.where(Z > SOFTPLUS_TORCH_THRESHOLD, 1.0, sigmoid(Z)).astype(Z.dtype)


def softmax(Z):
    """a_i = e^(z_i - max z) / sum_j e^(z_j - max z), per column. Subtracting the max changes
    nothing mathematically and keeps e^z finite."""
    E = np.exp(Z - Z.max(axis=0, keepdims=True))
    return E / E.sum(axis=0, keepdims=True)


def softmax_backward(dA, A):
    """dZ = A * (dA - sum_i(dA_i * A_i)): the softmax Jacobian diag(a) - a a^T applied to dA, per column.
    Only needed when softmax is not paired with cross-entropy (that pair gives dZ directly)."""
    return A * (dA - (dA * A).sum(axis=0, keepdims=True))


def convention_table(convention):
    """name -> (g, g') as `convention` computes each, keyed by the names torch and Keras both use;
    the activations of scratch/more_activations.py included, each in the convention's form."""
    c = as_convention(convention)
    return {
        "linear": (linear, linear_grad),
        "relu": (relu, relu_grad),
        "sigmoid": (sigmoid, sigmoid_grad),
        "tanh": (tanh, tanh_grad),
        "softplus": (softplus_thresholded, softplus_thresholded_grad) if c.softplus_threshold is not None
                    else (softplus, softplus_grad),
        "softmax": (softmax, None),  # backward: softmax_backward, or fused with cross-entropy
        **more.table(c),
    }


# Each convention's table, built once: the dicts a test or the bug zoo (compare/data/bugs.py) patches.
TABLES = {c.name: convention_table(c) for c in conventions.CONVENTIONS.values()}
ACTIVATIONS = TABLES[conventions.KERAS.name]      # every name the spec accepts; the exact forms (tf.math's)
TORCH_ACTIVATIONS = TABLES[conventions.TORCH.name]


def activation_table(convention, slope=None):
    """The name -> (g, g') table of a convention (a Convention or its name). leaky_relu gets
    `slope` (None: that convention's default; Keras's rounded through float32) bound in."""
    convention = as_convention(convention)
    built_in = conventions.CONVENTIONS.get(convention.name) is convention
    table = dict(TABLES[convention.name] if built_in else convention_table(convention))
    s = more.leaky_slope(convention, slope)
    g, g_grad = table["leaky_relu"]
    table["leaky_relu"] = (lambda Z: g(Z, s), lambda Z, A: g_grad(Z, A, s))
    return table
