"""Porting a PyTorch network with batch norm to Keras, done right: examples/port_batchnorm.py fixed.

    python -m compare check examples/port_batchnorm_fixed.py --against torch,keras

Keras's momentum is 1 - torch's (torch's 0.1 weights the new batch, Keras's 0.9 the old average),
and the eps is given: BatchNormalization(momentum=0.9, epsilon=1e-5) is BatchNorm1d(64,
momentum=0.1).

Verdict: PASS (exit 0). One difference stays, by design, whatever the settings: torch keeps the
UNBIASED batch variance in running_var (times m / (m - 1)), Keras the biased one in
moving_variance. It is named (a note before the run: "note, kerasnet var1: ...") and judged by its
own rule, not hidden: var1 is compared as the batch variance each side folded in this step
(compare/engine/running.py), to the same tolerance as every other tensor.
"""
import keras
import torch
from torch import nn

import compare

# The PyTorch original.
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(784, 64), nn.BatchNorm1d(64, momentum=0.1), nn.ReLU(), nn.Linear(64, 10))
torchnet = compare.torch_module(model, torch.optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss())

# The Keras port: momentum in Keras's meaning, torch's eps.
port = keras.Sequential([
    keras.Input(shape=(784,)),
    keras.layers.Dense(64),
    keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5),
    keras.layers.Activation("relu"),
    keras.layers.Dense(10, activation="softmax"),
])
kerasnet = compare.keras_model(port, keras.optimizers.SGD(learning_rate=0.1), keras.losses.CategoricalCrossentropy())
