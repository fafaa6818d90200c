"""A user's own JAX model as plain functions: a params pytree and apply(params, x), with their
Optax optimizer and loss, checked step by step without editing them.

    python -m compare check examples/jax_functions_mlp.py --against scratch,torch,keras

Verdict: PASS (float64, 1e-9): against scratch (in JAX's conventions), torch and Keras. The layer
list is read from the params' shapes and from apply's jaxpr (jax.make_jaxpr: each dot_general of
the running activation with a weight, the add of its bias, and the function between one layer and
the next, told by its values: here relu). The loss is the user's own function: it is told by its
values too (the mean softmax cross-entropy of logits). adam's settings are read from the Optax
object.
"""
import jax
import jax.numpy as jnp
import numpy as np
import optax

import compare

rng = np.random.default_rng(0)
params = {
    "hidden": {"w": jnp.asarray(rng.normal(size=(4, 8)) / 2), "b": jnp.zeros(8)},     # (in, out)
    "out": {"w": jnp.asarray(rng.normal(size=(8, 3)) / 3), "b": jnp.zeros(3)},
}


def apply(params, x):
    h = jax.nn.relu(x @ params["hidden"]["w"] + params["hidden"]["b"])
    return h @ params["out"]["w"] + params["out"]["b"]                                 # logits


def loss(logits, labels):
    return optax.softmax_cross_entropy(logits, labels).mean()


jaxnet = compare.jax_model(params, apply, optax.adam(0.01), loss)
