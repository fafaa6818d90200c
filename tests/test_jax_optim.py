"""Optax as reference/jax_optim.py builds it against scratch in JAX's conventions (scratch@jax):
every optimizer and flag of tests/test_optimizers.py, every decay and clipping rule of
tests/test_regularization.py and every schedule of tests/test_schedules.py, on random
parameter/gradient sequences for 100 float64 steps, parameters, every slot and the learning rate
to 1e-12 relative; and each JAX difference of the optimizer area proven on numbers."""
import inspect

import numpy as np
import pytest

from compare.data import recipes
from scratch import optimizers as scratch_optimizers
from scratch import schedules as scratch_schedules
from scratch.conventions import DEFAULTS, JAX

jax = pytest.importorskip("jax")
optax = pytest.importorskip("optax")
jnp = jax.numpy
from reference import jax_optim  # noqa: E402  (needs optax)

SHAPES = {"W1": (3, 5), "b1": (5,), "W2": (5, 2), "b2": (2,)}     # JAX's layout, non-square
STEPS, EPOCH = 100, 3                                             # an "epoch" every 3 steps


def toy_spec(**changes):
    return recipes.get("toy3").spec.replace(steps=STEPS, **changes)


def sequences(seed, steps=STEPS):
    """Parameters, then `steps` gradients (sizes spread over three decades, so clipping both
    triggers and not) and a loss-like sequence with plateaus."""
    rng = np.random.default_rng(seed)
    params = {n: rng.normal(size=s) for n, s in SHAPES.items()}
    grads = [{n: rng.normal(size=s) * 10 ** rng.uniform(-3, 0.5) for n, s in SHAPES.items()}
             for _ in range(steps)]
    losses = list(5 + np.cumsum(rng.normal(-0.01, 0.02, steps)))
    return params, grads, losses


