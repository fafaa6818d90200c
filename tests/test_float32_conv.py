"""Float32 runs of CNNs judged against their accumulation bounds (compare/engine/bounds32.py,
docs/judgement.md): small CNNs in every stride/padding/channel combination pass with the errors
at most half of B (the stated margin); B is not vacuous (some tensor's measured error comes within a
factor of 100 of it; the ratios are printed); B is a worst case over every summation order, so
nothing here depends on the CPU's float32 bits (AVX2 and AVX-512 alike); and a real bug, the
kernel flipped, is still caught in float32 at Z1."""
from unittest import mock

import numpy as np
import pytest

import compare
from compare import Activation, Dense
from compare.data import bugs
from compare.engine import bounds, bounds32
from compare.engine.check import FLOAT32_RTOL
from compare.engine.image_layers import AvgPool2D, Conv2D, Flatten, MaxPool2D

pytest.importorskip("torch")
pytest.importorskip("keras")

MARGIN = 0.5          # a correct run's worst error is at most half of B
NOT_VACUOUS = 1e-2    # and some tensor's error reaches 1/100 of its B


def data(shape, n=16, classes=3, seed=0):
    """Images with a blank border and positive strokes, as MNIST's (so ReLU and max-pool see zeros)."""
    rng = np.random.default_rng(seed)
    X = np.clip(rng.normal(0.3, 0.5, size=(n, *shape)), 0, None)
    X[:, :, 0, :] = 0.0
    X = X.reshape(n, -1)
    return compare.Data(X=X, Y=np.eye(classes)[rng.integers(0, classes, n)], X_eval=X[:3])


def spec_of(shape, layers, **changes):
    settings = dict(loss="categorical_crossentropy", optimizer="sgd", lr=0.05, momentum=0.9, batch_size=8,
                    steps=3, seed=1, dtype="float32")
    settings.update(changes)
    return compare.Spec(input_shape=shape, layers=layers, **settings).validate()


def measured(spec, shape, frameworks=("scratch", "torch", "keras")):
    """Run in float32; -> (report, [(pair-step tensor, max_abs, B)]) for every tensor held to B."""
    seen, original = [], bounds.accumulation_bounds

    def spy(errors, rtol, built):
        found = bounds32.Float32Bounds(built)
        for e in errors:
            B = found.bound(e.name)
            if B is not None and not e.tied and e.name in found.e:
                seen.append((e.name, e.max_abs, B))
        return original(errors, rtol, built)

    with mock.patch.object(bounds, "accumulation_bounds", spy):
        report = compare.run(spec, data(shape), frameworks=frameworks)
    return report, seen


NETS = {
    "1ch-s1-same-max": ((1, 10, 10), [Conv2D(4, 3, padding="same"), Activation("relu"), MaxPool2D(2),
                                       Conv2D(6, 3), Activation("relu"), Flatten(), Dense(3), Activation("softmax")]),
    "3ch-s2-same": ((3, 9, 9), [Conv2D(5, 3, strides=2, padding="same"), Activation("relu"),
                                Flatten(), Dense(3), Activation("softmax")]),
    "3ch-s2-valid-avg": ((3, 11, 10), [Conv2D(4, 3, strides=2), Activation("tanh"), AvgPool2D(2),
                                       Flatten(), Dense(3), Activation("softmax")]),
    "1ch-s1-valid-overlap": ((1, 9, 8), [Conv2D(3, 2), Activation("relu"), MaxPool2D(3, 2),
                                         Flatten(), Dense(3), Activation("softmax")]),
}


@pytest.mark.parametrize("net", NETS)
def test_float32_cnns_pass_within_the_accumulation_bound(net, capsys):
    shape, layers = NETS[net]
    report, seen = measured(spec_of(shape, layers), shape)
    assert report.verdict == "pass", report.summary["verdict_reason"]
    names = {name for name, _, _ in seen}
    assert {"Z1", "dW1", "db1"} <= names                     # forward and backward reached
    ratios = {}
    for name, max_abs, B in seen:
        ratios[name] = max(ratios.get(name, 0.0), max_abs / B)
    with capsys.disabled():
        print(f"\n{net}: max error / B per tensor: " + ", ".join(f"{n} {r:.2g}" for n, r in sorted(ratios.items())))
    assert max(ratios.values()) <= MARGIN
    assert max(ratios.values()) >= NOT_VACUOUS, ratios


