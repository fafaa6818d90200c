"""The losses (scratch/losses.py, scratch/pointwise_losses.py): every gradient against finite
differences, hand-worked values at the guards, the frameworks' own losses on the same numbers,
and every loss in lockstep from the command line on the recipes whose output it fits."""
import math

import numpy as np
import pytest

from compare.cli import main
from compare.engine.conventions import differences, settings_differences, unavailable
from compare.engine.errors import InputError
from compare.engine.spec import Spec
from compare.views.text import logical_lines
from scratch import losses as L
from scratch import pointwise_losses as P
from scratch.activations import sigmoid, softmax

RNG = np.random.default_rng(11)
N, M = 3, 4


def spec_for(loss, out="softmax", n=N, **options):
    return Spec(sizes=[2, n], activations=[out], loss=loss, **options).validate()


def targets_for(loss, n=N, m=M):
    if loss in ("mse", "mae", "huber", "smooth_l1", "cosine_similarity"):
        return RNG.standard_normal((n, m))
    if loss in ("binary_crossentropy", "hinge", "squared_hinge", "poisson"):
        return RNG.integers(0, 2, (n, m)).astype(float)
    return np.eye(n)[:, RNG.integers(0, n, m)]                 # one-hot columns


CASES = [  # (loss, output activation, spec options)
    ("mse", "tanh", {}), ("mae", "tanh", {}), ("huber", "linear", {"delta": 0.7}), ("smooth_l1", "linear", {"delta": 0.7}),
    ("poisson", "softplus", {}), ("hinge", "linear", {}), ("squared_hinge", "tanh", {}),
    ("cosine_similarity", "linear", {}), ("binary_crossentropy", "sigmoid", {}),
    ("binary_crossentropy", "sigmoid", {"label_smoothing": 0.1}), ("binary_crossentropy", "sigmoid", {"probabilities": True}),
    ("categorical_crossentropy", "softmax", {}), ("categorical_crossentropy", "softmax", {"label_smoothing": 0.2}),
    ("categorical_crossentropy", "softmax", {"probabilities": True}), ("sparse_categorical_crossentropy", "softmax", {}),
    ("sparse_categorical_crossentropy", "softmax", {"probabilities": True}), ("kld", "softmax", {}),
    ("kld", "softmax", {"reduction": "batchmean"}),
]


@pytest.mark.parametrize("convention", ["torch", "keras"])
@pytest.mark.parametrize("loss,out,options", CASES)
def test_gradient_matches_finite_differences(loss, out, options, convention):
    """Each scratch gradient (dZ for the fused losses, dA for the rest) against central differences."""
    spec = spec_for(loss, out, **options)
    fn = L.loss_functions(spec, convention)
    Z = RNG.standard_normal((N, M))
    g = {"softmax": softmax, "sigmoid": sigmoid, "tanh": np.tanh, "linear": lambda z: z,
         "softplus": lambda z: np.logaddexp(0, z)}[out]
    Y = targets_for(loss)
    T, d = fn.targets(Y), L.loss_divisor(loss, spec.reduction, convention, N, M)
    X = Z if fn.reads == "Z" else g(Z)
    grad = fn.grad(g(Z), T, d)
    numeric = np.zeros_like(X)
    h = 1e-6
    for i in np.ndindex(X.shape):
        up, down = X.copy(), X.copy()
        up[i] += h
        down[i] -= h
        numeric[i] = (fn.loss(up, T, d) - fn.loss(down, T, d)) / (2 * h)
    assert fn.gives == "d" + fn.reads
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


