"""torch: reference/torch_mlp.py (nn.Linear and the layer list's other modules, torch's losses,
torch.optim, autograd), built from `spec.network` and started from every parameter's initial value."""
from reference.torch_mlp import TorchMLP

from ..engine import convert
from .reference import ReferenceImplementation


def build(spec, params, convention="torch"):
    initial = convert.framework_initial("torch", spec.network, params)
    return ReferenceImplementation("torch", TorchMLP(spec, initial), spec.network)
