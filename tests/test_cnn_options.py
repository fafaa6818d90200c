"""The image layers' options in the layer list (issue 20): pooling padding ('valid', 'same', torch's
int or pair), ceil_mode, count_include_pad, GlobalAvgPool2D, BatchNorm over channels, Dropout and
SpatialDropout2D on images, each run in scratch, torch and Keras in lockstep through compare.run:
every tensor judged at 1e-9 in float64 over odd and even sizes, and within the float32 bound
(check.FLOAT32_RTOL) in float32; scratch's gradients through each against central differences.

Where ceil_mode adds a last, partial window, Keras (which pools 'valid' or 'same' only) is not
built, and the report names the rule (pool-ceil-mode); where it adds none, Keras mirrors it
exactly."""
from types import SimpleNamespace

import numpy as np
import pytest

import compare
from compare import Activation, BatchNorm, Dense, Dropout
from compare.engine import convert
from compare.engine.check import FLOAT32_RTOL
from compare.engine.image_layers import (AvgPool2D, Conv2D, Flatten, GlobalAvgPool2D, MaxPool2D,
                                         SpatialDropout2D)
from compare.engine.masks import draw_masks, mask_stream
from scratch.mlp import MLP

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")

ALL = ("scratch", "torch", "keras")
SHAPES = [(2, 7, 7), (2, 8, 6)]                      # odd and even rows and columns
SHAPE_IDS = ["7x7", "8x6"]


def data(shape, n=8, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, int(np.prod(shape))))
    return compare.Data(X=X, Y=np.eye(classes)[rng.integers(0, classes, n)], X_eval=X[:4])


def spec_of(shape, layers, **changes):
    settings = dict(loss="categorical_crossentropy", optimizer="sgd", lr=0.05, momentum=0.9,
                    batch_size=4, steps=2, seed=1)
    settings.update(changes)
    return compare.Spec(input_shape=shape, layers=layers, **settings).validate()


THREE = ("torch", "keras", "torch~keras")
HEAD = [Flatten(), Dense(3), Activation("softmax")]


def run_judged(spec, shape, frameworks=ALL, pairs=THREE, bound=1e-9, **options):
    """Run; assert PASS with exactly `pairs` judged, every judged error <= bound.
    -> (report, the names judged at step 1)"""
    report = compare.run(spec, data(shape), frameworks=frameworks, **options)
    found = report.first_divergence or {}
    assert report.verdict == "pass", (report.summary["verdict_reason"], found.get("step"),
                                      found.get("tensor"), found.get("max_rel_err"))
    assert sorted(report.summary["judged_pairs"]) == sorted(pairs)
    worst = max(report.summary["max_rel_err"][pair] for pair in pairs)
    assert worst <= bound, worst
    names = {e.name for pair in pairs for e in report.raw["first_step_errors"][pair]}
    return report, names


def pooled(shape, pool):
    return spec_of(shape, [Conv2D(3, 2, padding="same"), Activation("tanh"), pool, Flatten(),
                           Dense(3), Activation("softmax")])


# --- pooling: padding, ceil_mode, count_include_pad --------------------------------------------

