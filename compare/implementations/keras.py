"""Keras: reference/keras_mlp.py (Dense and the layer list's other layers, Keras's losses and
optimizers, tf.GradientTape), built from `spec.network` and started from every parameter's initial value."""
from reference.keras_mlp import KerasMLP

from ..engine import convert
from .reference import ReferenceImplementation


def build(spec, params, convention="keras"):
    initial = convert.framework_initial("keras", spec.network, params)
    return ReferenceImplementation("keras", KerasMLP(spec, initial), spec.network)
