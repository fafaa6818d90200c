"""JAX as the fourth framework (issue 23) on the bar-style lists: every activation and every loss
(with its options) trained in lockstep with jax added, float64, scratch in JAX's conventions vs the
JAX reference (Flax, Optax, jax.value_and_grad) to 1e-9; torch~jax and keras~jax judged where the
two conventions agree for the spec, and reported with the rule that differs otherwise (each rule
then measured: the two frameworks really differ by more than the tolerance). And the small
recipes with jax added. The optimizer, decay, clipping and schedule lists with jax:
tests/test_jax_optim.py; the layers: tests/test_jax_layers.py."""
import numpy as np
import pytest

import compare
from compare.data import recipes
from compare.engine.run import describe_divergence
from scratch.more_activations import TORCH

pytest.importorskip("jax")
pytest.importorskip("flax")
pytest.importorskip("optax")
pytest.importorskip("torch")

STEPS = 20


def run(recipe, frameworks=("scratch", "torch", "jax"), steps=STEPS, **changes):
    recipe = recipes.get(recipe)
    spec = recipe.spec.replace(steps=steps, **changes)
    assert spec.dtype == "float64"
    return compare.run(spec, recipe.load(), frameworks=frameworks)


def assert_jax_agrees(report):
    """scratch@jax vs jax judged and within 1e-9; every cross pair with jax either judged within
    1e-9 or reported with the rules that differ, which then show in the numbers."""
    s = report.summary
    assert s["verdict"] == "pass", (s["verdict_reason"], describe_divergence(s["first_divergence"])
                                    if s["first_divergence"] else None)
    assert "jax" in s["judged_pairs"] and s["max_rel_err"]["jax"] <= 1e-9, s["max_rel_err"]
    assert s["tensors_judged"] > 0
    for key, pair in s["pairs"].items():
        if "jax" in key.split("~") and pair["kind"] == "cross":
            if pair["judged"]:
                assert s["max_rel_err"][key] <= 1e-9, (key, s["max_rel_err"][key])
            else:
                assert pair["reasons"], f"{key} not judged and no rule named"


# The rules that change numbers between torch and JAX for an activation (None: judged).
TORCH_JAX_RULE = {"hard_sigmoid": "hard-sigmoid-float32-slope", "softplus": "softplus-threshold"}


@pytest.mark.parametrize("name", list(TORCH))
def test_every_activation_in_lockstep_with_jax(name):
    report = run("toy3", activations=[name, "softmax"])
    assert_jax_agrees(report)
    cross = report.summary["pairs"]["torch~jax"]
    rule = TORCH_JAX_RULE.get(name)
    if rule is None:
        assert cross["judged"], cross["reasons"]
    else:
        assert not cross["judged"] and rule in cross["reasons"], cross
        assert report.summary["max_rel_err"]["torch~jax"] > 1e-9, "the rule must change numbers measurably"


PARITY = ["mse", "mae", "huber", "smooth_l1", "binary_crossentropy", "poisson", "hinge", "squared_hinge"]
TOY3 = ["mse", "mae", "huber", "smooth_l1", "categorical_crossentropy", "sparse_categorical_crossentropy", "kld",
        "poisson", "hinge", "squared_hinge", "cosine_similarity"]
OPTIONS = [
    ("parity", dict(loss="binary_crossentropy", label_smoothing=0.1)),
    ("parity", dict(loss="binary_crossentropy", label_smoothing=0.1, probabilities=True)),
    ("toy3", dict(loss="categorical_crossentropy", label_smoothing=0.1)),
    ("toy3", dict(loss="categorical_crossentropy", probabilities=True)),
    ("toy3", dict(loss="sparse_categorical_crossentropy", probabilities=True)),
    ("toy3", dict(loss="kld", reduction="batchmean")),
    ("toy3", dict(loss="huber", delta=0.3, reduction="sum")),
    ("toy3", dict(loss="mse", reduction="sum")),
]
LOSS_CASES = [("parity", dict(loss=n)) for n in PARITY] + [("toy3", dict(loss=n)) for n in TOY3] + OPTIONS


@pytest.mark.parametrize("recipe,changes", LOSS_CASES,
                         ids=["-".join([r, *map(str, c.values())]) for r, c in LOSS_CASES])
def test_every_loss_in_lockstep_with_jax(recipe, changes):
    report = run(recipe, **changes)
    assert_jax_agrees(report)
    cross = report.summary["pairs"]["torch~jax"]
    if changes == {"loss": "kld"}:             # 'mean': torch divides by n m, optax's per-example sum by m
        assert not cross["judged"] and "kld-mean-reduction" in cross["reasons"]
        ratio = report.summary["max_rel_err"]["torch~jax"]
        assert ratio > 0.5, ratio              # a factor of n = 3 in the loss and every gradient
    elif changes["loss"] == "poisson":         # both log(a + 1e-8)
        assert cross["judged"]


@pytest.mark.parametrize("changes, rule", [
    (dict(activations=["leaky_relu", "softmax"]), "leaky-relu-default-slope"),   # jax.nn 0.01, Keras 0.2
    (dict(activations=["gelu", "softmax"]), "gelu-float32-constant"),
    (dict(loss="mse", reduction="sum"), "mse-sum-reduction"),                  # Keras averages the units first
    (dict(loss="poisson"), "poisson-eps"),                                     # 1e-8 vs Keras's 1e-7
])
def test_keras_jax_pair_names_the_rule_that_differs(changes, rule):
    """keras~jax is reported, not judged, with the rule, and the rule shows in the numbers."""
    report = run("toy3", frameworks=("scratch", "keras", "jax"), steps=5, **changes)
    assert_jax_agrees(report)
    pair = report.summary["pairs"]["keras~jax"]
    assert not pair["judged"] and rule in pair["reasons"], pair
    assert report.summary["max_rel_err"]["keras~jax"] > 1e-9


def test_keras_jax_pair_is_judged_where_the_conventions_agree():
    report = run("toy3", frameworks=("scratch", "keras", "jax"), steps=5)
    assert_jax_agrees(report)
    assert report.summary["pairs"]["keras~jax"]["judged"]
    assert report.summary["max_rel_err"]["keras~jax"] <= 1e-9


# (recipe, steps): every step, but mnist-small's full-batch 60,000 examples for 5 of its 100 (the
# closing runs take every recipe whole, and tests/test_jax_cli.py runs mnist with four frameworks)
SMALL = [("parity", None), ("dosage", None), ("toy3", None), ("toy3-large-logits", None), ("mnist-small", 5)]


@pytest.mark.parametrize("name,steps", SMALL)
def test_recipe_with_jax_added(name, steps):
    """The recipe, all four frameworks: the jax pair within 1e-9 and its final outputs scratch@jax's
    to 1e-9 (probabilities: an output under 1e-12 is held to 1e-12 absolute, toy3-large-logits'
    softmax gives some of e^-1000)."""
    recipe = recipes.get(name)
    spec = recipe.spec.replace(steps=steps) if steps else recipe.spec.validate()
    report = compare.run(spec, recipe.load(), recipe=name, frameworks=("scratch", "torch", "keras", "jax"))
    assert_jax_agrees(report)
    outputs = report.final_outputs
    np.testing.assert_allclose(outputs["jax"], outputs["scratch@jax"], rtol=1e-9, atol=1e-12)
