"""Losses, each beside its gradient: the cross-entropies and KL divergence (pointwise_losses.py
holds the rest), the name table, and what each framework divides the sum by.

Shapes: A, Z, Y are (n, m): n output units, m examples (one example per column); integer
labels y are (m,). Every loss is a sum over elements divided by a `divisor` (`loss_divisor`).

From the logits (torch's fused losses; Keras's TF backend reads the logits a softmax/sigmoid
output caches, `_keras_logits`, so neither clips):
    binary_crossentropy       L = sum max(z,0) - z y + log(1 + e^-|z|)  / d    dZ = (A - Y) / d
    categorical_crossentropy  L = -sum y log softmax(z)                  / d    dZ = (A - Y) / d
    sparse_categorical_crossentropy: the same with y = onehot(labels)          dZ = (A - onehot) / d
  derivation: d/dz -sum_i y_i log softmax(z)_i = a sum_i y_i - y = a - y (columns of y sum to 1);
  d/dz -(y log s(z) + (1 - y) log(1 - s(z))) = -y (1 - a) + (1 - y) a = a - y.
Label smoothing e changes the targets first: categorical (torch CrossEntropyLoss, Keras
CategoricalCrossentropy) y (1 - e) + e / n; binary (Keras BinaryCrossentropy; torch has none,
its users smooth the targets themselves) y (1 - e) + e / 2. Keras 3.15's
SparseCategoricalCrossentropy has no label_smoothing.

On probabilities (Spec.probabilities: the loss reads A, not the logits), each framework's guard:
    torch nn.BCELoss:   log a clamped at -100;  dA = (a - y) / max(a (1 - a), 1e-12) / d
    torch NLLLoss(log a) (its CE on probabilities): L = -sum log a_label / d;  dA = -onehot / a / d
    Keras BCE:  p = clip(a, 1e-7, 1 - 1e-7);  dA = (-y / p + (1 - y) / (1 - p)) / d, 0 where clipped
    Keras CE:   q = a / sum a (renormalised), p = clip(q, ...);  dq = -y / p (0 where clipped),
                dA = (dq - sum dq q) / sum a   (the quotient rule of a / sum a)
    Keras sparse CE: p = clip(a, ...), L = -log softmax(log p)_label (the clip first, then the
                softmax renormalises);  d(log p) = softmax(log p) - onehot, dA = that / p, 0 where clipped
The output activation's derivative (sigmoid, softmax_backward) then turns dA into dZ.

KL divergence, kld (target distribution y, output distribution a = softmax(z)):
    torch nn.KLDivLoss takes log-probabilities, its user gives log_softmax(z):
        L = sum xlogy(y, y) - y log_softmax(z) / d,   dZ = (a sum_i y_i - y) / d
        'mean' divides by n m (all elements), 'batchmean' by m
    Keras KLDivergence clips both to [1e-7, 1]: yc = clip(y), p = clip(a)
        L = sum yc log(yc / p) / d,   dA = -yc / p / d (0 where a is clipped); averages over the batch
    (a one-hot y is clipped too: every 0 becomes 1e-7 and adds 1e-7 log(1e-7 / p) in Keras only)

Left out: class weights, ignore_index, focal losses, Keras's categorical_hinge.
"""
from functools import partial

import numpy as np

from . import pointwise_losses as pw
from .activations import softmax
from .conventions import as_convention

KERAS_EPSILON = 1e-7      # keras.config.epsilon(): keras/src/backend/config.py _EPSILON
TORCH_LOG_FLOOR = -100.0  # nn.BCELoss clamps each log at -100 (torch/_decomp/decompositions.py binary_cross_entropy)
TORCH_BCE_EPSILON = 1e-12  # ... and its backward divides by max(a (1 - a), 1e-12) (binary_cross_entropy_backward)


def mse(A, Y, divisor):
    """L = sum (a - y)^2 / divisor"""
    return np.sum((A - Y) ** 2) / divisor


