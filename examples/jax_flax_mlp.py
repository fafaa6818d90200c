"""A user's own Flax network (nnx), Optax optimizer and loss, checked step by step without
editing them.

    python -m compare check examples/jax_flax_mlp.py --against scratch,torch,keras

Verdict: PASS (float64, 1e-9): the model against scratch (in JAX's conventions), torch and Keras.
The activations are jax.nn's functions inside __call__ (the adapter tells each one by its values);
optax.softmax_cross_entropy takes logits, so the softmax is fused into the loss, as torch's
CrossEntropyLoss does; optax losses come back per example: the adapter takes their mean, as a
training loop's .mean() does. The optimizer's settings (lr 0.1, momentum 0.9) are read from the
Optax object. JAX runs float32 unless x64 is on: the check turns it on for the run only.
"""
import jax
import optax
from flax import nnx

import compare


class MLP(nnx.Module):
    def __init__(self, rngs):
        self.hidden = nnx.Linear(4, 8, rngs=rngs)
        self.out = nnx.Linear(8, 3, rngs=rngs)    # logits: softmax_cross_entropy applies softmax

    def __call__(self, x):
        return self.out(jax.nn.tanh(self.hidden(x)))


model = MLP(nnx.Rngs(0))
flaxnet = compare.flax_module(model, optax.sgd(0.1, momentum=0.9), optax.softmax_cross_entropy)
