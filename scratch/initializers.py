"""Initial parameters, generated once and then copied into every implementation.

Layout (the scratch convention, same as torch's Linear.weight):
    W_l : (n_l, n_{l-1})   b_l : (n_l, 1)
Draws come from one numpy Generator in a fixed order (W1, b1, W2, b2, ...), always in
float64 and then cast, so float32 and float64 runs start from the same numbers up to rounding.

    normal            w ~ N(mean, 1) * scale
    uniform           w ~ U[low, high)
    glorot_uniform    w ~ U(-l, l), l = sqrt(6 / (fan_in + fan_out))     (Keras Dense default)
    kaiming_uniform   w ~ U(-l, l), l = 1 / sqrt(fan_in)                 (torch nn.Linear default,
                      kaiming_uniform_(a=sqrt(5)); its bias uses the same bound)
    zeros             w = 0
    fixed             the values given in the spec

The variance-scaling family, as each framework draws it (fan_in = n_{l-1}, fan_out = n_l; the
same fans in torch's (out, in) weight and Keras's (in, out) kernel):

    torch (torch/nn/init.py; plain normals, nothing truncated)
    xavier_uniform    U(-l, l), l = sqrt(6 / (fan_in + fan_out))   (= Keras glorot_uniform)
    xavier_normal     N(0, s),  s = sqrt(2 / (fan_in + fan_out))
    kaiming_normal    N(0, s),  s = sqrt(2 / fan_in)               (kaiming_normal_, a=0, fan_in)
    Keras (keras/src/initializers/random_initializers.py, VarianceScaling; normals truncated)
    he_uniform        U(-l, l), l = sqrt(6 / fan_in)               (= torch kaiming_uniform_, a=0)
    lecun_uniform     U(-l, l), l = sqrt(3 / fan_in)
    glorot_normal     T(s), s = sqrt(2 / (fan_in + fan_out)) / 0.87962566103423978
    he_normal         T(s), s = sqrt(2 / fan_in) / 0.87962566103423978
    lecun_normal      T(s), s = sqrt(1 / fan_in) / 0.87962566103423978
T(s) is N(0, s) truncated at 2 s (values beyond are drawn again: tf.random.truncated_normal);
0.8796... is the standard deviation of a unit normal truncated at +-2, so T(s) has the std of
the untruncated formula. kaiming_uniform above is nn.Linear's default, kaiming_uniform_(a=sqrt(5)).
The random streams of the frameworks cannot be shared: tests/test_initializers.py checks the
distributions (Kolmogorov-Smirnov) instead.

Left out: orthogonal init, per-layer initializers, gains other than the defaults.
"""
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Init:
    kind: str = "kaiming_uniform"  # one of INITIALIZERS
    scale: float = 1.0             # normal: standard deviation multiplier
    mean: float = 0.0              # normal: mean (before scaling)
    low: float = -0.05             # uniform: lower bound (inclusive)
    high: float = 0.05             # uniform: upper bound (exclusive)


def draw(init, shape, fan_in, fan_out, rng):
    """One array of `shape` drawn as `init` says (float64)."""
    if init.kind == "normal":
        return (rng.standard_normal(shape) + init.mean) * init.scale
    if init.kind == "uniform":
        return rng.uniform(init.low, init.high, shape)
    if init.kind == "glorot_uniform":
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, shape)
    if init.kind == "kaiming_uniform":
        limit = 1.0 / np.sqrt(fan_in)
        return rng.uniform(-limit, limit, shape)
    if init.kind == "zeros":
        return np.zeros(shape)
    if init.kind in VARIANCE_SCALING:
        return variance_scaling(init.kind, shape, fan_in, fan_out, rng)
    raise ValueError(f"unknown initializer {init.kind!r}")


INITIALIZERS = ("normal", "uniform", "glorot_uniform", "kaiming_uniform", "zeros", "fixed")

# --- the variance-scaling family (issue 11) ----------------------------------------------------
TRUNCATED_STD = 0.87962566103423978   # std of N(0, 1) truncated to [-2, 2] (Keras's constant)
# kind -> (distribution, scale, fan): the variance is scale / fan
VARIANCE_SCALING = {
    "xavier_uniform": ("uniform", 1.0, "avg"), "xavier_normal": ("normal", 1.0, "avg"),
    "kaiming_normal": ("normal", 2.0, "in"),
    "he_uniform": ("uniform", 2.0, "in"), "lecun_uniform": ("uniform", 1.0, "in"),
    "glorot_normal": ("truncated_normal", 1.0, "avg"), "he_normal": ("truncated_normal", 2.0, "in"),
    "lecun_normal": ("truncated_normal", 1.0, "in"),
}
INITIALIZERS += tuple(VARIANCE_SCALING)


def truncated_normal(shape, std, rng):
    """N(0, std) restricted to [-2 std, 2 std]: draw, then draw again where |x| > 2 std."""
    x = rng.standard_normal(shape)
    outside = np.abs(x) > 2
    while outside.any():
        x[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(x) > 2
    return x * std


def variance_scaling(kind, shape, fan_in, fan_out, rng):
    """Variance scale / fan: uniform with limit sqrt(3 var), normal with std sqrt(var), or Keras's
    truncated normal with std sqrt(var) / 0.8796... (so that the truncated values have std sqrt(var))."""
    distribution, scale, fan = VARIANCE_SCALING[kind]
    variance = scale / max(1.0, fan_in if fan == "in" else (fan_in + fan_out) / 2.0)
    if distribution == "uniform":
        limit = np.sqrt(3.0 * variance)
        return rng.uniform(-limit, limit, shape)
    if distribution == "normal":
        return rng.standard_normal(shape) * np.sqrt(variance)
    return truncated_normal(shape, np.sqrt(variance) / TRUNCATED_STD, rng)
BIAS_INITIALIZERS = ("normal", "uniform", "kaiming_uniform", "zeros", "fixed")


def initial_params(sizes, weight_init, bias_init, seed, dtype="float64", fixed=None, kernels=None):
    """[(W1, b1), ..., (WL, bL)] for layer sizes [n0, n1, ..., nL]; W_l (n_l, n_{l-1}), b_l (n_l, 1).

    `fixed` (used when an init kind is 'fixed'): [(W, b), ...] as nested lists in this layout.
    `kernels` {l: (W shape, fan_in, fan_out)}: the blocks whose weight is not a Dense's, a conv
    kernel W (F, C, kh, kw) with fans C kh kw and F kh kw (as torch and Keras count them); its
    bias b (F, 1). The same draws, in the same order, as a Dense's.
    """
    rng = np.random.default_rng(seed)
    params = []
    for l in range(1, len(sizes)):
        n_in, n_out = sizes[l - 1], sizes[l]
        shape = (n_out, n_in)
        if kernels and l in kernels:
            shape, n_in, n_out = kernels[l]
            shape = tuple(shape)
        if weight_init.kind == "fixed":
            W = np.array(fixed[l - 1][0], dtype=np.float64).reshape(shape)
        else:
            W = draw(weight_init, shape, n_in, n_out, rng)
        if bias_init.kind == "fixed":
            b = np.array(fixed[l - 1][1], dtype=np.float64).reshape(shape[0], 1)
        else:
            b = draw(bias_init, (shape[0], 1), n_in, n_out, rng)
        params.append((W.astype(dtype), b.astype(dtype)))
    return params
