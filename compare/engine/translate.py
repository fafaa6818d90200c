"""A run's training settings in torch's terms, translated into Keras's (or back): one rule per row.

    translation = translate(spec, "torch")     # spec as torch reads it -> the Keras settings

The spec is read as the source framework reads it (its defaults fill what is unset: Spec.hyper);
every rule of RULES that concerns it gives a Row; the Translation holds both spec variants, fully
resolved. Each rule cites the installed sources it was verified in (docs/conventions.md: the table);
compare/engine/proof.py proves it in lockstep. A row is 'exact' (the same arithmetic, up to rounding
order), 'closest' (no target setting computes the same: the nearest runs, the proof measures the
distance; `fix`: the source-side change that makes the port exact, where one exists) or 'none'.

Adding a rule is one more function `rule(src, source) -> (target changes, Row) or None` in RULES.
Learning-rate schedules are one: `--milestones`, `--patience`, `--cooldown` are read in the
source's words (--from keras: PiecewiseConstantDecay boundaries, the callback's patience).

Left out: printing (compare/views/port_code.py), the command line (compare/cli/translate.py),
settings the spec cannot select (torch's Adagrad lr_decay, Keras's EMA, loss scaling).
"""
import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from scratch.conventions import DEFAULTS

from .errors import InputError

FRAMEWORKS = ("torch", "keras")
RESOLVED = ("rho", "beta1", "beta2", "eps", "initial_accumulator", "momentum_decay")
F32_096 = float(np.float32(0.96))                     # Keras's Nadam step: ops.cast(0.96, float64), via float32
NADAM_PSI = math.log(F32_096) / math.log(0.96)        # torch momentum_decay with 0.96^psi = float32(0.96)


@dataclass
class Row:
    rule: str                   # the rule's name (docs/conventions.md, 'translate' table)
    source: str                 # the setting in the source framework's words
    target: str                 # the target's setting that computes the same thing (or the closest)
    kind: str = "exact"         # exact | closest | none
    why: str = ""               # what still differs (closest, none)
    fix: dict = field(default_factory=dict)   # spec changes on the source side that make the port exact
    fix_words: str = ""         # that change, in the source framework's words


@dataclass
class Translation:
    source: str                 # 'torch' | 'keras'
    target: str
    specs: dict                 # framework -> the Spec it runs, fully resolved
    rows: list                  # [Row], in the order of RULES

    @property
    def provable(self):
        """False when a row has nothing on the target side (Lion into torch): nothing to run."""
        return all(row.kind != "none" for row in self.rows)

    @property
    def fix(self):
        """The source-side changes of every row that names one (merged)."""
        return {key: value for row in self.rows for key, value in row.fix.items()}


def f32(x):
    """x as Keras's TF backend uses a Python float in a float64 run: rounded through float32."""
    return float(np.float32(x))


def exact_f32(x):
    return x == f32(x)


def resolved(spec, convention):
    """The spec with every unset hyperparameter filled with `convention`'s default."""
    h = spec.hyper(convention)
    fill = {name: h[name] for name in RESOLVED if getattr(spec, name) is None and h.get(name) is not None}
    if spec.weight_decay is None:
        fill["weight_decay"] = h["weight_decay"]
    return dataclasses.replace(spec, **fill)


def other(framework):
    return "keras" if framework == "torch" else "torch"


def check_source(spec, source):
    """The settings must be ones the source framework has: InputError (exit 2) otherwise."""
    if source not in FRAMEWORKS:
        raise InputError(f"unknown framework {source!r} to translate from; choose torch or keras")
    if source == "torch":
        if spec.optimizer == "lion":
            raise InputError("torch.optim has no Lion: translate it --from keras")
        if spec.keras_float32_casts:
            raise InputError("--keras-float32-casts describes Keras code: give it with --from keras")
        if spec.weight_decay and spec.decay == "decoupled" and spec.optimizer != "adamw":
            raise InputError(f"torch's {spec.optimizer} has no decoupled weight decay (AdamW has): --decay coupled")
    else:
        if spec.dampening:
            raise InputError("Keras's SGD has no dampening: a torch setting (--from torch)")
        if spec.momentum_decay is not None:
            raise InputError("Keras's Nadam has no momentum_decay: a torch setting (--from torch)")
        if spec.weight_decay and spec.decay == "coupled" and spec.optimizer != "adamw":
            raise InputError(f"Keras's {spec.optimizer} has no coupled weight decay: --decay decoupled, or --l2")
    if spec.weight_decay and spec.decay == "coupled" and spec.optimizer != "adamw" and (spec.l1 or spec.l2):
        raise InputError("translate takes coupled --weight-decay or --l1/--l2, not both: their Keras "
                         "regularizers would need two factors")


