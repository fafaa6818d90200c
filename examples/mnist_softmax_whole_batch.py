# The 784-10-10 blog network with softmax normalised over the WHOLE batch: np.sum(expZ) without
# axis=0, so the columns of A2 do not each sum to 1 (the whole matrix does). Runs on 8 random
# examples (the network is declared below), 20 steps:
#
#   python -m compare check examples/mnist_softmax_whole_batch.py
#
# Verdict: MISMATCH (exit 1) at step 1, layer 2, A2: "softmax normalised over the whole batch, not per example".
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
    expZ = np.exp(Z - np.max(Z))
    return expZ / np.sum(expZ)                     # the mistake: one sum over the whole batch


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
    dW2 = 1 / m * dZ2.dot(A1.T)
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
