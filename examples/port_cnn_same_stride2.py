"""Porting a PyTorch CNN to Keras: 'same' padding with stride 2 written as padding=1 in torch.

    python -m compare check examples/port_cnn_same_stride2.py --weights mine

torch's padding='same' refuses stride > 1, so the original pads by hand, symmetrically:
nn.Conv2d(1, 4, 3, stride=2, padding=1) maps 8x8 to 4x4. The Keras port says padding='same', which
maps 8x8 to 4x4 as well, and pads TensorFlow's way: the one row and column it needs go at the
bottom and right, none on top and left. Same shapes, every feature map shifted by one pixel. The
weights are copied correctly (port_cnn_fixed.py's copy).

Verdict: FAIL (exit 1) at step 1, torchnet vs kerasnet, Z1 (the conv's output), naming the
Conv2D of block 1: "torch pads 1 on every side; keras 'same' with stride 2 pads 0 on top/left and
1 on bottom/right: use F.pad(x, (0, 1, 0, 1)) (nn.ZeroPad2d((0, 1, 0, 1)) before the Conv2d) and
padding=0". port_cnn_fixed.py is the fix.
"""
import keras
import torch
from torch import nn

import compare

# The PyTorch original: 1x8x8 images, 3 classes.
torch.manual_seed(0)
model = nn.Sequential(nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                      nn.Flatten(), nn.Linear(4 * 2 * 2, 3))
torchnet = compare.torch_module(model, torch.optim.SGD(model.parameters(), lr=0.1),
                                nn.CrossEntropyLoss(), input_shape=(1, 8, 8))

# The Keras port, believed equivalent: 'same' keeps 8x8 -> 4x4 as padding=1 does.
port = keras.Sequential([
    keras.Input(shape=(8, 8, 1)),
    keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="relu"),
    keras.layers.MaxPooling2D(2),
    keras.layers.Flatten(),
    keras.layers.Dense(3),
])
weight, bias = model[0].weight.detach().numpy(), model[0].bias.detach().numpy()
port.layers[0].set_weights([weight.transpose(2, 3, 1, 0), bias])   # (out,in,kh,kw)->(kh,kw,in,out)
weight, bias = model[4].weight.detach().numpy(), model[4].bias.detach().numpy()
port.layers[3].set_weights([weight.reshape(3, 4, 2, 2).transpose(2, 3, 1, 0).reshape(16, 3), bias])
kerasnet = compare.keras_model(port, keras.optimizers.SGD(learning_rate=0.1),
                               keras.losses.CategoricalCrossentropy(from_logits=True))