def mse_grad(A, Y, divisor):
    """dA = 2 (A - Y) / divisor"""
    return 2 * (A - Y) / divisor


def binary_crossentropy(Z, Y, divisor):
    """L = sum -(y log s(z) + (1 - y) log(1 - s(z))) / divisor, from the logits:
    each term equals max(z, 0) - z y + log(1 + e^-|z|), finite for every z."""
    return np.sum(np.maximum(Z, 0) - Z * Y + np.log1p(np.exp(-np.abs(Z)))) / divisor


def binary_crossentropy_grad(A, Y, divisor):
    """dZ = (A - Y) / divisor (through the sigmoid; see the module docstring)."""
    return (A - Y) / divisor


def log_softmax(Z):
    """log softmax(z) per column: z - max z - log sum e^(z - max z)"""
    shifted = Z - Z.max(axis=0, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=0, keepdims=True))


def categorical_crossentropy(Z, Y, divisor):
    """L = sum -y log softmax(z) / divisor"""
    return -np.sum(Y * log_softmax(Z)) / divisor


def categorical_crossentropy_grad(A, Y, divisor):
    """dZ = (A - Y) / divisor (through the softmax; see the module docstring)."""
    return (A - Y) / divisor


def onehot(labels, n):
    """integer labels (m,) -> (n, m) one-hot columns"""
    return np.eye(n, dtype=np.float64)[labels].T


def sparse_categorical_crossentropy(Z, labels, divisor):
    """L = -sum_j log softmax(z_j)[label_j] / divisor, labels (m,) class indices."""
    return -np.sum(log_softmax(Z)[labels, np.arange(len(labels))]) / divisor


def sparse_categorical_crossentropy_grad(A, labels, divisor):
    """dZ = (A - onehot(labels)) / divisor"""
    return (A - onehot(labels, A.shape[0]).astype(A.dtype)) / divisor


# --- on probabilities: torch's guards ---------------------------------------------------------

def bce_probabilities_torch(A, Y, divisor):
    """nn.BCELoss: L = -sum(y max(log a, -100) + (1 - y) max(log(1 - a), -100)) / divisor"""
    return -np.sum(Y * np.maximum(np.log(A), TORCH_LOG_FLOOR)
                   + (1 - Y) * np.maximum(np.log1p(-A), TORCH_LOG_FLOOR)) / divisor


def bce_probabilities_torch_grad(A, Y, divisor):
    """dA = (a - y) / max(a (1 - a), 1e-12) / divisor (torch's backward ignores its own clamp)"""
    return (A - Y) / np.maximum(A * (1 - A), TORCH_BCE_EPSILON) / divisor


def nll_of_log_torch(A, labels, divisor):
    """nn.NLLLoss()(torch.log(a), labels): L = -sum log a[label] / divisor (log 0 = -inf: no guard)"""
    return -np.sum(np.log(A[labels, np.arange(len(labels))])) / divisor


def nll_of_log_torch_grad(A, labels, divisor):
    """dA = -onehot / a / divisor"""
    return -onehot(labels, A.shape[0]).astype(A.dtype) / A / divisor


# --- on probabilities: Keras's guards (clip to [eps, 1 - eps], gradient 0 outside) -----------

def clipped(P, low=KERAS_EPSILON, high=1 - KERAS_EPSILON):
    """-> (clip(P, low, high), mask): tf.clip_by_value passes the gradient where low <= p <= high."""
    return np.clip(P, low, high), ((P >= low) & (P <= high)).astype(P.dtype)


def bce_probabilities_keras(A, Y, divisor):
    """L = -sum(y log p + (1 - y) log(1 - p)) / divisor, p = clip(a, 1e-7, 1 - 1e-7)"""
    P, _ = clipped(A)
    return -np.sum(Y * np.log(P) + (1 - Y) * np.log(1 - P)) / divisor


