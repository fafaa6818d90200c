"""Porting a PyTorch network to Flax with its trained weights, the classic mistake: a kernel
copied without transposing it.

    python -m compare check examples/jax_port_kernel.py --against scratch

torch's Linear.weight is (out, in) and y = x W^T + b; Flax's nnx.Linear kernel is (in, out) and
y = x K + b, so K = W.T. The first layer here is square (4 -> 4): the untransposed copy has the
right shape and nothing complains. The port holds the original's numbers, so the check starts each
model from its own weights (--weights mine) and says how the copy differs.

Verdict: MISMATCH (exit 1) at step 1, layer 1, Z1 (flaxnet runs from its own copied weights,
everyone else from torchnet's: the first pair to show it is flaxnet vs scratch@jax or torchnet vs
flaxnet), its diagnosis beginning "flaxnet's l1.kernel is not torchnet's 0.weight in Flax's layout:
the Dense kernel was copied without transposing it: (out, in) -> (in, out) needs weight.T".
examples/jax_port_kernel_fixed.py copies weight.T.
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
port.l1.kernel[...] = jnp.asarray(weights[0])            # (out, in) as it is: the mistake
port.l2.kernel[...] = jnp.asarray(weights[1].T)          # (in, out)
port.l1.bias[...] = jnp.asarray(model[0].bias.detach().numpy())
port.l2.bias[...] = jnp.asarray(model[2].bias.detach().numpy())
flaxnet = compare.flax_module(port, optax.sgd(0.1), optax.softmax_cross_entropy)
