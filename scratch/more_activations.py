"""The rest of the elementwise activations torch and Keras ship, each beside its derivative,
in each framework's convention where the two compute differently.

Shapes as in scratch/activations.py: Z, A (units, m); every function is elementwise, every
derivative takes (Z, A) and returns dA/dZ. Where a function has a kink (a point where it is
not differentiable), the derivative there is the one that framework's autograd returns, measured
in float64 (`python -m compare kinks`, tests/test_activations.py):

    activation    kink     torch                    Keras (TF backend)
    leaky_relu    0        slope                    slope
    elu, celu     0        1                        elu 1, celu 2 (max and min both pass the tie)
    selu          0        scale*alpha = 1.758      scale = 1.051
    relu6         0, 6     0, 0                     0, 0
    hard_sigmoid  -3, 3    0, 0                     0, 0
    hard_silu     -3, 3    0, 1                     0, 1
    hard_tanh     -1, 1    0, 0                     1, 1

And Keras's float32 constants in a float64 run (TensorFlow's `cast(python_float, float64)`
goes through float32 first): the leaky slope (tf.nn.leaky_relu's alpha attribute is a float32),
GELU's 1/sqrt(2) and GELU-tanh's 0.044715 (tensorflow/python/ops/nn_ops.py: gelu). torch's
Hardsigmoid backward multiplies by float32 1/6 even in float64 (measured: 0.1666666716337204).

Which form a convention takes is its rule (scratch/conventions.py): `elu_grad_from_output`,
`celu_max_plus_min`, `float32_activation_constants`, `hard_sigmoid_float32_slope`,
`hard_silu_own_backward`, `hard_tanh_grad_closed`, `leaky_relu_slope`, `leaky_relu_grad_one_at_zero`
(JAX's leaky_relu'(0) = 1); `table(convention)` reads them.

Left out: parameters beyond the defaults (ELU/CELU alpha is 1, GELU has no other mode),
PReLU and other activations with trainable weights.
"""
import math

import numpy as np

from . import conventions
from .conventions import as_convention

F32 = lambda x: float(np.float32(x))      # noqa: E731 - a Python float rounded through float32

# leaky_relu's default slope per convention name (Convention.leaky_relu_slope: nn.LeakyReLU 0.01;
# keras.activations.leaky_relu 0.2, the layer keras.layers.LeakyReLU 0.3)
LEAKY_SLOPE = {c.name: c.leaky_relu_slope for c in conventions.CONVENTIONS.values()}
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
SQRT1_2 = 0.7071067811865476                    # 1/sqrt(2), M_SQRT1_2
GELU_TANH_K = 0.7978845608028654                # sqrt(2/pi)
GELU_TANH_C = 0.044715
_erf = np.vectorize(math.erf, otypes=[np.float64])
_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def _sigmoid(Z):
    E = np.exp(-np.abs(Z))
    return np.where(Z >= 0, 1 / (1 + E), E / (1 + E))


# --- leaky ReLU: g(z) = z if z > 0 else slope z -----------------------------------------------

def leaky_relu(Z, slope):
    return np.where(Z > 0, Z, Z * slope)


def leaky_relu_grad(Z, A, slope):
    """1 if z > 0 else slope; at z = 0 torch and Keras give the slope."""
    return np.where(Z > 0, 1.0, slope).astype(Z.dtype)


def leaky_relu_grad_jax(Z, A, slope):
    """1 if z >= 0 else slope: jax.nn.leaky_relu is where(z >= 0, z, slope z), so 1 at z = 0."""
    return np.where(Z >= 0, 1.0, slope).astype(Z.dtype)


# --- ELU (alpha = 1): g(z) = z if z > 0 else e^z - 1 ------------------------------------------

def elu(Z):
    """torch: expm1(z) for z <= 0."""
    return np.where(Z > 0, Z, np.expm1(np.minimum(Z, 0)))


