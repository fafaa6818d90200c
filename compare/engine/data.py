"""The data of a run: rows are examples (as the frameworks and data files hold them), and the
random data a run gets when it is given none.

Random data, when none is given (compare.run(spec), compare.check and `check FILE.py` without
--data or --recipe), has enough examples for the batch size and the steps asked for: one fresh
batch per step (batch_size x steps examples, one pass), at least MIN_RANDOM_EXAMPLES, and at most
what fits MAX_RANDOM_BYTES (then a whole number of batches, gone through again in order). A full
batch (batch_size None) gets MIN_RANDOM_EXAMPLES; a run counted in epochs, one batch or
MIN_RANDOM_EXAMPLES, whichever is more. Inputs are N(0, 1); targets suit the loss (one-hot
classes, 0/1 labels, or N(0, 1) reals). `info` says what was made, for the report and the
'data:' line.

Left out: where real data comes from (compare/data: recipes, MNIST).
"""
from dataclasses import dataclass, field

import numpy as np

from .errors import InputError

MIN_RANDOM_EXAMPLES = 8             # a full batch, or a short run, gets this many
MAX_RANDOM_EXAMPLES = 10_000        # ... and no run more than this many
MAX_RANDOM_BYTES = 64 * 2**20       # nor more than this much float64 (784 inputs + 10 targets: 10,000 examples)
EVAL_EXAMPLES = 8                   # the inputs whose final outputs the report lists

CLASSES = ("categorical_crossentropy", "sparse_categorical_crossentropy", "kld")
LABELS = ("binary_crossentropy", "hinge", "squared_hinge", "poisson")


@dataclass
class Data:
    X: np.ndarray                       # (N, n_in) training inputs
    Y: np.ndarray                       # (N, n_out) training targets
    X_eval: np.ndarray                  # (E, n_in) inputs whose final outputs are reported
    X_test: np.ndarray | None = None    # (T, n_in) evaluated after every epoch
    Y_test: np.ndarray | None = None    # (T, n_out)
    info: dict = field(default_factory=dict)  # where the data came from, sizes, notes


def random_examples(spec):
    """How many random examples a run of `spec` gets (the module docstring's rule). -> int"""
    b = spec.batch_size
    if b is None:
        return MIN_RANDOM_EXAMPLES
    wanted = b * spec.steps if spec.steps is not None else b
    fits = MAX_RANDOM_BYTES // (8 * (spec.sizes[0] + spec.sizes[-1]))
    most = max(b, min(MAX_RANDOM_EXAMPLES, fits) // b * b)       # whole batches, never less than one
    return max(MIN_RANDOM_EXAMPLES, min(wanted, most))


def random_data(spec, n=None, seed=0):
    """Seeded random data that suits the spec's loss: one-hot classes, 0/1 labels, or reals.
    n: how many examples (None: random_examples(spec))."""
    if n is None:
        n = random_examples(spec)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
        raise InputError(f"random data needs a positive whole number of examples, got {n!r}")
    rng = np.random.default_rng([seed, 2])
    X = rng.standard_normal((n, spec.sizes[0]))
    if spec.loss in CLASSES:
        Y = np.eye(spec.sizes[-1])[rng.integers(0, spec.sizes[-1], n)]
        targets = f"one-hot over {spec.sizes[-1]} classes"
    elif spec.loss in LABELS:
        Y = rng.integers(0, 2, (n, spec.sizes[-1])).astype(np.float64)
        targets = "0/1 labels"
    else:
        Y = rng.standard_normal((n, spec.sizes[-1]))
        targets = "N(0, 1)"
    info = {"source": "random", "examples": int(n), "seed": int(seed), "inputs": "N(0, 1)", "targets": targets}
    return Data(X=X, Y=Y, X_eval=X[:EVAL_EXAMPLES], info=info)