def translate(spec, source):
    """-> Translation of `spec` (validated) read in `source`'s terms into the other framework's."""
    check_source(spec, source)
    target = other(source)
    src = resolved(from_keras_terms(spec) if source == "keras" else spec, source)
    found = [result for result in (rule(src, source) for rule in RULES) if result]
    changes = {key: value for change, _ in found for key, value in change.items()}
    changes.update({"momentum_decay": None} if target == "keras" else {"keras_float32_casts": False})
    tgt = dataclasses.replace(src, **changes)
    rows = [row for _, row in found]
    return Translation(source, target, {source: src.validate(), target: tgt.validate()}, rows)


# ----- the rules: each (src: resolved Spec, source) -> (changes to the target's Spec, Row) or None -----

def word(framework, optimizer, name):
    """Our hyperparameter name in a framework's words."""
    if framework == "keras":
        return {"lr": "learning_rate", "beta1": "beta_1", "beta2": "beta_2", "eps": "epsilon",
                "initial_accumulator": "initial_accumulator_value"}.get(name, name)
    if name == "rho" and optimizer == "rmsprop":
        return "alpha"
    return {"beta1": "betas[0]", "beta2": "betas[1]", "initial_accumulator": "initial_accumulator_value"}.get(name, name)


def hyperparameters(src, source):
    """lr = learning_rate, RMSprop's alpha = rho, betas = (beta_1, beta_2), eps = epsilon (placement: own
    rules below), momentum, nesterov, centered, amsgrad: the same numbers (torch/optim/*.py __init__;
    keras/src/optimizers/*.py __init__). Source defaults are written out: the target's differ."""
    names = ["lr"] + [n for n in ("momentum", "rho", "beta1", "beta2", "initial_accumulator")
                      if getattr(src, n) not in (None, 0.0) or (n == "momentum" and src.optimizer == "sgd")]
    target = other(source)
    text = lambda fw: ", ".join(f"{word(fw, src.optimizer, n)}={getattr(src, n)!r}" for n in names)
    return {}, Row("same-hyperparameters", text(source), text(target))


def default_hyperparameters(src, source):
    """The unset hyperparameters take the source's defaults (scratch/conventions.py DEFAULTS), written
    out on the target side, whose defaults differ (Adagrad's accumulator 0 vs 0.1, eps, rho, ...)."""
    mine, theirs = (DEFAULTS[fw].get(src.optimizer, {}) for fw in (source, other(source)))
    differ = [n for n in mine if n in theirs and mine[n] != theirs[n]]
    if not differ:
        return None
    target = other(source)
    return {}, Row("default-hyperparameters",
                   "defaults " + ", ".join(f"{word(source, src.optimizer, n)}={mine[n]!r}" for n in differ),
                   "written out (its own: " + ", ".join(f"{word(target, src.optimizer, n)}={theirs[n]!r}"
                                                        for n in differ) + ")")


