"""Every layout conversion between scratch, torch and Keras, in one place, each shape asserted.

                 scratch            torch                 Keras
    weight       W  (out, in)       Linear.weight (out, in)   Dense.kernel (in, out) = W.T
    bias         b  (out, 1)        Linear.bias   (out,)      Dense.bias   (out,)
    batch        X, Z, A  (units, m)  (m, units)              (m, units)
(scratch keeps one example per column, the frameworks one per row.)

The harness compares everything in the scratch layout: framework tensors come back through
`to_scratch`, named as in the scratch code: Z1, A1, dZ1, dW1, db1, W1, b1, and optimizer state
as '<param>.<state>' (e.g. 'W1.m').

A user's own layouts (compare/adapters) are converted here too: `Layout` and the functions below it.

Left out: convolution kernels, anything but dense layers.
"""
from dataclasses import dataclass

import numpy as np

from .names import TensorName


# one number per unit: a bias, and a normalization's gamma, beta and running mean and variance
# (torch BatchNorm1d/LayerNorm .weight/.bias/.running_*, Keras gamma/beta/moving_*: (n,); scratch (n, 1))
PER_UNIT = ("b", "gamma", "beta", "mean", "var")


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
    if name in ("loss", "lr"):
        return expect(array, (), name)
    parsed = TensorName.parse(name)
    kind, l = parsed.kind.lstrip("d"), parsed.layer
    n_out, n_in = sizes[l], sizes[l - 1]
    if kind in ("Z", "A", "N"):
        return rows_to_batch(expect(array, (m, n_out), f"{framework} {name}"))
    if kind in PER_UNIT:
        return expect(array, (n_out,), f"{framework} {name}").reshape(n_out, 1)
    if framework == "keras":
        return expect(array, (n_in, n_out), f"keras {name}").T          # a transposed view, as for Z
    return expect(array, (n_out, n_in), f"torch {name}")


def from_scratch(framework, name, array):
    """A scratch parameter or optimizer-state tensor ('W1', 'b2', 'W1.m', ...) -> the framework's
    layout (the inverse of `to_scratch`)."""
    kind = TensorName.parse(name).kind
    if kind in PER_UNIT:
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


# --- a user's own layouts (compare/adapters) --------------------------------------------------

@dataclass(frozen=True)
class Layout:
    """How a user's code holds its arrays. The defaults are the scratch layout (and most blog code's)."""
    examples: str = "columns"   # 'columns': X (n_0, m), Z/A/dZ (n_l, m); 'rows': (m, n_0), (m, n_l)
    weights: str = "out_in"     # 'out_in': W (n_l, n_{l-1}) as torch's Linear; 'in_out': (n_{l-1}, n_l) as a Keras kernel
    bias: str = "column"        # 'column': (n_l, 1); 'flat': (n_l,); 'row': (1, n_l)
    labels: str = "one_hot"     # 'one_hot': Y like Z_L; 'integer': y (m,) of class indices

    def validate(self):
        from .errors import InputError

        for field_name, choices in LAYOUT_CHOICES.items():
            if getattr(self, field_name) not in choices:
                raise InputError(f"layout {field_name} {getattr(self, field_name)!r}: choose one of {', '.join(choices)}")
        return self


LAYOUT_CHOICES = {"examples": ("columns", "rows"), "weights": ("out_in", "in_out"),
                  "bias": ("column", "flat", "row"), "labels": ("one_hot", "integer")}


def bias_shape(n, layout):
    return {"column": (n, 1), "flat": (n,), "row": (1, n)}[layout.bias]


def params_to_layout(params, layout):
    """[(W (out, in), b (out, 1))] -> the user's layout, as fresh copies."""
    out = []
    for W, b in params:
        n_out = W.shape[0]
        out.append((np.array(W.T if layout.weights == "in_out" else W), np.array(b).reshape(bias_shape(n_out, layout))))
    return out


def params_from_layout(params, sizes, layout):
    """The user's own initial [(W, b)] -> the scratch layout, each shape asserted (a wrong shape here
    is an input error of the declaration, not a finding)."""
    out = []
    for l, (W, b) in enumerate(params, start=1):
        n_out, n_in = sizes[l], sizes[l - 1]
        W = np.asarray(W, dtype=np.float64)
        want = (n_in, n_out) if layout.weights == "in_out" else (n_out, n_in)
        expect(W, want, f"your initial W{l} ({layout.weights})")
        b = np.asarray(b, dtype=np.float64)
        if b.size != n_out:
            raise AssertionError(f"your initial b{l}: expected {n_out} values, got shape {b.shape}")
        out.append((np.ascontiguousarray(W.T if layout.weights == "in_out" else W), b.reshape(n_out, 1).copy()))
    return out


def batch_to_layout(X, layout):
    """A batch of rows (m, n) -> the user's layout, a view (X.T for one example per column), not a
    copy: the harness hands every user's implementation a batch of its own and compares it with its
    own after each step (guard.py), so a change the user's code makes to it is seen and reported."""
    return X.T if layout.examples == "columns" else X


def targets_to_layout(Y, layout):
    """Targets as rows (m, n_L), one-hot or real -> the user's layout; integer labels (m,) if asked."""
    if layout.labels == "integer":
        return np.argmax(Y, axis=1)
    return batch_to_layout(Y, layout)


def tensor_from_layout(name, array, layout, sizes, m):
    """One of the user's tensors -> the scratch layout, when its shape is what the user's layout
    says it should be; any other shape is passed on unchanged, so the comparison reports it (and
    says what it looks like: a lost axis, a transpose) instead of this function failing."""
    array = np.asarray(array)
    parsed = TensorName.parse(name)
    if parsed.layer is None:
        return array
    n_out, n_in = sizes[parsed.layer], sizes[parsed.layer - 1]
    kind = "W" if parsed.state and parsed.kind == "W" else "b" if parsed.state else parsed.kind.lstrip("d")
    if kind in ("Z", "A"):
        if layout.examples == "rows" and array.shape == (m, n_out):
            return array.T
        return array
    if kind == "W":
        if layout.weights == "in_out" and array.shape == (n_in, n_out):
            return array.T
        return array
    if array.shape == bias_shape(n_out, layout):
        return array.reshape(n_out, 1)
    return array
