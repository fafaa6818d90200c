"""Porting a PyTorch network to Flax, the classic mistake: optax.rmsprop's eps inside the root.

    python -m compare check examples/jax_port_rmsprop.py --against scratch

Both sides say RMSprop with lr 0.01, rho (alpha / decay) 0.9 and eps 1e-8, and still differ:
optax.rmsprop divides by sqrt(s + eps) by default (eps_in_sqrt=True, optax/_src/transform.py
scale_by_rms), torch by sqrt(s) + eps.

Verdict: MISMATCH (exit 1) at step 1, torchnet vs flaxnet, naming the convention
rmsprop-eps-placement. Each model on its own agrees with scratch in its framework's conventions:
the port is what differs. examples/jax_port_rmsprop_fixed.py is the fix (eps_in_sqrt=False).
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


# The Flax port, believed equivalent.
class Port(nnx.Module):
    def __init__(self, rngs):
        self.l1 = nnx.Linear(4, 8, rngs=rngs)
        self.l2 = nnx.Linear(8, 3, rngs=rngs)

    def __call__(self, x):
        return self.l2(jax.nn.tanh(self.l1(x)))


flaxnet = compare.flax_module(Port(nnx.Rngs(0)), optax.rmsprop(0.01, decay=0.9, eps=1e-8),
                              optax.softmax_cross_entropy)
