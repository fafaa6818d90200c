"""Porting a PyTorch network with batch norm to Flax, done right: Flax's momentum is 1 - torch's.

    python -m compare check examples/jax_port_batchnorm_fixed.py --against scratch

Verdict: PASS (float64, 1e-9), torchnet~flaxnet judged: nnx.BatchNorm(momentum=0.9) keeps the
running averages torch's BatchNorm1d(momentum=0.1) keeps. The running variance is torch's of the
UNBIASED batch variance and Flax's of the biased one: it is compared as the batch variance each
folded in (compare/engine/running.py), and the notes say so. examples/jax_port_batchnorm.py is
the mistake.
"""
import jax
import optax
import torch
from flax import nnx
from torch import nn

import compare

# The PyTorch original.
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8, momentum=0.1), nn.ReLU(), nn.Linear(8, 3))
torchnet = compare.torch_module(model, torch.optim.SGD(model.parameters(), lr=0.1),
                                nn.CrossEntropyLoss())


# The Flax port, momentum in Flax's meaning.
class Port(nnx.Module):
    def __init__(self, rngs):
        self.l1 = nnx.Linear(4, 8, rngs=rngs)
        self.bn = nnx.BatchNorm(8, momentum=0.9, rngs=rngs)
        self.l2 = nnx.Linear(8, 3, rngs=rngs)

    def __call__(self, x):
        return self.l2(jax.nn.relu(self.bn(self.l1(x))))


flaxnet = compare.flax_module(Port(nnx.Rngs(0)), optax.sgd(0.1), optax.softmax_cross_entropy)
