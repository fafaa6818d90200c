"""Keras: reference/keras_mlp.py (Dense, Keras's losses and optimizers, tf.GradientTape)."""
from reference.keras_mlp import KerasMLP

from ..engine import convert
from .reference import ReferenceImplementation


def build(spec, params, convention="keras"):
    return ReferenceImplementation("keras", KerasMLP(spec, convert.to_keras(params)), spec.sizes)
