"""Tier 3: scratch, torch and Keras in lockstep over activations x losses x optimizers x batch
modes, float64 to 1e-9 and float32 to the stated bound; and the checker seen failing."""
import numpy as np
import pytest

import compare
from compare.engine.check import FLOAT32_RTOL
from compare.data.recipes import Data
from compare.engine.run import describe_divergence, random_data
from scratch.initializers import Init

pytest.importorskip("torch")
pytest.importorskip("keras")

OUTPUT = {  # loss -> (output activation, output width)
    "mse": ("linear", 2),
    "binary_crossentropy": ("sigmoid", 1),
    "categorical_crossentropy": ("softmax", 3),
}
OPTIMIZERS = {
    "sgd": dict(optimizer="sgd", lr=0.1),
    "momentum": dict(optimizer="sgd", lr=0.05, momentum=0.9),
    "nesterov": dict(optimizer="sgd", lr=0.05, momentum=0.9, nesterov=True),
    "rmsprop": dict(optimizer="rmsprop", lr=0.01),
    "adam": dict(optimizer="adam", lr=0.01),
}
BATCHES = {"full": dict(batch_size=None), "mini": dict(batch_size=3, shuffle=True), "single": dict(batch_size=1)}

# A covering design: every hidden activation meets every loss, every optimizer every batch mode.
MATRIX = [
    ("relu", "mse", "sgd", "full"), ("relu", "binary_crossentropy", "momentum", "mini"),
    ("relu", "categorical_crossentropy", "adam", "single"),
    ("sigmoid", "mse", "nesterov", "single"), ("sigmoid", "binary_crossentropy", "rmsprop", "full"),
    ("sigmoid", "categorical_crossentropy", "sgd", "mini"),
    ("tanh", "mse", "rmsprop", "mini"), ("tanh", "binary_crossentropy", "adam", "full"),
    ("tanh", "categorical_crossentropy", "momentum", "single"),
    ("softplus", "mse", "adam", "mini"), ("softplus", "binary_crossentropy", "sgd", "single"),
    ("softplus", "categorical_crossentropy", "nesterov", "full"),
    ("linear", "mse", "momentum", "full"), ("linear", "binary_crossentropy", "nesterov", "mini"),
    ("linear", "categorical_crossentropy", "rmsprop", "single"),
]


def spec_for(hidden, loss, optimizer, batch, dtype="float64", steps=4):
    activation, width = OUTPUT[loss]
    return compare.Spec(sizes=[4, 5, 3, width], activations=[hidden, hidden, activation], loss=loss,
                        weight_init=Init("normal", scale=0.5), bias_init=Init("normal", scale=0.1),
                        steps=steps, seed=3, dtype=dtype, **OPTIMIZERS[optimizer], **BATCHES[batch]).validate()


def assert_pairs_within(report, rtol, pairs=("torch", "keras")):
    s = report.summary
    assert s["first_nonfinite"] is None, describe_divergence(s["first_nonfinite"])
    assert s["first_divergence"] is None, describe_divergence(s["first_divergence"])
    for pair in pairs:
        worst = s["worst_by_kind"][pair]
        for kind, w in worst.items():
            assert w["max_rel_err"] <= rtol, f"{pair} {kind}: {w['tensor']} at step {w['step']} rel err {w['max_rel_err']:.3e}"


@pytest.mark.parametrize("hidden,loss,optimizer,batch", MATRIX)
def test_lockstep_float64(hidden, loss, optimizer, batch):
    spec = spec_for(hidden, loss, optimizer, batch)
    report = compare.run(spec, random_data(spec, n=7, seed=5))
    assert report.summary["steps_completed"] == 4
    assert_pairs_within(report, 1e-9)
    kinds = set(report.summary["worst_by_kind"]["torch"])
    assert {"Z", "A", "loss", "dZ", "dW", "db", "params", "accuracy"} <= kinds
    if optimizer != "sgd":
        assert "state" in kinds, "optimizer state must be compared"


@pytest.mark.parametrize("hidden,loss,optimizer,batch", MATRIX[::3])
def test_lockstep_float32(hidden, loss, optimizer, batch):
    spec = spec_for(hidden, loss, optimizer, batch, dtype="float32")
    report = compare.run(spec, random_data(spec, n=7, seed=5))
    assert_pairs_within(report, FLOAT32_RTOL)
    assert report.summary["max_rel_err"]["torch"] > 0, "float32 should not agree bit for bit: is it float32?"


@pytest.mark.parametrize("optimizer", ["adam", "rmsprop"])
def test_100_steps_of_adaptive_optimizers(optimizer):
    spec = spec_for("tanh", "categorical_crossentropy", optimizer, "mini", steps=100).replace(lr=0.003)
    report = compare.run(spec, random_data(spec, n=12, seed=2))
    assert report.summary["steps_completed"] == 100
    assert_pairs_within(report, 1e-9)


