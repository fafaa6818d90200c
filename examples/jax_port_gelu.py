"""Porting a PyTorch network to Flax, the classic mistake: jax.nn.gelu is the tanh approximation.

    python -m compare check examples/jax_port_gelu.py --against scratch

torch's nn.GELU() is the exact x Phi(x) (approximate='none'); jax.nn.gelu(x) defaults to
approximate=True (jax/_src/nn/functions.py gelu), the tanh form: 0.5 x (1 + tanh(sqrt(2/pi) (x +
0.044715 x^3))). They differ by up to ~5e-4 at |x| near 2.

Verdict: MISMATCH (exit 1) at step 1, torchnet vs flaxnet, layer 1, A1 (the activation's output:
Z1 agrees), naming the setting that differs: gelu (torch) vs gelu_tanh (jax).
examples/jax_port_gelu_fixed.py is the fix (jax.nn.gelu(x, approximate=False)).
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


# The Flax port, believed equivalent.
class Port(nnx.Module):
    def __init__(self, rngs):
        self.l1 = nnx.Linear(4, 8, rngs=rngs)
        self.l2 = nnx.Linear(8, 3, rngs=rngs)

    def __call__(self, x):
        return self.l2(jax.nn.gelu(self.l1(x)))


flaxnet = compare.flax_module(Port(nnx.Rngs(0)), optax.sgd(0.1), optax.softmax_cross_entropy)
