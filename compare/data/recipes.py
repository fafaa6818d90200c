"""Built-in recipes: the classic small networks of the blog walk-throughs, each a spec plus data.

A recipe's data comes as rows (one example per row, as the frameworks and data files hold it):
    X (N, n_in), Y (N, n_out) for training; X_eval, whose final outputs the report lists;
    optionally X_test, Y_test, evaluated at the end of every epoch.
Categorical targets are one-hot rows.

Left out: loading data from files (the MNIST recipes, registered from compare/mnist.py, do that).
"""
from dataclasses import dataclass
from typing import Callable

import numpy as np

from scratch.initializers import Init

from ..engine.errors import InputError
from ..engine.data import Data  # noqa: F401 - recipes build Data
from ..engine.spec import Spec


@dataclass
class Recipe:
    name: str
    summary: str                        # one line for `python -m compare list`
    spec: Spec
    load: Callable[..., Data]           # load(**options) -> Data; options: data_dir, offline
    notes: str = ""                     # what the report should say about this recipe
    every: int = 1                      # default table row interval


RECIPES = {}


def register(recipe):
    RECIPES[recipe.name] = recipe
    return recipe


MODULES = ("toys", "mnist", "mnist_cnn", "cnn_zoo")   # the modules that register more recipes


def load_plugins():
    """Import the modules that register recipes (each in its own file)."""
    import importlib

    for name in MODULES:
        importlib.import_module(f"{__package__}.{name}")


def names():
    load_plugins()
    return list(RECIPES)


def get(name):
    load_plugins()
    if name not in RECIPES:
        raise InputError(f"unknown recipe {name!r}; choose one of: {', '.join(RECIPES)} (python -m compare list)")
    return RECIPES[name]


def column(values):
    """[v, ...] -> an (N, 1) float64 array."""
    return np.asarray(values, dtype=np.float64).reshape(-1, 1)


def fixed_data(X, Y, X_eval=None):
    """A loader for data written out in the recipe."""
    def load(**options):
        return Data(X=np.array(X, dtype=np.float64), Y=np.array(Y, dtype=np.float64),
                    X_eval=np.array(X if X_eval is None else X_eval, dtype=np.float64))
    return load


register(Recipe(
    name="parity",
    summary="1-4-3-1 sigmoid net, squared error, SGD lr 1.0, one example at a time (x=2 -> 1, x=3 -> 0)",
    spec=Spec(sizes=[1, 4, 3, 1], activations=["sigmoid", "sigmoid", "sigmoid"], loss="mse",
              optimizer="sgd", lr=1.0, weight_init=Init("normal"), bias_init=Init("normal"),
              batch_size=1, epochs=2, seed=0),
    load=fixed_data(column([2.0, 3.0]), column([1.0, 0.0])),
    notes="Loss (y - a)^2 per example: with one output and one example per step the mean is that square.",
))

DOSAGE_PARAMS = [([[-34.4], [-2.52]], [2.14, 1.29]), ([[-1.30, 2.28]], [-0.58])]

register(Recipe(
    name="dosage",
    summary="1-2-1 softplus net with the published fixed weights; sum of squared residuals; gradients at them",
    spec=Spec(sizes=[1, 2, 1], activations=["softplus", "linear"], loss="mse", reduction="sum",
              optimizer="sgd", lr=0.0, weight_init=Init("fixed"), bias_init=Init("fixed"),
              fixed_params=DOSAGE_PARAMS, batch_size=None, steps=1, epochs=None, seed=0),
    load=fixed_data(column([0.0, 0.1, 0.4, 0.5, 0.9, 1.0]), column([0, 0, 1, 1, 0, 0]),
                    X_eval=column(np.linspace(0.0, 1.0, 11))),
    notes="Learning rate 0 by default: the step shows the forward pass, the loss and the gradients "
          "while the parameters stay as published.",
))

XOR_X = [[0, 0], [0, 1], [1, 0], [1, 1]]

register(Recipe(
    name="xor",
    summary="2-3-1 sigmoid net, binary cross-entropy, full-batch gradient descent lr 0.01, 1000 epochs",
    spec=Spec(sizes=[2, 3, 1], activations=["sigmoid", "sigmoid"], loss="binary_crossentropy",
              optimizer="sgd", lr=0.01, weight_init=Init("normal", scale=0.01), bias_init=Init("normal"),
              batch_size=None, epochs=1000, seed=0),
    load=fixed_data(XOR_X, column([0, 1, 1, 0])),
    notes="The blog's settings (lr 0.01, weights N(0, 0.01)) never learn XOR: after 1000 epochs the "
          "outputs all sit near 0.5 (accuracy 0.25); what the recipe checks is that the three "
          "frameworks fail identically. Measured: with lr 0.5, 1000 epochs end at outputs 0.45, 0.51, "
          "0.51, 0.54 (three of four right); lr 1 puts all four on the right side of 0.5 within 1000 "
          "epochs (0.14, 0.75, 0.75, 0.43), and 5000 epochs learn it (0.004, 0.997, 0.997, 0.004; "
          "accuracy 1.0 in all four implementations): "
          "python -m compare xor --lr 1 --epochs 5000",
    every=100,
))

register(Recipe(
    name="keras-quickstart",
    summary="Dense(3, relu) + Dense(1, sigmoid), BCE, compile()'s RMSprop defaults, fit(epochs=100) mirrored",
    spec=Spec(sizes=[2, 3, 1], activations=["relu", "sigmoid"], loss="binary_crossentropy",
              optimizer="rmsprop", lr=0.001, rho=0.9, eps=1e-7,
              weight_init=Init("glorot_uniform"), bias_init=Init("zeros"),
              batch_size=None, shuffle=True, epochs=100, seed=0),
    load=fixed_data([[129, 21], [150, 30], [100, 25]], column([1, 0, 1])),
    notes="model.compile(loss=BinaryCrossentropy()) picks RMSprop(learning_rate=0.001, rho=0.9, "
          "epsilon=1e-7); fit() uses batches of 32, which here is one batch of all 3 examples per "
          "epoch, and shuffles every epoch. torch's RMSprop takes "
          "the same rate, decay (alpha=0.9) and eps, but adds eps outside the square root: that "
          "one difference cannot be mirrored, so torch~keras is reported, not judged: its row "
          "measures the effect of the difference.",
    every=10,
))