def test_accumulation_lengths_are_the_sums_the_layers_compute():
    """n(Z) = C kh kw + 1, n(dW) = n(db) = m Ho Wo, n(dX) = F times the taps reaching a cell."""
    shape = (3, 9, 9)
    spec = spec_of(shape, [Conv2D(5, 3, strides=2, padding="same"), Activation("relu"), Conv2D(4, 3),
                           Activation("relu"), Flatten(), Dense(3), Activation("softmax")], steps=1)
    lengths = {}
    original = bounds.accumulation_bounds

    def spy(errors, rtol, built):
        lengths.update(bounds32.Float32Bounds(built).n)
        return original(errors, rtol, built)

    with mock.patch.object(bounds, "accumulation_bounds", spy):
        compare.run(spec, data(shape), frameworks=("scratch", "torch"))
    # conv 1: 3 x 9 x 9 -> 5 x 5 x 5 ('same', stride 2); conv 2: 5 x 5 x 5 -> 4 x 3 x 3, batch 8
    assert lengths["Z1"] == 3 * 3 * 3 + 1 and lengths["Z2"] == 5 * 3 * 3 + 1
    assert lengths["dW1"] == lengths["db1"] == 8 * 5 * 5 and lengths["dW2"] == 8 * 3 * 3
    assert lengths["dA1"] == 4 * 9                                        # stride 1: every tap reaches a cell
    assert bounds32.taps_per_cell(3, 2, 1) == 2 and bounds32.taps_per_cell(5, 2, 1) == 3
    assert bounds32.taps_per_cell(3, 2, 2) == 3                           # dilation 2, stride 2: all on one parity


def test_the_bound_holds_for_any_summation_order():
    """B bounds every order: a conv output summed forwards, backwards and pairwise in float32 stays
    within gamma_n sum|terms| of the float64 sum, and the worst is within 100 of it."""
    rng = np.random.default_rng(3)
    n = 5 * 5 * 16
    worst = 0.0
    for _ in range(200):
        terms = (rng.normal(size=n) * rng.normal(size=n)).astype(np.float32)
        exact = float(np.sum(terms.astype(np.float64)))
        bound = n * bounds32.U * float(np.sum(np.abs(terms.astype(np.float64))))
        for order in (terms, terms[::-1]):
            s = np.float32(0.0)
            for t in order:
                s = np.float32(s + t)
            worst = max(worst, abs(float(s) - exact) / bound)
        worst = max(worst, abs(float(np.sum(terms)) - exact) / bound)      # NumPy's pairwise sum
    assert worst <= 1.0 and worst >= 1e-3


def test_a_real_bug_is_still_caught_in_float32():
    """The kernel flipped (a convolution instead of the cross-correlation): MISMATCH at step 1, Z1."""
    shape, layers = NETS["1ch-s1-same-max"]
    with bugs.inject("conv-kernel-flipped"):
        report = compare.run(spec_of(shape, layers), data(shape), frameworks=("scratch", "torch"))
    found = report.first_divergence
    assert report.verdict != "pass" and found["step"] == 1 and found["tensor"] == "Z1"
    assert found["max_rel_err"] > 100 * FLOAT32_RTOL


def test_B_judges_what_the_plain_rule_lets_through():
    """A convolution off by 3e-5 of itself (ten times below the plain float32 rule, 3e-4) fails
    at Z1 because B holds Z1 to its accumulation bound; with B switched off the same run passes."""
    from scratch import image_layers

    forward = image_layers.Conv2D.forward

    def off(self, P, X, run):
        Z, kept = forward(self, P, X, run)
        return Z * (1 + 3e-5), kept

    shape, layers = NETS["3ch-s2-same"]
    spec = spec_of(shape, layers)
    with mock.patch.object(image_layers.Conv2D, "forward", off):
        report = compare.run(spec, data(shape), frameworks=("scratch", "torch"))
        assert report.verdict != "pass" and report.first_divergence["tensor"] == "Z1"
        with mock.patch.object(bounds, "accumulation_bounds", lambda errors, rtol, built: None):
            assert compare.run(spec, data(shape), frameworks=("scratch", "torch")).verdict == "pass"
