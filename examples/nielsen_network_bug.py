# examples/nielsen_network.py with a classic mistake in update_mini_batch: the summed nablas are
# multiplied by eta instead of eta / len(mini_batch), so every step is m = 4 times too long.
#
#   python -m compare check examples/nielsen_network_bug.py
#   python -m compare check examples/nielsen_network_bug.py --data mnist
#
# Verdict: MISMATCH (exit 1) at step 1, layer 1, W1 (every gradient agrees): "the update of W1: a
# factor of m = 4, the batch size ... (the mean over the batch is not taken ...)".
import numpy as np

import compare


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    return sigmoid(z) * (1 - sigmoid(z))


class Network:
    def __init__(self, sizes):
        self.num_layers = len(sizes)
        self.sizes = sizes
        self.biases = [np.random.randn(y, 1) for y in sizes[1:]]
        self.weights = [np.random.randn(y, x) / np.sqrt(x) for x, y in zip(sizes[:-1], sizes[1:])]

    def feedforward(self, a):
        for b, w in zip(self.biases, self.weights):
            a = sigmoid(np.dot(w, a) + b)
        return a

    def update_mini_batch(self, mini_batch, eta):
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        for x, y in mini_batch:
            delta_nabla_b, delta_nabla_w = self.backprop(x, y)
            nabla_b = [nb + dnb for nb, dnb in zip(nabla_b, delta_nabla_b)]
            nabla_w = [nw + dnw for nw, dnw in zip(nabla_w, delta_nabla_w)]
        self.weights = [w - eta * nw for w, nw in zip(self.weights, nabla_w)]     # the mistake: not eta / m
        self.biases = [b - eta * nb for b, nb in zip(self.biases, nabla_b)]

    def backprop(self, x, y):
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        activation = x
        activations = [x]                 # every layer's activation
        zs = []                           # every layer's weighted input
        for b, w in zip(self.biases, self.weights):
            z = np.dot(w, activation) + b
            zs.append(z)
            activation = sigmoid(z)
            activations.append(activation)
        delta = self.cost_derivative(activations[-1], y) * sigmoid_prime(zs[-1])      # BP1
        nabla_b[-1] = delta                                                            # BP3
        nabla_w[-1] = np.dot(delta, activations[-2].transpose())                      # BP4
        for l in range(2, self.num_layers):
            z = zs[-l]
            delta = np.dot(self.weights[-l + 1].transpose(), delta) * sigmoid_prime(z)  # BP2
            nabla_b[-l] = delta
            nabla_w[-l] = np.dot(delta, activations[-l - 1].transpose())
        return nabla_b, nabla_w

    def cost_derivative(self, output_activations, y):
        return output_activations - y


net = Network([784, 30, 10])
mine = compare.network_class(net, "nielsen", network=dict(batch_size=4, lr=3.0))
