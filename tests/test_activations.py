"""The activations of issue 11: each scratch derivative against finite differences away from its
kinks; at the exact kink inputs (tinygrad style: [-1, 0, 1], [-3, 3], [0, 6]) against
torch.autograd and tf.GradientTape in float64; the kink table command against the frameworks;
and every activation trained in lockstep on toy3 for 50 float64 steps, both pairs to 1e-9,
torch~keras judged when the two frameworks compute the same thing and reported otherwise."""
import json

import numpy as np
import pytest

import compare
from compare.cli import main
from compare.data import recipes
from compare.engine.conventions import numeric_differences
from compare.engine.errors import InputError
from compare.engine.kinks import keras_derivative, measure, scratch_derivative, torch_derivative
from compare.views.text import logical_lines
from scratch.activations import activation_table
from scratch.more_activations import KINKS, TORCH

pytest.importorskip("torch")
pytest.importorskip("keras")

NAMES = list(TORCH)
# The torch~keras rule each activation brings that changes numbers (None: the pair is judged).
NUMERIC_RULE = {"leaky_relu": "leaky-relu-default-slope", "gelu": "gelu-float32-constant",
                "gelu_tanh": "gelu-tanh-float32-constant", "hard_sigmoid": "hard-sigmoid-float32-slope"}


def away_from_kinks(name, n=64, seed=0):
    """Inputs in [-7, 7] at least 1e-3 from every kink of `name` (column vector)."""
    z = np.random.default_rng(seed).uniform(-7, 7, n)
    for k in KINKS.get(name, ()):
        z = z[np.abs(z - k) > 1e-3]
    return z.reshape(-1, 1)