def bce_probabilities_keras_grad(A, Y, divisor):
    """dA = (-y / p + (1 - y) / (1 - p)) / divisor where a is not clipped, else 0"""
    P, inside = clipped(A)
    return (-(Y / P) + (1 - Y) / (1 - P)) * inside / divisor


def ce_probabilities_keras(A, Y, divisor):
    """L = -sum y log clip(a / sum a) / divisor"""
    P, _ = clipped(A / A.sum(axis=0, keepdims=True))
    return -np.sum(Y * np.log(P)) / divisor


def ce_probabilities_keras_grad(A, Y, divisor):
    """dq = -y / p (0 where clipped); dA = (dq - sum(dq q)) / sum a per column"""
    s = A.sum(axis=0, keepdims=True)
    Q = A / s
    P, inside = clipped(Q)
    dQ = -(Y / P) * inside / divisor
    return (dQ - (dQ * Q).sum(axis=0, keepdims=True)) / s


def sparse_probabilities_keras(A, labels, divisor):
    """L = -sum log softmax(log clip(a))[label] / divisor"""
    P, _ = clipped(A)
    return sparse_categorical_crossentropy(np.log(P), labels, divisor)


def sparse_probabilities_keras_grad(A, labels, divisor):
    """d(log p) = (softmax(log p) - onehot) / divisor; dA = d(log p) / p where a is not clipped"""
    P, inside = clipped(A)
    dlogP = sparse_categorical_crossentropy_grad(softmax(np.log(P)), labels, divisor)
    return dlogP / P * inside


# --- KL divergence ----------------------------------------------------------------------------

def kld_torch(Z, Y, divisor):
    """nn.KLDivLoss()(log_softmax(z), y): L = sum (xlogy(y, y) - y log_softmax(z)) / divisor"""
    ylogy = np.where(Y > 0, Y * np.log(np.where(Y > 0, Y, 1.0)), 0.0)
    return np.sum(ylogy - Y * log_softmax(Z)) / divisor


def kld_torch_grad(A, Y, divisor):
    """dZ = (a sum_i y_i - y) / divisor (log_softmax's backward of dL/dlogq = -y)"""
    return (A * Y.sum(axis=0, keepdims=True) - Y) / divisor


def kld_keras(A, Y, divisor):
    """L = sum yc log(yc / p) / divisor, yc = clip(y, 1e-7, 1), p = clip(a, 1e-7, 1)"""
    Yc, _ = clipped(Y, KERAS_EPSILON, 1.0)
    P, _ = clipped(A, KERAS_EPSILON, 1.0)
    return np.sum(Yc * np.log(Yc / P)) / divisor


def kld_keras_grad(A, Y, divisor):
    """dA = -yc / p / divisor where a is in [1e-7, 1], else 0"""
    Yc, _ = clipped(Y, KERAS_EPSILON, 1.0)
    P, inside = clipped(A, KERAS_EPSILON, 1.0)
    return -(Yc / P) * inside / divisor


# name -> (loss, gradient, what the loss reads, what the gradient is): the plain form of each
LOSSES = {
    "mse": (mse, mse_grad, "A", "dA"),
    "binary_crossentropy": (binary_crossentropy, binary_crossentropy_grad, "Z", "dZ"),
    "categorical_crossentropy": (categorical_crossentropy, categorical_crossentropy_grad, "Z", "dZ"),
    "sparse_categorical_crossentropy": (sparse_categorical_crossentropy, sparse_categorical_crossentropy_grad,
                                        "Z", "dZ"),
    "kld": (kld_torch, kld_torch_grad, "Z", "dZ"),
    **pw.POINTWISE,
}

# The output activation each loss needs (None: any). The cross-entropies are fused with it.
FUSED_ACTIVATION = {"binary_crossentropy": "sigmoid", "categorical_crossentropy": "softmax",
                    "sparse_categorical_crossentropy": "softmax"}
NEEDS_ACTIVATION = {**FUSED_ACTIVATION, "kld": ("softmax",), "poisson": ("softplus", "sigmoid", "softmax")}
SMOOTHABLE = ("binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy")
PER_EXAMPLE = ("categorical_crossentropy", "sparse_categorical_crossentropy", "kld", "cosine_similarity")

