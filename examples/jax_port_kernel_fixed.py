"""Porting a PyTorch network to Flax with its trained weights, done right: every kernel is weight.T.

    python -m compare check examples/jax_port_kernel_fixed.py --against scratch

Verdict: PASS (float64, 1e-9), torchnet~flaxnet judged from the port's own copied weights (--weights
mine, chosen because the port holds the original's numbers). examples/jax_port_kernel.py is the
mistake (the square first layer copied as it is).
"""
import jax
import jax.numpy as jnp
import optax
import torch
from flax import nnx
from torch import nn

import compare

# The PyTorch original (trained, say: its weights are what the port must hold).
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 3))
torchnet = compare.torch_module(model, torch.optim.SGD(model.parameters(), lr=0.1),
                                nn.CrossEntropyLoss())


# The Flax port, its weights copied from the original.
class Port(nnx.Module):
    def __init__(self, rngs):
        self.l1 = nnx.Linear(4, 4, rngs=rngs)
        self.l2 = nnx.Linear(4, 3, rngs=rngs)

    def __call__(self, x):
        return self.l2(jax.nn.tanh(self.l1(x)))


port = Port(nnx.Rngs(0))
weights = [layer.weight.detach().numpy() for layer in (model[0], model[2])]
port.l1.kernel[...] = jnp.asarray(weights[0].T)          # (in, out)
port.l2.kernel[...] = jnp.asarray(weights[1].T)          # (in, out)
port.l1.bias[...] = jnp.asarray(model[0].bias.detach().numpy())
port.l2.bias[...] = jnp.asarray(model[2].bias.detach().numpy())
flaxnet = compare.flax_module(port, optax.sgd(0.1), optax.softmax_cross_entropy)
