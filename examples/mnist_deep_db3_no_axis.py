# examples/mnist_deep.py with one classic mistake: db3 = np.sum(dZ3) / m, without axis=1, keepdims=True,
# sums over the units AND the examples to one number. The rest is the same blog-style code (784-32-16-10):
# dZ3 = A3 - one_hot_Y and the 1/m in dW and db, digits one-hot encoded inside backward_prop.
#
#   python -m compare check examples/mnist_deep_db3_no_axis.py --recipe mnist-deep --data-dir DIR --steps 20
#
# Verdict: MISMATCH (exit 1) at step 1, layer 3, db3: shapes () vs (10, 1), "a lost axis: mine's db3
# is (), summed over units and examples to a scalar". (db3 = np.sum(dZ3) / m drops axis=1, keepdims=True.)
import numpy as np

import compare


def init_params():
    W1 = np.random.randn(32, 784) * 0.5
    b1 = np.random.rand(32, 1) * 0.5
    W2 = np.random.randn(16, 32) * 0.5
    b2 = np.random.rand(16, 1) * 0.5
    W3 = np.random.randn(10, 16) * 0.5
    b3 = np.random.rand(10, 1) * 0.5
    return W1, b1, W2, b2, W3, b3


def relu(Z):
    return np.maximum(0, Z)


def relu_derivative(Z):
    return (Z > 0).astype(float)


def softmax(Z):
    e = np.exp(Z - Z.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


def one_hot(Y):
    one_hot_Y = np.zeros((10, Y.size))
    one_hot_Y[Y, np.arange(Y.size)] = 1
    return one_hot_Y


def forward_prop(W1, b1, W2, b2, W3, b3, X):
    Z1 = W1 @ X + b1
    A1 = relu(Z1)
    Z2 = W2 @ A1 + b2
    A2 = relu(Z2)
    Z3 = W3 @ A2 + b3
    A3 = softmax(Z3)
    return Z1, A1, Z2, A2, Z3, A3


def backward_prop(Z1, A1, Z2, A2, A3, W2, W3, X, Y):
    m = X.shape[1]
    dZ3 = A3 - one_hot(Y)
    dW3 = dZ3 @ A2.T / m
    db3 = np.sum(dZ3) / m                     # the classic mistake: no axis, a scalar
    dZ2 = W3.T @ dZ3 * relu_derivative(Z2)
    dW2 = dZ2 @ A1.T / m
    db2 = np.sum(dZ2, axis=1, keepdims=True) / m
    dZ1 = W2.T @ dZ2 * relu_derivative(Z1)
    dW1 = dZ1 @ X.T / m
    db1 = np.sum(dZ1, axis=1, keepdims=True) / m
    return dZ1, dW1, db1, dZ2, dW2, db2, dZ3, dW3, db3


def update_params(W1, b1, W2, b2, W3, b3, dW1, db1, dW2, db2, dW3, db3, alpha):
    W1 = W1 - alpha * dW1
    b1 = b1 - alpha * db1
    W2 = W2 - alpha * dW2
    b2 = b2 - alpha * db2
    W3 = W3 - alpha * dW3
    b3 = b3 - alpha * db3
    return W1, b1, W2, b2, W3, b3


mine = compare.functions(forward_prop, backward_prop, update_params, init_params,
                         layout=compare.Layout(labels="integer"))
