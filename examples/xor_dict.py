# A 2-3-1 sigmoid network for XOR that keeps its parameters in a dict, as many tutorials do:
# parameters = {"W1": ..., "b1": ..., "W2": ..., "b2": ...}; forward(X, parameters) -> A2, cache;
# binary cross-entropy; one example per column; the 1/m in dW and db. The mapping of arguments
# and results to the network's tensors is declared (params, cache and grads are dicts, read by key).
#
#   python -m compare check examples/xor_dict.py --recipe xor --steps 200
#
# Verdict: PASS (exit 0), worst relative error ~1e-14 <= 1e-9 against torch and Keras in float64.
import numpy as np

import compare


def sigmoid(Z):
    return 1 / (1 + np.exp(-Z))


def initialize_parameters(n_x=2, n_h=3, n_y=1):
    return {"W1": np.random.randn(n_h, n_x) * 0.01, "b1": np.zeros((n_h, 1)),
            "W2": np.random.randn(n_y, n_h) * 0.01, "b2": np.zeros((n_y, 1))}


def forward(X, parameters):
    Z1 = np.dot(parameters["W1"], X) + parameters["b1"]
    A1 = sigmoid(Z1)
    Z2 = np.dot(parameters["W2"], A1) + parameters["b2"]
    A2 = sigmoid(Z2)
    cache = {"Z1": Z1, "A1": A1, "Z2": Z2, "A2": A2}
    return A2, cache


def compute_cost(A2, Y):
    m = Y.shape[1]
    return -np.sum(Y * np.log(A2) + (1 - Y) * np.log(1 - A2)) / m


def backward(parameters, cache, X, Y):
    m = X.shape[1]
    A1, A2 = cache["A1"], cache["A2"]
    dZ2 = A2 - Y
    dW2 = np.dot(dZ2, A1.T) / m
    db2 = np.sum(dZ2, axis=1, keepdims=True) / m
    dZ1 = np.dot(parameters["W2"].T, dZ2) * A1 * (1 - A1)
    dW1 = np.dot(dZ1, X.T) / m
    db1 = np.sum(dZ1, axis=1, keepdims=True) / m
    return {"dZ1": dZ1, "dW1": dW1, "db1": db1, "dZ2": dZ2, "dW2": dW2, "db2": db2}


def update_parameters(parameters, grads, learning_rate):
    return {name: parameters[name] - learning_rate * grads["d" + name] for name in parameters}


mine = compare.functions(forward, backward, update_parameters, initialize_parameters,
                         forward_args="X params", forward_returns="A2 cache",
                         backward_args="params cache X Y", backward_returns="grads",
                         update_args="params grads lr", update_returns="params",
                         init_returns="params", loss=compute_cost, loss_args="A2 Y")
