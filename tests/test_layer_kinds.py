"""A new layer kind plugs in at one point (docs/layers.md, "Adding a layer kind"): the stand-in
kind below is defined in this file alone, registered with @layer_kind, and then runs in scratch,
torch and Keras in lockstep, through the public API, judged like any built-in kind. Nothing in
compare/, scratch/ or reference/ names it.

    Scale:  S = s * X          one trainable scale per unit, s (n, 1), starting at 0.5
            dX = s * dS        ds = sum over the batch of dS * X

Its gradient is checked against central differences; its wrong twin (ds averaged over the batch
instead of summed: a factor of m) must be caught at step 1, at ds1, by the harness."""
import copy
import dataclasses
from typing import ClassVar

import numpy as np
import pytest

import compare
from compare.engine import convert, layers, names
from compare.engine.layers import Activation, Dense
from compare.engine.spec import Spec
from scratch.mlp import MLP

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")


@dataclasses.dataclass(frozen=True)
class Scale(layers.Layer):
    """The stand-in kind. wrong=True: scratch's ds divides by the batch size (the bug to catch)."""
    kind: ClassVar[str] = "test_scale"
    role: ClassVar[str] = "S"
    grads: ClassVar[tuple] = ("dS", "ds")
    param_roles: ClassVar[tuple] = ("s",)
    layouts: ClassVar[dict] = {"s": "per_unit"}          # (n, 1) in scratch, (n,) in both frameworks
    frozen: frozenset = frozenset()
    wrong: bool = False

    def params(self, n):
        return {"s": (n, 1)}

    def initial(self, n, dtype):
        return {"s": np.full((n, 1), 0.5, dtype)}

    def scratch(self, ctx):
        wrong = self.wrong

        class Scaled:                                    # X (n, m) -> S (n, m)
            def forward(self, P, X, run):
                return P["s"] * X, X

            def backward(self, P, X, dS, need_dX):
                ds = (dS * X).sum(axis=1, keepdims=True)
                return P["s"] * dS, {"s": ds / X.shape[1] if wrong else ds}
        return Scaled()

    def torch(self, ctx):
        from reference.torch_mlp import Part

        class Module(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.s = torch.nn.Parameter(torch.from_numpy(ctx.initial["s"].copy()).to(ctx.dtype))

            def forward(self, x):
                return x * self.s
        module = Module()
        return Part(module, {"s": module.s})

    def keras(self, ctx):
        from reference.keras_mlp import Part

        class ScaleLayer(keras.layers.Layer):
            def build(self, shape):
                self.s = self.add_weight(shape=(shape[-1],), initializer="ones", dtype=ctx.dtype)

            def call(self, x):
                return x * self.s
        layer = ScaleLayer(dtype=ctx.dtype)
        layer.build((None, ctx.n_in))
        layer.s.assign(ctx.initial["s"])                 # initial(), not Keras's 'ones'
        return Part(layer, {"s": layer.s})


@pytest.fixture
def scale_kind():
    """Scale registered for one test; the registry and the names it taught names.py given back."""
    kept = {key: copy.copy(getattr(names, key)) for key in ("OUTPUTS", "GROUPS", "FORWARD_GROUPS", "SECTIONS",
                                                             "PARAMS", "STATS", "GRAD_GROUP", "_PATTERN")}
    compare.layer_kind(Scale)
    yield Scale
    layers.KINDS.pop(Scale.kind)
    for key, value in kept.items():
        target = getattr(names, key)
        if isinstance(target, (list, dict)):              # restored in place: other modules hold them
            target.clear()
            target.extend(value) if isinstance(target, list) else target.update(value)
        else:
            setattr(names, key, value)
    names._PARSED.clear()


def spec_of(scale, **changes):
    settings = dict(loss="categorical_crossentropy", optimizer="sgd", lr=0.1, batch_size=8, steps=6, seed=3)
    settings.update(changes)
    return Spec(sizes=[4], layers=[Dense(5), scale, Activation("tanh"), Dense(3), Activation("softmax")],
                **settings).validate()


def toy_data(seed=0, n=24):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    return compare.Data(X=X, Y=np.eye(3)[rng.integers(0, 3, n)], X_eval=X[:6])


def test_the_kind_is_named_in_no_source_file(scale_kind):
    """Registration alone teaches the names: S1, dS1, s1, ds1 parse as block 1's."""
    assert {"S", "dS", "s", "ds"} <= {names.parse(n).kind for n in ("S1", "dS1", "s1", "ds1")}
    import pathlib
    root = pathlib.Path(__file__).resolve().parents[1]
    sources = [p for d in ("compare", "scratch", "reference") for p in (root / d).rglob("*.py")]
    assert sources and not [p for p in sources if "test_scale" in p.read_text(encoding="utf-8")]


def test_its_scratch_gradient_matches_central_differences(scale_kind):
    spec = spec_of(Scale())
    rng = np.random.default_rng(1)
    params = [(rng.normal(0, 0.8, (o, i)), rng.normal(0, 0.3, (o, 1))) for i, o in zip(spec.sizes, spec.sizes[1:])]
    net = MLP(spec, params, "torch")
    X, Y = rng.normal(size=(4, 8)), np.eye(3)[:, rng.integers(0, 3, 8)]
    net.params["s1"][:] = rng.uniform(0.5, 1.5, (5, 1))        # away from the initial 0.5 everywhere
    grads = net.backward(net.forward(X), Y)
    for name in ("s1", "W1", "b1"):
        value, h = net.params[name], 1e-6
        numeric = np.zeros_like(value)
        for i in np.ndindex(value.shape):
            keep = value[i]
            value[i] = keep + h
            up = float(net.loss(net.forward(X), Y))
            value[i] = keep - h
            numeric[i] = (up - float(net.loss(net.forward(X), Y))) / (2 * h)
            value[i] = keep
        error = np.max(np.abs(grads["d" + name] - numeric)) / np.max(np.abs(numeric))
        assert error < 1e-7, f"d{name}: analytic {grads['d' + name].ravel()[:3]} numeric {numeric.ravel()[:3]}"


def test_it_runs_in_lockstep_in_scratch_torch_and_keras(scale_kind):
    """compare.run: every pair judged, PASS, and the kind's own tensors compared in every pair at
    the float64 bound, starting from initial()'s 0.5 in all three."""
    report = compare.run(spec_of(Scale()), toy_data(), frameworks=("scratch", "torch", "keras"))
    assert report.verdict == "pass", report.summary["verdict_reason"]
    assert report.summary["steps_completed"] == 6 and report.summary["judged_pairs"]
    assert not any("s1" in missing or "S1" in missing for missing in report.summary["not_compared"].values())
    for pair in report.summary["judged_pairs"]:
        compared = {e.name: e for e in report.raw["first_step_errors"][pair]}
        assert {"S1", "dS1", "s1", "ds1"} <= set(compared), (pair, sorted(compared))
        assert max(e.max_rel for e in compared.values()) <= 1e-9
        assert report.summary["max_rel_err"][pair] <= 1e-9
    assert report.config["layers"]["layers"][1] == {"kind": "test_scale", "frozen": [], "wrong": False}
    assert convert.from_scratch("keras", "s1", np.ones((5, 1))).shape == (5,)


def test_its_wrong_twin_is_caught_at_step_1_at_ds1(scale_kind):
    """The same network with scratch's ds averaged over the batch of 8: a mismatch at step 1 whose
    first divergence is ds1 (everything before it agrees), named as a factor of 1/m."""
    report = compare.run(spec_of(Scale(wrong=True)), toy_data(), frameworks=("scratch", "torch"))
    assert report.verdict == "mismatch"
    first = report.first_divergence
    assert (first["step"], first["tensor"]) == (1, "ds1"), first
    np.testing.assert_allclose(first["values"]["scratch"] * 8, first["values"]["torch"], rtol=1e-12)
    assert "a factor of 1/m = 1/8" in first["explanation"]