POOLS = [
    MaxPool2D(2), MaxPool2D(3, 1, padding=1), MaxPool2D(3, 2, padding="same"),
    MaxPool2D(2, 2, padding="same"),
    MaxPool2D((3, 2), (2, 1), padding=(1, 0)), MaxPool2D(3, 2, padding=1, ceil_mode=True),
    MaxPool2D(2, 2, ceil_mode=True), MaxPool2D(3, 2, ceil_mode=True),
    AvgPool2D(3, 2, padding=1), AvgPool2D(3, 2, padding=1, count_include_pad=False),
    AvgPool2D(3, 2, padding="same"), AvgPool2D(2, 2, padding="same"),
    AvgPool2D(3, 2, padding="same", count_include_pad=True), AvgPool2D((2, 3), 1, padding=(1, 1)),
    AvgPool2D(3, 2, padding=1, ceil_mode=True),
    AvgPool2D(3, 2, padding=1, ceil_mode=True, count_include_pad=False),
    AvgPool2D(2, 2, ceil_mode=True),
]


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("pool", POOLS, ids=[p.describe() for p in POOLS])
def test_pooling_options_agree_in_scratch_torch_and_keras(shape, pool):
    spec = pooled(shape, pool)
    placed = spec.network.placed[2]
    adds = pool.adds_windows(placed.n_in)
    if adds:                           # Keras cannot: not built, the rule named; torch alone judged
        report, names = run_judged(spec, shape, pairs=("torch",))
        assert "pool-ceil-mode" in report.summary["unavailable"]["keras"]
        floor = pool.output_hw(placed.n_in, False)
        assert placed.n_out[1:] != floor and all(a == b + 1 for a, b in zip(placed.n_out[1:], floor)
                                                if a != b)
    else:
        report, names = run_judged(spec, shape)
        assert not report.summary["unavailable"]
    assert {"P1", "dP1", "dZ1", "dW1"} <= names


@pytest.mark.parametrize("pool, counts", [
    (AvgPool2D(3, 2, padding="same"), False), (AvgPool2D(3, 2, padding=1), True),
    (AvgPool2D(3, 2, padding="same", count_include_pad=True), True),
    (AvgPool2D(3, 2, padding=1, count_include_pad=False), False)])
def test_the_divisor_at_a_border_is_each_frameworks_own(pool, counts):
    """A corner window of ones under 3x3 'same' or padding 1 pooling: 4 real cells of 9. Keras's
    'same' (tf.nn.avg_pool 'SAME') divides by 4, torch's AvgPool2d by 9 (count_include_pad=True);
    the layer's count_include_pad None follows the padding's own framework."""
    assert pool.counts_padding() == counts
    x = np.ones((1, 1, 7, 7))
    from scratch import pool as scratch_pool
    kernel, strides, padding = pool.geometry((1, 7, 7))
    out, _ = scratch_pool.avg_pool2d_forward(x, kernel, strides, padding, False, counts)
    assert out[0, 0, 0, 0] == (4 / 9 if counts else 1.0)
    if pool.padding == "same":
        layer = keras.layers.AveragePooling2D(3, 2, padding="same", dtype="float64")
        same = layer(np.ones((1, 7, 7, 1))).numpy()
        assert same[0, 0, 0, 0] == 1.0                               # Keras: the real cells alone
    else:
        layer = torch.nn.AvgPool2d(3, 2, padding=1, count_include_pad=counts)
        ref = layer(torch.ones(1, 1, 7, 7, dtype=torch.float64))
        assert ref[0, 0, 0, 0].item() == out[0, 0, 0, 0]


CONV_POOL = [
    (Conv2D(3, 3, strides=2, padding="same"), AvgPool2D(2, padding="same")),
    (Conv2D(3, 3, padding=1, dilation=2), MaxPool2D(3, 2, padding=1, ceil_mode=True)),
    (Conv2D(2, 2, strides=(1, 2), padding=(0, 1, 1, 0)),
     AvgPool2D(2, 1, padding=1, count_include_pad=False)),
    (Conv2D(3, 3, dilation=(2, 1), bias=False), MaxPool2D(2, 1, padding=(1, 0))),
]


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("conv, pool", CONV_POOL,
                         ids=[f"{c.describe()}-{p.describe()}" for c, p in CONV_POOL])
def test_conv_and_pooling_options_together(shape, conv, pool):
    spec = spec_of(shape, [conv, Activation("relu"), pool, Flatten(), Dense(4), Activation("tanh"),
                           Dense(3), Activation("softmax")])
    placed = spec.network.placed[2]
    pairs = ("torch",) if pool.adds_windows(placed.n_in) else THREE
    run_judged(spec, shape, pairs=pairs)