def test_bce_on_saturated_probabilities_torch_100_keras_16():
    """The issue's table: a = 0 for a target 1 costs 100 in torch (log clamped at -100) and
    -log(1e-7) = 16.118 in Keras (p clipped); Keras's gradient there is 0, torch's is not."""
    A, Y = np.array([[0.0, 1.0]]), np.array([[1.0, 0.0]])
    with np.errstate(divide="ignore"):                                  # log 0 = -inf before the clamp
        assert L.bce_probabilities_torch(A, Y, 1) == pytest.approx(200.0)
    assert L.bce_probabilities_keras(A, Y, 1) == pytest.approx(-2 * math.log(1e-7))
    assert L.bce_probabilities_keras(A, Y, 1) / 2 == pytest.approx(16.118095650958317)
    np.testing.assert_array_equal(L.bce_probabilities_keras_grad(A, Y, 1), [[0.0, 0.0]])
    np.testing.assert_allclose(L.bce_probabilities_torch_grad(A, Y, 1), [[-1e12, 1e12]])


def test_keras_ce_on_probabilities_renormalises():
    """Keras divides a by its column sum before the log: a = (0.2, 0.2) is (0.5, 0.5) to it."""
    A, Y = np.array([[0.2], [0.2]]), np.array([[1.0], [0.0]])
    assert L.ce_probabilities_keras(A, Y, 1) == pytest.approx(math.log(2))


def test_hand_worked_values():
    one = np.array([[2.0]])
    assert P.huber(one, np.zeros((1, 1)), 1, delta=1.0) == pytest.approx(1.5)         # delta (|x| - delta / 2)
    assert P.smooth_l1(np.array([[1.0]]), np.zeros((1, 1)), 1, delta=2.0) == pytest.approx(0.25)   # x^2 / (2 beta)
    assert P.hinge(np.array([[0.3]]), P.hinge_targets(np.array([[0.0]])), 1) == pytest.approx(1.3)  # y 0 -> t -1
    np.testing.assert_array_equal(P.hinge_targets(np.array([[0.0, 2.0]])), [[0.0, 2.0]])          # not 0/1: as given
    assert P.poisson(np.array([[2.0]]), np.array([[3.0]]), 1, eps=0.0) == pytest.approx(2 - 3 * math.log(2))
    assert P.cosine_similarity(np.array([[1.0], [1.0]]), np.array([[2.0], [2.0]]), 1) == pytest.approx(-1.0)
    assert P.cosine_similarity(np.array([[1.0], [0.0]]), np.array([[0.0], [3.0]]), 1) == pytest.approx(0.0)
    smoothed = L.smooth(np.array([[1.0], [0.0], [0.0]]), 0.3, binary=False)
    np.testing.assert_allclose(smoothed, [[0.8], [0.1], [0.1]])
    np.testing.assert_allclose(L.smooth(np.array([[1.0, 0.0]]), 0.1, binary=True), [[0.95, 0.05]])


def test_kld_reductions_and_target_clip():
    """torch's 'mean' is n times its 'batchmean'; Keras's 1e-7 target clip adds 1e-7 log(1e-7 / p)."""
    assert L.loss_divisor("kld", "mean", "torch", 10, 4) == 40
    assert L.loss_divisor("kld", "batchmean", "torch", 10, 4) == 4
    assert L.loss_divisor("kld", "mean", "keras", 10, 4) == 4
    Y, A = np.array([[1.0], [0.0]]), np.array([[0.75], [0.25]])
    torch_value = L.kld_torch(np.log(A), Y, 1)                                # log_softmax(log a) = log a
    assert torch_value == pytest.approx(-math.log(0.75))
    assert L.kld_keras(A, Y, 1) - torch_value == pytest.approx(1e-7 * math.log(1e-7 / 0.25), rel=1e-6)


