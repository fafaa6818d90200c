"""The built-in small recipes: each agrees across scratch, torch and Keras, and each reproduces
what its source says (values worked out by hand here, or Keras's own model.fit)."""
import math

import numpy as np
import pytest

import compare
from compare.data import recipes
from compare.engine.check import FLOAT32_RTOL
from scratch.initializers import initial_params

SMALL = ["parity", "dosage", "xor", "keras-quickstart"]


def run_recipe(name, **changes):
    recipe = recipes.get(name)
    spec = recipe.spec.replace(**changes) if changes else recipe.spec.validate()
    return compare.run(spec, recipe.load(), recipe=name)


def assert_agree(report, rtol):
    s = report.summary
    assert s["first_nonfinite"] is None, compare.run.__module__ and s["first_nonfinite"]
    assert s["first_divergence"] is None, f"{report.recipe}: {s['first_divergence']}"
    for pair in s["judged_pairs"]:
        assert s["max_rel_err"][pair] <= rtol, f"{report.recipe} {pair}: worst rel err {s['max_rel_err'][pair]:.3e}"


@pytest.mark.parametrize("name", SMALL)
def test_recipe_agrees_in_float64(name):
    report = run_recipe(name)
    assert_agree(report, 1e-9)
    assert set(report.summary["judged_pairs"]) >= {"torch", "keras"}
    outputs = report.final_outputs
    for ours, theirs in (("scratch", "torch"), ("scratch@keras", "keras")):
        np.testing.assert_allclose(outputs[theirs], outputs[ours], rtol=1e-9, atol=0,
                                   err_msg=f"{name}: final outputs of {theirs} vs {ours}")


@pytest.mark.parametrize("name", SMALL)
def test_recipe_agrees_in_float32(name):
    report = run_recipe(name, dtype="float32")
    assert_agree(report, FLOAT32_RTOL)


@pytest.mark.parametrize("name", ["parity", "xor", "keras-quickstart"])
@pytest.mark.parametrize("optimizer", ["adam", "rmsprop"])
def test_recipe_100_steps_of_adaptive_optimizers(name, optimizer):
    report = run_recipe(name, optimizer=optimizer, momentum=0.0, steps=100)
    assert report.summary["steps_completed"] == 100
    assert_agree(report, 1e-9)


def sigmoid(z):
    return 1 / (1 + math.exp(-z))


def test_parity_first_step_by_hand():
    """Step 1 of parity: x = 2, y = 1 through the seeded 1-4-3-1 sigmoid net, loss (y - a)^2."""
    spec = recipes.get("parity").spec
    (W1, b1), (W2, b2), (W3, b3) = initial_params(spec.sizes, spec.weight_init, spec.bias_init, spec.seed)
    x, y = 2.0, 1.0
    a1 = [sigmoid(W1[i, 0] * x + b1[i, 0]) for i in range(4)]
    a2 = [sigmoid(sum(W2[j, i] * a1[i] for i in range(4)) + b2[j, 0]) for j in range(3)]
    a3 = sigmoid(sum(W3[0, j] * a2[j] for j in range(3)) + b3[0, 0])
    loss = (y - a3) ** 2
    report = run_recipe("parity")
    first = report.steps[0]
    assert report.summary["steps_completed"] == 4          # 2 epochs x 2 examples, one at a time
    for key in report.runners:
        assert first["loss"][key] == pytest.approx(loss, rel=1e-13), key
    # dL/db3 = 2 (a - y) a (1 - a); after one step with lr 1.0, b3 moved by exactly minus that
    db3 = 2 * (a3 - y) * a3 * (1 - a3)
    raw = compare.run(spec.replace(steps=1), recipes.get("parity").load()).raw
    scratch = raw["runners"]["scratch"].model
    assert scratch.params["b3"][0, 0] == pytest.approx(b3[0, 0] - 1.0 * db3, rel=1e-13)


def softplus(z):
    return math.log1p(math.exp(z))


