"""Every layout conversion between scratch, torch and Keras, in one place, each shape asserted.

                 scratch            torch                 Keras
    weight       W  (out, in)       Linear.weight (out, in)   Dense.kernel (in, out) = W.T
    bias         b  (out, 1)        Linear.bias   (out,)      Dense.bias   (out,)
    batch        X, Z, A  (units, m)  (m, units)              (m, units)
(scratch keeps one example per column, the frameworks one per row.)

The harness compares everything in the scratch layout: framework tensors come back through
`to_scratch`, named as in the scratch code: Z1, A1, dZ1, dW1, db1, W1, b1, and optimizer state
as '<param>.<state>' (e.g. 'W1.m').

Left out: convolution kernels, anything but dense layers.
"""
import re

import numpy as np

NAME = re.compile(r"^(?P<d>d?)(?P<kind>Z|A|W|b)(?P<layer>\d+)(?:\.(?P<state>\w+))?$")


def expect(array, shape, what):
    """Assert `array` has exactly `shape`; the message names the tensor."""
    if tuple(np.shape(array)) != tuple(shape):
        raise AssertionError(f"{what}: expected shape {tuple(shape)}, got {tuple(np.shape(array))}")
    return array


def to_torch(params):
    """[(W (out, in), b (out, 1))] -> [(weight (out, in), bias (out,))] as numpy arrays."""
    out = []
    for l, (W, b) in enumerate(params, start=1):
        n_out, n_in = W.shape
        expect(b, (n_out, 1), f"b{l}")
        out.append((expect(W.copy(), (n_out, n_in), f"W{l}"), b.reshape(n_out).copy()))
    return out


def to_keras(params):
    """[(W (out, in), b (out, 1))] -> [(kernel (in, out), bias (out,))] as numpy arrays."""
    out = []
    for l, (W, b) in enumerate(params, start=1):
        n_out, n_in = W.shape
        expect(b, (n_out, 1), f"b{l}")
        out.append((np.ascontiguousarray(W.T), b.reshape(n_out).copy()))
    return out


def batch_to_rows(X):
    """A scratch batch (units, m) -> the frameworks' (m, units). A transposed view, not a copy:
    BLAS multiplies transposed operands directly, and a full MNIST batch is 376 MB."""
    return X.T


def rows_to_batch(X):
    """The frameworks' (m, units) -> a scratch batch (units, m). A transposed view, not a copy."""
    return X.T


def to_scratch(framework, name, array, sizes, m=None):
    """One named framework tensor -> the scratch layout, shape asserted.

    framework: 'torch' | 'keras'; name: e.g. 'Z2', 'dW1', 'b3', 'W1.m', 'loss';
    sizes: layer widths [n0, ..., nL]; m: batch size (for Z, A, dZ).
    """
    array = np.asarray(array)
    if name == "loss":
        return expect(array, (), name)
    match = NAME.match(name)
    if match is None:
        raise ValueError(f"no layout rule for tensor {name!r}")
    kind, l = match["kind"], int(match["layer"])
    n_out, n_in = sizes[l], sizes[l - 1]
    if kind in ("Z", "A"):
        return rows_to_batch(expect(array, (m, n_out), f"{framework} {name}"))
    if kind == "b":
        return expect(array, (n_out,), f"{framework} {name}").reshape(n_out, 1)
    if framework == "keras":
        return expect(array, (n_in, n_out), f"keras {name}").T          # a transposed view, as for Z
    return expect(array, (n_out, n_in), f"torch {name}")


def from_scratch(framework, name, array):
    """A scratch parameter or optimizer-state tensor ('W1', 'b2', 'W1.m', ...) -> the framework's
    layout (the inverse of `to_scratch`)."""
    kind = NAME.match(name)["kind"]
    if kind == "b":
        return array.reshape(-1).copy()
    if kind == "W" and framework == "keras":
        return np.ascontiguousarray(array.T)
    return array.copy()


def record_to_scratch(framework, record, sizes, m):
    """Every tensor of a framework's step record -> scratch layout (see `to_scratch`)."""
    return {name: to_scratch(framework, name, value, sizes, m) for name, value in record.items()}


def scratch_params(params):
    """[(W, b)] -> {'W1': W, 'b1': b, ...}: the names the harness compares by."""
    named = {}
    for l, (W, b) in enumerate(params, start=1):
        named[f"W{l}"], named[f"b{l}"] = W, b
    return named
