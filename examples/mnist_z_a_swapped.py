# The 784-10-10 blog network with Z and A swapped in the backward pass: dW2 is built from Z1,
# the hidden layer's input to ReLU, where its output A1 belongs. Forward, dZ2 and db2 still agree.
# Runs on 8 random examples (the network is declared below), 20 steps:
#
#   python -m compare check examples/mnist_z_a_swapped.py
#
# Verdict: MISMATCH (exit 1) at step 1, layer 2, dW2.
import numpy as np

import compare


def init_params():
    W1 = np.random.rand(10, 784) - 0.5
    b1 = np.random.rand(10, 1) - 0.5
    W2 = np.random.rand(10, 10) - 0.5
    b2 = np.random.rand(10, 1) - 0.5
    return W1, b1, W2, b2


def ReLU(Z):
    return np.maximum(Z, 0)


def softmax(Z):
    expZ = np.exp(Z - np.max(Z, axis=0, keepdims=True))
    return expZ / np.sum(expZ, axis=0, keepdims=True)


def forward_prop(W1, b1, W2, b2, X):
    Z1 = W1.dot(X) + b1
    A1 = ReLU(Z1)
    Z2 = W2.dot(A1) + b2
    A2 = softmax(Z2)
    return Z1, A1, Z2, A2


def ReLU_deriv(Z):
    return Z > 0


def one_hot(Y):
    one_hot_Y = np.zeros((Y.size, 10))
    one_hot_Y[np.arange(Y.size), Y] = 1
    return one_hot_Y.T


def backward_prop(Z1, A1, Z2, A2, W1, W2, X, Y):
    m = Y.size
    one_hot_Y = one_hot(Y)
    dZ2 = A2 - one_hot_Y
    dW2 = 1 / m * dZ2.dot(Z1.T)                # the mistake: Z1 where A1 belongs
    db2 = 1 / m * np.sum(dZ2, axis=1, keepdims=True)
    dZ1 = W2.T.dot(dZ2) * ReLU_deriv(Z1)
    dW1 = 1 / m * dZ1.dot(X.T)
    db1 = 1 / m * np.sum(dZ1, axis=1, keepdims=True)
    return dZ1, dW1, db1, dZ2, dW2, db2


def update_params(W1, b1, W2, b2, dW1, db1, dW2, db2, alpha):
    W1 = W1 - alpha * dW1
    b1 = b1 - alpha * db1
    W2 = W2 - alpha * dW2
    b2 = b2 - alpha * db2
    return W1, b1, W2, b2



mine = compare.functions(forward_prop, backward_prop, update_params, init_params,
                         layout=compare.Layout(labels="integer"),
                         network=dict(sizes=[784, 10, 10], activations=["relu", "softmax"],
                                      loss="categorical_crossentropy", lr=0.1))