def elu_grad(Z, A):
    """torch (elu_backward on the input): e^z for z <= 0, so 1 at z = 0."""
    return np.where(Z > 0, 1.0, np.exp(np.minimum(Z, 0))).astype(Z.dtype)


def elu_keras(Z):
    """TF's Elu kernel: e^z - 1 (not expm1) for z < 0."""
    return np.where(Z > 0, Z, np.exp(np.minimum(Z, 0)) - 1)


def elu_keras_grad(Z, A):
    """TF's EluGrad reads the output: a + 1 where a < 0, else 1 (so 1 at z = 0)."""
    return np.where(A < 0, A + 1, 1.0).astype(Z.dtype)


# --- SELU: g(z) = scale * (z if z > 0 else alpha (e^z - 1)) ----------------------------------

def selu(Z):
    return np.where(Z > 0, SELU_SCALE * Z, (SELU_ALPHA * SELU_SCALE) * np.expm1(np.minimum(Z, 0)))


def selu_grad(Z, A):
    """torch: scale*alpha*e^z for z <= 0: at z = 0 the left branch, scale*alpha = 1.758."""
    return np.where(Z > 0, SELU_SCALE, (SELU_ALPHA * SELU_SCALE) * np.exp(np.minimum(Z, 0))).astype(Z.dtype)


def selu_keras(Z):
    """TF's Selu kernel: e^z - 1 (not expm1) for z < 0."""
    return np.where(Z > 0, SELU_SCALE * Z, (SELU_ALPHA * SELU_SCALE) * (np.exp(np.minimum(Z, 0)) - 1))


def selu_keras_grad(Z, A):
    """TF's SeluGrad reads the output: a + scale*alpha where a < 0, else scale: 1.051 at z = 0."""
    return np.where(A < 0, A + SELU_ALPHA * SELU_SCALE, SELU_SCALE).astype(Z.dtype)


# --- CELU (alpha = 1): g(z) = max(z, 0) + (e^min(z, 0) - 1); the same function as ELU ---------

def celu_keras(Z):
    """Keras: max(z, 0) + alpha expm1(min(z, 0) / alpha)."""
    return np.maximum(Z, 0) + np.expm1(np.minimum(Z, 0))


def celu_keras_grad(Z, A):
    """The tape through max and min: each passes the gradient on a tie, so 1 + 1 = 2 at z = 0."""
    return ((Z >= 0) + np.exp(np.minimum(Z, 0)) * (Z <= 0)).astype(Z.dtype)


# --- GELU: g(z) = z Phi(z) = z/2 (1 + erf(z / sqrt 2)) ----------------------------------------

def gelu(Z):
    return 0.5 * Z * (1 + _erf(Z * SQRT1_2)).astype(Z.dtype)


def gelu_grad(Z, A):
    """g'(z) = Phi(z) + z phi(z); torch: cdf + z e^(-z^2/2) (2/sqrt(pi) / sqrt(2) / 2)."""
    cdf = 0.5 * (1 + _erf(Z * SQRT1_2))
    pdf = np.exp(-0.5 * Z * Z) * (1.1283791670955126 * SQRT1_2 * 0.5)
    return (cdf + Z * pdf).astype(Z.dtype)


def gelu_keras(Z):
    """TF: z/2 erfc(-z c), c = 1/sqrt(2) cast through float32 (0.7071067690849304)."""
    return 0.5 * Z * _erfc(-Z * F32(SQRT1_2)).astype(Z.dtype)


def gelu_keras_grad(Z, A):
    """The tape: erfc(-z c)/2 + (z/2) (2/sqrt(pi)) e^(-(z c)^2) c, with the same float32 c."""
    c = F32(SQRT1_2)
    return (0.5 * _erfc(-Z * c) + 0.5 * Z * (2 / math.sqrt(math.pi)) * np.exp(-np.square(-Z * c)) * c).astype(Z.dtype)


# --- GELU, tanh form: g(z) = z/2 (1 + tanh(k (z + c z^3))) ------------------------------------

