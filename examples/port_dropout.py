"""Porting a PyTorch network with dropout to Keras: the rate read as the keep probability.

    python -m compare check examples/port_dropout.py --against torch,keras

torch's nn.Dropout(p=0.2) drops 20 % of the units. The port writes keras.layers.Dropout(0.8),
believing Keras takes the keep probability (as the TF1 tf.nn.dropout's keep_prob did): Keras's
rate is the fraction DROPPED too, so this drops 80 %.

The harness draws each step's mask once and hands the same one to every implementation
(compare/engine/masks.py), each scaling the kept units by its framework's own rule, 1 / (1 - rate):
the same units are dropped on both sides, and the kept ones are scaled by 1.25 in torch, 5 in Keras.

Verdict: FAIL (exit 1) at step 1, torchnet vs kerasnet, A1 (block 1's output after the dropout),
naming the dropout after Dense 1 and "rate 0.2 (torch) vs 0.8 (keras)": both take the rate
dropped, not the keep probability. examples/port_dropout_fixed.py passes.
"""
import keras
import torch
from torch import nn

import compare

# The PyTorch original.
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 3))
torchnet = compare.torch_module(model, torch.optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss())

# The Keras port, believed equivalent: 0.8 meant as the probability of keeping a unit.
port = keras.Sequential([
    keras.Input(shape=(20,)),
    keras.layers.Dense(16, activation="relu"),
    keras.layers.Dropout(0.8),
    keras.layers.Dense(3, activation="softmax"),
])
kerasnet = compare.keras_model(port, keras.optimizers.SGD(learning_rate=0.1), keras.losses.CategoricalCrossentropy())