DOSAGE = {"w1": -34.4, "b1": 2.14, "w2": -2.52, "b2": 1.29, "w3": -1.30, "w4": 2.28, "b3": -0.58}


def dosage_output(x):
    p = DOSAGE
    return p["w3"] * softplus(p["w1"] * x + p["b1"]) + p["w4"] * softplus(p["w2"] * x + p["b2"]) + p["b3"]


def test_dosage_outputs_and_gradients_by_hand():
    report = run_recipe("dosage")
    xs = np.linspace(0.0, 1.0, 11)
    expected = [dosage_output(x) for x in xs]
    for key in report.runners:
        got = np.asarray(report.final_outputs[key])[:, 0]
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-13, err_msg=f"dosage outputs of {key}")
    # the published picture: low dose ~0, medium dose ~1, high dose ~0
    assert abs(expected[0]) < 0.05 and abs(expected[5] - 1) < 0.05 and abs(expected[10]) < 0.05
    # sum of squared residuals and its gradient w.r.t. the output bias b3: -2 sum(y - prediction)
    X, Y = [0.0, 0.1, 0.4, 0.5, 0.9, 1.0], [0, 0, 1, 1, 0, 0]
    ssr = sum((y - dosage_output(x)) ** 2 for x, y in zip(X, Y))
    d_b3 = sum(-2 * (y - dosage_output(x)) for x, y in zip(X, Y))
    d_w4 = sum(-2 * (y - dosage_output(x)) * softplus(DOSAGE["w2"] * x + DOSAGE["b2"]) for x, y in zip(X, Y))
    for key in report.runners:
        assert report.steps[0]["loss"][key] == pytest.approx(ssr, rel=1e-12)
    raw = compare.run(recipes.get("dosage").spec, recipes.get("dosage").load()).raw
    grads = raw["runners"]["scratch"].model.backward(
        raw["runners"]["scratch"].model.forward(np.array([X])), np.array([Y], dtype=float))
    assert grads["db2"][0, 0] == pytest.approx(d_b3, rel=1e-12)
    assert grads["dW2"][0, 1] == pytest.approx(d_w4, rel=1e-12)
    # learning rate 0: the parameters stay as published
    assert raw["runners"]["scratch"].model.params["W1"][0, 0] == -34.4


def test_keras_quickstart_mirrors_model_fit():
    """The recipe's Keras run equals what keras.Sequential(...).compile(loss=BCE).fit(epochs=100) does."""
    keras = pytest.importorskip("keras")
    report = run_recipe("keras-quickstart")
    spec = recipes.get("keras-quickstart").spec
    (W1, b1), (W2, b2) = initial_params(spec.sizes, spec.weight_init, spec.bias_init, spec.seed)
    from reference.keras_mlp import float_type

    with float_type("float64"):                      # a float64 model, whatever an earlier test built
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3, activation="relu"),
                                  keras.layers.Dense(1, activation="sigmoid")])
        model.set_weights([W1.T, b1[:, 0], W2.T, b2[:, 0]])
        model.compile(loss=keras.losses.BinaryCrossentropy())          # optimizer: compile's default
        x = np.array([[129, 21], [150, 30], [100, 25]], dtype=np.float64)
        y = np.array([1, 0, 1], dtype=np.float64)
        history = model.fit(x, y, epochs=100, batch_size=32, shuffle=False, verbose=0)
        fitted = model.predict(x, verbose=0)
    np.testing.assert_allclose(report.final_outputs["keras"], fitted, rtol=1e-12,
                               err_msg="recipe keras run vs model.fit")
    np.testing.assert_allclose(report.steps[-1]["loss"]["keras"], history.history["loss"][-1], rtol=1e-12)
    # torch cannot put RMSprop's eps inside the root: reported with its reason and its size
    tk = report.summary["torch_vs_keras"]
    assert not tk["judged"] and "rmsprop-eps-placement" in tk["reasons"]
    assert 1e-9 < tk["max_rel_err"] < 1e-2
