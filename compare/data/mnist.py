"""The MNIST recipes: the main job `mnist`, and the seeds' `mnist-small` and `mnist-deep`.

Data: compare/data/mnist_data.py (IDX files from --data-dir, $FRAMEWORK_MIRROR_MNIST, the user cache,
or the copy shipped in compare/data/mnist_files); `info['source']` says which folder, `info['origin']` how.
Targets are one-hot rows; the 10,000 test images are evaluated after every epoch.

Left out: data augmentation, validation splits other than mnist-deep's dev set.
"""
import numpy as np

from scratch.initializers import Init

from .mnist_data import load_mnist
from .recipes import Data, Recipe, register
from ..engine.errors import InputError
from ..engine.spec import Spec


def one_hot(labels, classes=10):
    """(N,) int -> (N, classes) float64 rows"""
    return np.eye(classes)[labels]


def provenance(m):
    """Data.info's account of where the files came from, and, for files that are not the canonical
    MNIST (--allow-other-data), which: the report and the verdict line say so."""
    info = {"source": m.source, "origin": m.origin}
    if m.other:
        info.update(canonical=False, not_canonical=list(m.other))
    return info


def mnist_data(data_dir=None, offline=False, allow_other_data=False, **options):
    """Train on the 60,000, test on the 10,000; the first 10 test images are the evaluation inputs."""
    m = load_mnist(data_dir, offline=offline, allow_other_data=allow_other_data)
    return Data(X=m.train_images, Y=one_hot(m.train_labels), X_eval=m.test_images[:10],
                X_test=m.test_images, Y_test=one_hot(m.test_labels),
                info={**provenance(m), "train": len(m.train_images), "test": len(m.test_images)})


DEV_SIZE = 1000


def mnist_dev_data(data_dir=None, offline=False, allow_other_data=False, **options):
    """mnist-deep: shuffle the training set once (seeded), hold out the first 1,000 as a dev set,
    train on the other 59,000; the dev set is what the report calls 'test'."""
    m = load_mnist(data_dir, offline=offline, allow_other_data=allow_other_data)
    order = np.random.default_rng(0).permutation(len(m.train_images))
    dev, train = order[:DEV_SIZE], order[DEV_SIZE:]
    if len(train) == 0:
        raise InputError(f"mnist-deep holds out {DEV_SIZE:,} dev images and trains on the rest, but the MNIST "
                         f"training file in {m.source} holds only {len(m.train_images)}")
    return Data(X=m.train_images[train], Y=one_hot(m.train_labels[train]), X_eval=m.train_images[dev[:10]],
                X_test=m.train_images[dev], Y_test=one_hot(m.train_labels[dev]),
                info={**provenance(m), "train": len(train), "dev": len(dev)})


register(Recipe(
    name="mnist",
    summary="784-128-64-10 ReLU/softmax, cross-entropy, batches of 128, SGD momentum 0.9 lr 0.1, 2 epochs",
    spec=Spec(sizes=[784, 128, 64, 10], activations=["relu", "relu", "softmax"], loss="categorical_crossentropy",
              optimizer="sgd", lr=0.1, momentum=0.9, weight_init=Init("kaiming_uniform"),
              bias_init=Init("kaiming_uniform"), batch_size=128, shuffle=True, epochs=2, seed=0),
    load=mnist_data,
    notes="Kaiming-uniform weights and biases (torch nn.Linear's default) generated once and copied "
          "into all three. torch and Keras write momentum differently (v = mu v + g vs v = mu v - lr g), "
          "so the momentum buffers are not compared between torch and Keras; everything else is. Keras "
          "gets mu as an exact float64 number here (given as a Python float it would round it through "
          "float32: --keras-float32-casts shows that).",
    every=50,
))

register(Recipe(
    name="mnist-small",
    summary="784-10-10 ReLU/softmax, full-batch gradient descent lr 0.1, 100 iterations, U[-0.5, 0.5) init",
    spec=Spec(sizes=[784, 10, 10], activations=["relu", "softmax"], loss="categorical_crossentropy",
              optimizer="sgd", lr=0.1, weight_init=Init("uniform", low=-0.5, high=0.5),
              bias_init=Init("uniform", low=-0.5, high=0.5), batch_size=None, steps=100, epochs=None, seed=0),
    load=mnist_data,
    every=10,
))

register(Recipe(
    name="mnist-deep",
    summary="784-32-16-10 ReLU/ReLU/softmax, full batch, lr 0.1, 100 iterations, 1,000 held-out dev images",
    spec=Spec(sizes=[784, 32, 16, 10], activations=["relu", "relu", "softmax"], loss="categorical_crossentropy",
              optimizer="sgd", lr=0.1, weight_init=Init("normal", scale=0.5), bias_init=Init("uniform", low=0.0, high=0.5),
              batch_size=None, steps=100, epochs=None, seed=0),
    load=mnist_dev_data,
    notes="Weights N(0,1)*0.5, biases U[0,1)*0.5. The first 1,000 images of a seeded shuffle of the "
          "training set are held out as a dev set; 'test accuracy' in this report is dev-set accuracy.",
    every=10,
))

# --- dropout and batch norm (issue 11) ------------------------------------------------------------
register(Recipe(
    name="mnist-dropout",
    summary="784-128-64-10 ReLU/softmax with dropout 0.2 after each hidden layer, batches of 128, SGD momentum 0.9, 1 epoch",
    spec=Spec(sizes=[784, 128, 64, 10], activations=["relu", "relu", "softmax"], loss="categorical_crossentropy",
              optimizer="sgd", lr=0.1, momentum=0.9, batch_size=128, shuffle=True, epochs=1, seed=0, dropout=0.2),
    load=mnist_data,
    notes="The harness draws every step's dropout masks once (seeded) and hands the same masks to scratch, "
          "torch and Keras; each applies them by its own framework's rule (torch: input * (mask / (1 - p)), "
          "Keras: where(mask, input * (1 / (1 - rate)), 0)), so the three compare exactly, every step. "
          "Test predictions run without dropout (inference mode).",
    every=50,
))

register(Recipe(
    name="mnist-batchnorm",
    summary="784-128-64-10 ReLU/softmax, batch norm before each hidden activation (each framework's defaults), "
            "batches of 128, SGD lr 0.1, 1 epoch",
    spec=Spec(sizes=[784, 128, 64, 10], activations=["relu", "relu", "softmax"], loss="categorical_crossentropy",
              optimizer="sgd", lr=0.1, batch_size=128, shuffle=True, epochs=1, seed=0, norm="batch"),
    load=mnist_data,
    notes="BatchNorm1d (momentum 0.1, eps 1e-5) in torch and scratch, BatchNormalization (momentum 0.99, "
          "eps 1e-3) in Keras and scratch@keras, each framework's defaults mirrored; the batch-normed Dense "
          "layers have no bias. Test accuracy is evaluation mode (running statistics). torch~keras is "
          "reported: their defaults differ, and torch stores the unbiased running variance, Keras the "
          "biased one (--norm-momentum 0.1 --norm-eps 1e-5 leaves only that).",
    every=50,
))
