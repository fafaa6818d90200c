"""Porting a PyTorch network with layer norm to Keras, done right: examples/port_layernorm.py fixed.

    python -m compare check examples/port_layernorm_fixed.py --against torch,keras

LayerNormalization(epsilon=1e-5) is nn.LayerNorm(16)'s eps. Layer norm keeps no running statistics,
so nothing else differs. Verdict: PASS (exit 0).
"""
import keras
import torch
from torch import nn

import compare

# The PyTorch original.
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(20, 16), nn.LayerNorm(16), nn.Tanh(), nn.Linear(16, 3))
torchnet = compare.torch_module(model, torch.optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss())

# The Keras port, with torch's eps.
port = keras.Sequential([
    keras.Input(shape=(20,)),
    keras.layers.Dense(16),
    keras.layers.LayerNormalization(epsilon=1e-5),
    keras.layers.Activation("tanh"),
    keras.layers.Dense(3, activation="softmax"),
])
kerasnet = compare.keras_model(port, keras.optimizers.SGD(learning_rate=0.1), keras.losses.CategoricalCrossentropy())
