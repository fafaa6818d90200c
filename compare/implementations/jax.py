"""JAX: reference/jax_mlp.py (Flax's nnx layers, Optax's optimizers, jax.value_and_grad under
jax.jit), built from `spec.network` and started from every parameter's initial value."""
from reference.jax_mlp import JaxMLP

from ..engine import convert
from .reference import ReferenceImplementation


def build(spec, params, convention="jax"):
    initial = convert.framework_initial("jax", spec.network, params)
    return ReferenceImplementation("jax", JaxMLP(spec, initial), spec.network)
