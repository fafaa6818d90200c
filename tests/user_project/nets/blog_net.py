"""A 2-4-1 network in blog-style NumPy functions (tanh, then a sigmoid output), one example per
column, the 1/m in dW and db: what `pytest --mirror nets` checks as `mine`."""
import numpy as np

import compare


def init_params():
    W1 = np.random.rand(4, 2) - 0.5
    b1 = np.random.rand(4, 1) - 0.5
    W2 = np.random.rand(1, 4) - 0.5
    b2 = np.random.rand(1, 1) - 0.5
    return W1, b1, W2, b2


def forward_prop(W1, b1, W2, b2, X):
    Z1 = W1.dot(X) + b1
    A1 = np.tanh(Z1)
    Z2 = W2.dot(A1) + b2
    A2 = 1 / (1 + np.exp(-Z2))
    return Z1, A1, Z2, A2


def backward_prop(Z1, A1, Z2, A2, W1, W2, X, Y):
    m = X.shape[1]
    dZ2 = A2 - Y
    dW2 = dZ2.dot(A1.T) / m
    db2 = np.sum(dZ2, axis=1, keepdims=True) / m
    dZ1 = W2.T.dot(dZ2) * (1 - A1 ** 2)
    dW1 = dZ1.dot(X.T) / m
    db1 = np.sum(dZ1, axis=1, keepdims=True) / m
    return dW1, db1, dW2, db2


def update_params(W1, b1, W2, b2, dW1, db1, dW2, db2, alpha):
    W1 = W1 - alpha * dW1
    b1 = b1 - alpha * db1
    W2 = W2 - alpha * dW2
    b2 = b2 - alpha * db2
    return W1, b1, W2, b2


mine = compare.functions(forward_prop, backward_prop, update_params, init_params,
                         network=dict(sizes=[2, 4, 1], activations=["tanh", "sigmoid"], loss="binary_crossentropy"))