def keras_float32(src, source):
    """Keras's TF backend casts a Python-float hyperparameter through float32 in a float64 run
    (keras/src/optimizers/sgd.py update_step: ops.cast(self.momentum, ...); adam.py: the betas in the
    bias correction; nadam.py, lion.py: the betas; base_optimizer.py _apply_weight_decay; adagrad.py
    build: initial_accumulator_value). np.float64 scalars stay exact (reference/keras_mlp.py)."""
    if source == "torch":
        return {"keras_float32_casts": False}, Row(
            "keras-float32-hyperparameters", "Python floats", "np.float64(...) for each float",
            why="a Python float would act through float32")
    if not src.keras_float32_casts:
        return None
    o, rounded, kind, why = src.optimizer, {}, "exact", ""
    if o == "sgd" and src.momentum:
        rounded["momentum"] = f32(src.momentum)
    if o in ("nadam", "lion"):
        rounded.update(beta1=f32(src.beta1), beta2=f32(src.beta2))
    if src.weight_decay:
        rounded["weight_decay"] = f32(src.weight_decay)
    if o == "adagrad":
        rounded["initial_accumulator"] = f32(src.initial_accumulator)
    if o in ("adam", "adamw", "adamax"):
        kind, why = "closest", f"Keras rounds {o}'s betas in the bias correction only, not in the moments"
    changes = {k: v for k, v in rounded.items() if v != getattr(src, k)}
    if not changes and kind == "exact":
        return None
    return changes, Row("keras-float32-hyperparameters", "Python floats (rounded through float32)",
                        ", ".join(f"{k}={v!r}" for k, v in changes.items()) or "no single value", kind, why,
                        {"keras_float32_casts": False}, "np.float64(...) for each hyperparameter")


def sgd_momentum(src, source):
    """torch: v = mu v + g, p -= lr v (torch/optim/sgd.py _single_tensor_sgd); Keras: v = mu v - lr g,
    p += v (keras/src/optimizers/sgd.py update_step): the same steps; the buffers differ by -lr."""
    if src.optimizer != "sgd" or not src.momentum:
        return None
    return {}, Row("sgd-momentum-form", f"momentum={src.momentum!r}" + (", nesterov=True" if src.nesterov else ""),
                   "the same (the momentum buffers mean different things: not compared)")


def rmsprop_momentum(src, source):
    """torch keeps lr outside its momentum buffer (buf = mu buf + g / avg; p -= lr buf: torch/optim/rmsprop.py),
    Keras inside (buf = mu buf + lr g / avg; p -= buf: rmsprop.py): the same steps, buffers differ by lr."""
    if src.optimizer != "rmsprop" or not src.momentum:
        return None
    return {}, Row("rmsprop-momentum-form", f"momentum={src.momentum!r}",
                   "the same (the momentum buffers differ by a factor lr: not compared)")


def sgd_dampening(src, source):
    """torch: buf = mu buf + (1 - d) g after the first step, whose buf = g (torch/optim/sgd.py);
    Keras's SGD has none: learning_rate lr (1 - d) is the same from step 2 on."""
    if src.optimizer != "sgd" or not src.dampening:
        return None
    lr = src.lr * (1 - src.dampening)
    return {"lr": lr, "dampening": 0.0}, Row(
        "sgd-dampening", f"dampening={src.dampening!r}", f"learning_rate={lr!r}", "closest",
        "torch does not damp the first step's buffer", {"dampening": 0.0}, "dampening=0")


def eps_placement(src, source):
    """Where eps sits. RMSprop, Adagrad: torch sqrt(s) + eps (torch/optim/rmsprop.py, adagrad.py),
    Keras sqrt(s + eps) (keras/src/optimizers/rmsprop.py, adagrad.py update_step): the closest eps
    makes the two equal where s starts, s0 (0; Adagrad's initial accumulator); into torch at s0 = 0,
    Keras's eps itself (sqrt(eps) would be off by sqrt(eps) once s > 0). Adam/AdamW: torch adds eps to sqrt(v_hat), Keras to sqrt(v) (adam.py): Keras's
    eps acts as eps sqrt(1 - beta2^t). Adamax: torch max(b2 u, |g| + eps), Keras (u + eps) in the
    denominator (adamax.py). No eps > 0 maps exactly."""
    o = src.optimizer
    rule = {"rmsprop": "rmsprop-eps-placement", "adagrad": "adagrad-eps-placement", "adam": "adam-eps-placement",
            "adamw": "adam-eps-placement", "adamax": "adamax-eps-placement"}.get(o)
    if rule is None or not src.eps:
        return None
    eps, why = src.eps, {"adamax": "torch adds eps to |g| inside the max, Keras to u in the denominator"}.get(
        o, "torch adds eps to sqrt(v_hat), Keras to sqrt(v)")
    if o in ("rmsprop", "adagrad"):
        s0 = src.initial_accumulator if o == "adagrad" else 0.0
        if source == "torch":
            eps = (math.sqrt(s0) + eps) ** 2 - s0
        else:                                  # s > 0 from step 1 on: at s0 = 0, eps itself beats sqrt(eps)
            eps = math.sqrt(s0 + eps) - math.sqrt(s0) if s0 else eps
        eps, why = float(f"{eps:.12g}"), "torch divides by sqrt(s) + eps, Keras by sqrt(s + eps)"
    return {"eps": eps}, Row(rule, f"{word(source, o, 'eps')}={src.eps!r}", f"{word(other(source), o, 'eps')}={eps!r}",
                             "closest", why, {"eps": 0.0}, f"{word(source, o, 'eps')}=0")


