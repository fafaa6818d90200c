"""Losses on the output A itself, each beside its gradient dA (the output activation's
derivative turns it into dZ in scratch/mlp.py). Shapes: A, Y (n, m), one example per column;
every loss is a sum divided by a divisor (scratch/losses.py loss_divisor).

    mae            L = sum |a - y| / d                      dA = sign(a - y) / d      (0 at a = y in both)
    huber(delta)   L = sum h(a - y) / d, h(x) = x^2 / 2 for |x| <= delta, else delta (|x| - delta / 2)
                                                            dA = clip(a - y, -delta, delta) / d
    smooth_l1(beta = Spec.delta), torch's SmoothL1Loss: huber(beta) / beta
                                                            dA = clip(a - y, -beta, beta) / beta / d
    poisson        L = sum a - y log(a + eps) / d           dA = (1 - y / (a + eps)) / d
                   eps: torch PoissonNLLLoss(log_input=False) 1e-8, Keras Poisson 1e-7
    hinge          L = sum max(1 - t a, 0) / d              dA = -t [1 - t a >= 0] / d
    squared_hinge  L = sum max(1 - t a, 0)^2 / d            dA = -2 t max(1 - t a, 0) / d
                   t = 2 y - 1 when every y of the batch is 0 or 1, else y (Keras's
                   convert_binary_labels_to_hinge; torch has no such loss: its users write the
                   same in torch ops). At 1 - t a = 0 both frameworks pass the gradient
                   (tf Maximum: x >= y; torch clamp(min=0): x >= min).
    cosine_similarity, per example (column): u = y / |y|, v = a / max(|a|, eps)
                   L = -sum_columns u . v / d               dA = -(u - (u . v) v) / |a| / d
                   (where |a| < eps: dA = -u / eps / d); eps: torch 1e-8, Keras 1e-7
                   derivation: d(a/|a|)/da = (I - v v^T) / |a|, applied to -u.

Left out: log_cosh, mean absolute percentage / squared logarithmic error, torch's log_input
Poisson (exp(z) - y z) and its Stirling term.
"""
from collections import namedtuple

import numpy as np

from .conventions import as_convention

Loss = namedtuple("Loss", "loss grad reads gives targets")

# The eps of poisson and cosine_similarity are the convention's (scratch/conventions.py): poisson_eps
# (torch/nn/functional.py poisson_nll_loss 1e-8; Keras epsilon() 1e-7), cosine_eps (F.cosine_similarity
# 1e-8; keras/src/ops/nn.py _normalize 1e-7).


def mae(A, Y, divisor):
    """L = sum |a - y| / divisor"""
    return np.sum(np.abs(A - Y)) / divisor


def mae_grad(A, Y, divisor):
    """dA = sign(a - y) / divisor"""
    return np.sign(A - Y) / divisor


def huber(A, Y, divisor, delta=1.0):
    """L = sum (x^2 / 2 if |x| <= delta else delta (|x| - delta / 2)) / divisor, x = a - y"""
    X = A - Y
    return np.sum(np.where(np.abs(X) <= delta, 0.5 * X**2, delta * (np.abs(X) - 0.5 * delta))) / divisor


def huber_grad(A, Y, divisor, delta=1.0):
    """dA = clip(a - y, -delta, delta) / divisor"""
    return np.clip(A - Y, -delta, delta) / divisor


def smooth_l1(A, Y, divisor, delta=1.0):
    """torch SmoothL1Loss(beta = delta) = huber(delta) / delta"""
    return huber(A, Y, divisor, delta) / delta


def smooth_l1_grad(A, Y, divisor, delta=1.0):
    """dA = clip(a - y, -delta, delta) / delta / divisor"""
    return huber_grad(A, Y, divisor, delta) / delta


def poisson(A, Y, divisor, eps=1e-8):
    """L = sum (a - y log(a + eps)) / divisor"""
    return np.sum(A - Y * np.log(A + eps)) / divisor


def poisson_grad(A, Y, divisor, eps=1e-8):
    """dA = (1 - y / (a + eps)) / divisor"""
    return (1 - Y / (A + eps)) / divisor


def hinge_targets(Y):
    """t = 2 y - 1 when every y is 0 or 1 (0/1 labels become -1/1), else y unchanged."""
    return 2 * Y - 1 if np.all((Y == 0) | (Y == 1)) else Y


def hinge(A, T, divisor):
    """L = sum max(1 - t a, 0) / divisor"""
    return np.sum(np.maximum(1 - T * A, 0)) / divisor


def hinge_grad(A, T, divisor):
    """dA = -t / divisor where 1 - t a >= 0, else 0"""
    return -T * (1 - T * A >= 0) / divisor


def squared_hinge(A, T, divisor):
    """L = sum max(1 - t a, 0)^2 / divisor"""
    return np.sum(np.maximum(1 - T * A, 0) ** 2) / divisor


def squared_hinge_grad(A, T, divisor):
    """dA = -2 t max(1 - t a, 0) / divisor"""
    return -2 * T * np.maximum(1 - T * A, 0) / divisor


def unit_columns(X, eps):
    """-> (X / max(|x|, eps) per column, that denominator (1, m), whether it was clamped)"""
    norm = np.sqrt(np.sum(X**2, axis=0, keepdims=True))
    return X / np.maximum(norm, eps), np.maximum(norm, eps), norm < eps


def cosine_similarity(A, Y, divisor, eps=1e-8):
    """L = -sum over columns of (y / |y|) . (a / |a|), / divisor"""
    U, _, _ = unit_columns(Y, eps)
    V, _, _ = unit_columns(A, eps)
    return -np.sum(U * V) / divisor


def cosine_similarity_grad(A, Y, divisor, eps=1e-8):
    """dA = -(u - (u . v) v) / |a| / divisor (or -u / eps / divisor where |a| < eps)"""
    U, _, _ = unit_columns(Y, eps)
    V, norm, small = unit_columns(A, eps)
    along = np.where(small, 0.0, np.sum(U * V, axis=0, keepdims=True))
    return -(U - along * V) / norm / divisor


POINTWISE = {
    "mae": (mae, mae_grad, "A", "dA"),
    "huber": (huber, huber_grad, "A", "dA"),
    "smooth_l1": (smooth_l1, smooth_l1_grad, "A", "dA"),
    "poisson": (poisson, poisson_grad, "A", "dA"),
    "hinge": (hinge, hinge_grad, "A", "dA"),
    "squared_hinge": (squared_hinge, squared_hinge_grad, "A", "dA"),
    "cosine_similarity": (cosine_similarity, cosine_similarity_grad, "A", "dA"),
}


def pointwise(name, spec, convention):
    """The Loss of one of these (or mse) with the spec's parameters and the convention's eps."""
    from .losses import LOSSES                          # mse lives there, beside the cross-entropies

    convention = as_convention(convention)
    loss, grad, reads, gives = LOSSES[name]
    options, targets = {}, (lambda Y: Y)
    if name in ("huber", "smooth_l1"):
        options = {"delta": spec.delta}
    elif name == "poisson":
        options = {"eps": convention.poisson_eps}
    elif name == "cosine_similarity":
        options = {"eps": convention.cosine_eps}
    elif name in ("hinge", "squared_hinge"):
        targets = hinge_targets
    if options:
        return Loss(lambda P, Y, d: loss(P, Y, d, **options), lambda A, Y, d: grad(A, Y, d, **options),
                    reads, gives, targets)
    return Loss(loss, grad, reads, gives, targets)
