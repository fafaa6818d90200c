"""Porting a small PyTorch CNN to Keras, weights copied, done right.

    python -m compare check examples/port_cnn_fixed.py --weights mine

The torch original pads its stride-2 conv as TensorFlow's 'same' does (nothing on top and left, one
row and column at the bottom and right: nn.ZeroPad2d((0, 1, 0, 1)) and padding=0), so the Keras
port can say padding='same'. The weights are copied the way the layouts ask (compare/engine/
convert.py): the conv kernel transposed (out, in, kh, kw) -> (kh, kw, in, out), and the rows of
the Dense after Flatten permuted from torch's C,H,W order to Keras's H,W,C.

--weights mine: the torch model's weights are the run's, and the Keras model runs from the weights
it holds (a copy that is not the original's would show where it differs).

Verdict: PASS (exit 0). port_cnn_same_stride2.py, port_cnn_flatten_order.py and
port_cnn_kernel_reshaped.py each make one of the three classic port mistakes.
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
port.layers[0].set_weights([weight.transpose(2, 3, 1, 0), bias])   # (out,in,kh,kw)->(kh,kw,in,out)
weight, bias = model[5].weight.detach().numpy(), model[5].bias.detach().numpy()
port.layers[3].set_weights([weight.reshape(3, 4, 2, 2).transpose(2, 3, 1, 0).reshape(16, 3), bias])
kerasnet = compare.keras_model(port, keras.optimizers.SGD(learning_rate=0.1),
                               keras.losses.CategoricalCrossentropy(from_logits=True))