def nadam_schedule(src, source):
    """torch: mu_t = b1 (1 - 0.5 * 0.96^(t psi)) in the product and in the step (torch/optim/nadam.py
    _single_tensor_nadam); Keras: 0.96^t with 0.96 exact in the product (nadam.py _backend_update_step)
    and rounded through float32 in the step (update_step: ops.cast(0.96, var_dtype)). No psi gives
    both; the closest is psi = log(float32(0.96)) / log(0.96). torch keeps mu_product in
    _get_scalar_dtype(): float32 unless torch's default dtype is float64 (torch/optim/optimizer.py)."""
    if src.optimizer != "nadam":
        return None
    if source == "torch":
        if src.momentum_decay == NADAM_PSI:
            return {}, Row("nadam-momentum-schedule", f"momentum_decay={src.momentum_decay!r}",
                           "Nadam (fixed: 0.96^t, float32 0.96 in the step)", "closest",
                           "Keras's 0.96 is float32 in the step, exact in the product: no psi gives both")
        return {}, Row("nadam-momentum-schedule", f"momentum_decay={src.momentum_decay!r}",
                       "Nadam (fixed: 0.96^t, float32 0.96 in the step)", "closest",
                       "no Keras setting gives torch's schedule", {"momentum_decay": NADAM_PSI},
                       f"momentum_decay={NADAM_PSI!r} (the closest; still not exact)")
    return {"momentum_decay": NADAM_PSI}, Row(
        "nadam-momentum-schedule", "Nadam (0.96^t: float32 0.96 in the step, exact in the product)",
        f"momentum_decay={NADAM_PSI!r}, torch.set_default_dtype(torch.float64)", "closest",
        "no torch momentum_decay gives both of Keras's 0.96s")


def adamw_decay(src, source):
    """torch AdamW: p *= 1 - lr wd before the step (torch/optim/adamw.py -> adam.py, decoupled); Keras:
    p -= p wd lr before the step (base_optimizer.py _apply_weight_decay) for AdamW and every optimizer's
    weight_decay: Keras's Adam(weight_decay) is torch's AdamW."""
    if not src.weight_decay or not (src.optimizer == "adamw" or src.decay == "decoupled"):
        return None
    o, wd = src.optimizer, src.weight_decay
    if o in ("adam", "adamw"):
        name = {"torch": "AdamW", "keras": "AdamW" if o == "adamw" else "Adam"}
        return ({"optimizer": "adamw", "decay": "coupled"} if source == "keras" else {}), Row(
            "adamw-decoupled-decay", f"{name[source]}(weight_decay={wd!r})", f"{name[other(source)]}(weight_decay={wd!r})")
    if o == "sgd" and not src.momentum:                    # keras -> torch only (torch has no decoupled SGD)
        return {"decay": "coupled"}, Row("sgd-decay-forms", f"SGD(weight_decay={wd!r}) (decoupled)",
                                         f"SGD(weight_decay={wd!r}) (coupled: the same without momentum)")
    return {"decay": "coupled"}, Row("decoupled-decay", f"weight_decay={wd!r} (decoupled)",
                                     f"weight_decay={wd!r} (coupled)", "closest",
                                     f"torch's {o} decays only through the gradient")


