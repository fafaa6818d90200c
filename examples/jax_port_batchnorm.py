"""Porting a PyTorch network with batch norm to Flax, the classic mistake: momentum=0.1 on both.

    python -m compare check examples/jax_port_batchnorm.py --against scratch

torch's BatchNorm1d momentum weights the NEW batch (running = 0.9 running + 0.1 batch); Flax's
nnx.BatchNorm momentum weights the OLD average (flax/nnx/nn/normalization.py BatchNorm.__call__:
mean = momentum mean + (1 - momentum) batch_mean), as Keras's does: torch's 0.1 is Flax's 0.9.
Both eps are 1e-5 (each one's default): the training-mode outputs agree, the running averages do
not.

Verdict: MISMATCH (exit 1) at step 1, torchnet vs flaxnet, layer 1, mean1 (the running mean),
naming the batch norm after Dense 1 and the rule: "torch momentum 0.1 weights the new batch;
Flax momentum 0.1 weights the old one: Flax's 0.9 is torch's 0.1".
examples/jax_port_batchnorm_fixed.py is the fix (momentum=0.9).
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


# The Flax port, believed equivalent.
class Port(nnx.Module):
    def __init__(self, rngs):
        self.l1 = nnx.Linear(4, 8, rngs=rngs)
        self.bn = nnx.BatchNorm(8, momentum=0.1, rngs=rngs)
        self.l2 = nnx.Linear(8, 3, rngs=rngs)

    def __call__(self, x):
        return self.l2(jax.nn.relu(self.bn(self.l1(x))))


flaxnet = compare.flax_module(Port(nnx.Rngs(0)), optax.sgd(0.1), optax.softmax_cross_entropy)
