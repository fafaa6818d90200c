"""A multilayer perceptron in plain NumPy, written as teaching code (see scratch/mlp.py)."""
from .initializers import Init, initial_params
from .mlp import MLP

__all__ = ["MLP", "Init", "initial_params"]