@pytest.mark.parametrize("layers, words", [
    ([MaxPool2D(3, 2, padding="same", ceil_mode=True)],
     "ceil_mode is torch's and padding 'same' Keras's"),
    ([MaxPool2D(2, padding=2)], "at most half its window"),
    ([AvgPool2D(3, padding=(1, 0, 1, 0))],
     "a pooling's padding is 'valid', 'same', an int or (rows, columns)"),
    ([AvgPool2D(3, padding="full")], "a pooling's padding is"),
    ([compare.LayerNorm()], "not mirrored yet: put it after the Flatten"),
    ([Dropout(0.2), Activation("relu"), SpatialDropout2D(0.3)], "one dropout per block"),
])
def test_pooling_settings_no_framework_can_build_are_one_line(layers, words):
    with pytest.raises(compare.InputError) as caught:
        compare.Spec(input_shape=(1, 6, 6), layers=[Conv2D(2, 3), *layers, Flatten(), Dense(3)],
                     loss="mse").validate()
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_ceil_mode_keras_cannot_pool_is_refused_there_in_one_line():
    """The Keras builder itself refuses (exit 2 through the harness) and scratch in Keras's
    conventions too; a run against Keras alone judges nothing and says why."""
    shape = (1, 6, 6)
    spec = pooled(shape, MaxPool2D(3, 2, ceil_mode=True))
    placed = spec.network.placed[2]
    with pytest.raises(compare.InputError, match=r"pool-ceil-mode\)$"):
        placed.layer.keras(SimpleNamespace(n_in=placed.n_in))
    with pytest.raises(compare.InputError, match="pool-ceil-mode"):
        placed.layer.scratch(SimpleNamespace(n_in=placed.n_in, convention="keras"))
    report = compare.run(spec, data(shape), frameworks=("scratch", "keras"))
    assert report.verdict == "nothing-judged"
    assert "pool-ceil-mode" in report.summary["verdict_reason"]


# --- global average pooling ---------------------------------------------------------------------

@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("conv", [Conv2D(3, 3), Conv2D(4, 2, strides=2, padding="same")],
                         ids=["3x3", "s2same"])
def test_global_average_pooling_agrees(shape, conv):
    spec = spec_of(shape, [conv, Activation("relu"), GlobalAvgPool2D(), Dense(3),
                           Activation("softmax")])
    assert spec.network.placed[2].n_out == conv.filters == spec.network.placed[3].n_in
    report, names = run_judged(spec, shape)
    assert {"P1", "dP1", "W2", "dW2", "dZ1"} <= names


# --- batch norm over channels -------------------------------------------------------------------

BATCHNORMS = [BatchNorm(), BatchNorm(momentum=0.2, eps=1e-3, written_in="torch"),
              BatchNorm(momentum=0.9, eps=1e-4, written_in="keras")]


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("norm", BATCHNORMS, ids=["defaults", "torch-written", "keras-written"])
def test_batchnorm_over_channels_agrees_in_training_and_evaluation(shape, norm):
    """gamma, beta, running mean and var are per channel (C,); scratch follows each framework's
    running variance (torch's unbiased by N H W / (N H W - 1)), so torch~keras is reported, not
    judged (batchnorm-running-variance). Evaluation (predict: the running statistics) agrees too."""
    spec = spec_of(shape, [Conv2D(3, 3, padding=1, bias=False), norm, Activation("relu"),
                           MaxPool2D(2), Flatten(), Dense(3), Activation("softmax")], steps=3)
    assert spec.network.param_shapes()["gamma1"] == (3, 1)
    report, names = run_judged(spec, shape, pairs=("torch", "keras"))
    assert {"N1", "dN1", "dgamma1", "dbeta1", "gamma1", "mean1", "var1"} <= names
    assert "batchnorm-running-variance" in report.summary["pairs"]["torch~keras"]["reasons"]
    outputs = report.final_outputs
    for ours, theirs in (("scratch", "torch"), ("scratch@keras", "keras")):
        a, b = np.asarray(outputs[ours]), np.asarray(outputs[theirs])
        assert np.max(np.abs(a - b)) <= 1e-9 * np.max(np.abs(b))


