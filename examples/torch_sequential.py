"""A user's own PyTorch network, optimizer and loss, checked step by step without editing them.

    python -m compare check examples/torch_sequential.py --against scratch,torch,keras

Verdict: PASS (float64, 1e-9): the model against scratch (in torch's conventions), torch and
Keras. Against Keras the SGD momentum buffer is not compared (torch keeps v, Keras -lr v:
sgd-momentum-form); everything else is held to the tolerance.
"""
import torch
from torch import nn

import compare

torch.manual_seed(0)
model = nn.Sequential(
    nn.Linear(4, 8),
    nn.ReLU(),
    nn.Linear(8, 3),                 # logits: CrossEntropyLoss applies the softmax itself
)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
loss = nn.CrossEntropyLoss()

torchnet = compare.torch_module(model, optimizer, loss)