def test_scratch_matches_the_frameworks_own_losses():
    """The same numbers through torch's and Keras's loss objects (reference/*.py make_loss): values
    and gradients with respect to A (or Z for the fused ones) at 1e-12."""
    import keras
    import tensorflow as tf
    import torch

    from reference.keras_mlp import make_loss as keras_loss
    from reference.torch_mlp import make_loss as torch_loss

    for loss, out, options in CASES:
        spec = spec_for(loss, out, **options)
        Z = RNG.standard_normal((M, N))                                       # rows, as the frameworks hold them
        Y = targets_for(loss).T
        g = {"softmax": lambda z: softmax(z.T).T, "sigmoid": sigmoid, "tanh": np.tanh, "linear": lambda z: z,
             "softplus": lambda z: np.logaddexp(0, z)}[out]
        for convention in ("torch", "keras"):
            if unavailable(spec).get(convention):
                continue
            fn = L.loss_functions(spec, convention)
            d = L.loss_divisor(loss, spec.reduction, convention, N, M)
            ours = fn.loss((Z if fn.reads == "Z" else g(Z)).T, fn.targets(Y.T), d)
            if convention == "torch":
                tz = torch.tensor(Z, requires_grad=True)
                act = {"softmax": lambda t: torch.softmax(t, 1), "sigmoid": torch.sigmoid, "tanh": torch.tanh,
                       "linear": lambda t: t, "softplus": torch.nn.functional.softplus}[out]
                theirs = torch_loss(spec)(tz, act(tz), torch.tensor(Y))
                theirs = float(theirs.detach())
            else:
                tz = tf.constant(Z)
                act = keras.activations.get(out)               # softmax, sigmoid: cache the logits, as in a model
                theirs = float(keras_loss(spec)(act(tz), tf.constant(Y)))
            assert ours == pytest.approx(theirs, rel=1e-12), (loss, options, convention)


def test_spec_says_which_output_each_loss_needs():
    with pytest.raises(InputError, match="kld needs a softmax output layer"):
        spec_for("kld", "sigmoid")
    with pytest.raises(InputError, match="poisson needs a softplus or sigmoid or softmax output"):
        spec_for("poisson", "linear")
    with pytest.raises(InputError, match="needs at least 2 output units"):
        spec_for("cosine_similarity", "linear", n=1)
    with pytest.raises(InputError, match="label smoothing applies to"):
        spec_for("mse", "linear", label_smoothing=0.1)
    with pytest.raises(InputError, match=r"label smoothing must be a number in \[0, 1\]"):
        spec_for("categorical_crossentropy", label_smoothing=1.5)
    with pytest.raises(InputError, match="batchmean is torch KLDivLoss's, for kld only"):
        spec_for("mse", "linear", reduction="batchmean")
    with pytest.raises(InputError, match="probabilities applies to the cross-entropies"):
        spec_for("mse", "linear", probabilities=True)
    with pytest.raises(InputError, match="delta applies to huber"):
        spec_for("mse", "linear", delta=2.0)


def test_differences_named_and_unavailable():
    assert set(differences(spec_for("kld"))) >= {"kld-mean-reduction", "kld-target-clip"}
    assert "kld-mean-reduction" not in differences(spec_for("kld", reduction="batchmean"))
    assert "poisson-eps" in differences(spec_for("poisson", "softplus"))
    assert "probabilities-clipping" in differences(spec_for("binary_crossentropy", "sigmoid", probabilities=True))
    assert differences(spec_for("categorical_crossentropy", label_smoothing=0.1)) == {}
    assert differences(spec_for("hinge", "linear")) == {}
    assert "mse-sum-reduction" in differences(spec_for("mae", "linear", reduction="sum"))
    assert "mse-sum-reduction" not in differences(spec_for("cosine_similarity", "linear", reduction="sum"))
    assert set(unavailable(spec_for("sparse_categorical_crossentropy", label_smoothing=0.1))) == {"keras"}
    assert set(unavailable(spec_for("categorical_crossentropy", label_smoothing=0.1, probabilities=True))) == {"torch"}


def test_bce_label_smoothing_forgotten_on_one_side_is_named():
    """The issue's 0.12: BCE at e = 0.1 on a logit of 2.4 with target 1 is 0.12 larger than without
    smoothing (0.05 |z|); two implementations that disagree on e are told apart by name."""
    Z, Y = np.array([[2.4]]), np.array([[1.0]])
    smoothed = L.binary_crossentropy(Z, L.smooth(Y, 0.1, binary=True), 1)
    plain = L.binary_crossentropy(Z, Y, 1)
    assert smoothed - plain == pytest.approx(0.12)
    with_e = spec_for("binary_crossentropy", "sigmoid", n=1, label_smoothing=0.1)
    without = spec_for("binary_crossentropy", "sigmoid", n=1)
    named = settings_differences(with_e, "keras", without, "torch")
    assert named["setting-label_smoothing"] == "label_smoothing: 0.1 (keras) vs 0.0 (torch)"


