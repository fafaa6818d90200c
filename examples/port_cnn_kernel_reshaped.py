"""Porting a PyTorch CNN to Keras: the conv kernel reshaped into Keras's layout, not transposed.

    python -m compare check examples/port_cnn_kernel_reshaped.py --weights mine

torch's Conv2d.weight is (out, in, kh, kw) = (4, 1, 3, 3); Keras's Conv2D.kernel (kh, kw, in, out)
= (3, 3, 1, 4). The port writes weight.reshape(3, 3, 1, 4): the shape fits, set_weights takes it,
and every number lands on another tap and filter. The Dense after Flatten is copied right.

Verdict: FAIL (exit 1) at step 1, Z1 (the conv's output), with "the conv kernel was reshaped, not
transposed: (out, in, kh, kw) -> (kh, kw, in, out) needs a transpose: weight.transpose(2, 3, 1, 0)".
port_cnn_fixed.py is the fix.
"""
import keras
import torch
from torch import nn

import compare

# The PyTorch original: 1x8x8 images, 3 classes.
torch.manual_seed(0)
model = nn.Sequential(nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(1, 4, 3, stride=2), nn.ReLU(),
                      nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 2 * 2, 3))
torchnet = compare.torch_module(model, torch.optim.SGD(model.parameters(), lr=0.1),
                                nn.CrossEntropyLoss(), input_shape=(1, 8, 8))

# The Keras port.
port = keras.Sequential([
    keras.Input(shape=(8, 8, 1)),
    keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="relu"),
    keras.layers.MaxPooling2D(2),
    keras.layers.Flatten(),
    keras.layers.Dense(3),
])
weight, bias = model[1].weight.detach().numpy(), model[1].bias.detach().numpy()
port.layers[0].set_weights([weight.reshape(3, 3, 1, 4), bias])   # the shape fits, the numbers don't
weight, bias = model[5].weight.detach().numpy(), model[5].bias.detach().numpy()
port.layers[3].set_weights([weight.reshape(3, 4, 2, 2).transpose(2, 3, 1, 0).reshape(16, 3), bias])
kerasnet = compare.keras_model(port, keras.optimizers.SGD(learning_rate=0.1),
                               keras.losses.CategoricalCrossentropy(from_logits=True))