def test_torch_and_keras_agree_directly_when_no_convention_differs():
    spec = spec_for("relu", "categorical_crossentropy", "sgd", "mini", steps=6)
    report = compare.run(spec, random_data(spec, n=9, seed=1))
    tk = report.summary["torch_vs_keras"]
    assert tk["judged"] and tk["reasons"] == {}
    assert tk["max_rel_err"] <= 1e-9


def test_convention_differences_are_reported_not_failed():
    spec = spec_for("tanh", "mse", "rmsprop", "full", steps=5)
    report = compare.run(spec, random_data(spec, n=6, seed=1))
    tk = report.summary["torch_vs_keras"]
    assert not tk["judged"]
    assert {"rmsprop-eps-placement", "default-hyperparameters"} <= set(tk["reasons"])
    assert tk["max_rel_err"] > 1e-6            # a real difference, measured
    assert report.passed                        # and not a failure: each agrees with its own scratch


@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
def test_keras_float32_casts_of_python_floats(optimizer):
    """Given Python floats, Keras casts momentum / Adam's betas through float32 even in float64;
    scratch@keras reproduces it when asked, and torch~keras then names it as the reason."""
    spec = spec_for("relu", "mse", optimizer, "full", steps=20).replace(keras_float32_casts=True)
    report = compare.run(spec, random_data(spec, n=6, seed=1))
    assert "keras-float32-hyperparameters" in report.summary["torch_vs_keras"]["reasons"]
    assert_pairs_within(report, 1e-9)
    exact = compare.run(spec.replace(keras_float32_casts=False), random_data(spec, n=6, seed=1))
    assert "keras-float32-hyperparameters" not in exact.summary["torch_vs_keras"]["reasons"]
    assert_pairs_within(exact, 1e-9)
    if optimizer == "momentum":   # with float64 momentum, torch and Keras agree directly as well
        assert exact.summary["torch_vs_keras"]["judged"]
        assert exact.summary["torch_vs_keras"]["max_rel_err"] <= 1e-9
        assert report.summary["torch_vs_keras"]["max_rel_err"] > 1e-9


@pytest.mark.parametrize("where,tensor", [("db", "db3"), ("dW", "dW3"), ("relu", "dZ1")])
def test_the_checker_catches_a_broken_backward_line(monkeypatch, where, tensor):
    """Break one line of the scratch backward pass: the harness names the first tensor it spoils."""
    import scratch.activations as act
    import scratch.mlp as mlp

    if where == "relu":   # derivative uses z >= 0 instead of z > 0, and z = 0 occurs: exact zeros in the input
        monkeypatch.setitem(act.TORCH_ACTIVATIONS, "relu", (act.relu, lambda Z, A: (Z >= 0).astype(Z.dtype)))
        fixed = [(np.zeros((3, 2)), np.zeros(3)),                     # Z1 = 0 exactly: the kink
                 (np.array([[0.5, -0.3, 0.2], [-0.1, 0.4, 0.6]]), np.array([0.1, -0.2]))]
        spec = compare.Spec(sizes=[2, 3, 2], activations=["relu", "softmax"], loss="categorical_crossentropy",
                            weight_init=Init("fixed"), bias_init=Init("fixed"), fixed_params=fixed,
                            steps=1).validate()
        data = Data(X=np.array([[1.0, 2.0], [0.5, -1.0]]), Y=np.eye(2), X_eval=np.eye(2))
        report = compare.run(spec, data, frameworks=("scratch", "torch"))
        d = report.summary["first_divergence"]
        assert d is not None and d["tensor"] == "dZ1" and d["step"] == 1, describe_divergence(d)
        return
    original = mlp.MLP.backward

    def broken(self, cache, Y):
        grads = original(self, cache, Y)
        if where == "db":
            grads["db3"] = grads["db3"] * 2          # bias gradient doubled
        else:
            grads["dW3"] = grads["dW3"].T.T * 1.01   # weight gradient off by 1 %
        return grads

    monkeypatch.setattr(mlp.MLP, "backward", broken)
    spec = spec_for("relu", "categorical_crossentropy", "sgd", "full", steps=2)
    report = compare.run(spec, random_data(spec, n=5))
    d = report.summary["first_divergence"]
    assert d is not None, "a broken backward pass went unnoticed"
    assert (d["step"], d["tensor"], d["layer"]) == (1, tensor, 3), describe_divergence(d)
    assert not report.passed
    message = describe_divergence(d)
    assert tensor in message and "step 1" in message and "rel err" in message
