"""The kink table: each activation's derivative at the inputs where it is not differentiable, in
scratch-as-torch, torch (autograd), scratch@keras and Keras (tf.GradientTape), all in float64.

The framework columns are measured by running the frameworks' own modules and functions (the
references' tables: reference/torch_mlp.py and reference/keras_mlp.py `make_activation`) on
the exact kink inputs, never copied from a table; the scratch columns are the derivatives of
scratch/activations.py `activation_table`. A row agrees when each scratch value equals its
framework's exactly (a kink derivative is a constant: 0, 1, the slope, scale*alpha, ...).

Left out: printing (compare/cli/kinks.py); inputs next to the kinks (tests/test_activations.py);
activations without a kink (they are listed by `smooth()`).
"""
from types import SimpleNamespace

import numpy as np

from scratch.activations import ACTIVATIONS, activation_table
from scratch.conventions import KERAS, TORCH
from scratch.more_activations import KINKS

COLUMNS = ("scratch", "torch", "scratch@keras", "keras")


def kink_inputs(name):
    """The exact inputs of a kinked activation: its kinks (float64)."""
    return np.array(KINKS[name], dtype=np.float64)


def scratch_derivative(name, convention, z, slope=None):
    """g'(z) from the scratch table of `convention` (a Convention or its name; column vector in, flat
    array out)."""
    g, g_grad = activation_table(convention, slope)[name]
    Z = z.reshape(-1, 1)
    return np.asarray(g_grad(Z, g(Z)), dtype=np.float64).ravel()


def torch_derivative(name, z, slope=None):
    """d sum g(z) / dz by torch.autograd through the reference's nn module."""
    import torch

    from reference.torch_mlp import make_activation

    t = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    make_activation(name, SimpleNamespace(slope=slope))(t).sum().backward()
    return t.grad.numpy().copy()


def keras_derivative(name, z, slope=None):
    """d sum g(z) / dz by tf.GradientTape through the reference's Keras function."""
    import tensorflow as tf

    from reference.keras_mlp import make_activation

    x = tf.constant(z, dtype=tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = make_activation(name, SimpleNamespace(slope=slope))(x)
    return tape.gradient(y, x).numpy().copy()


def measure(names=None, slope=None):
    """[{'activation', 'z', 'scratch', 'torch', 'scratch@keras', 'keras', 'agree', 'frameworks_differ'}]
    for every kink of every activation in `names` (default: all of KINKS)."""
    rows = []
    for name in names or KINKS:
        z = kink_inputs(name)
        values = {"scratch": scratch_derivative(name, TORCH, z, slope), "torch": torch_derivative(name, z, slope),
                  "scratch@keras": scratch_derivative(name, KERAS, z, slope),
                  "keras": keras_derivative(name, z, slope)}
        for i, point in enumerate(z):
            row = {"activation": name, "z": float(point)}
            row.update({column: float(values[column][i]) for column in COLUMNS})
            row["agree"] = row["scratch"] == row["torch"] and row["scratch@keras"] == row["keras"]
            row["frameworks_differ"] = row["torch"] != row["keras"]
            rows.append(row)
    return rows


def smooth():
    """The activations without a kink (differentiable everywhere), in table order."""
    return [name for name in ACTIVATIONS if name not in KINKS and name != "softmax"]
