"""The implementation protocol (compare/engine/protocol.py) is the whole of what the harness asks:
every built-in implementation and every adapter's run provides what it requires, with the
protocol's signatures, and every method the engine calls on an implementation is named in it
(read from the engine's source: a new call that the protocol does not name fails here)."""
import ast
import inspect
from pathlib import Path

import numpy as np
import pytest

import compare
from compare.adapters.check import declared, load_file, resolve_spec
from compare.engine import protocol, registry
from scratch.initializers import initial_params

REPO = Path(__file__).resolve().parent.parent
ENGINE = REPO / "compare" / "engine"
SPEC = compare.Spec(sizes=[4, 8, 3], activations=["relu", "softmax"], loss="categorical_crossentropy",
                    optimizer="sgd", momentum=0.9, lr=0.1, batch_size=4, steps=2, epochs=None)


def params_of(spec):
    return initial_params(spec.sizes, spec.weight_init, spec.bias_init, spec.seed, spec.dtype, spec.fixed_params)


def arity(function):
    """The number of parameters a method takes, self left out."""
    return len([p for p in inspect.signature(function).parameters.values() if p.name != "self"])


def assert_follows(implementation, label, expected_optional=None, spec=SPEC):
    """What the protocol requires, its methods taking the protocol's arguments, and one step that
    gives a dict of named arrays."""
    assert isinstance(implementation, protocol.Stepping), label
    assert protocol.lacks(implementation) == [], label
    for name in (*protocol.REQUIRED, *protocol.optional(implementation)):
        assert arity(getattr(implementation, name)) == arity(getattr(protocol.Implementation, name)), (label, name)
    if expected_optional is not None:
        assert set(protocol.optional(implementation)) == set(expected_optional), label
    rng = np.random.default_rng(0)
    n_in, n_out = spec.sizes[0], spec.sizes[-1]
    X, Y = rng.standard_normal((4, n_in)), np.eye(n_out)[rng.integers(0, n_out, 4)]
    record = implementation.step(X, Y)
    assert isinstance(record, dict) and record and all(isinstance(k, str) for k in record), label
    if hasattr(implementation, "predict"):
        assert np.shape(implementation.predict(X)) == (n_out, 4), label


BUILT_IN_OPTIONAL = {"scratch": {"predict", "set_masks", "end_epoch", "restore"},
                     "torch": {"predict", "set_masks", "end_epoch", "restore", "resync"},
                     "keras": {"predict", "set_masks", "end_epoch", "restore", "resync"}}


@pytest.mark.parametrize("name, convention", [("scratch", "torch"), ("scratch", "keras"), ("torch", "torch"),
                                              ("keras", "keras")])
def test_the_built_ins_follow_the_protocol(name, convention):
    if name != "scratch":
        pytest.importorskip(name)
    entry = registry.require(name)
    built = entry.builder()(SPEC, params_of(SPEC), convention)
    assert_follows(built, f"{name}@{convention}", BUILT_IN_OPTIONAL[name])


def built_from_file(name, recipe=None):
    from compare.data import recipes

    path = str(REPO / "examples" / name)
    item = declared(load_file(path), path)[0]
    spec = resolve_spec([item], None, recipe and recipes.get(recipe), 2, None)
    entry = item.entry()
    return entry.builder()(spec, params_of(spec), entry.conventions[0]), spec


@pytest.mark.parametrize("example, recipe, module", [
    ("xor_dict.py", "xor", None), ("mnist_two_layer.py", "mnist-small", None), ("nielsen_network.py", None, None),
    ("torch_sequential.py", None, "torch"), ("keras_sequential.py", None, "keras"),
    ("jax_flax_mlp.py", None, "flax"), ("jax_functions_mlp.py", None, "flax")])
def test_the_adapters_runs_follow_the_protocol(example, recipe, module):
    """compare.functions (with and without a predict), compare.network_class (Nielsen),
    compare.torch_module and compare.keras_model: each built run, as the harness gets it."""
    if module:
        pytest.importorskip(module)
    built, spec = built_from_file(example, recipe)
    assert_follows(built, example, spec=spec)


def test_a_cs231n_class_run_follows_the_protocol():
    class TwoLayerNet:
        def __init__(self, sizes):
            self.params = {"W1": np.zeros((sizes[0], sizes[1])), "b1": np.zeros(sizes[1]),
                           "W2": np.zeros((sizes[1], sizes[2])), "b2": np.zeros(sizes[2])}

        def loss(self, X, y=None, reg=0.0):
            hidden = np.maximum(0, X @ self.params["W1"] + self.params["b1"])
            scores = hidden @ self.params["W2"] + self.params["b2"]
            if y is None:
                return scores
            grads = {k: np.zeros_like(v) for k, v in self.params.items()}
            return 0.0, grads

    item = compare.network_class(TwoLayerNet, "cs231n")
    item.name = "mine"
    entry = item.entry()
    assert_follows(entry.builder()(SPEC, params_of(SPEC), entry.conventions[0]), "cs231n")


# --- what the engine calls on an implementation -------------------------------------------------

def called_names(tree):
    """Every method the code calls on an implementation: x.implementation.NAME(...),
    implementation.NAME(...), self.implementations[key].NAME(...), and hasattr / getattr(<an
    implementation>, 'NAME'). -> {name: line}"""
    found = {}

    def is_implementation(node):
        if isinstance(node, ast.Attribute) and node.attr in ("implementation", "inner"):
            return True
        if isinstance(node, ast.Name) and node.id in ("implementation", "inner"):
            return True
        return isinstance(node, ast.Subscript) and isinstance(node.value, (ast.Attribute, ast.Name)) and \
            getattr(node.value, "attr", getattr(node.value, "id", None)) == "implementations"

    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and is_implementation(node.func.value):
            found.setdefault(node.func.attr, node.lineno)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("hasattr", "getattr") \
                and len(node.args) >= 2 and is_implementation(node.args[0]) \
                and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str):
            found.setdefault(node.args[1].value, node.lineno)
    return found


def test_every_method_the_engine_calls_on_an_implementation_is_in_the_protocol():
    calls = {}
    for path in sorted(ENGINE.glob("*.py")):
        for name, line in called_names(ast.parse(path.read_text())).items():
            calls.setdefault(name, f"{path.name}:{line}")
    assert {"step", "predict", "set_masks", "end_epoch", "resync", "restore"} <= set(calls), calls   # the scan sees them
    outside = {name: where for name, where in calls.items() if name not in protocol.NAMES}
    assert not outside, f"called on an implementation but not in compare/engine/protocol.py: {outside}"
    assert set(protocol.NAMES) <= set(calls)                    # and the protocol names nothing the engine never calls


def test_the_scan_catches_a_call_the_protocol_does_not_name():
    source = "def f(runner, implementation):\n    runner.implementation.rewind(3)\n    hasattr(implementation, 'warm')\n"
    assert set(called_names(ast.parse(source))) == {"rewind", "warm"}


def test_the_worker_forwards_exactly_the_protocol_s_optional_methods():
    """worker.RemoteImplementation answers hasattr for what the real implementation has among the
    protocol's optional methods, and for nothing else."""
    from compare.engine.worker import RemoteImplementation

    remote = RemoteImplementation(None, "scratch@keras", protocol.optional(registry.get("scratch").builder()(
        SPEC, params_of(SPEC), "keras")))
    assert set(protocol.optional(remote)) == BUILT_IN_OPTIONAL["scratch"]
    assert not hasattr(remote, "resync") and not hasattr(remote, "train_step")
