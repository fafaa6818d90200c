"""Learning-rate schedules: scratch's schedules against the frameworks' own objects, rate by rate
(torch.optim.lr_scheduler; keras.optimizers.schedules and keras.callbacks), the translation
between them (boundaries m - 1, patience + 1, cooldown + 1), and lockstep runs of toy3 for 100
float64 steps with each schedule moved every step and every epoch, the learning rate compared
after every step."""
import types

import numpy as np
import pytest

import compare
from compare.cli import main
from compare.data import recipes
from compare.engine import conventions
from compare.engine.harness import lockstep
from compare.engine.run import check_frameworks, describe_divergence
from compare.implementations.scratch import tensorflow_pow32
from compare.views.text import logical_lines
from scratch import schedules

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")


def torch_rates(make, n, metrics=None):
    """The lr torch's scheduler gives each of n optimizer steps."""
    p = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    optimizer = torch.optim.SGD([p], lr=0.1)
    scheduler = make(optimizer)
    rates = []
    for i in range(n):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step(metrics[i]) if metrics is not None else scheduler.step()
    return rates


def scratch_rates(schedule, n, metrics=None):
    rates = []
    for i in range(n):
        rates.append(schedule.lr)
        schedule.step(None if metrics is None else metrics[i])
    return rates


def keras_schedule_rates(schedule, n):
    import tensorflow as tf
    return [float(schedule(tf.constant(t, dtype=tf.int64))) for t in range(n)]


def keras_plateau_rates(n, metrics, **kw):
    keras.config.set_floatx("float64")
    try:
        optimizer = keras.optimizers.SGD(learning_rate=0.1)
        optimizer.build([keras.Variable(np.zeros(2))])
        callback = keras.callbacks.ReduceLROnPlateau(monitor="loss", mode="min", **kw)
        callback.set_model(types.SimpleNamespace(optimizer=optimizer))
        callback.on_train_begin()
        rates = []
        for i in range(n):
            rates.append(float(optimizer.learning_rate.numpy()))
            callback.on_epoch_end(i, {"loss": float(metrics[i])})
        return rates
    finally:
        keras.config.set_floatx("float32")


def noisy_losses(seed, n=120):
    """A training-loss-like sequence: a slow fall with noise, flat stretches where plateaus trigger."""
    rng = np.random.default_rng(seed)
    return list(5 + np.cumsum(rng.normal(-0.01, 0.02, n)))


def test_torch_schedules_rate_by_rate():
    """scratch (torch's form) gives torch's very rates, to the last bit, cosine past T_max included."""
    lr_sched = torch.optim.lr_scheduler
    cases = [
        (lambda o: lr_sched.ExponentialLR(o, gamma=0.97), schedules.TorchExponential(0.1, "step", 0.97)),
        (lambda o: lr_sched.MultiStepLR(o, milestones=[3, 7, 7, 20], gamma=0.5),
         schedules.TorchMultiStep(0.1, "step", 0.5, [3, 7, 7, 20])),
        (lambda o: lr_sched.CosineAnnealingLR(o, T_max=13, eta_min=0.001),
         schedules.TorchCosine(0.1, "step", 13, 0.001)),
    ]
    for make, ours in cases:
        assert scratch_rates(ours, 60) == torch_rates(make, 60)


