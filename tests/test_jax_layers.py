"""The layer kinds other than Dense and Activation in Flax (reference/jax_layers.py) against scratch
in JAX's conventions (scratch@jax), in lockstep through compare.run in float64: batch norm (before
and after the activation, a frozen gamma, over channels), layer norm, dropout and spatial dropout
with the harness's masks, Conv2D (valid, same, strided same, explicit pads, dilation, no bias), max
and average pooling (valid, same, padded), global average pooling, Flatten; the recipes with those
layers; the cross pairs (torch~jax, keras~jax) named by their rules. Each JAX-only rule is shown
in numbers: Flax's fast variance (E[x^2] - E[x]^2) against the two-pass one on a unit whose mean
is large, dropout's division against the product by fl(1 / (1 - p)), max pooling's tie rule."""
import dataclasses

import numpy as np
import pytest

import compare
from compare import Activation, Dense
from compare.data import recipes
from compare.engine.image_layers import (AvgPool2D, Conv2D, Flatten, GlobalAvgPool2D, MaxPool2D,
                                         SpatialDropout2D)
from compare.engine.layers import BatchNorm, Dropout, LayerNorm
from scratch import layers as scratch_layers
from scratch import pool as scratch_pool
from scratch.conventions import JAX, TORCH

jax = pytest.importorskip("jax")
pytest.importorskip("flax")
pytest.importorskip("optax")
import jax.numpy as jnp  # noqa: E402
from flax import nnx  # noqa: E402

SGD = dict(loss="categorical_crossentropy", optimizer="sgd", lr=0.05, momentum=0.9, batch_size=4,
           steps=2, seed=1)


def data(n_in, n=12, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_in))
    return compare.Data(X=X, Y=np.eye(classes)[rng.integers(0, classes, n)], X_eval=X[:3])


def run(layers, shape=None, n_in=None, frameworks=("scratch", "jax"), **changes):
    spec = (compare.Spec(input_shape=shape, layers=layers, **{**SGD, **changes}) if shape else
            compare.Spec(sizes=[n_in], layers=layers, **{**SGD, **changes})).validate()
    return compare.run(spec, data(int(np.prod(shape)) if shape else n_in), frameworks=frameworks)


def assert_jax_pair(report, names):
    """scratch@jax ~ jax judged and within 1e-9, every tensor in `names` among those judged."""
    s = report.summary
    found = s["first_divergence"] or {}
    assert s["pairs"]["jax"]["judged"] and s["verdict"] == "pass", (
        f"{s['verdict_reason']}: {found.get('tensor')} step {found.get('step')}")
    assert s["max_rel_err"]["jax"] <= 1e-9
    judged = {e.name for e in report.raw["first_step_errors"]["jax"]}
    assert names <= judged, names - judged


MLPS = {
    "batchnorm-before-and-after-activation": (
        [Dense(5, bias=False), BatchNorm(), Activation("relu"), Dropout(0.3), Dense(4),
         Activation("tanh"),
         BatchNorm(momentum=0.1, eps=1e-3, written_in="torch", frozen=["gamma"]),
         Dense(3), Activation("softmax")],
        {"N1", "dN1", "dgamma1", "mean1", "var1", "A1", "N2", "dbeta2", "mean2", "var2"}),
    "layernorm": ([Dense(5), LayerNorm(), Activation("tanh"), Dense(3), Activation("softmax")],
                  {"N1", "dN1", "dgamma1", "dbeta1", "gamma1"}),
}
CNNS = {       # one pooling per block
    "conv-valid-bn-spatialdropout-maxpool-padded-strided-same-nobias-avgpool-same": (
        [Conv2D(3, 3), BatchNorm(), Activation("relu"), SpatialDropout2D(0.4),
         MaxPool2D(3, 2, padding=1), Conv2D(2, 2, strides=2, padding="same", bias=False),
         Activation("relu"), AvgPool2D(2, 1, padding="same"), Flatten(), Dense(3),
         Activation("softmax")],
        {"Z1", "N1", "mean1", "A1", "P1", "dP1", "Z2", "dW2", "P2", "dP2", "W3"}, dict(l1=1e-3)),
    "conv-pads-dilation-avgpool-padded-same-avgpool-valid": (
        [Conv2D(3, 3, padding=(0, 1, 1, 0), dilation=2), Activation("tanh"),
         AvgPool2D(3, 1, padding=1), Conv2D(2, 2, padding="same"), Activation("relu"), AvgPool2D(2),
         Flatten(), Dense(3), Activation("softmax")],
        {"Z1", "dW1", "db1", "P1", "dP1", "Z2", "P2", "dP2", "dZ2"},
        dict(l2=1e-2, regularize_biases=True)),
    "global-avgpool": (
        [Conv2D(3, 3), Activation("relu"), GlobalAvgPool2D(), Dense(3), Activation("softmax")],
        {"Z1", "P1", "dP1", "dW1", "Z2"}, {}),
}


