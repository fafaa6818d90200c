# examples/parity_per_example.py with a classic mistake: sigmoid_derivative(s) = s * (1 - s) expects the
# sigmoid's output, and the output layer hands it z3 instead: sigmoid(z)(1 - z) is not the derivative.
#
#   python -m compare check examples/parity_sigmoid_grad_of_z.py --recipe parity
#
# Verdict: MISMATCH (exit 1) at step 1, layer 3, dZ3 (the forward pass and the loss agree).
import numpy as np

import compare


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def sigmoid_derivative(s):
    """d sigmoid / dz, given s = sigmoid(z)."""
    return s * (1 - s)


def forward(w1, b1, w2, b2, w3, b3, x):
    z1 = w1 @ x + b1
    a1 = sigmoid(z1)
    z2 = w2 @ a1 + b2
    a2 = sigmoid(z2)
    z3 = w3 @ a2 + b3
    a3 = sigmoid(z3)
    return z1, a1, z2, a2, z3, a3


def squared_error(a3, y):
    return np.sum((a3 - y) ** 2)


def backward(z1, a1, z2, a2, z3, a3, w2, w3, x, y):
    da3 = 2 * (a3 - y)                          # d/da (a - y)^2
    dz3 = da3 * sigmoid_derivative(z3)          # the mistake: of z3, not of a3 = sigmoid(z3)
    dw3 = dz3 @ a2.T
    db3 = dz3
    dz2 = (w3.T @ dz3) * sigmoid_derivative(a2)
    dw2 = dz2 @ a1.T
    db2 = dz2
    dz1 = (w2.T @ dz2) * sigmoid_derivative(a1)
    dw1 = dz1 @ x.T
    db1 = dz1
    return dz1, dw1, db1, dz2, dw2, db2, dz3, dw3, db3


def update(w1, b1, w2, b2, w3, b3, dw1, db1, dw2, db2, dw3, db3, lr):
    w1 = w1 - lr * dw1
    b1 = b1 - lr * db1
    w2 = w2 - lr * dw2
    b2 = b2 - lr * db2
    w3 = w3 - lr * dw3
    b3 = b3 - lr * db3
    return w1, b1, w2, b2, w3, b3


mine = compare.functions(forward, backward, update, loss=squared_error, batch_mean="in_dZ")