PARITY = ["mse", "mae", "huber", "smooth_l1", "binary_crossentropy", "poisson", "hinge", "squared_hinge"]
TOY3 = ["mse", "mae", "huber", "smooth_l1", "categorical_crossentropy", "sparse_categorical_crossentropy", "kld",
        "poisson", "hinge", "squared_hinge", "cosine_similarity"]


@pytest.mark.parametrize("recipe,loss", [("parity", n) for n in PARITY] + [("toy3", n) for n in TOY3])
def test_every_loss_in_lockstep_from_the_cli(recipe, loss, capsys):
    """python -m compare RECIPE --loss NAME --steps 50: exit 0, both scratch pairs judged at 1e-9."""
    assert main([recipe, "--loss", loss, "--steps", "50", "--quiet"]) == 0
    assert "PASS: 50 steps" in capsys.readouterr().out


@pytest.mark.parametrize("args", [
    ["parity", "--loss", "binary_crossentropy", "--label-smoothing", "0.1", "--probabilities"],
    ["toy3", "--loss", "categorical_crossentropy", "--label-smoothing", "0.1"],
    ["toy3", "--loss", "categorical_crossentropy", "--probabilities"],
    ["toy3", "--loss", "sparse_categorical_crossentropy", "--probabilities"],
    ["toy3", "--loss", "kld", "--reduction", "batchmean"],
    ["toy3", "--loss", "huber", "--delta", "0.3", "--reduction", "sum"],
])
def test_loss_options_in_lockstep(args, capsys):
    assert main(args + ["--steps", "50", "--quiet"]) == 0


@pytest.mark.parametrize("args,why", [
    (["toy3", "--loss", "binary_crossentropy"], "needs a sigmoid output layer"),
    (["parity", "--loss", "sparse_categorical_crossentropy"], "needs a softmax output layer"),
    (["parity", "--loss", "cosine_similarity"], "at least 2 output units"),
    (["toy3", "--loss", "mse", "--label-smoothing", "0.1"], "label smoothing applies to"),
])
def test_loss_that_does_not_fit_is_an_input_error(args, why, capsys):
    """One line on stderr naming why, exit 2, before any framework runs."""
    assert main(args) == 2
    err = capsys.readouterr().err
    assert len(logical_lines(err)) == 1 and why in err


FLOAT32_CASES = [["toy3", "--loss", name] for name in (
    "mse", "mae", "huber", "smooth_l1", "categorical_crossentropy", "sparse_categorical_crossentropy", "kld",
    "poisson", "hinge", "squared_hinge", "cosine_similarity")] + [
    ["parity", "--loss", "binary_crossentropy"], ["parity", "--loss", "binary_crossentropy", "--probabilities"],
    ["parity", "--loss", "binary_crossentropy", "--label-smoothing", "0.1"],
    ["toy3", "--loss", "categorical_crossentropy", "--probabilities"],
    ["toy3", "--loss", "categorical_crossentropy", "--label-smoothing", "0.1"]]


@pytest.mark.parametrize("argv", FLOAT32_CASES, ids=lambda a: "-".join(a[2:]).lstrip("-"))
def test_every_loss_within_the_float32_bound(argv, tmp_path, capsys):
    """float32, 50 steps, each step judged on its own rounding (resync): within 3e-4 in every
    judged pair (measured: at most 3.6e-6)."""
    import json

    path = tmp_path / "r.json"
    assert main([*argv, "--dtype", "float32", "--steps", "50", "--quiet", "--json", str(path)]) == 0, capsys.readouterr()
    summary = json.loads(path.read_text())["summary"]
    assert summary["rtol"] == 3e-4 and summary["tensors_judged"] > 0
    for pair in summary["judged_pairs"]:
        assert float(summary["max_rel_err"][pair]) <= 3e-4
