"""scratch/initializers.py against the frameworks' own initializers. The random streams cannot be
shared, so the distributions are compared: a two-sample Kolmogorov-Smirnov test on 20,000 draws
of the real framework initializer and 20,000 of the scratch one (fixed seeds: deterministic).
The same distribution is accepted (p > 0.001); a deliberately wrong one (a plain normal of the
same std for Keras's truncated normal, or a truncated one without the 0.8796 rescaling) is
rejected (p < 1e-6): the test can fail."""
import math

import numpy as np
import pytest

from scratch.initializers import Init, TRUNCATED_STD, draw, truncated_normal

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")

FAN_IN, FAN_OUT = 200, 100           # a weight of 100 x 200 (torch), a kernel of 200 x 100 (Keras)


def ks_two_sample(a, b):
    """-> (D, p): D = sup |F_a - F_b| over the pooled sample, p its asymptotic p-value
    Q(lambda) = 2 sum_k (-1)^(k-1) e^(-2 k^2 lambda^2), lambda = (sqrt(ne) + 0.12 + 0.11 / sqrt(ne)) D,
    ne = n m / (n + m) (Numerical Recipes, kstwo)."""
    a, b = np.sort(a), np.sort(b)
    pooled = np.concatenate([a, b])
    d = float(np.max(np.abs(np.searchsorted(a, pooled, "right") / a.size - np.searchsorted(b, pooled, "right") / b.size)))
    en = math.sqrt(a.size * b.size / (a.size + b.size))
    lam = (en + 0.12 + 0.11 / en) * d
    p = 2 * sum((-1) ** (k - 1) * math.exp(-2 * k * k * lam * lam) for k in range(1, 101))
    return d, min(max(p, 0.0), 1.0)


def test_ks_helper_on_known_samples():
    rng = np.random.default_rng(0)
    assert ks_two_sample(rng.standard_normal(5000), rng.standard_normal(5000))[1] > 0.01
    d, p = ks_two_sample(rng.standard_normal(5000), rng.standard_normal(5000) + 0.2)
    assert d > 0.05 and p < 1e-6


def torch_sample(kind, seed=0):
    torch.manual_seed(seed)
    w = torch.empty(FAN_OUT, FAN_IN, dtype=torch.float64)
    init = {"xavier_uniform": torch.nn.init.xavier_uniform_, "xavier_normal": torch.nn.init.xavier_normal_,
            "kaiming_normal": torch.nn.init.kaiming_normal_,           # a=0, fan_in, gain sqrt(2)
            "he_uniform": torch.nn.init.kaiming_uniform_}               # a=0: the same law as Keras's he_uniform
    if kind == "kaiming_uniform":                                       # nn.Linear's own default
        return torch.nn.Linear(FAN_IN, FAN_OUT, dtype=torch.float64).weight.detach().numpy().ravel()
    init[kind](w)
    return w.numpy().ravel()


def keras_sample(kind, seed=0):
    make = {"glorot_uniform": keras.initializers.GlorotUniform, "glorot_normal": keras.initializers.GlorotNormal,
            "he_uniform": keras.initializers.HeUniform, "he_normal": keras.initializers.HeNormal,
            "lecun_uniform": keras.initializers.LecunUniform, "lecun_normal": keras.initializers.LecunNormal}[kind]
    return np.asarray(make(seed=seed)((FAN_IN, FAN_OUT), dtype="float64")).ravel()


def scratch_sample(kind, seed=1):
    return draw(Init(kind), (FAN_OUT, FAN_IN), FAN_IN, FAN_OUT, np.random.default_rng(seed)).ravel()


CASES = [("torch", k) for k in ("xavier_uniform", "xavier_normal", "kaiming_normal", "he_uniform", "kaiming_uniform")] + \
        [("keras", k) for k in ("glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform", "lecun_normal")]


@pytest.mark.parametrize("framework, kind", CASES, ids=[f"{f}-{k}" for f, k in CASES])
def test_scratch_draws_the_frameworks_distribution(framework, kind):
    theirs = torch_sample(kind) if framework == "torch" else keras_sample(kind)
    ours = scratch_sample(kind)
    d, p = ks_two_sample(ours, theirs)
    assert p > 1e-3, f"{framework} {kind}: KS D = {d:.4f}, p = {p:.2e}"
    assert np.std(ours) == pytest.approx(np.std(theirs), rel=0.03)
    if kind.endswith("normal") and framework == "keras":       # truncated at 2 (std / 0.8796): nothing beyond
        std = {"glorot_normal": math.sqrt(2 / (FAN_IN + FAN_OUT)), "he_normal": math.sqrt(2 / FAN_IN),
               "lecun_normal": math.sqrt(1 / FAN_IN)}[kind]
        bound = 2 * std / TRUNCATED_STD * (1 + 1e-12)
        assert np.max(np.abs(theirs)) <= bound and np.max(np.abs(ours)) <= bound


@pytest.mark.parametrize("kind, std", [("he_normal", math.sqrt(2 / FAN_IN)),
                                       ("glorot_normal", math.sqrt(2 / (FAN_IN + FAN_OUT)))])
def test_wrong_normals_are_rejected(kind, std):
    """A plain normal of the right std (torch's kaiming/xavier normal), and a truncated normal
    without Keras's rescaling, are both told apart from Keras's initializer."""
    theirs, rng = keras_sample(kind), np.random.default_rng(2)
    plain = rng.standard_normal(theirs.size) * std
    d, p = ks_two_sample(plain, theirs)
    assert p < 1e-6, f"plain normal vs Keras {kind}: D = {d:.4f}, p = {p:.2e}"
    unscaled = truncated_normal(theirs.size, std, rng)
    d, p = ks_two_sample(unscaled, theirs)
    assert p < 1e-6, f"unrescaled truncated normal vs Keras {kind}: D = {d:.4f}, p = {p:.2e}"
    assert np.max(np.abs(plain)) / std > 3.5 > np.max(np.abs(theirs)) / std   # the tails: 4-5 sigma vs 2.27


def test_truncated_normal_keeps_the_target_std():
    x = truncated_normal(200_000, 1 / TRUNCATED_STD, np.random.default_rng(5))
    assert np.std(x) == pytest.approx(1.0, rel=0.01) and np.max(np.abs(x)) <= 2 / TRUNCATED_STD