@pytest.mark.parametrize("patience,cooldown,threshold", [(0, 0, 0.0), (2, 0, 0.01), (3, 1, 0.005), (1, 4, 0.0)])
def test_plateau_rate_by_rate_and_translated(patience, cooldown, threshold):
    """ReduceLROnPlateau: scratch mirrors torch's scheduler and Keras's callback exactly; and the
    Keras callback built with patience + 1, cooldown + 1 gives torch's rates (threshold_mode 'abs',
    eps 0): the translation the references use."""
    for seed in range(3):
        metrics = noisy_losses(seed)
        kw = dict(factor=0.5, patience=patience, threshold=threshold, cooldown=cooldown, min_lr=0.0)
        theirs_torch = torch_rates(lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(
            o, mode="min", threshold_mode="abs", eps=0.0, **kw), len(metrics), metrics)
        k_patience, k_cooldown = schedules.keras_plateau_counts(patience, cooldown)
        theirs_keras = keras_plateau_rates(len(metrics), metrics, factor=0.5, patience=k_patience,
                                           min_delta=threshold, cooldown=k_cooldown, min_lr=0.0)
        assert scratch_rates(schedules.TorchPlateau(0.1, "step", 0.5, patience, threshold, cooldown, 0.0),
                             len(metrics), metrics) == theirs_torch
        assert scratch_rates(schedules.KerasPlateau(0.1, "step", 0.5, patience, threshold, cooldown, 0.0),
                             len(metrics), metrics) == theirs_keras
        assert theirs_keras == theirs_torch
        assert min(theirs_torch) < 0.1, "the sequence must make the schedule reduce, or this proves nothing"


def test_plateau_untranslated_counts_differ():
    """The same patience number in both frameworks is not the same schedule: Keras reduces one step earlier."""
    metrics = noisy_losses(0)
    torch_lr = torch_rates(lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(
        o, factor=0.5, patience=2, threshold=0.01, threshold_mode="abs", eps=0.0), len(metrics), metrics)
    keras_lr = keras_plateau_rates(len(metrics), metrics, factor=0.5, patience=2, min_delta=0.01)
    first = next(i for i, (a, b) in enumerate(zip(torch_lr, keras_lr)) if a != b)
    assert keras_lr[first] < torch_lr[first]


def test_keras_schedules_rate_by_rate():
    """scratch (Keras's form) against Keras's schedule objects at every step count, float64 values;
    and with Python floats, Keras's float32 roundings reproduced."""
    S, f64 = keras.optimizers.schedules, np.float64
    for casts, f in ((False, f64), (True, float)):
        cases = [
            (S.ExponentialDecay(f(0.1), decay_steps=1, decay_rate=f(0.97)),
             schedules.KerasExponential(0.1, "step", 0.97, casts, tensorflow_pow32())),
            (S.PiecewiseConstantDecay([2, 6], [f(0.1), f(0.1 * 0.5), f(0.1 * 0.5**2)]),
             schedules.KerasPiecewise(0.1, "step", 0.5, [3, 7], casts)),
        ]
        if not casts:      # float32 CosineDecay uses TensorFlow's cos: refused by the spec (see below)
            cases.append((S.CosineDecay(f(0.1), decay_steps=13, alpha=0.001 / 0.1),
                          schedules.KerasCosine(0.1, "step", 13, 0.001)))
        # float32 (casts): the same bits, gamma ** t taken from TensorFlow's own float32 pow (its last
        # bits depend on the CPU's instruction set: compare/implementations/scratch.py tensorflow_pow32).
        # float64: NumPy's pow against Eigen's, each correct to about an ulp and vectorised per ISA:
        # bounded by 8 ulps (2^-50), where a wrong rate is off by a factor gamma (3e-2) or more.
        rtol = 4e-16 if casts else 2.0**-50
        for theirs, ours in cases:
            np.testing.assert_allclose(scratch_rates(ours, 40), keras_schedule_rates(theirs, 40), rtol=rtol, atol=0)


def test_translated_schedules_give_the_same_rates():
    """torch's and Keras's schedules built from one spec (MultiStepLR [m] vs boundaries [m - 1]) give
    the same rates to rounding; cosine only up to T_max (then torch rises again, Keras stays)."""
    pairs = [(schedules.TorchExponential(0.1, "step", 0.97), schedules.KerasExponential(0.1, "step", 0.97)),
             (schedules.TorchMultiStep(0.1, "step", 0.5, [3, 7]), schedules.KerasPiecewise(0.1, "step", 0.5, [3, 7])),
             (schedules.TorchCosine(0.1, "step", 13, 0.001), schedules.KerasCosine(0.1, "step", 13, 0.001))]
    for a, b in pairs:
        np.testing.assert_allclose(scratch_rates(a, 14), scratch_rates(b, 14), rtol=1e-14)
    torch_cos, keras_cos = (scratch_rates(s, 20) for s in (schedules.TorchCosine(0.1, "step", 13, 0.001),
                                                            schedules.KerasCosine(0.1, "step", 13, 0.001)))
    assert torch_cos[14] > 2 * keras_cos[14]