@pytest.mark.parametrize("name", list(MLPS))
def test_norm_and_dropout_layers_agree_with_scratch_at_jax(name):
    layers, names = MLPS[name]
    assert_jax_pair(run(layers, n_in=6), names)


@pytest.mark.parametrize("name", list(CNNS))
def test_image_layers_agree_with_scratch_at_jax(name):
    """(L1, or L2 with the biases, over the Conv kernels too: a Conv's penalized roles.)"""
    layers, names, changes = CNNS[name]
    assert_jax_pair(run(layers, shape=(2, 9, 8), **changes), names)


def test_four_frameworks_judge_each_pair_and_name_the_rules_of_the_cross_pairs():
    """A CNN with batch norm over channels, dropout on images, 'same' max pooling and a Flatten: the
    three subject pairs within 1e-9; the cross pairs with JAX are named by their rules (batch norm's
    defaults, flatten order), never failed."""
    layers = [Conv2D(3, 3, padding="same"), BatchNorm(), Activation("relu"), Dropout(0.2),
              MaxPool2D(3, 2, padding="same"), Flatten(), Dense(3), Activation("softmax")]
    report = run(layers, shape=(2, 6, 5), frameworks=("scratch", "torch", "keras", "jax"), steps=1)
    s = report.summary
    assert s["verdict"] == "pass" and set(s["judged_pairs"]) == {"torch", "keras", "jax"}
    assert max(s["max_rel_err"][p] for p in ("torch", "keras", "jax")) <= 1e-9
    torch_jax, keras_jax = s["pairs"]["torch~jax"]["reasons"], s["pairs"]["keras~jax"]["reasons"]
    assert {"batchnorm-default-momentum", "norm-default-eps",
            "batchnorm-running-variance"} <= set(torch_jax)
    assert "flatten-order" in torch_jax and "flatten-order" not in keras_jax   # NHWC like Keras
    assert "norm-default-eps" in keras_jax                                     # 1e-3 against 1e-5
    assert s["max_rel_err"]["keras~jax"] > 1e-9                                # eps: really differs


RECIPES = ["mnist-batchnorm", "mnist-dropout", "cnn-zoo", "cnn-zoo-avgpool", "mnist-cnn-small"]


@pytest.mark.parametrize("name", RECIPES)
def test_recipes_with_these_layers_agree_in_jax(name):
    """One step of each recipe (SGD: mnist-cnn-small's Adadelta and cosine schedule are reference/
    jax_optim.py's, tested there), scratch@jax against jax within 1e-9."""
    recipe = recipes.get(name)
    changes = dict(steps=1)
    if recipe.spec.optimizer != "sgd":
        changes.update(optimizer="sgd", schedule=None)
    report = compare.run(recipe.spec.replace(**changes), recipe.load(), recipe=name,
                         frameworks=("scratch", "jax"))
    assert_jax_pair(report, {"Z1", "dW1", "A1"})


# --- each JAX layer rule in numbers ---------------------------------------------------------------

def test_flax_norms_take_the_fast_variance_and_scratch_at_jax_follows_it():
    """A unit whose mean (1e6) is large against its spread (1): E[x^2] - E[x]^2 loses ~1e-3 of the
    normalized value against the two-pass variance; Flax's BatchNorm and LayerNorm give the fast
    form's numbers (scratch with Convention.fast_variance), not the two-pass ones. Four examples:
    numpy and XLA then sum in the same order, so the fast forms agree to the bit."""
    assert JAX.fast_variance and not TORCH.fast_variance
    Z = np.random.default_rng(1).normal(size=(5, 4)) + 1e6               # scratch (units, examples)
    with jax.enable_x64(True):
        f64 = dict(dtype=jnp.float64, param_dtype=jnp.float64, rngs=nnx.Rngs(0))
        bn = nnx.BatchNorm(5, epsilon=1e-5, **f64)
        bn.mean.set_value(jnp.zeros(5))
        bn.var.set_value(jnp.ones(5))
        flax_bn = np.asarray(bn(jnp.asarray(Z.T), use_running_average=False)).T
        ln = nnx.LayerNorm(4, epsilon=1e-6, **f64)
        flax_ln = np.asarray(ln(jnp.asarray(Z))).T                       # rows of 4 units: Z's rows
    for axis, flax_out, eps, Zs in ((scratch_layers.BATCH, flax_bn, 1e-5, Z),
                                    (scratch_layers.LAYER, flax_ln, 1e-6, Z.T)):   # Z's rows
        gamma, beta = np.ones((Zs.shape[0], 1)), np.zeros((Zs.shape[0], 1))
        fast = scratch_layers.norm_forward(Zs, gamma, beta, eps, axis, JAX)[0]
        two_pass = scratch_layers.norm_forward(Zs, gamma, beta, eps, axis, TORCH)[0]
        assert np.abs(two_pass - flax_out).max() > 1e-4            # the forms really differ here
        assert np.abs(fast - flax_out).max() <= 1e-12              # Flax's is the fast one


