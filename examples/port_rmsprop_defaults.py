"""Porting a PyTorch network to Keras, the classic mistake: "RMSprop with lr 0.001" on both sides.

    python -m compare check examples/port_rmsprop_defaults.py --against scratch

Verdict: MISMATCH (exit 1), at step 1 between torchnet and kerasnet, with the settings that
differ named: rho 0.99 (torch's alpha default) vs 0.9 (Keras), eps 1e-08 vs 1e-07, and the
convention rmsprop-eps-placement (torch divides by sqrt(s) + eps, Keras by sqrt(s + eps)).
Each model on its own agrees with scratch in its framework's conventions: neither is wrong, the
port is. examples/port_rmsprop.py gives the settings that match.
"""
import keras
import torch
from torch import nn

import compare

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
torchnet = compare.torch_module(model, torch.optim.RMSprop(model.parameters(), lr=0.001), nn.CrossEntropyLoss())

port = keras.Sequential([
    keras.Input(shape=(4,)),
    keras.layers.Dense(8, activation="tanh"),
    keras.layers.Dense(3, activation="softmax"),
])
kerasnet = compare.keras_model(port, keras.optimizers.RMSprop(learning_rate=0.001), keras.losses.CategoricalCrossentropy())
