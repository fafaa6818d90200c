"""torch: reference/torch_mlp.py (nn.Linear, torch's losses, torch.optim, autograd)."""
from reference.torch_mlp import TorchMLP

from ..engine import convert
from .reference import ReferenceImplementation


def build(spec, params, convention="torch"):
    return ReferenceImplementation("torch", TorchMLP(spec, convert.to_torch(params)), spec.sizes)