def toy3_spec(**changes):
    return recipes.get("toy3").spec.replace(steps=100, **changes)


CASES = {
    "exponential": dict(schedule="exponential", gamma=0.97),
    "step": dict(schedule="step", milestones=[30, 60], gamma=0.5),
    "cosine": dict(schedule="cosine", eta_min=0.001),
    "plateau": dict(schedule="plateau", patience=2, threshold=0.01, gamma=0.5),
}
EXPECTED_FINAL_LR = {"exponential": 0.1 * 0.97**100, "step": 0.1 * 0.25, "cosine": 0.001}


@pytest.mark.parametrize("every", ["step", "epoch"])
@pytest.mark.parametrize("name", CASES)
def test_schedule_lockstep_100_steps(name, every):
    """Every pair judged at 1e-9, torch~keras included, the rates compared after every step, and the
    schedule really moved the rate (the final rates checked against the formula)."""
    changes = dict(CASES[name], schedule_every=every)
    if every == "epoch":                                  # toy3 has 12 examples: 3 steps an epoch, 34 epochs
        changes.update(milestones=[8, 16]) if name == "step" else None
        changes.update(t_max=34) if name == "cosine" else None
        changes.update(patience=1, threshold=0.05) if name == "plateau" else None
    spec = toy3_spec(**changes)
    if every == "epoch" and name == "cosine":             # the run's length in epochs fixed: within t_max
        spec = spec.replace(epochs=34)
        spec.steps = None                                 # 102 steps
    subjects, references = check_frameworks(("scratch", "torch", "keras"))
    raw = lockstep(spec, recipes.get("toy3").load(), subjects, references)
    assert raw["first_divergence"] is None, describe_divergence(raw["first_divergence"])
    assert all(p.judged for p in raw["pairs"]), [(p.key, p.reasons) for p in raw["pairs"]]
    assert len(raw["steps"]) == (spec.steps or 102)
    for pair in ("torch", "keras", "torch~keras"):
        worst = raw["worst_by_kind"][pair]
        assert max(w["max_rel_err"] for w in worst.values()) <= 1e-9
    rates = {key: float(r.model.optimizer.lr) if key.startswith("scratch") else None
             for key, r in raw["runners"].items()}
    rates["torch"] = raw["runners"]["torch"].model.optimizer.param_groups[0]["lr"]
    rates["keras"] = float(raw["runners"]["keras"].model.optimizer.learning_rate)
    if every == "step" and name in EXPECTED_FINAL_LR:
        for key, rate in rates.items():
            assert rate == pytest.approx(EXPECTED_FINAL_LR[name], rel=1e-12), key
    assert len(set(np.round(list(rates.values()), 15))) == 1, rates
    assert max(rates.values()) < spec.lr, f"the {name} schedule never moved the rate: {rates}"


def test_cosine_past_t_max_is_reported_not_judged():
    """torch's cosine rises again after T_max: torch~keras is reported with the rule named, the
    scratch pairs still judged and passing."""
    report = compare.run(toy3_spec(schedule="cosine", t_max=30), recipes.get("toy3").load())
    s = report.summary
    assert s["verdict"] == "pass"
    assert not s["torch_vs_keras"]["judged"]
    assert "cosine-after-t-max" in s["torch_vs_keras"]["reasons"]
    assert s["torch_vs_keras"]["max_rel_err"] > 1e-3


