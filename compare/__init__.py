"""framework-mirror: the same MLP in NumPy, PyTorch and Keras, trained in lockstep and compared;
and your own network, checked against them.

    python -m compare mnist                   the main job (python -m compare list: every recipe)
    python -m compare check my_net.py         your network (README, "Check your own network")
    compare.Spec(sizes=[784], layers=[compare.Dense(64), compare.BatchNorm(), compare.Activation("relu"),
                 compare.Dense(10), compare.Activation("softmax")], loss=...)   a network as a layer list
    compare.run(spec, data)                   -> Report
    compare.check(mine, spec, data)           -> Report for your implementation
    compare.check(torchnet, kerasnet, data=(X, Y), steps=5)   your models passed as they are
    compare.assert_equivalent(spec or mine)   raises AssertionError unless every judged pair agrees
    pytest --mirror examples/                 the pytest plugin (docs/testing.md)

The public API is `__all__` below (docs/testing.md lists it); it follows semantic versioning from
0.2.0 on (CHANGELOG.md). Every name is imported when first used, so `import compare` imports
nothing heavy (no NumPy, torch or TensorFlow): the pytest plugin that lives in this package costs
an unrelated test run nothing. Modules that moved (compare.recipes, compare.bugs) still import,
with a DeprecationWarning naming the new place, until 0.3.0 (compare/_moved.py).
"""
import sys

if sys.argv[:1] == ["-m"]:               # `python -m compare`: hold signals until __main__ can report them
    from .engine import interrupts
    if interrupts.launched_as_main():
        interrupts.hold()

import importlib  # noqa: E402

from .engine import display as _display  # noqa: E402   (imports nothing)

# name -> (module, attribute): the whole public API, imported on first use
_LAZY = {
    "run": ("compare.engine.run", "run"),
    "check": ("compare.adapters.check", "check"),
    "assert_equivalent": ("compare.adapters.check", "assert_equivalent"),
    "Spec": ("compare.engine.spec", "Spec"),
    "Init": ("scratch.initializers", "Init"),
    "Data": ("compare.engine.data", "Data"),
    "Layout": ("compare.engine.convert", "Layout"),
    "InputError": ("compare.engine.errors", "InputError"),
    "Entry": ("compare.engine.registry", "Entry"),
    "register": ("compare.engine.registry", "register"),
    "Report": ("compare.engine.report", "Report"),
    "NotEquivalent": ("compare.engine.run", "NotEquivalent"),
    "UserImplementation": ("compare.adapters.base", "UserImplementation"),
    "functions": ("compare.adapters.functions", "functions"),
    "network_class": ("compare.adapters.classes", "network_class"),
    "torch_module": ("compare.adapters.torch_module", "torch_module"),
    "keras_model": ("compare.adapters.keras_model", "keras_model"),
    "flax_module": ("compare.adapters.flax_module", "flax_module"),
    "jax_model": ("compare.adapters.jax_functions", "jax_model"),
    "layer_functions": ("compare.adapters.layer_functions", "layer_functions"),
    "Dense": ("compare.engine.layers", "Dense"),
    "Activation": ("compare.engine.layers", "Activation"),
    "BatchNorm": ("compare.engine.layers", "BatchNorm"),
    "LayerNorm": ("compare.engine.layers", "LayerNorm"),
    "Dropout": ("compare.engine.layers", "Dropout"),
    "Network": ("compare.engine.layers", "Network"),
    "layer_kind": ("compare.engine.layers", "layer_kind"),
    "Conv2D": ("compare.engine.image_layers", "Conv2D"),
    "MaxPool2D": ("compare.engine.image_layers", "MaxPool2D"),
    "AvgPool2D": ("compare.engine.image_layers", "AvgPool2D"),
    "GlobalAvgPool2D": ("compare.engine.image_layers", "GlobalAvgPool2D"),
    "SpatialDropout2D": ("compare.engine.image_layers", "SpatialDropout2D"),
    "Flatten": ("compare.engine.image_layers", "Flatten"),
}

__all__ = ["__version__", *_LAZY]


def _report_html(report):
    """Report._repr_html_ draws with the views layer, which the engine may not import."""
    from .views.notebook import report_html
    return report_html(report)


_display.html_view = _report_html


def __getattr__(name):
    if name == "__version__":
        from .engine.version import version
        value = version()
    elif name in _LAZY:
        module, attribute = _LAZY[name]
        value = getattr(importlib.import_module(module), attribute)
    else:
        raise AttributeError(f"module 'compare' has no attribute {name!r}")
    globals()[name] = value              # the next access is an ordinary attribute
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
