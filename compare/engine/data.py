"""The data of a run: rows are examples (as the frameworks and data files hold them).

Left out: where data comes from (compare/data: recipes, MNIST).
"""
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Data:
    X: np.ndarray                       # (N, n_in) training inputs
    Y: np.ndarray                       # (N, n_out) training targets
    X_eval: np.ndarray                  # (E, n_in) inputs whose final outputs are reported
    X_test: np.ndarray | None = None    # (T, n_in) evaluated after every epoch
    Y_test: np.ndarray | None = None    # (T, n_out)
    info: dict = field(default_factory=dict)  # where the data came from, sizes, notes
