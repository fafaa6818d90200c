"""framework-mirror: the same MLP in NumPy, PyTorch and Keras, trained in lockstep and compared.

    python -m compare mnist           the main job (python -m compare list: every recipe)
    compare.run(spec, data)           -> Report
    compare.assert_equivalent(spec)   raises AssertionError naming the first divergence
"""
from scratch.initializers import Init

from .engine.errors import InputError
from .engine.run import assert_equivalent, run
from .engine.spec import Spec

__all__ = ["run", "assert_equivalent", "Spec", "Init", "InputError"]
