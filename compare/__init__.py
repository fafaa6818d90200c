"""framework-mirror: the same MLP in NumPy, PyTorch and Keras, trained in lockstep and compared;
and your own network, checked against them.

    python -m compare mnist                   the main job (python -m compare list: every recipe)
    python -m compare check my_net.py         your network (README, "Check your own network")
    compare.Spec(sizes=[784], layers=[compare.Dense(64), compare.BatchNorm(), compare.Activation("relu"),
                 compare.Dense(10), compare.Activation("softmax")], loss=...)   a network as a layer list
    compare.run(spec, data)                   -> Report
    compare.check(mine, spec, data)           -> Report for your implementation
    compare.assert_equivalent(spec or mine)   raises AssertionError unless every judged pair agrees

The adapters (functions, network_class, torch_module, keras_model) are imported when first
used, so `import compare` imports neither torch nor TensorFlow.
"""
import sys

if sys.argv[:1] == ["-m"]:               # `python -m compare`: hold signals until __main__ can report them
    from .engine import interrupts
    if interrupts.launched_as_main():
        interrupts.hold()

import importlib  # noqa: E402

from scratch.initializers import Init  # noqa: E402

from .engine.convert import Layout  # noqa: E402
from .engine.data import Data  # noqa: E402
from .engine.errors import InputError  # noqa: E402
from .engine.layers import Activation, BatchNorm, Dense, Dropout, LayerNorm, Network, layer_kind  # noqa: E402
from .engine.image_layers import (AvgPool2D, Conv2D, Flatten, GlobalAvgPool2D, MaxPool2D,  # noqa: E402
                                  SpatialDropout2D)
from .engine import display as _display  # noqa: E402   (imports nothing)
from .engine.registry import Entry, register  # noqa: E402
from .engine.run import run  # noqa: E402
from .engine.spec import Spec  # noqa: E402

_LAZY = {
    "check": ("compare.adapters.check", "check"),
    "assert_equivalent": ("compare.adapters.check", "assert_equivalent"),
    "UserImplementation": ("compare.adapters.base", "UserImplementation"),
    "functions": ("compare.adapters.functions", "functions"),
    "network_class": ("compare.adapters.classes", "network_class"),
    "torch_module": ("compare.adapters.torch_module", "torch_module"),
    "keras_model": ("compare.adapters.keras_model", "keras_model"),
    "layer_functions": ("compare.adapters.layer_functions", "layer_functions"),
}

__all__ = ["run", "check", "assert_equivalent", "Spec", "Init", "Data", "Layout", "InputError", "Entry", "register",
           "UserImplementation", "functions", "network_class", "torch_module", "keras_model",
           "layer_functions", "Dense", "Activation", "BatchNorm", "LayerNorm", "Dropout", "Network",
           "layer_kind", "Conv2D", "MaxPool2D", "AvgPool2D", "GlobalAvgPool2D", "SpatialDropout2D", "Flatten"]


def _report_html(report):
    """Report._repr_html_ draws with the views layer, which the engine may not import."""
    from .views.notebook import report_html
    return report_html(report)


_display.html_view = _report_html


def __getattr__(name):
    if name in _LAZY:
        module, attribute = _LAZY[name]
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module 'compare' has no attribute {name!r}")