def gelu_tanh_with(c):
    """The forward and derivative for a given cubic constant c (torch: 0.044715; Keras: float32)."""
    def g(Z):
        return 0.5 * Z * (1 + np.tanh(GELU_TANH_K * (Z + c * Z ** 3)))

    def g_grad(Z, A):
        """g'(z) = (1 + t)/2 + (z/2) (1 - t^2) k (1 + 3 c z^2), t = tanh(k (z + c z^3))."""
        t = np.tanh(GELU_TANH_K * (Z + c * Z ** 3))
        return 0.5 * (1 + t) + 0.5 * Z * (1 - t * t) * GELU_TANH_K * (1 + 3 * c * Z * Z)
    return g, g_grad


gelu_tanh, gelu_tanh_grad = gelu_tanh_with(GELU_TANH_C)
gelu_tanh_keras, gelu_tanh_keras_grad = gelu_tanh_with(F32(GELU_TANH_C))


# --- SiLU / swish: g(z) = z sigmoid(z) ---------------------------------------------------------

def silu(Z):
    return Z * _sigmoid(Z)


def silu_grad(Z, A):
    """g'(z) = s (1 + z (1 - s)), s = sigmoid(z)."""
    s = _sigmoid(Z)
    return s * (1 + Z * (1 - s))


# --- softsign: g(z) = z / (1 + |z|) -----------------------------------------------------------

def softsign(Z):
    return Z / (1 + np.abs(Z))


def softsign_grad(Z, A):
    """g'(z) = 1 / (1 + |z|)^2 (smooth at 0: both sides give 1)."""
    return 1 / np.square(1 + np.abs(Z))


# --- hard sigmoid: g(z) = relu6(z + 3) / 6 ----------------------------------------------------

def hard_sigmoid(Z):
    return np.minimum(np.maximum(Z + 3, 0), 6) / 6


def hard_sigmoid_grad(Z, A):
    """torch: float32(1/6) = 0.1666666716337204 (even in float64) for -3 < z < 3, 0 elsewhere."""
    return np.where((Z > -3) & (Z < 3), F32(1 / 6), 0.0).astype(Z.dtype)


def hard_sigmoid_keras_grad(Z, A):
    """Keras: relu6'(z + 3) / 6, relu6' = 1 on (0, 6) open: 0 at z = -3 and 3."""
    shifted = Z + 3
    return (((shifted > 0) & (shifted < 6)) / 6).astype(Z.dtype)


# --- hard SiLU / hard swish: g(z) = z relu6(z + 3) / 6 ----------------------------------------

def hard_silu(Z):
    return Z * hard_sigmoid(Z)


def hard_silu_grad(Z, A):
    """torch: 0 for z <= -3, z/3 + 1/2 for -3 < z < 3, 1 for z >= 3."""
    return np.where(Z <= -3, 0.0, np.where(Z < 3, Z / 3 + 0.5, 1.0)).astype(Z.dtype)


def hard_silu_keras(Z):
    """Keras: z * (relu6(z + 3) / 6)."""
    return Z * hard_sigmoid(Z)


def hard_silu_keras_grad(Z, A):
    """The tape through z * hs(z): hs(z) + z hs'(z) (0 at -3, 1 at 3)."""
    return hard_sigmoid(Z) + Z * hard_sigmoid_keras_grad(Z, A)


# --- ReLU6: g(z) = min(max(z, 0), 6) ----------------------------------------------------------

def relu6(Z):
    return np.minimum(np.maximum(Z, 0), 6)


def relu6_grad(Z, A):
    """1 on (0, 6) open, 0 elsewhere: 0 at both kinks in both frameworks."""
    return ((Z > 0) & (Z < 6)).astype(Z.dtype)


# --- mish: g(z) = z tanh(softplus(z)) ---------------------------------------------------------

def mish(Z):
    return Z * np.tanh(np.logaddexp(0, Z))