Loss = pw.Loss


def smooth(Y, e, binary):
    """Smoothed targets: binary y (1 - e) + e / 2 (Keras); categorical y (1 - e) + e / n."""
    return Y * (1 - e) + (0.5 * e if binary else e / Y.shape[0])


def labels_of(Y):
    """one-hot columns (n, m) -> integer labels (m,)"""
    return np.argmax(Y, axis=0)


def loss_functions(spec, convention):
    """The Loss (loss, grad, reads 'Z'|'A', gives 'dZ'|'dA', targets(Y)) of a spec in a convention
    (a Convention or its name): on probabilities, Keras's clipping or torch's guards
    (`clips_probabilities`); kld as Keras clips it or as torch's log-softmax form (`kld_clips`)."""
    convention = as_convention(convention)
    name, clips = spec.loss, convention.clips_probabilities
    e, probs = spec.label_smoothing, spec.probabilities
    same = lambda Y: Y                                                      # noqa: E731
    if name == "binary_crossentropy":
        targets = partial(smooth, e=e, binary=True) if e else same
        if probs:
            pair = (bce_probabilities_keras, bce_probabilities_keras_grad) if clips else \
                   (bce_probabilities_torch, bce_probabilities_torch_grad)
            return Loss(*pair, "A", "dA", targets)
        return Loss(binary_crossentropy, binary_crossentropy_grad, "Z", "dZ", targets)
    if name == "categorical_crossentropy":
        targets = partial(smooth, e=e, binary=False) if e else same
        if probs and clips:
            return Loss(ce_probabilities_keras, ce_probabilities_keras_grad, "A", "dA", targets)
        if probs:                                                           # NLLLoss takes labels
            return Loss(nll_of_log_torch, nll_of_log_torch_grad, "A", "dA", labels_of)
        return Loss(categorical_crossentropy, categorical_crossentropy_grad, "Z", "dZ", targets)
    if name == "sparse_categorical_crossentropy":
        if probs:
            pair = (sparse_probabilities_keras, sparse_probabilities_keras_grad) if clips else \
                   (nll_of_log_torch, nll_of_log_torch_grad)
            return Loss(*pair, "A", "dA", labels_of)
        if e:                                                               # torch only: smoothing by its rule
            return Loss(categorical_crossentropy, categorical_crossentropy_grad, "Z", "dZ",
                        partial(smooth, e=e, binary=False))
        return Loss(sparse_categorical_crossentropy, sparse_categorical_crossentropy_grad, "Z", "dZ", labels_of)
    if name == "kld":
        return Loss(kld_keras, kld_keras_grad, "A", "dA", same) if convention.kld_clips else \
               Loss(kld_torch, kld_torch_grad, "Z", "dZ", same)
    return pw.pointwise(name, spec, convention)


def loss_divisor(loss, reduction, convention, n, m):
    """What the summed loss is divided by, for n output units and a batch of m.

    'mean' (both frameworks' default): torch averages over every element; Keras averages
    over the last axis, then over the batch ('sum_over_batch_size'); both come to n*m.
    Losses that sum over the units of an example first (the categorical cross-entropies,
    Keras's kld, cosine similarity) divide by m only; torch's KLDivLoss 'mean' divides by
    n*m all the same, its 'batchmean' by m.
    'sum': torch sums every element (divisor 1); Keras still averages over the last axis
    and sums over the batch (divisor n). The two agree only for one output unit.
    (The convention's rules: `kld_mean_per_element`, `sum_reduction_averages_units`.)
    """
    convention = as_convention(convention)
    if reduction == "batchmean":
        return m
    per_example = 1 if loss in PER_EXAMPLE and not (loss == "kld" and convention.kld_mean_per_element) else n
    if reduction == "mean":
        return per_example * m
    return per_example if convention.sum_reduction_averages_units else 1
