"""Porting a PyTorch CNN with batch norm to Keras: the momentum copied as written.

    python -m compare check examples/port_cnn_batchnorm.py --weights mine

The torch original normalizes each channel of its conv's output with nn.BatchNorm2d(4,
momentum=0.1); the Keras port says BatchNormalization(momentum=0.1, epsilon=1e-5), the eps
matched, the momentum copied literally. They do not mean the same: torch's momentum weights the NEW
batch (running = 0.9 running + 0.1 batch, torch/nn/modules/batchnorm.py), Keras's the OLD average
(moving = 0.1 moving + 0.9 batch, keras/src/layers/normalization/batch_normalization.py): the
port's 0.1 should be 0.9. The weights are copied the way the layouts ask (port_cnn_fixed.py).

Verdict: FAIL (exit 1) at step 1, torchnet vs kerasnet, layer 1, mean1 (the running mean of each
channel: Z1 and N1 agree, the statistics kept for predict do not; torchnet's is 0.111111 x
kerasnet's, 0.1 / 0.9), naming the layer and the rule: "the batch norm after Conv2D 1: momentum 0.1
(torch) vs 0.1 (keras): torch momentum 0.1 weights the new batch; Keras momentum 0.1 weights the
old one: Keras's 0.9 is torch's 0.1". The fix: BatchNormalization(momentum=0.9, epsilon=1e-5).
"""
import keras
import torch
from torch import nn

import compare

# The PyTorch original: 1x8x8 images, 3 classes.
torch.manual_seed(0)
model = nn.Sequential(nn.Conv2d(1, 4, 3, bias=False), nn.BatchNorm2d(4, momentum=0.1), nn.ReLU(),
                      nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 3 * 3, 3))
torchnet = compare.torch_module(model, torch.optim.SGD(model.parameters(), lr=0.1),
                                nn.CrossEntropyLoss(), input_shape=(1, 8, 8))

# The Keras port, believed equivalent.
port = keras.Sequential([
    keras.Input(shape=(8, 8, 1)),
    keras.layers.Conv2D(4, 3, use_bias=False),
    keras.layers.BatchNormalization(momentum=0.1, epsilon=1e-5),     # the BUG: Keras's 0.9
    keras.layers.Activation("relu"),
    keras.layers.MaxPooling2D(2),
    keras.layers.Flatten(),
    keras.layers.Dense(3),
])
port.layers[0].set_weights([model[0].weight.detach().numpy().transpose(2, 3, 1, 0)])
weight, bias = model[5].weight.detach().numpy(), model[5].bias.detach().numpy()
port.layers[5].set_weights([weight.reshape(3, 4, 3, 3).transpose(2, 3, 1, 0).reshape(36, 3), bias])
kerasnet = compare.keras_model(port, keras.optimizers.SGD(learning_rate=0.1),
                               keras.losses.CategoricalCrossentropy(from_logits=True))