def coupled_decay(src, source):
    """torch's SGD/RMSprop/Adam weight_decay=wd adds wd p to every parameter's gradient, biases too
    (torch/optim/sgd.py: grad.add(param, alpha=weight_decay)); Keras: kernel_regularizer=L2(wd/2)
    and bias_regularizer=L2(wd/2) add wd p to the gradient through the loss (regularizers.py L2:
    ops.cast(self.l2): float32 in a float64 run). The loss and dW, db then differ by design."""
    if source != "torch" or not src.weight_decay or src.decay != "coupled" or src.optimizer == "adamw":
        return None
    half = src.weight_decay / 2
    kind, why = ("exact", "") if exact_f32(half) else ("closest", f"Keras's L2 rounds {half!r} to float32: {f32(half)!r}")
    if any(getattr(src, n) is not None for n in ("clip_norm", "clip_norm_per_tensor", "clip_value")):
        kind, why = "closest", "; ".join(filter(None, [why, "torch clips before adding wd p, Keras clips with it"]))
    return {"weight_decay": 0.0, "l2": half, "regularize_biases": True}, Row(
        "coupled-decay-is-l2", f"weight_decay={src.weight_decay!r}",
        f"kernel_regularizer=L2({half!r}), bias_regularizer=L2({half!r})", kind, why)


def regularizers(src, source):
    """--l1/--l2: Keras's L1/L2 kernel_regularizer (and bias_regularizer) round the factor through
    float32 (regularizers.py: float(l), ops.cast); torch adds the term to the loss as written."""
    if not (src.l1 or src.l2) or (source == "torch" and src.weight_decay and src.decay == "coupled"):
        return None
    clipped = any(getattr(src, n) is not None for n in ("clip_norm", "clip_norm_per_tensor", "clip_value"))
    if (source == "keras" and src.regularize_biases and src.l2 and not src.l1 and not src.weight_decay
            and not clipped and src.optimizer in ("sgd", "rmsprop", "adam")):   # the reverse of coupled-decay-is-l2
        wd = 2 * f32(src.l2)
        return {"weight_decay": wd, "decay": "coupled", "l2": 0.0, "regularize_biases": False}, Row(
            "coupled-decay-is-l2", f"kernel_regularizer=L2({src.l2!r}), bias_regularizer=L2({src.l2!r})",
            f"weight_decay={wd!r} (2 x float32({src.l2!r}))")
    where = "weights and biases" if src.regularize_biases else "weights"
    terms = [f"{n}={getattr(src, n)!r}" for n in ("l1", "l2") if getattr(src, n)]
    if source == "keras":
        changes = {n: f32(getattr(src, n)) for n in ("l1", "l2") if getattr(src, n)}
        return changes, Row("regularizer-float32", f"{', '.join(terms)} on the {where}",
                            "loss += " + ", ".join(f"{n}={v!r}" for n, v in changes.items()) + f" on the {where}")
    exact = exact_f32(src.l1) and exact_f32(src.l2)
    return {}, Row("regularizer-float32", f"loss += {', '.join(terms)} on the {where}",
                   f"the same as kernel{'/bias' if src.regularize_biases else ''}_regularizer",
                   "exact" if exact else "closest", "" if exact else "Keras rounds the factor through float32")


def clipping(src, source):
    """torch clip_grad_norm_ scales by min(c / (norm + 1e-6), 1) (torch/nn/utils/clip_grad.py
    _clip_grads_with_norm_); Keras's global_clipnorm by min(c / norm, 1), clipnorm per tensor likewise
    (base_optimizer.py _clip_gradients, clip_by_global_norm): the same until the clip acts. clipvalue
    = clip_grad_value_ (exact)."""
    if src.clip_value is not None:
        return {}, Row("clip-value", f"clip_grad_value_({src.clip_value!r})", f"clipvalue={src.clip_value!r}")
    for name, torch_words, keras_words in (("clip_norm", "clip_grad_norm_(all, {c})", "global_clipnorm={c}"),
                                           ("clip_norm_per_tensor", "clip_grad_norm_(each, {c})", "clipnorm={c}")):
        c = getattr(src, name)
        if c is not None:
            words = {"torch": torch_words.format(c=repr(c)), "keras": keras_words.format(c=repr(c))}
            return {}, Row("clip-norm-eps", words[source], words[other(source)], "closest",
                           "torch divides by norm + 1e-6; the same while the clip does not act")
    return None


def lion(src, source):
    """Lion: keras/src/optimizers/lion.py; torch.optim has none."""
    if src.optimizer != "lion":
        return None
    return {}, Row("lion", "Lion", "nothing: torch.optim has no Lion", "none", "torch ships no Lion optimizer")