def test_batchnorm_statistics_are_per_channel_in_every_layout():
    spec = spec_of((2, 5, 5), [Conv2D(3, 3, bias=False), BatchNorm(), Activation("relu"), Flatten(),
                               Dense(3), Activation("softmax")])
    for role in ("gamma1", "beta1", "mean1", "var1"):
        value = np.arange(3.0).reshape(3, 1)
        for framework in ("torch", "keras"):
            held = convert.from_scratch(framework, role, value, spec.network)
            back = convert.to_scratch(framework, role, held, spec.network)
            assert held.shape == (3,) and np.array_equal(back, value)


# --- dropout on images --------------------------------------------------------------------------

@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("drop, after_pool", [
    (Dropout(0.3), False), (Dropout(0.3), True), (SpatialDropout2D(0.4), False),
    (SpatialDropout2D(0.4), True)], ids=["dropout", "dropout-pooled", "spatial", "spatial-pooled"])
def test_dropout_on_images_applies_the_harness_mask_everywhere(shape, drop, after_pool):
    pool = [MaxPool2D(2)] if after_pool else []
    layers = [Conv2D(3, 2), Activation("relu"), *pool, drop, *HEAD]
    spec = spec_of(shape, layers, steps=3)
    placed = spec.network.placed[-4]
    C, H, W = placed.n_in
    masks = draw_masks(spec, mask_stream(spec), 4)
    rows = C if isinstance(drop, SpatialDropout2D) else C * H * W
    assert masks[1].shape == (rows, 4) and 0 < masks[1].sum() < masks[1].size
    report, names = run_judged(spec, shape, keep_step=1)
    assert {"A1", "dZ1", "dW1"} <= names
    kept = report.raw["kept"]["records"]["scratch"]["A1"]      # (C H W, m): what the dropout gave
    spatial = isinstance(drop, SpatialDropout2D)
    mask = np.repeat(masks[1], H * W, axis=0) if spatial else masks[1]
    assert np.all(kept[mask == 0] == 0) and np.any(kept[mask == 1] != 0)
    for framework, layout in (("torch", (4, C, H, W) if not spatial else (4, C, 1, 1)),
                              ("keras", (4, H, W, C) if not spatial else (4, 1, 1, C))):
        assert convert.mask_to_framework(framework, spec.network, 1, masks[1]).shape == layout


# --- float32: within the engine's stated bound ------------------------------------------------

FLOAT32 = {
    "maxpool-padding-ceil": [Conv2D(3, 2), Activation("relu"),          # 6x6: ceil adds a window
                             MaxPool2D(3, 2, padding=1, ceil_mode=True), *HEAD],
    "avgpool-same": [Conv2D(3, 3, padding=1), Activation("relu"), AvgPool2D(3, 2, padding="same"),
                     *HEAD],
    "avgpool-count-pad": [Conv2D(3, 3), Activation("relu"), AvgPool2D(3, 2, padding=1), *HEAD],
    "gap": [Conv2D(3, 3), Activation("relu"), GlobalAvgPool2D(), *HEAD[1:]],
    "batchnorm2d": [Conv2D(3, 3, bias=False), BatchNorm(), Activation("relu"), *HEAD],
    "dropout": [Conv2D(3, 3), Activation("relu"), Dropout(0.3), *HEAD],
    "spatial-dropout": [Conv2D(3, 3), Activation("relu"), SpatialDropout2D(0.4), *HEAD],
}


@pytest.mark.parametrize("name", list(FLOAT32))
def test_each_new_kind_stays_within_the_float32_bound(name):
    shape = (2, 7, 7)
    spec = spec_of(shape, FLOAT32[name], dtype="float32", steps=3)
    placed = spec.network.placed[2]
    ceil = isinstance(placed.layer, MaxPool2D) and placed.layer.adds_windows(placed.n_in)
    assert ceil == (name == "maxpool-padding-ceil")
    pairs = ("torch",) if ceil else ("torch", "keras")      # torch~keras: two resynced runs
    report, _ = run_judged(spec, shape, pairs=pairs, bound=FLOAT32_RTOL)
    assert report.summary["rtol"] == FLOAT32_RTOL


# --- finite differences through each new path ----------------------------------------------------

