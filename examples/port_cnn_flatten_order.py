"""Porting a PyTorch CNN to Keras: the Dense after Flatten copied without permuting its rows.

    python -m compare check examples/port_cnn_flatten_order.py --weights mine

torch flattens an (m, C, H, W) batch in C,H,W order, Keras an (m, H, W, C) batch in H,W,C order.
The port copies the conv kernel right (transposed), then the first Dense's kernel as
linear.weight.T: its rows stay in torch's C,H,W order while Keras's Flatten hands it H,W,C. The
shapes fit, the model trains, and it is quietly another network.

--weights mine: the torch model's weights are the run's; the Keras model runs from the weights it
holds, and the check says how they differ from the original's.

Verdict: FAIL (exit 1) at step 1, at Z2 (the Dense's output: the conv block before it agrees),
with "the Dense after Flatten: its rows are in torch's C,H,W order, Keras flattens H,W,C: permute
them: kernel = weight.reshape(3, 4, 2, 2).transpose(2, 3, 1, 0).reshape(16, 3)".
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
port.layers[0].set_weights([weight.transpose(2, 3, 1, 0), bias])   # (out,in,kh,kw)->(kh,kw,in,out)
weight, bias = model[5].weight.detach().numpy(), model[5].bias.detach().numpy()
port.layers[3].set_weights([weight.T, bias])                       # its rows in torch's C,H,W order
kerasnet = compare.keras_model(port, keras.optimizers.SGD(learning_rate=0.1),
                               keras.losses.CategoricalCrossentropy(from_logits=True))