def test_dropout_division_and_product_differ_in_the_last_bit_and_scratch_computes_each():
    """Flax writes x / keep_prob (nnx.Dropout); fl(x / (1 - p)) and x * fl(1 / (1 - p)) differ by
    one ulp on about a third of the units at p = 0.3. What XLA computes for nnx.Dropout (jitted, on
    this backend) is measured and scratch's two branches (Convention.dropout_divides) reproduce
    each form to the bit. On XLA CPU the division is computed as the product by the reciprocal."""
    rate, x = 0.3, np.random.default_rng(2).normal(size=(64, 50))
    divided, multiplied = x / (1 - rate), x * (1 / (1 - rate))
    differ = divided != multiplied
    assert 0.1 < differ.mean() < 0.6
    ulp = np.spacing(np.abs(divided))
    assert np.all(np.abs(divided - multiplied)[differ] <= ulp[differ])          # one ulp
    with jax.enable_x64(True):
        drop = nnx.Dropout(rate, rngs=nnx.Rngs(dropout=3))
        out = np.asarray(nnx.jit(lambda d, a: d(a, deterministic=False))(drop, jnp.asarray(x)))
    mask = (out != 0).astype(float)
    assert 0.5 < mask.mean() < 0.9
    kept = mask > 0
    for divides, form in ((True, divided), (False, multiplied)):
        convention = dataclasses.replace(JAX, dropout_divides=divides)
        scratch_out = scratch_layers.dropout_forward(x, mask, rate, convention)
        assert np.array_equal(scratch_out[kept], form[kept])
    xla_divides = np.array_equal(out[kept], divided[kept])
    assert xla_divides or np.array_equal(out[kept], multiplied[kept])
    if jax.default_backend() == "cpu":
        assert not xla_divides                                           # XLA CPU: x * fl(1 / keep)


def test_max_pooling_gradient_goes_to_the_first_maximum_in_jax_as_scratch_at_jax_says():
    """Ties in a window: jax.grad of flax's max_pool gives the window's gradient to the first
    maximum in scan order (Convention.maxpool_grad_to_first_max), and scratch's backward agrees."""
    x = np.array([[1., 3., 3., 0.], [3., 2., 1., 3.]])                 # each 2x2 window: a tie
    with jax.enable_x64(True):
        for stride in (2, 1):
            g = np.asarray(jax.grad(lambda a: nnx.max_pool(a, (2, 2), (stride, stride)).sum())(
                jnp.asarray(x)[None, :, :, None]))[0, :, :, 0]
            out, cache = scratch_pool.max_pool2d_forward(x[None, None], (2, 2), (stride, stride),
                                                         convention=JAX)
            dx = scratch_pool.max_pool2d_backward(np.ones_like(out), cache)[0, 0]
            np.testing.assert_array_equal(dx, g)
            assert g[0, 1] == (1 if stride == 2 else 2) and g[1, 0] == 0     # the first 3 only
    assert JAX.maxpool_grad_to_first_max


def test_ceil_mode_is_unavailable_in_jax_and_keras_by_their_convention():
    """A ceil_mode that adds a window: each framework without ceil_mode is named, JAX among them."""
    pool = MaxPool2D(3, 2, ceil_mode=True)
    why = pool.unavailable((2, 6, 6))
    assert set(why) == {"keras", "jax"}
    assert all(w.endswith("(pool-ceil-mode)") for w in why.values())
    assert "JAX" in why["jax"] and pool.unavailable((2, 7, 7)) == {}
    layers = [Conv2D(3, 1), Activation("relu"), pool, Flatten(), Dense(3), Activation("softmax")]
    report = run(layers, shape=(2, 6, 6), frameworks=("scratch", "torch", "jax"), steps=1)
    assert report.summary["unavailable"]["jax"].endswith("(pool-ceil-mode)")
    assert report.summary["judged_pairs"] == ["torch"] and report.summary["verdict"] == "pass"