FD_NETWORKS = {                            # after Conv2D(2, 2) and tanh (batch norm: before tanh)
    "maxpool-padding-ceil": [MaxPool2D(3, 2, padding=1, ceil_mode=True)],
    "maxpool-same": [MaxPool2D(2, 2, padding="same")],
    "avgpool-count-pad-ceil": [AvgPool2D(3, 2, padding=1, ceil_mode=True)],
    "avgpool-real-cells": [AvgPool2D(3, 2, padding=1, count_include_pad=False)],
    "avgpool-same": [AvgPool2D(2, 2, padding="same")],
    "gap": [GlobalAvgPool2D()],
    "batchnorm2d": [BatchNorm(eps=1e-3)],
    "dropout": [Dropout(0.4)],
    "spatial-dropout": [SpatialDropout2D(0.5)],
}


@pytest.mark.parametrize("name", list(FD_NETWORKS))
def test_scratch_gradients_through_each_new_path_match_central_differences(name):
    layer = FD_NETWORKS[name][0]
    if isinstance(layer, BatchNorm):
        block = [Conv2D(2, 2, bias=False), layer, Activation("tanh")]     # db1 = 0 but for rounding
    else:
        block = [Conv2D(2, 2), Activation("tanh"), layer]
    tail = [] if isinstance(layer, GlobalAvgPool2D) else [Flatten()]
    spec = spec_of((2, 5, 6), [*block, *tail, Dense(3), Activation("softmax")])
    rng = np.random.default_rng(7)
    kernels = spec.network.kernels()
    params = [(rng.normal(0, 0.6, kernels[l][0]), rng.normal(0, 0.3, (kernels[l][0][0], 1)))
              for l in (1, 2)]
    assert len(kernels) == 2
    net = MLP(spec, params, "torch")
    m = 5
    net.masks = draw_masks(spec, mask_stream(spec), m)
    X, Y = rng.normal(size=(60, m)), np.eye(3)[:, rng.integers(0, 3, m)]
    if "gamma1" in net.params:
        net.params["gamma1"] = rng.normal(1, 0.3, (2, 1))
        net.params["beta1"] = rng.normal(0, 0.3, (2, 1))
    grads = net.backward(net.forward(X), Y)
    for param in [p for p in ("W1", "b1", "gamma1", "beta1", "W2") if p in net.params]:
        value, h = net.params[param], 1e-6
        numeric = np.zeros_like(value)
        for i in np.ndindex(value.shape):
            keep = value[i]
            value[i] = keep + h
            up = float(net.loss(net.forward(X), Y))
            value[i] = keep - h
            numeric[i] = (up - float(net.loss(net.forward(X), Y))) / (2 * h)
            value[i] = keep
        assert np.max(np.abs(grads["d" + param] - numeric)) <= 1e-7 * np.max(np.abs(numeric)), param


def test_a_max_pool_tie_in_a_padded_ceil_mode_window_is_found():
    """judge.pool_ties over padding and a ceil-mode overhang (-inf, never a maximum): a tie rounded
    apart is counted in each window holding both tied cells, the last, partial one included; the
    same values with one clearly larger are not."""
    from compare.engine import judge

    pool = MaxPool2D(3, 2, padding=1, ceil_mode=True)
    spec = spec_of((1, 4, 4), [Conv2D(1, 1), Activation("relu"), pool, *HEAD])
    assert spec.network.placed[2].n_out == (1, 3, 3)    # windows at rows -1, 1 and 3 (partial)
    ours = np.arange(16.0)[:, None] / 100                # (C H W, m) of a 4x4 image
    ours[[13, 14], 0] = 0.9                              # (3, 1), (3, 2): windows (1, 1), (2, 1)
    rounded = ours.copy()
    rounded[14, 0] = np.nextafter(0.9, 1.0)              # rounded apart: the other pick in both
    assert judge.pool_ties(spec, {"A1": ours}, {"A1": rounded}, 1e-9) == {1: 2}
    larger = ours.copy()
    larger[14, 0] = 1.5
    assert judge.pool_ties(spec, {"A1": ours}, {"A1": larger}, 1e-9) == {1: 0}
