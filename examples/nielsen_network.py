# A network class in the style of Michael Nielsen's network.py: sigmoid neurons, the quadratic cost
# C = 1/(2n) sum ||y - a||^2, backprop for one example at a time, mini-batch gradient descent.
# (Written here from the book's equations BP1-BP4.) The network is read from the instance below;
# the mini-batches of 4 and eta come from the declaration; 80 random examples (a fresh batch every
# step), 20 steps; or MNIST's 60,000 images, the network and the settings staying these:
#
#   python -m compare check examples/nielsen_network.py
#   python -m compare check examples/nielsen_network.py --data mnist
#
# Verdict: PASS (exit 0), worst relative error ~1e-15 <= 1e-9 against torch and Keras in float64.
# The adapter mirrors the quadratic cost as mse (mean) exactly: compared gradients are 2/n_L times
# the mean nabla, and update_mini_batch gets eta = 2 lr / n_L (compare/adapters/classes.py).
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
        self.weights = [w - (eta / len(mini_batch)) * nw for w, nw in zip(self.weights, nabla_w)]
        self.biases = [b - (eta / len(mini_batch)) * nb for b, nb in zip(self.biases, nabla_b)]

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