def schedule(src, source):
    """The learning-rate schedule. The spec's numbers have torch's meaning (compare/engine/spec.py);
    `from_keras_terms` turned Keras's into them. torch: torch/optim/lr_scheduler.py (MultiStepLR.get_lr
    decays at last_epoch in milestones; ReduceLROnPlateau.step reduces when num_bad_epochs > patience,
    its cooldown counted down after; CosineAnnealingLR.get_lr periodic); Keras: keras/src/optimizers/
    schedules/learning_rate_schedule.py (PiecewiseConstantDecay: step > boundary; CosineDecay:
    min(step, decay_steps)), keras/src/callbacks/reduce_lr_on_plateau.py (wait >= patience, the
    cooldown counted down first, min_delta absolute), learning_rate_scheduler.py (every epoch)."""
    name, h = src.schedule, src.schedule_hyper()
    if name is None:
        return None
    words = {"torch": torch_schedule_words(h), "keras": keras_schedule_words(h)}
    every = "" if src.schedule_every == "step" else " each epoch"
    rule = {"exponential": "schedule-recursive-form", "step": "schedule-step-boundary", "cosine": "schedule-recursive-form",
            "plateau": "plateau-counts"}[name]
    if name == "cosine" and beyond_t_max(src):
        return {}, Row("cosine-after-t-max", words[source] + every, words[other(source)], "closest",
                       "torch's cosine rises again after T_max, Keras's stays at eta_min",
                       {"t_max": src.steps if src.schedule_every == "step" and src.steps else None},
                       "T_max as long as the run")
    if src.optimizer in ("sgd", "rmsprop") and src.momentum > 0:
        return {}, Row("momentum-lr-schedule", words[source] + every, words[other(source)], "closest",
                       "torch scales the whole momentum buffer by the current lr, Keras each gradient by the lr "
                       "of its step: they part as soon as lr changes")
    return {}, Row(rule, words[source] + every, words[other(source)])


def beyond_t_max(src):
    from .conventions import beyond_t_max as beyond
    return beyond(src)


def torch_schedule_words(h):
    name = h["schedule"]
    if name == "exponential":
        return f"ExponentialLR(gamma={h['gamma']!r})"
    if name == "step":
        return f"MultiStepLR(milestones={h['milestones']}, gamma={h['gamma']!r})"
    if name == "cosine":
        return f"CosineAnnealingLR(T_max={h['t_max']}, eta_min={h['eta_min']!r})"
    return (f"ReduceLROnPlateau(factor={h['gamma']!r}, patience={h['patience']}, threshold={h['threshold']!r}, "
            f"threshold_mode='abs', cooldown={h['cooldown']}, min_lr={h['min_lr']!r}, eps=0.0)")


def keras_schedule_words(h):
    name = h["schedule"]
    if name == "exponential":
        return f"ExponentialDecay(decay_steps=1, decay_rate={h['gamma']!r})"
    if name == "step":
        return f"PiecewiseConstantDecay(boundaries={[m - 1 for m in h['milestones']]}, values=...)"
    if name == "cosine":
        return f"CosineDecay(decay_steps={h['t_max']}, alpha=eta_min / lr)"
    patience, cooldown = h["patience"] + 1, h["cooldown"] + 1 if h["cooldown"] else 0
    return (f"ReduceLROnPlateau(factor={h['gamma']!r}, patience={patience}, min_delta={h['threshold']!r}, "
            f"cooldown={cooldown}, min_lr={h['min_lr']!r})")


def from_keras_terms(spec):
    """Settings given in Keras's words -> the spec's (torch's): a boundary b is milestone b + 1, a
    patience or cooldown p is p - 1 (Keras's 0 and 1 act alike)."""
    if spec.schedule == "step" and spec.milestones:
        spec = dataclasses.replace(spec, milestones=[b + 1 for b in spec.milestones])
    if spec.schedule == "plateau":
        spec = dataclasses.replace(spec, patience=max(spec.patience - 1, 0), cooldown=max(spec.cooldown - 1, 0))
    return spec


