"""Porting a PyTorch network with layer norm to Keras: the eps left at each framework's default.

    python -m compare check examples/port_layernorm.py --against torch,keras

nn.LayerNorm adds eps 1e-5 to the variance, keras.layers.LayerNormalization epsilon 1e-3: a port
that writes neither has two different networks, most on rows of small variance.

Verdict: FAIL (exit 1) at step 1, torchnet vs kerasnet, N1 (the normalized output of block 1),
naming the layer norm after Dense 1 and "eps 1e-05 (torch) vs 0.001 (keras)".
examples/port_layernorm_fixed.py gives Keras epsilon=1e-5 and passes.
"""
import keras
import torch
from torch import nn

import compare

# The PyTorch original.
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(20, 16), nn.LayerNorm(16), nn.Tanh(), nn.Linear(16, 3))
torchnet = compare.torch_module(model, torch.optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss())

# The Keras port, believed equivalent.
port = keras.Sequential([
    keras.Input(shape=(20,)),
    keras.layers.Dense(16),
    keras.layers.LayerNormalization(),
    keras.layers.Activation("tanh"),
    keras.layers.Dense(3, activation="softmax"),
])
kerasnet = compare.keras_model(port, keras.optimizers.SGD(learning_rate=0.1), keras.losses.CategoricalCrossentropy())
