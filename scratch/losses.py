"""Losses, each beside its gradient.

Shapes: A, Z, Y are (n, m): n output units, m examples (one example per column).

Every loss is a sum over elements divided by a `divisor`, which is where the batch
mean lives (`loss_divisor` below says what each framework divides by):
    mse                        L = sum (a - y)^2                         / divisor
    binary_crossentropy        L = sum -(y log a + (1 - y) log(1 - a))  / divisor,  a = sigmoid(z)
    categorical_crossentropy   L = sum -y log a                          / divisor,  a = softmax(z)

The two cross-entropies are computed from the logits Z (log-softmax, log-sigmoid), as torch's
fused losses and Keras's TF backend (which reads the logits cached on a softmax/sigmoid output)
both do, so neither clips probabilities. Their gradient goes straight to dZ:
    d/dz [-sum y log softmax(z)] = a - y          (columns of y sum to 1)
    d/dz [-(y log s(z) + (1 - y) log(1 - s(z)))] = a - y
so dZ = (A - Y) / divisor. MSE's gradient is dA = 2 (A - Y) / divisor; the output
activation's derivative then turns it into dZ.

Left out: label smoothing, class weights, sparse integer labels (targets are one-hot),
Keras's probability clipping (it only applies when the output is not a softmax/sigmoid,
a pairing the spec rejects).
"""
import numpy as np


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


# name -> (loss, gradient, what the loss reads, what the gradient is)
LOSSES = {
    "mse": (mse, mse_grad, "A", "dA"),
    "binary_crossentropy": (binary_crossentropy, binary_crossentropy_grad, "Z", "dZ"),
    "categorical_crossentropy": (categorical_crossentropy, categorical_crossentropy_grad, "Z", "dZ"),
}

# The output activation each cross-entropy is fused with.
FUSED_ACTIVATION = {"binary_crossentropy": "sigmoid", "categorical_crossentropy": "softmax"}


def loss_divisor(loss, reduction, convention, n, m):
    """What the summed loss is divided by, for n output units and a batch of m.

    'mean' (both frameworks' default): torch averages over every element; Keras averages
    over the last axis, then over the batch ('sum_over_batch_size'); both come to n*m.
    Categorical cross-entropy sums over classes first, so it divides by m only.
    'sum': torch sums every element (divisor 1); Keras still averages over the last axis
    and sums over the batch (divisor n). The two agree only for one output unit.
    """
    per_example = 1 if loss == "categorical_crossentropy" else n
    if reduction == "mean":
        return per_example * m
    return per_example if convention == "keras" else 1
