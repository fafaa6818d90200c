"""Porting a PyTorch network to Flax with RMSprop, done right: eps outside the root on both sides.

    python -m compare check examples/jax_port_rmsprop_fixed.py --against scratch

Verdict: PASS (float64, 1e-9), torchnet~flaxnet judged. optax.rmsprop(..., eps_in_sqrt=False)
divides by sqrt(s) + eps, torch's placement (optax/_src/transform.py scale_by_rms): the adapter
then runs the Flax model in torch's conventions (which Flax's norms and dropout would not share: a
network with them is refused in one line). examples/jax_port_rmsprop.py is the mistake.
"""
import jax
import optax
import torch
from flax import nnx
from torch import nn

import compare

# The PyTorch original.
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
optimizer = torch.optim.RMSprop(model.parameters(), lr=0.01, alpha=0.9, eps=1e-8)
torchnet = compare.torch_module(model, optimizer, nn.CrossEntropyLoss())


# The Flax port, eps placed as torch places it.
class Port(nnx.Module):
    def __init__(self, rngs):
        self.l1 = nnx.Linear(4, 8, rngs=rngs)
        self.l2 = nnx.Linear(8, 3, rngs=rngs)

    def __call__(self, x):
        return self.l2(jax.nn.tanh(self.l1(x)))


tx = optax.rmsprop(0.01, decay=0.9, eps=1e-8, eps_in_sqrt=False)         # eps outside the root
flaxnet = compare.flax_module(Port(nnx.Rngs(0)), tx, optax.softmax_cross_entropy)
