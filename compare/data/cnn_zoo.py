"""`cnn-zoo`: a small CNN with the geometry the CNN bug zoo needs that mnist-cnn-small lacks
(compare/data/bugs.py): a stride-2 convolution, and 'same' padding whose odd extra row and
column TensorFlow's rule puts at the bottom and right (an even kernel: 4 - 1 = 3 = 1 + 2).

    1x28x28 -> Conv2D(4, 4, strides=2, padding=1) -> relu        4x14x14  (30 - 4) // 2 + 1
            -> Conv2D(6, 4, padding='same')       -> relu        6x14x14  padding (1, 2, 1, 2)
            -> MaxPool2D(2) -> Flatten -> Dense(10) -> softmax   6x7x7 = 294 -> 10

Three steps of 16 real MNIST images (the first 256 of the training set; no test set): seconds.

`cnn-zoo-avgpool`: a padded average pooling, Keras's 'same' (the divisor counts the real cells
alone, count_include_pad=False: a corner window of 3x3 holds 4 of them, an edge window 6):

    1x28x28 -> Conv2D(4, 5, strides=3) -> relu                  4x8x8    (28 - 5) // 3 + 1
            -> AvgPool2D(3, strides=1, padding='same')          4x8x8    padding (1, 1, 1, 1)
            -> Flatten -> Dense(10) -> softmax                  256 -> 10

Left out: everything a test of the layers themselves needs (tests/test_cnn_lockstep.py has it).
"""
from scratch.initializers import Init

from ..engine.data import Data
from ..engine.image_layers import AvgPool2D, Conv2D, Flatten, MaxPool2D
from ..engine.layers import Activation, Dense
from ..engine.spec import Spec
from .mnist import mnist_data
from .recipes import Recipe, register

ZOO = [Conv2D(4, 4, strides=2, padding=1), Activation("relu"),
       Conv2D(6, 4, padding="same"), Activation("relu"), MaxPool2D(2),
       Flatten(), Dense(10), Activation("softmax")]
AVGPOOL = [Conv2D(4, 5, strides=3), Activation("relu"),
           AvgPool2D(3, strides=1, padding="same"),
           Flatten(), Dense(10), Activation("softmax")]
TRAIN = 256                     # the first 256 training images: 16 batches of 16, 3 of them used


def zoo_data(**options):
    """The first TRAIN training images of MNIST; the first 10 test images to evaluate."""
    full = mnist_data(**options)
    return Data(X=full.X[:TRAIN], Y=full.Y[:TRAIN], X_eval=full.X_eval,
                info={**full.info, "train": TRAIN, "test": 0})


register(Recipe(
    name="cnn-zoo",
    summary="small CNN for the bug zoo: conv 4@4x4 stride 2 pad 1, conv 6@4x4 'same' "
            "(pad 1/2), pool, dense 10; 3 steps of 16",
    spec=Spec(input_shape=(1, 28, 28), layers=ZOO, loss="categorical_crossentropy", optimizer="sgd",
              lr=0.05, weight_init=Init("kaiming_uniform"), bias_init=Init("kaiming_uniform"),
              batch_size=16, shuffle=False, epochs=None, steps=3, seed=0),
    load=zoo_data,
    notes="The second convolution's 'same' padding is asymmetric (top 1, bottom 2, left 1, "
          "right 2: TensorFlow's rule, which torch's reference pads by hand with nn.ZeroPad2d).",
))

register(Recipe(
    name="cnn-zoo-avgpool",
    summary="small CNN for the bug zoo: conv 4@5x5 stride 3, avg pool 3x3 stride 1 'same' "
            "(divides by the real cells), dense 10; 3 steps of 16",
    spec=Spec(input_shape=(1, 28, 28), layers=AVGPOOL, loss="categorical_crossentropy",
              optimizer="sgd", lr=0.05, weight_init=Init("kaiming_uniform"),
              bias_init=Init("kaiming_uniform"), batch_size=16, shuffle=False, epochs=None,
              steps=3, seed=0),
    load=zoo_data,
    notes="The average pooling's 'same' padding is not counted in its divisor (Keras's rule, "
          "count_include_pad=False in torch): the border windows divide by 4 or 6, the interior "
          "by 9.",
))
