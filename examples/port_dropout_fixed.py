"""Porting a PyTorch network with dropout to Keras, done right: examples/port_dropout.py fixed.

    python -m compare check examples/port_dropout_fixed.py --against torch,keras

keras.layers.Dropout(0.2) is nn.Dropout(0.2): both take the rate dropped. With the harness's
shared masks (compare/engine/masks.py) both drop the same units and scale the kept ones by
1 / (1 - 0.2), each by its framework's own rule. Verdict: PASS (exit 0).
"""
import keras
import torch
from torch import nn

import compare

# The PyTorch original.
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 3))
torchnet = compare.torch_module(model, torch.optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss())

# The Keras port: the same rate.
port = keras.Sequential([
    keras.Input(shape=(20,)),
    keras.layers.Dense(16, activation="relu"),
    keras.layers.Dropout(0.2),
    keras.layers.Dense(3, activation="softmax"),
])
kerasnet = compare.keras_model(port, keras.optimizers.SGD(learning_rate=0.1), keras.losses.CategoricalCrossentropy())
