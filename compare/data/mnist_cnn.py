"""The convolutional MNIST recipes (issue 20): `mnist-cnn`, a LeNet-5-style network trained one
epoch on real MNIST, and `mnist-cnn-small`, the same network for a few steps (the tests').

    1x28x28 -> Conv2D(6, 5, 'same') -> relu -> MaxPool2D(2)     6x14x14
            -> Conv2D(16, 5)        -> relu -> MaxPool2D(2)     16x5x5
            -> Flatten -> Dense(120) -> relu -> Dense(84) -> relu -> Dense(10) -> softmax

Each image row is its 784 pixels, the one channel first (compare/engine/image_layers.py); scratch
computes the convolutions by im2col (scratch/conv.py), torch with nn.Conv2d (NCHW), Keras with
Conv2D (channels-last), the layouts converted in compare/engine/convert.py alone.

Left out: LeNet's original subsampling layers with trainable coefficients and its sparse C3
connections (max pooling and a full C3 instead, as the usual modern form).
"""
from scratch.initializers import Init

from ..engine.image_layers import Conv2D, Flatten, MaxPool2D
from ..engine.layers import Activation, Dense
from ..engine.spec import Spec
from .mnist import mnist_data
from .recipes import Recipe, register

LENET = [Conv2D(6, 5, padding="same"), Activation("relu"), MaxPool2D(2),
         Conv2D(16, 5), Activation("relu"), MaxPool2D(2),
         Flatten(), Dense(120), Activation("relu"), Dense(84), Activation("relu"), Dense(10), Activation("softmax")]


def lenet(**changes):
    settings = dict(input_shape=(1, 28, 28), layers=LENET, loss="categorical_crossentropy", optimizer="sgd",
                    lr=0.05, momentum=0.9, weight_init=Init("kaiming_uniform"), bias_init=Init("kaiming_uniform"),
                    batch_size=64, shuffle=True, epochs=1, seed=0)
    settings.update(changes)
    return Spec(**settings)


register(Recipe(
    name="mnist-cnn",
    summary="LeNet-5-style CNN (conv 6@5x5 same, pool, conv 16@5x5, pool, 120-84-10), batches of 64, "
            "SGD momentum 0.9 lr 0.05, 1 epoch",
    spec=lenet(),
    load=mnist_data,
    notes="One set of Kaiming-uniform weights (torch's default for Conv2d and Linear) drawn once and "
          "copied into all three, each conv kernel in its framework's layout (torch (out, in, kh, kw), "
          "Keras (kh, kw, in, out)) and the first Dense's rows in Keras's Flatten order (H, W, C). The "
          "momentum buffers are not compared between torch and Keras (v = mu v + g vs v = mu v - lr g).",
    every=50,
))

register(Recipe(
    name="mnist-cnn-small",
    summary="the mnist-cnn network, 10 steps of 32 on real MNIST (a few seconds)",
    spec=lenet(batch_size=32, epochs=None, steps=10),
    load=mnist_data,
    every=1,
))
