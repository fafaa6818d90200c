"""Porting a PyTorch network with GELU to Flax, done right: the exact GELU on both sides.

    python -m compare check examples/jax_port_gelu_fixed.py --against scratch

Verdict: PASS (float64, 1e-9), torchnet~flaxnet judged: jax.nn.gelu(x, approximate=False) is
torch's nn.GELU(). examples/jax_port_gelu.py is the mistake (jax.nn.gelu's default, the tanh form).
"""
import jax
import optax
import torch
from flax import nnx
from torch import nn

import compare

# The PyTorch original.
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.Linear(8, 3))
torchnet = compare.torch_module(model, torch.optim.SGD(model.parameters(), lr=0.1),
                                nn.CrossEntropyLoss())


# The Flax port, with the exact GELU.
class Port(nnx.Module):
    def __init__(self, rngs):
        self.l1 = nnx.Linear(4, 8, rngs=rngs)
        self.l2 = nnx.Linear(8, 3, rngs=rngs)

    def __call__(self, x):
        return self.l2(jax.nn.gelu(self.l1(x), approximate=False))


flaxnet = compare.flax_module(Port(nnx.Rngs(0)), optax.sgd(0.1), optax.softmax_cross_entropy)
