"""Porting a PyTorch network to Keras, done right: one network, each side with its own optimizer and loss.

    python -m compare check examples/port_rmsprop.py --against scratch,torch,keras

Verdict: PASS (float64, 1e-9). torchnet is checked against scratch (in torch's conventions) and
torch, kerasnet against scratch (in Keras's) and Keras, and the two against each other
(torchnet~kerasnet). torchnet~keras and kerasnet~torch are reported, not judged: eps placement
differs between the frameworks (rmsprop-eps-placement).

The equivalent settings: torch calls rho `alpha` (default 0.99; Keras's rho defaults to 0.9), and
both eps are given as 0. With any eps > 0 the port cannot match to 1e-9, because torch divides by
sqrt(s) + eps and Keras by sqrt(s + eps): measured on this network over 20 steps, eps = 1e-12 on
both sides already differs by 1e-4 (relative), eps = 1e-8 by 8e-2. eps = 0 needs no gradient
element to be exactly 0 (0/0): hence tanh, not ReLU, whose dead units give exact zeros.
examples/port_rmsprop_defaults.py is the classic mistake: the defaults taken as the same.
"""
import keras
import torch
from torch import nn

import compare

# The PyTorch original.
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
torchnet = compare.torch_module(
    model,
    torch.optim.RMSprop(model.parameters(), lr=0.01, alpha=0.9, eps=0.0),
    nn.CrossEntropyLoss(),                      # takes logits: softmax fused into the loss
)

# The Keras port.
port = keras.Sequential([
    keras.Input(shape=(4,)),
    keras.layers.Dense(8, activation="tanh"),
    keras.layers.Dense(3, activation="softmax"),
])
kerasnet = compare.keras_model(
    port,
    keras.optimizers.RMSprop(learning_rate=0.01, rho=0.9, epsilon=0.0),
    keras.losses.CategoricalCrossentropy(),
)