@pytest.mark.parametrize("convention", ["torch", "keras"])
@pytest.mark.parametrize("name", NAMES)
def test_derivative_matches_central_differences(name, convention):
    g, g_grad = activation_table(convention)[name]
    z, h = away_from_kinks(name), 1e-6
    numeric = (g(z + h) - g(z - h)) / (2 * h)
    np.testing.assert_allclose(g_grad(z, g(z)), numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", NAMES + ["relu"])
def test_derivative_at_exact_inputs_is_autograds(name):
    """At the kinks, a step either side of them, and [-1, 0, 1]: scratch equals torch.autograd
    (torch convention) and tf.GradientTape (Keras convention) to the last bit at the kinks and
    to 1e-15 elsewhere."""
    kinks = list(KINKS.get(name, ()))
    z = np.array(sorted({-1.0, 0.0, 1.0, *kinks, *[k - 0.5 for k in kinks], *[k + 0.5 for k in kinks]}))
    for convention, framework in (("torch", torch_derivative), ("keras", keras_derivative)):
        ours, theirs = scratch_derivative(name, convention, z), framework(name, z)
        at = np.isin(z, kinks)
        assert np.array_equal(ours[at], theirs[at]), f"{name} {convention} at {z[at]}: {ours[at]} vs {theirs[at]}"
        np.testing.assert_allclose(ours, theirs, rtol=1e-15, atol=1e-16, err_msg=f"{name} {convention}")


HAND = {  # (activation, z) -> (torch's derivative, Keras's), worked out from each framework's source
    ("selu", 0.0): (1.0507009873554804934193349852946 * 1.6732632423543772848170429916717, 1.0507009873554805),
    ("celu", 0.0): (1.0, 2.0), ("elu", 0.0): (1.0, 1.0), ("leaky_relu", 0.0): (0.01, float(np.float32(0.2))),
    ("hard_tanh", -1.0): (0.0, 1.0), ("hard_tanh", 1.0): (0.0, 1.0), ("relu6", 0.0): (0.0, 0.0),
    ("relu6", 6.0): (0.0, 0.0), ("hard_sigmoid", -3.0): (0.0, 0.0), ("hard_sigmoid", 3.0): (0.0, 0.0),
    ("hard_silu", -3.0): (0.0, 0.0), ("hard_silu", 3.0): (1.0, 1.0), ("relu", 0.0): (0.0, 0.0),
}


def test_kink_table_is_what_the_frameworks_compute():
    """`measure()` (what `python -m compare kinks` prints) covers every kink, its framework columns
    are the hand-worked values, and scratch's equal them."""
    rows = measure()
    assert {(r["activation"], r["z"]) for r in rows} == set(HAND)
    for r in rows:
        want_torch, want_keras = HAND[(r["activation"], r["z"])]
        assert (r["torch"], r["keras"]) == pytest.approx((want_torch, want_keras), rel=1e-15, abs=0), r
        assert r["agree"], r
        assert r["frameworks_differ"] == (want_torch != want_keras)
    assert {r["activation"] for r in rows if r["frameworks_differ"]} == {"selu", "celu", "hard_tanh", "leaky_relu"}


def test_hard_sigmoid_float32_sixth_in_torchs_float64_backward():
    z = np.array([0.5])
    assert torch_derivative("hard_sigmoid", z)[0] == float(np.float32(1 / 6)) != 1 / 6
    assert keras_derivative("hard_sigmoid", z)[0] == 1 / 6


def test_kinks_command_exit_code_and_json(tmp_path, capsys, monkeypatch):
    path = tmp_path / "kinks.json"
    assert main(["kinks", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 100
    assert "PASS" in out.splitlines()[-1]
    written = json.loads(path.read_text())
    assert written["agree"] and len(written["rows"]) == len(HAND)
    import scratch.activations as act
    import scratch.more_activations as more
    wrong = (more.celu_keras, lambda Z, A: (Z >= 0).astype(Z.dtype))     # the max's share only: 1 at 0, not 2
    monkeypatch.setitem(act.ACTIVATIONS, "celu", wrong)
    assert main(["kinks"]) == 1                          # a scratch derivative that is wrong at a kink
    assert "MISMATCH" in capsys.readouterr().out


def run_toy3(name, steps=50, **changes):
    recipe = recipes.get("toy3")
    spec = recipe.spec.replace(activations=[name, "softmax"], steps=steps, **changes)
    return compare.run(spec, recipe.load())


@pytest.mark.parametrize("name", NAMES)
def test_lockstep_toy3_50_steps(name):
    report = run_toy3(name)
    s = report.summary
    assert s["verdict"] == "pass", s["verdict_reason"]
    for pair in ("torch", "keras"):
        assert s["max_rel_err"][pair] <= 1e-9, (pair, s["max_rel_err"][pair])
    cross = s["torch_vs_keras"]
    rule = NUMERIC_RULE.get(name)
    if rule is None:
        assert cross["judged"] and cross["max_rel_err"] <= 1e-9, cross
    else:
        assert not cross["judged"] and rule in cross["reasons"], cross
        assert cross["max_rel_err"] > 1e-9, "the rule changes numbers: torch and Keras must differ measurably"


@pytest.mark.parametrize("slope, judged", [(0.25, True), (0.1, False)])
def test_leaky_relu_slope_given(slope, judged):
    """A slope exact in float32 (0.25) makes torch and Keras compute the same; 0.1 is rounded by Keras."""
    s = run_toy3("leaky_relu", steps=20, slope=slope).summary
    assert s["verdict"] == "pass" and max(s["max_rel_err"]["torch"], s["max_rel_err"]["keras"]) <= 1e-9
    assert s["torch_vs_keras"]["judged"] is judged
    assert (s["max_rel_err"]["torch~keras"] <= 1e-9) is judged
    if not judged:
        assert set(numeric_differences(recipes.get("toy3").spec.replace(activations=["leaky_relu", "softmax"],
                                                                         slope=slope))) == {"keras-float32-leaky-slope"}


def test_scratch_at_keras_fails_without_the_float32_slope(monkeypatch):
    """The float32 rounding is Keras's: an exact slope in scratch@keras disagrees (the test can fail)."""
    import scratch.more_activations as more
    monkeypatch.setattr(more, "F32", float)
    s = run_toy3("leaky_relu", steps=5, slope=0.1).summary
    assert s["max_rel_err"]["keras"] > 1e-9


@pytest.mark.parametrize("argv, words", [
    (["toy3", "--slope", "0.1"], "no layer is leaky_relu"),
    (["toy3", "--activation", "nope"], "unknown activation 'nope'"),
    (["toy3", "--activation", "softmax"], "output layer only"),
    (["toy3-large-logits", "--activation", "elu"], "no hidden layer"),
])
def test_cli_input_errors(argv, words, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(logical_lines(err.strip())) == 1
    assert words in logical_lines(err)[0]       # the message, its wrapped lines joined


def test_cli_activation_runs(capsys):
    assert main(["toy3", "--activation", "selu", "--steps", "50", "--quiet"]) == 0
    assert capsys.readouterr().out.strip().startswith("PASS")


def test_slope_must_be_finite():
    spec = recipes.get("toy3").spec
    with pytest.raises(InputError, match="slope must be a finite number"):
        spec.replace(activations=["leaky_relu", "softmax"], slope=float("nan"))


def test_docs_kink_table_is_the_commands_output():
    """docs/conventions.md's Kinks section is what `python -m compare kinks` prints now."""
    from pathlib import Path

    from compare.cli.kinks import table

    docs = (Path(__file__).resolve().parent.parent / "docs" / "conventions.md").read_text()
    assert table(measure()) in docs