def test_a_boundary_one_step_late_is_found_and_named(monkeypatch, capsys):
    """The classic port: MultiStepLR([30]) as PiecewiseConstantDecay([30]): the rate after step 30
    differs, and the diagnosis says the schedule changes one step later."""
    import reference.keras_mlp as K

    def boundary_at_milestone(h):
        values = [np.float64(h["lr"] * h["gamma"] ** k) for k in range(len(h["milestones"]) + 1)]
        return keras.optimizers.schedules.PiecewiseConstantDecay(list(h["milestones"]), values)

    monkeypatch.setattr(K, "make_schedule", boundary_at_milestone)
    code = main(["toy3", "--steps", "40", "--schedule", "step", "--milestones", "30", "--quiet"])
    out = capsys.readouterr().out
    assert code == 1
    assert "first divergence at step 30" in out and "lr" in out
    assert "one step later" in out and "b = m - 1" in out


@pytest.mark.parametrize("argv,words", [
    (["--milestones", "30"], "belongs to the step schedule"),
    (["--schedule", "exponential"], "needs its factor gamma"),
    (["--schedule", "step"], "needs its milestones"),
    (["--schedule", "step", "--milestones", "60,30"], "must increase"),
    (["--schedule", "step", "--milestones", "0"], "positive whole numbers"),
    (["--schedule", "plateau", "--gamma", "1.5"], "must be < 1"),
    (["--schedule-every", "epoch"], "needs a schedule"),
    (["--schedule", "cosine", "--patience", "3"], "belongs to the plateau schedule"),
    (["--schedule", "cosine", "--t-max", "0"], "positive integer"),
    (["--schedule", "plateau", "--cooldown", "-1"], "whole number >= 0"),
    (["--schedule", "warmup"], "invalid choice"),
    (["--schedule", "step", "--milestones", "a,b"], "whole numbers"),
    (["--schedule", "cosine", "--keras-float32-casts"], "cannot be mirrored"),
])
def test_schedule_input_errors_exit_2(argv, words, capsys):
    assert main(["toy3", "--steps", "3", *argv]) == 2
    err = capsys.readouterr().err
    assert words in err and len(logical_lines(err.strip())) == 1


def test_the_rules_are_named_and_only_the_numeric_ones_stop_judging():
    spec = toy3_spec(schedule="step", milestones=[30], schedule_every="epoch")
    found = conventions.differences(spec)
    assert {"schedule-step-boundary", "schedule-every-epoch", "schedule-recursive-form"} <= set(found)
    assert not conventions.numeric_differences(spec)
    assert "plateau-counts" in conventions.differences(toy3_spec(schedule="plateau"))
    assert "keras-float32-schedule" in conventions.numeric_differences(
        toy3_spec(schedule="exponential", gamma=0.9, keras_float32_casts=True))


def test_keras_float32_exponential_decay_on_this_cpu(capsys):
    """toy3 with Keras's float32 casts and an exponential schedule: scratch@keras takes gamma ** t
    from TensorFlow's float32 pow, whose last bits depend on the CPU (AVX-512 vs AVX2), so the
    pair agrees at 1e-9 on any x86-64 (it failed at step 4 on an AVX-512 CPU with NumPy's pow); and
    NumPy's float32 pow is not what this TensorFlow computes at every t on every CPU."""
    assert main(["toy3", "--optimizer", "sgd", "--schedule", "exponential", "--gamma", "0.97",
                 "--keras-float32-casts", "--steps", "40", "--frameworks", "scratch,keras", "--quiet"]) == 0
    assert capsys.readouterr().out.startswith("PASS: 40 steps")
    pow32 = tensorflow_pow32()
    g, ts = np.float32(0.97), np.arange(400, dtype=np.float32)
    ours = schedules.KerasExponential(0.1, "step", 0.97, True, pow32)
    assert [ours.step() for _ in range(399)] == [float(np.float32(0.1) * np.float32(pow32(g, t))) for t in ts[1:]]
