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

Left out: truncated normals, orthogonal init, per-layer initializers.
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
    raise ValueError(f"unknown initializer {init.kind!r}")


INITIALIZERS = ("normal", "uniform", "glorot_uniform", "kaiming_uniform", "zeros", "fixed")
BIAS_INITIALIZERS = ("normal", "uniform", "kaiming_uniform", "zeros", "fixed")


def initial_params(sizes, weight_init, bias_init, seed, dtype="float64", fixed=None):
    """[(W1, b1), ..., (WL, bL)] for layer sizes [n0, n1, ..., nL]; W_l (n_l, n_{l-1}), b_l (n_l, 1).

    `fixed` (used when an init kind is 'fixed'): [(W, b), ...] as nested lists in this layout.
    """
    rng = np.random.default_rng(seed)
    params = []
    for l in range(1, len(sizes)):
        n_in, n_out = sizes[l - 1], sizes[l]
        if weight_init.kind == "fixed":
            W = np.array(fixed[l - 1][0], dtype=np.float64).reshape(n_out, n_in)
        else:
            W = draw(weight_init, (n_out, n_in), n_in, n_out, rng)
        if bias_init.kind == "fixed":
            b = np.array(fixed[l - 1][1], dtype=np.float64).reshape(n_out, 1)
        else:
            b = draw(bias_init, (n_out, 1), n_in, n_out, rng)
        params.append((W.astype(dtype), b.astype(dtype)))
    return params