def rel(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def run_both(spec, seed=0, steps=STEPS):
    """scratch@jax and the Optax chain, side by side on the same sequences. -> the worst relative
    error per kind (params, slot names, lr) over every step, and the slot names each side keeps."""
    params, grads, losses = sequences(seed, steps)
    hyper = spec.hyper("jax")
    ours = scratch_optimizers.make_optimizer(spec.optimizer, hyper, JAX)
    schedule = scratch_schedules.make_schedule(hyper, JAX)
    if schedule:
        ours.lr = schedule.lr
    worst = {}
    with jax.enable_x64(True):
        theirs = jax_optim.make_optimizer(spec, hyper, params)
        p_jax = {n: jnp.asarray(v) for n, v in params.items()}
        state = theirs.init(p_jax)

        @jax.jit
        def step(p, s, g):
            updates, s = theirs.tx.update(g, s, p)
            return optax.apply_updates(p, updates), s

        p_ours = dict(params)
        epoch_losses = []
        for i in range(steps):
            p_ours = ours.step(p_ours, {"d" + n: g for n, g in grads[i].items()})
            p_jax, state = step(p_jax, state, {n: jnp.asarray(g) for n, g in grads[i].items()})
            epoch_losses.append(losses[i])
            if schedule and schedule.every == "step":
                ours.lr = schedule.step(losses[i])
            state = theirs.end_step(state, losses[i])
            if (i + 1) % EPOCH == 0:
                mean = float(np.mean(epoch_losses))
                epoch_losses = []
                if schedule and schedule.every == "epoch":
                    ours.lr = schedule.step(mean)
                state = theirs.end_epoch(state, mean)
            for n in SHAPES:
                worst["params"] = max(worst.get("params", 0.0), rel(p_jax[n], p_ours[n]))
            slots = theirs.slots(state)
            mine = {f"{n}.{k}": v for n, kept in ours.state.items() for k, v in kept.items()}
            assert set(slots) == set(mine), (i, sorted(slots), sorted(mine))
            for key, value in slots.items():
                kind = key.split(".", 1)[1]
                worst[kind] = max(worst.get(kind, 0.0), rel(value, mine[key]))
            worst["lr"] = max(worst.get("lr", 0.0), rel(theirs.lr(state), ours.lr))
        lrs = (theirs.lr(state), ours.lr)
    return worst, set(k.split(".", 1)[1] for k in mine), lrs


OPTIMIZERS = {  # name -> (spec changes, the slots both keep)
    "sgd": (dict(optimizer="sgd", lr=0.1), set()),
    "sgd-momentum": (dict(optimizer="sgd", lr=0.05, momentum=0.9), {"momentum"}),
    "sgd-nesterov": (dict(optimizer="sgd", lr=0.05, momentum=0.9, nesterov=True), {"momentum"}),
    "rmsprop": (dict(optimizer="rmsprop", lr=0.01), {"square_avg"}),
    "rmsprop-centered": (dict(optimizer="rmsprop", lr=0.01, centered=True),
                         {"square_avg", "grad_avg"}),
    "rmsprop-momentum": (dict(optimizer="rmsprop", lr=0.01, momentum=0.9),
                         {"square_avg", "momentum"}),
    "rmsprop-centered-momentum": (dict(optimizer="rmsprop", lr=0.01, momentum=0.9, centered=True),
                                  {"square_avg", "grad_avg", "momentum"}),
    "adam": (dict(optimizer="adam", lr=0.01), {"m", "v"}),
    "adam-amsgrad": (dict(optimizer="adam", lr=0.01, amsgrad=True), {"m", "v", "v_max"}),
    "adamw": (dict(optimizer="adamw", lr=0.01), {"m", "v"}),
    "adamw-amsgrad": (dict(optimizer="adamw", lr=0.01, amsgrad=True, weight_decay=0.05),
                      {"m", "v", "v_max"}),
    "nadam": (dict(optimizer="nadam", lr=0.01), {"m", "v"}),
    "adamax": (dict(optimizer="adamax", lr=0.01), {"m", "u"}),
    "adagrad": (dict(optimizer="adagrad", lr=0.05), {"accumulator"}),
    "adadelta": (dict(optimizer="adadelta", lr=1.0), {"square_avg", "acc_delta"}),
    "lion": (dict(optimizer="lion", lr=0.001), {"m"}),
}
DECAYS = {f"{name}-{form}": (dict(OPTIMIZERS[name][0], weight_decay=0.01, decay=form),
                             OPTIMIZERS[name][1])
          for name in ("sgd-momentum", "rmsprop", "rmsprop-momentum", "adam")
          for form in ("coupled", "decoupled")}
CLIPS = {f"{rule}-{name}": (dict(OPTIMIZERS[name][0], **{rule: c}), OPTIMIZERS[name][1])
         for rule, c in (("clip_norm", 0.1), ("clip_norm_per_tensor", 0.05), ("clip_value", 0.02))
         for name in ("sgd-momentum", "adam")}
SCHEDULES = {f"{name}-{every}": (dict(optimizer="sgd", lr=0.1, momentum=0.9, schedule_every=every,
                                      **changes), {"momentum"})
             for name, changes in (("exponential", dict(schedule="exponential", gamma=0.97)),
                                   ("step", dict(schedule="step", milestones=[10, 30, 60],
                                                 gamma=0.5)),
                                   ("cosine", dict(schedule="cosine", eta_min=0.001, t_max=30)),
                                   ("plateau", dict(schedule="plateau", gamma=0.5, cooldown=1)))
             for every in ("step", "epoch")}
SCHEDULES["plateau-step"][0].update(patience=2, threshold=0.01)
SCHEDULES["plateau-epoch"][0].update(patience=1, threshold=0.05)   # an epoch's mean falls by ~0.03
CASES = {**OPTIMIZERS, **DECAYS, **CLIPS, **SCHEDULES}


@pytest.mark.parametrize("name", CASES)
def test_optax_chain_equals_scratch_at_jax(name):
    changes, slots = CASES[name]
    worst, kept, (lr_jax, lr_ours) = run_both(toy_spec(**changes))
    assert kept == slots
    assert set(worst) == {"params", "lr", *slots}
    for kind, err in worst.items():
        assert err <= 1e-12, f"{name} {kind}: {err:.3e}"
    if "schedule" in changes:                           # the schedule moved the rate
        assert lr_jax < changes["lr"] and lr_jax == lr_ours


def test_the_per_step_exponential_rate_is_float32():
    """optax.exponential_decay at the int32 step count: t / 1 is float32 in JAX even with x64, so
    every per-step rate, the first too, is float32 (exponential-float32-count); per epoch (a Python
    int) float64."""
    with jax.enable_x64(True):
        schedule = optax.exponential_decay(0.1, transition_steps=1, decay_rate=0.97)
        counts = jnp.arange(0, 400, dtype=jnp.int32)
        per_step = np.asarray(jax.jit(jax.vmap(schedule))(counts))
        per_epoch = [float(schedule(t)) for t in range(40)]
    assert per_step.dtype == np.float32 and float(per_step[0]) == float(np.float32(0.1)) != 0.1
    f32 = np.float32
    t = np.arange(400, dtype=f32)
    np.testing.assert_array_equal(per_step, f32(0.1) * np.power(f32(0.97), t / f32(1)))
    assert 1e-9 < rel(per_step[:40], [0.1 * 0.97**t for t in range(40)]) < 1e-6
    assert rel(per_epoch, [0.1 * 0.97**t for t in range(40)]) < 1e-15


def test_piecewise_decays_at_the_boundary_itself():
    """piecewise_constant_schedule({m: gamma}) decays from count m on (count >= m): torch's
    milestone rule, so the boundaries are the spec's milestones (Keras's PiecewiseConstantDecay
    needs m - 1)."""
    spec = toy_spec(schedule="step", milestones=[3, 7], gamma=0.5)
    with jax.enable_x64(True):
        schedule = jax_optim.make_schedule(spec.hyper("jax"))
        rates = [float(schedule(jnp.asarray(t, jnp.int32))) for t in range(10)]
    assert rates == [0.1] * 3 + [0.05] * 4 + [0.025] * 3
    torch_like = scratch_schedules.TorchMultiStep(0.1, "step", 0.5, [3, 7])
    assert rates == [torch_like.lr] + [torch_like.step() for _ in range(9)]


@pytest.mark.parametrize("patience, cooldown, threshold",
                         [(0, 0, 1e-3), (2, 0, 0.01), (3, 1, 0.005), (1, 4, 1e-3)])
def test_reduce_on_plateau_gives_torchs_rates(patience, cooldown, threshold):
    """optax.contrib.reduce_on_plateau's own rule (patience + 1, torch's cooldown, atol = threshold),
    fed one loss after each step: scratch's OptaxPlateau gives its very rates, and they are torch's
    ReduceLROnPlateau's (threshold_mode 'abs', eps 0: scratch's TorchPlateau, proven against torch
    in tests/test_schedules.py)."""
    h = dict(lr=0.1, gamma=0.5, patience=patience, threshold=threshold, cooldown=cooldown, min_lr=0.0)
    with jax.enable_x64(True):
        plateau = jax_optim.make_plateau(h)
        watch = jax.jit(lambda state, value: plateau.update({}, state, value=value)[1])
        for seed in range(3):
            losses = sequences(seed, 120)[2]
            state, theirs = plateau.init({"w": jnp.zeros(2)}), []
            for loss in losses:
                theirs.append(0.1 * float(state.scale))
                state = watch(state, jnp.asarray(loss))
            ours = scratch_schedules.OptaxPlateau(0.1, "step", 0.5, patience, threshold, cooldown, 0.0)
            torch_like = scratch_schedules.TorchPlateau(0.1, "step", 0.5, patience, threshold, cooldown, 0.0)
            assert theirs == [ours.lr] + [ours.step(loss) for loss in losses[:-1]]
            assert theirs == [torch_like.lr] + [torch_like.step(loss) for loss in losses[:-1]]
            assert min(theirs) < 0.1


def one_step(spec, params, grads, steps=1):
    """The Optax chain's parameters after `steps` steps of the same gradients."""
    with jax.enable_x64(True):
        opt = jax_optim.make_optimizer(spec, spec.hyper("jax"), params)
        p = {n: jnp.asarray(v) for n, v in params.items()}
        state = opt.init(p)
        for _ in range(steps):
            updates, state = opt.tx.update({n: jnp.asarray(g) for n, g in grads.items()}, state, p)
            p = optax.apply_updates(p, updates)
        return {n: np.asarray(v) for n, v in p.items()}


def scratch_step(spec, convention, params, grads, steps=1):
    opt = scratch_optimizers.make_optimizer(spec.optimizer, spec.hyper(convention), convention)
    for _ in range(steps):
        params = opt.step(params, {"d" + n: g for n, g in grads.items()})
    return params


def test_rmsprop_eps_inside_the_root_changes_the_step_by_the_formula():
    """optax.rmsprop divides by sqrt(s + eps), torch by sqrt(s) + eps: on a small gradient (s ~ eps)
    the first step differs by exactly the ratio (sqrt(s) + eps) / sqrt(s + eps)."""
    spec = toy_spec(optimizer="rmsprop", lr=0.01, rho=0.9, eps=1e-8)
    p, g = {"W1": np.ones(3)}, {"W1": np.array([1e-4, 3e-4, 1e-2])}
    jax_p, torch_p = one_step(spec, p, g)["W1"], scratch_step(spec, "torch", p, g)["W1"]
    np.testing.assert_array_equal(jax_p, scratch_step(spec, "jax", p, g)["W1"])
    s = 0.1 * g["W1"] ** 2
    predicted = (np.sqrt(s) + 1e-8) / np.sqrt(s + 1e-8)          # jax step / torch step
    np.testing.assert_allclose((1 - jax_p) / (1 - torch_p), predicted, rtol=1e-9)
    assert 0.30 < predicted[0] < 0.31                 # g 1e-4: 0.30 of torch's step
    assert 4e-4 < 1 - predicted[2] < 6e-4             # g 1e-2: still 5e-4 less


def test_clip_by_global_norm_has_no_eps():
    """Plain SGD, lr 0.5, gradient (3, 4) (norm 5) clipped to 1: optax scales by 1/5 exactly,
    torch by 1/(5 + 1e-6)."""
    spec = toy_spec(optimizer="sgd", lr=0.5, clip_norm=1.0)
    p, g = {"W1": np.array([1.0, 1.0])}, {"W1": np.array([3.0, 4.0])}
    jax_p = one_step(spec, p, g)["W1"]
    np.testing.assert_array_equal(jax_p, [1 - 0.5 * (3 / 5), 1 - 0.5 * (4 / 5)])
    torch_p = scratch_step(spec, "torch", p, g)["W1"]
    assert 1e-8 < rel(1 - jax_p, 1 - torch_p) < 1e-6
    np.testing.assert_array_equal(jax_p, scratch_step(spec, "jax", p, g)["W1"])


@pytest.mark.parametrize("name, default, keras_default",
                         [("adamw", 1e-4, 0.004), ("lion", 1e-3, 0.0)])
def test_default_decay_multiplied_by_the_lr(name, default, keras_default):
    """optax.adamw's default weight_decay 1e-4 (Keras 0.004, torch 0.01) and optax.lion's 1e-3
    (Keras's Lion: none), both multiplied by the lr: with a zero gradient (d = 0) one step is
    p - lr wd p."""
    assert inspect.signature(getattr(optax, name)).parameters["weight_decay"].default == default
    spec = toy_spec(optimizer=name, lr=0.1)
    assert spec.hyper("jax")["weight_decay"] == default
    assert spec.hyper("keras")["weight_decay"] == keras_default
    p, g = {"W1": np.array([1.0, -2.0, 3.0])}, {"W1": np.zeros(3)}
    expected = p["W1"] + (-0.1) * (0.0 + default * p["W1"])
    np.testing.assert_array_equal(one_step(spec, p, g)["W1"], expected)
    np.testing.assert_array_equal(scratch_step(spec, "jax", p, g)["W1"], one_step(spec, p, g)["W1"])


def test_optax_nadam_is_adam_with_nesterov():
    """optax.nadam's m_hat = b1 m / (1 - b1^(t+1)) + (1 - b1) g / (1 - b1^t), no mu_t schedule: two
    steps written out; torch's NAdam (momentum_decay 0.004) moves differently."""
    spec = toy_spec(optimizer="nadam", lr=0.01)
    p, g = {"W1": np.array([0.5, -1.0])}, {"W1": np.array([0.3, -0.2])}
    b1, b2, eps, lr = 0.9, 0.999, 1e-8, 0.01
    w, m, v = p["W1"], 0.0, 0.0
    for t in (1, 2):
        m, v = (1 - b1) * g["W1"] + b1 * m, (1 - b2) * g["W1"] ** 2 + b2 * v
        m_hat = b1 * (m / (1 - b1 ** (t + 1))) + (1 - b1) * (g["W1"] / (1 - b1**t))
        w = w + (-lr) * (m_hat / (np.sqrt(v / (1 - b2**t)) + eps))
    np.testing.assert_allclose(one_step(spec, p, g, steps=2)["W1"], w, rtol=1e-15)
    assert rel(1 - scratch_step(spec, "torch", p, g, steps=2)["W1"], 1 - w) > 1e-3


def test_optax_amsgrad_keeps_the_max_of_the_corrected_v():
    """optax's AMSGrad: v_max = max(v_max, v / (1 - b2^t)); torch's: max of the raw v, corrected
    at t.
    After a large gradient then small ones the two steps differ (amsgrad-corrected-max)."""
    spec = toy_spec(optimizer="adam", lr=0.01, amsgrad=True)
    p = {"W1": np.array([0.5, -1.0])}
    rng = np.random.default_rng(1)
    ours_jax, ours_torch, theirs = dict(p), dict(p), None
    opt_jax = scratch_optimizers.make_optimizer("adam", spec.hyper("jax"), "jax")
    opt_torch = scratch_optimizers.make_optimizer("adam", spec.hyper("torch"), "torch")
    for t in range(20):
        g = {"dW1": np.array([5.0, -5.0]) if t == 0 else rng.normal(size=2) * 0.01}
        ours_jax, ours_torch = opt_jax.step(ours_jax, g), opt_torch.step(ours_torch, g)
    v_max_jax, v_torch = opt_jax.state["W1"]["v_max"], opt_torch.state["W1"]["v_max"]
    np.testing.assert_allclose(v_max_jax, 25.0, rtol=1e-12)         # the first v_hat: g^2
    np.testing.assert_allclose(v_torch, 25.0 * 0.001, rtol=1e-12)   # the raw first v
    assert rel(ours_jax["W1"] - p["W1"], ours_torch["W1"] - p["W1"]) > 0.1


def test_jax_defaults_are_optax_signatures():
    """DEFAULTS['jax'] is every optax alias's own default (optax calls rho `decay`, beta `b`)."""
    names = {"rho": ("decay", "rho"), "beta1": ("b1",), "beta2": ("b2",), "eps": ("eps",),
             "weight_decay": ("weight_decay",),
             "initial_accumulator": ("initial_accumulator_value",)}
    for optimizer, defaults in DEFAULTS["jax"].items():
        signature = inspect.signature(getattr(optax, optimizer)).parameters
        for key, value in defaults.items():
            found = [signature[n].default for n in names.get(key, ()) if n in signature]
            if key == "momentum":
                assert signature["momentum"].default is None and value == 0.0
            elif key in ("nesterov", "amsgrad"):
                assert value is False
            else:
                assert found == [value], (optimizer, key, found, value)


def test_refused_with_one_line():
    for changes, words in ((dict(optimizer="sgd", lr=0.1, momentum=0.9, dampening=0.5),
                            "no dampening"),
                           (dict(schedule="plateau", threshold=0.0), "threshold 0")):
        spec = toy_spec(**changes)
        assert words in jax_optim.unavailable(spec) and "\n" not in jax_optim.unavailable(spec)
        with pytest.raises(ValueError, match=words):
            jax_optim.make_optimizer(spec, spec.hyper("jax"), {})
    assert jax_optim.unavailable(toy_spec()) is None


# --- lockstep on toy3 with jax added (compare.run): the jax pair within 1e-9, jax~torch and
# jax~keras judged or reported with the rule. The full lists (every case of
# tests/test_optimizers.py, test_regularization.py and test_schedules.py) were run so (the report of
# issue 23's optimizer work); these cases carry each optax rule.
# name -> (spec changes, frameworks, {pair: None (judged) | the rules that keep it unjudged})
LOCKSTEP = {
    "rmsprop-centered-momentum": (
        dict(optimizer="rmsprop", lr=0.01, momentum=0.9, centered=True, rho=0.9, eps=1e-7),
        ("scratch", "torch", "keras", "jax"),
        {"keras~jax": None, "torch~jax": {"rmsprop-eps-placement", "rmsprop-momentum-form"}}),
    "adam-amsgrad": (dict(optimizer="adam", lr=0.01, amsgrad=True, eps=1e-8),
                     ("scratch", "torch", "jax"), {"torch~jax": {"amsgrad-corrected-max"}}),
    "exponential-step": (dict(optimizer="sgd", lr=0.1, momentum=0.9, schedule="exponential",
                              gamma=0.97),
                         ("scratch", "torch", "jax"), {"torch~jax": {"exponential-float32-count"}}),
    "clip-norm-lion": (dict(optimizer="lion", lr=0.001, clip_norm=0.1), ("scratch", "keras", "jax"),
                       {"keras~jax": {"default-hyperparameters"}}),
}


@pytest.mark.parametrize("name", LOCKSTEP)
def test_lockstep_with_jax(name):
    import compare
    from compare.engine.run import describe_divergence
    changes, frameworks, pairs = LOCKSTEP[name]
    recipe = recipes.get("toy3")
    spec = recipe.spec.replace(steps=100, **changes)
    report = compare.run(spec, recipe.load(), frameworks=frameworks)
    s = report.summary
    assert s["verdict"] == "pass", s["verdict_reason"]
    assert s["first_divergence"] is None, describe_divergence(s["first_divergence"])
    assert s["steps_completed"] == 100 and "jax" in s["judged_pairs"]
    assert s["max_rel_err"]["jax"] <= 1e-9
    assert "state" in s["worst_by_kind"]["jax"] and "lr" not in s["not_compared"].get("jax", {})
    for pair, rules in pairs.items():
        reasons = set(s["pairs"][pair]["reasons"])
        if rules is None:
            assert pair in s["judged_pairs"], (pair, s["pairs"][pair]["reasons"])
            assert s["max_rel_err"][pair] <= 1e-9, (pair, s["max_rel_err"][pair])
        else:
            assert pair not in s["judged_pairs"] and rules <= reasons, (pair, reasons)
            assert s["max_rel_err"][pair] > 1e-12             # the rule shows in the numbers