def network(src, source):
    """The network's own pieces (issue 11): leaky_relu's slope (torch nn.LeakyReLU 0.01, Keras
    keras.activations.leaky_relu 0.2, kept as a float32 attribute by tf.nn.leaky_relu), BatchNorm's
    momentum (torch's weight of the new batch = 1 - Keras's weight of the old: torch/nn/modules/
    batchnorm.py, keras/src/layers/normalization/batch_normalization.py) and eps (1e-5 vs 1e-3),
    LayerNorm's eps (1e-5 vs 1e-3), label smoothing (CE: the same; BCE: Keras's argument, torch users
    smooth targets y(1 - e) + e/2), SmoothL1's beta = Keras Huber(delta=beta) / beta. The source's
    defaults are written out; the running variance cannot be matched (torch stores the unbiased
    batch variance, Keras the biased): not compared, said so."""
    from scratch.more_activations import LEAKY_SLOPE

    target, changes, said, kind, why = other(source), {}, {"torch": [], "keras": []}, "exact", []
    if "leaky_relu" in src.activations:
        slope = src.slope if src.slope is not None else LEAKY_SLOPE[source]
        changes["slope"] = slope
        said["torch"].append(f"LeakyReLU(negative_slope={slope!r})")
        said["keras"].append(f"leaky_relu(negative_slope={slope!r})")
        if not exact_f32(slope):
            kind, why = "closest", why + [f"Keras keeps the slope as float32 ({f32(slope)!r})"]
    if src.norm:
        settings = src.norm_settings(source)
        changes["norm_eps"] = settings["eps"]
        if src.norm == "batch":
            momentum = torch_momentum(src, source)
            changes["norm_momentum"] = momentum
            said["torch"].append(f"BatchNorm1d(momentum={momentum!r}, eps={settings['eps']!r})")
            said["keras"].append(f"BatchNormalization(momentum={complement(momentum)!r}, epsilon={settings['eps']!r})")
            why.append("the running variance: torch stores the unbiased batch variance, Keras the biased (not compared)")
        else:
            said["torch"].append(f"LayerNorm(eps={settings['eps']!r})")
            said["keras"].append(f"LayerNormalization(epsilon={settings['eps']!r})")
    if src.label_smoothing:
        e = src.label_smoothing
        if src.loss == "binary_crossentropy":
            said["torch"].append(f"BCEWithLogitsLoss on targets y * (1 - {e!r}) + {e / 2!r}")
        else:
            said["torch"].append(f"CrossEntropyLoss(label_smoothing={e!r})")
        said["keras"].append(f"{'Binary' if src.loss == 'binary_crossentropy' else 'Categorical'}Crossentropy"
                             f"(label_smoothing={e!r})")
    if src.loss == "smooth_l1":
        said["torch"].append(f"SmoothL1Loss(beta={src.delta!r})")
        said["keras"].append(f"Huber(delta={src.delta!r}) / {src.delta!r}")
    if not said["torch"]:
        return None
    return changes, Row("network-pieces", ", ".join(said[source]), ", ".join(said[target]), kind, "; ".join(why))


def complement(x):
    """1 - x as written in decimals: 0.1 <-> 0.9, 0.99 <-> 0.01 (not 0.09999999999999998, the float
    1.0 - 0.9). BatchNorm's momentum in the other framework's words, printed as a user writes it; the
    value is the float nearest the decimal, within a rounding of 1.0 - x."""
    from decimal import Decimal

    return float(Decimal(1) - Decimal(repr(float(x))))


def torch_momentum(src, source):
    """BatchNorm's momentum in torch's words (the new batch's weight): the spec's (the command line
    read it in the source's words: compare/cli/translate.py), else the source's default (Keras's
    0.99, the old average's weight, is torch's 0.01)."""
    if src.norm_momentum is not None:
        return float(src.norm_momentum)
    from scratch.conventions import NORM_DEFAULTS

    default = NORM_DEFAULTS[source]["batch"]["momentum"]
    return default if source == "torch" else complement(default)


RULES = [hyperparameters, default_hyperparameters, keras_float32, sgd_momentum, rmsprop_momentum, sgd_dampening,
         eps_placement,
         nadam_schedule, adamw_decay, coupled_decay, regularizers, clipping, lion, schedule, network]
