"""Small recipes the bug zoo demonstrates its mistakes on (compare/data/bugs.py)."""
import numpy as np

from scratch.initializers import Init

from ..engine.spec import Spec
from .recipes import Data, Recipe, register


def toy3_data(**options):
    """12 examples, 3 features, 3 classes (the class is the largest feature); seeded."""
    X = np.random.default_rng(3).standard_normal((12, 3))
    return Data(X=X, Y=np.eye(3)[np.argmax(X, axis=1)], X_eval=X[:4])


def large_logits_data(**options):
    """12 examples of 2 features of size ~1000, 3 classes (by the signs of the features); seeded."""
    X = np.random.default_rng(4).standard_normal((12, 2)) * 1000.0
    labels = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0).astype(int)
    return Data(X=X, Y=np.eye(3)[labels], X_eval=X[:4])


register(Recipe(
    name="toy3",
    summary="3-3-3 tanh/softmax, 3-class toy, cross-entropy, batches of 4, SGD lr 0.1, 3 steps (the bug zoo's)",
    spec=Spec(sizes=[3, 3, 3], activations=["tanh", "softmax"], loss="categorical_crossentropy",
              optimizer="sgd", lr=0.1, weight_init=Init("normal"), bias_init=Init("normal"),
              batch_size=4, steps=3, epochs=None, seed=0),
    load=toy3_data,
    notes="Square layers (3 -> 3 -> 3), so a dW built from the wrong activation still has the right shape.",
))

register(Recipe(
    name="toy3-large-logits",
    summary="2-3 softmax on inputs of size ~1000 (logits up to ~2000), cross-entropy, SGD lr 1e-6, 2 steps",
    spec=Spec(sizes=[2, 3], activations=["softmax"], loss="categorical_crossentropy",
              optimizer="sgd", lr=1e-6, weight_init=Init("normal"), bias_init=Init("zeros"),
              batch_size=None, steps=2, epochs=None, seed=0),
    load=large_logits_data,
    notes="Logits far above 709, where e^z overflows float64: a max-subtracted softmax is still exact.",
))


