"""Porting a PyTorch network with batch norm to Keras: the classic mistake.

    python -m compare check examples/port_batchnorm.py --against torch,keras

The torch model and the Keras model believed equivalent. Both say momentum=0.1, and they do not
mean the same: torch's BatchNorm1d momentum weights the NEW batch (running = 0.9 running + 0.1
batch), Keras's BatchNormalization momentum the OLD average (moving = 0.1 moving + 0.9 batch). And
the eps differ: torch's default 1e-5, Keras's 1e-3.

Verdict: FAIL (exit 1) at step 1, torchnet vs kerasnet, N1 (the normalized output of block 1: eps
shows there first), naming the batch norm after Dense 1, both settings as written and the rules:
"momentum 0.1 (torch) vs 0.1 (keras): torch momentum 0.1 weights the new batch; Keras momentum
0.1 weights the old one: Keras's 0.9 is torch's 0.1" and "eps 1e-05 (torch) vs 0.001 (keras)".
Each model on its own agrees with its framework (torchnet~torch, kerasnet~keras): the port is
what differs. examples/port_batchnorm_fixed.py is the fix.
"""
import keras
import torch
from torch import nn

import compare

# The PyTorch original.
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(784, 64), nn.BatchNorm1d(64, momentum=0.1), nn.ReLU(), nn.Linear(64, 10))
torchnet = compare.torch_module(model, torch.optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss())

# The Keras port, believed equivalent.
port = keras.Sequential([
    keras.Input(shape=(784,)),
    keras.layers.Dense(64),
    keras.layers.BatchNormalization(momentum=0.1),
    keras.layers.Activation("relu"),
    keras.layers.Dense(10, activation="softmax"),
])
kerasnet = compare.keras_model(port, keras.optimizers.SGD(learning_rate=0.1), keras.losses.CategoricalCrossentropy())