def mish_grad(Z, A):
    """g'(z) = t + z sigmoid(z) (1 - t^2), t = tanh(softplus(z))."""
    t = np.tanh(np.logaddexp(0, Z))
    return t + Z * _sigmoid(Z) * (1 - t * t)


# --- log-sigmoid: g(z) = log sigmoid(z) = -softplus(-z) ---------------------------------------

def log_sigmoid(Z):
    return -np.logaddexp(0, -Z)


def log_sigmoid_grad(Z, A):
    """g'(z) = 1 - sigmoid(z) = sigmoid(-z)."""
    return _sigmoid(-Z)


# --- hard tanh: g(z) = min(max(z, -1), 1) -----------------------------------------------------

def hard_tanh(Z):
    return np.minimum(np.maximum(Z, -1), 1)


def hard_tanh_grad(Z, A):
    """torch: 1 on (-1, 1) open, 0 at z = -1 and 1."""
    return ((Z > -1) & (Z < 1)).astype(Z.dtype)


def hard_tanh_keras_grad(Z, A):
    """Keras (tf.clip_by_value): 1 on [-1, 1] closed, so 1 at z = -1 and 1."""
    return ((Z >= -1) & (Z <= 1)).astype(Z.dtype)


def table(convention):
    """name -> (g, g') as `convention` (a Convention or its name) computes each, its rules picking
    the form; leaky_relu's pair takes the slope too (activations.activation_table binds it)."""
    c = as_convention(convention)
    from_output = c.elu_grad_from_output                    # TF's e^z - 1, derivative from a
    float32 = c.float32_activation_constants                # TF's constants through float32
    elu_pair = (elu_keras, elu_keras_grad) if from_output else (elu, elu_grad)
    return {
        "leaky_relu": (leaky_relu,
                       leaky_relu_grad_jax if c.leaky_relu_grad_one_at_zero else leaky_relu_grad),
        "elu": elu_pair,
        "selu": (selu_keras, selu_keras_grad) if from_output else (selu, selu_grad),
        "celu": (celu_keras, celu_keras_grad) if c.celu_max_plus_min else elu_pair,   # torch's CELU: ELU with
        "gelu": (gelu_keras, gelu_keras_grad) if float32 else (gelu, gelu_grad),      # z/alpha, the same for 1
        "gelu_tanh": (gelu_tanh_keras, gelu_tanh_keras_grad) if float32 else (gelu_tanh, gelu_tanh_grad),
        "silu": (silu, silu_grad),
        "softsign": (softsign, softsign_grad),
        "hard_sigmoid": (hard_sigmoid, hard_sigmoid_grad if c.hard_sigmoid_float32_slope else hard_sigmoid_keras_grad),
        "hard_silu": (hard_silu, hard_silu_grad) if c.hard_silu_own_backward
                     else (hard_silu_keras, hard_silu_keras_grad),
        "relu6": (relu6, relu6_grad),
        "mish": (mish, mish_grad),
        "log_sigmoid": (log_sigmoid, log_sigmoid_grad),
        "hard_tanh": (hard_tanh, hard_tanh_keras_grad if c.hard_tanh_grad_closed else hard_tanh_grad),
    }


TORCH, KERAS = table(conventions.TORCH), table(conventions.KERAS)     # each convention's table

# Where each activation is not differentiable: the inputs the kink table and its tests use.
KINKS = {"relu": (0.0,), "leaky_relu": (0.0,), "elu": (0.0,), "selu": (0.0,), "celu": (0.0,), "relu6": (0.0, 6.0),
         "hard_sigmoid": (-3.0, 3.0), "hard_silu": (-3.0, 3.0), "hard_tanh": (-1.0, 1.0)}


def leaky_slope(convention, slope=None):
    """The slope a convention uses: the spec's, or that framework's default; Keras's through float32."""
    c = as_convention(convention)
    value = c.leaky_relu_slope if slope is None else float(slope)
    return F32(value) if c.float32_activation_constants else value
