"""A torch network declared for `pytest --mirror nets`: where torch is not installed, the file is
skipped with the reason, never passed."""
import torch
from torch import nn

import compare

torch.manual_seed(0)
torchnet = compare.torch_module(nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1), nn.Sigmoid()))
