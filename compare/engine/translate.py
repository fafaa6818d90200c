"""A run's training settings in one framework's terms, translated into another's: one rule per row.

    translation = translate(spec, "torch")            # torch's settings -> Keras's
    translation = translate(spec, "torch", "jax")     # torch's settings -> Optax's and Flax's

Any two of the conventions (scratch/conventions.py TORCH, KERAS, JAX): each rule reads what the two
Convention values hold (`rmsprop_eps_in_root`, `adam_eps_hat`, `clip_norm_eps`, ...) and converts
the source's setting into the target's, or names what cannot be converted. torch and Keras translate
into each other by default; JAX is named with `target` (or `source`).

The spec is read as the source framework reads it (its defaults fill what is unset: Spec.hyper);
every rule of RULES that concerns it gives a Row; the Translation holds both spec variants, fully
resolved. Each rule cites the installed sources it was verified in (docs/conventions.md: the table);
compare/engine/proof.py proves it in lockstep. A row is 'exact' (the same arithmetic, up to rounding
order), 'closest' (no target setting computes the same: the nearest runs, the proof measures the
distance; `fix`: the source-side change that makes the port exact, where one exists) or 'none'.

Adding a rule is one more function `rule(src, S, T) -> (target changes, Row) or None` in RULES
(S, T: the source's and the target's Convention). Learning-rate schedules are one: `--milestones`,
`--patience`, `--cooldown` are read in the source's words (--from keras: PiecewiseConstantDecay
boundaries, the callback's patience).

Left out: printing (compare/views/port_code.py), the command line (compare/cli/translate.py),
settings the spec cannot select (torch's Adagrad lr_decay, Keras's EMA, loss scaling), the plateau
schedule to or from JAX (optax.contrib.reduce_on_plateau counts its cooldown as torch does and its
patience as Keras does: no one attribute says so yet). The JAX reference runs optax.rmsprop's
default eps placement (inside the root): torch's RMSprop becomes the closest eps, run and measured,
and its exact form, optax.rmsprop(eps_in_sqrt=False), is printed beside it (Row.exact_code).
"""
import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from scratch.conventions import JAX, KERAS, TORCH, as_convention

from .errors import InputError

FRAMEWORKS = ("torch", "keras", "jax")
RESOLVED = ("rho", "beta1", "beta2", "eps", "initial_accumulator", "momentum_decay")
F32_096 = float(np.float32(0.96))                     # Keras's Nadam step: ops.cast(0.96, float64), via float32
NADAM_PSI = math.log(F32_096) / math.log(0.96)        # torch momentum_decay with 0.96^psi = float32(0.96)
ALL = ("sgd", "rmsprop", "adam", "adamw", "nadam", "adamax", "adagrad", "adadelta", "lion")

# Which optimizers ship each form of weight decay (the spec's `decay`), by convention:
#   coupled (g += wd p): torch's weight_decay= (torch/optim/sgd.py: grad.add(param, alpha=weight_decay));
#     optax.add_decayed_weights(wd) chained before any optimizer (optax/transforms/_adding.py); Keras: none
#     (its L2 regularizers add the same term through the loss: coupled_decay).
#   decoupled (p -= lr wd p): torch's AdamW only; Keras's weight_decay= on every optimizer
#     (keras/src/optimizers/base_optimizer.py _apply_weight_decay); optax.adamw, optax.lion, and
#     add_decayed_weights between an optimizer's scaling and scale_by_learning_rate (optax/_src/alias.py
#     adamw's own chain; reference/jax_optim.py builds it for sgd, rmsprop, adam).
COUPLED = {TORCH: set(ALL) - {"adamw", "lion"}, KERAS: set(), JAX: set(ALL) - {"adamw", "lion"}}
DECOUPLED = {TORCH: {"adamw"}, KERAS: set(ALL), JAX: {"sgd", "rmsprop", "adam", "adamw", "lion"}}


@dataclass
class Row:
    rule: str                   # the rule's name (docs/conventions.md, 'translate' table)
    source: str                 # the setting in the source framework's words
    target: str                 # the target's setting that computes the same thing (or the closest)
    kind: str = "exact"         # exact | closest | none
    why: str = ""               # what still differs (closest, none)
    fix: dict = field(default_factory=dict)   # spec changes on the source side that make the port exact
    fix_words: str = ""         # that change, in the source framework's words
    exact_code: str = ""        # the target's exact form where the reference runs the closest (printed
                                # beside the code; tests/test_translate_jax.py measures it)


@dataclass
class Translation:
    source: str                 # 'torch' | 'keras' | 'jax'
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

    @property
    def frameworks(self):
        """The two frameworks in FRAMEWORKS' order (torch, keras, jax): how the proof names its
        pair."""
        return tuple(sorted((self.source, self.target), key=FRAMEWORKS.index))


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
    """The default target: torch <-> keras (JAX is always named: --to)."""
    return {"torch": "keras", "keras": "torch"}[framework]


def check_source(spec, source, target):
    """The settings must be ones the source framework has, and the pair one translate knows:
    InputError (exit 2) otherwise."""
    for name in (source, target):
        if name not in FRAMEWORKS:
            raise InputError(f"unknown framework {name!r} to translate; choose torch, keras or jax")
    if source == target:
        raise InputError(f"--from and --to are both {source}: nothing to translate")
    S, T = as_convention(source), as_convention(target)
    o, others = spec.optimizer, [f for f in FRAMEWORKS if f != source]
    if o not in S.optimizer_defaults:
        raise InputError(f"{fw(S)} has no {o.capitalize()}: translate it --from "
                         f"{' or '.join(f for f in others if o in as_convention(f).optimizer_defaults)}")
    if spec.keras_float32_casts and not S.float32_hyperparameters:
        raise InputError("--keras-float32-casts describes Keras code: give it with --from keras")
    if spec.dampening and not S.sgd_dampening:
        raise InputError(f"{fw(S)}'s SGD has no dampening: a torch setting (--from torch)")
    if spec.momentum_decay is not None and S.nadam_momentum_decay is None:
        raise InputError(f"{fw(S)}'s Nadam has no momentum_decay: a torch setting (--from torch)")
    if spec.weight_decay and o != "adamw":
        if spec.decay == "decoupled" and o not in DECOUPLED[S]:
            raise InputError(f"{fw(S)}'s {o} has no decoupled weight decay (AdamW has): --decay coupled")
        if spec.decay == "coupled" and o not in COUPLED[S]:
            raise InputError(f"{fw(S)}'s {o} has no coupled weight decay: --decay decoupled, or --l2")
        if spec.decay == "coupled" and not COUPLED[T] and (spec.l1 or spec.l2):
            raise InputError(f"translate takes coupled --weight-decay or --l1/--l2, not both: their "
                             f"{fw(T)} regularizers would need two factors")
    if spec.schedule == "plateau" and JAX in (S, T):
        raise InputError("translate does not carry --schedule plateau to or from jax: "
                         "optax.contrib.reduce_on_plateau's counts are not translated yet")


def translate(spec, source, target=None):
    """-> Translation of `spec` (validated) read in `source`'s terms into `target`'s (default: torch
    <-> keras)."""
    target = other(source) if target is None and source in ("torch", "keras") else target
    if target is None:
        raise InputError(f"--from {source} needs --to torch or --to keras")
    check_source(spec, source, target)
    S, T = as_convention(source), as_convention(target)
    src = resolved(from_source_terms(spec, S), S)
    if src.optimizer == "lion" and src.weight_decay:       # optax.lion's default 1e-3 included
        raise InputError(f"{fw(S)}'s Lion with weight_decay={src.weight_decay!r}"
                         f"{' (its default)' if spec.weight_decay is None else ''}: Lion is mirrored "
                         "without weight decay; give --weight-decay 0")
    found = [result for result in (rule(src, S, T) for rule in RULES) if result]
    changes = {key: value for change, _ in found for key, value in change.items()}
    if T.nadam_momentum_decay is None:
        changes["momentum_decay"] = None
    if not T.float32_hyperparameters:
        changes["keras_float32_casts"] = False
    tgt = dataclasses.replace(src, **changes)
    rows = [row for _, row in found]
    return Translation(source, target, {source: src.validate(), target: tgt.validate()}, rows)


# ----- the rules: each (src: resolved Spec, S, T: Conventions) -> (changes to the target's Spec, Row) or None

OPTAX_WORDS = {"lr": "learning_rate", "beta1": "b1", "beta2": "b2",
               "initial_accumulator": "initial_accumulator_value"}


def word(convention, optimizer, name):
    """Our hyperparameter name in a framework's words."""
    convention = as_convention(convention)
    if convention is KERAS:
        return {"lr": "learning_rate", "beta1": "beta_1", "beta2": "beta_2", "eps": "epsilon",
                "initial_accumulator": "initial_accumulator_value"}.get(name, name)
    if convention is JAX:                           # optax/_src/alias.py: rmsprop's `decay`, adam's b1, b2
        return "decay" if name == "rho" and optimizer == "rmsprop" else OPTAX_WORDS.get(name, name)
    if name == "rho" and optimizer == "rmsprop":
        return "alpha"
    return {"beta1": "betas[0]", "beta2": "betas[1]", "initial_accumulator": "initial_accumulator_value"}.get(name, name)


def hyperparameters(src, S, T):
    """lr = learning_rate, RMSprop's alpha = rho = optax's decay, betas = (beta_1, beta_2) = (b1,
    b2), eps = epsilon (placement: own rules below), momentum, nesterov, centered, amsgrad: the same
    numbers (torch/optim/*.py __init__; keras/src/optimizers/*.py __init__; optax/_src/alias.py).
    Source defaults are written out: the target's differ."""
    names = ["lr"] + [n for n in ("momentum", "rho", "beta1", "beta2", "initial_accumulator")
                      if getattr(src, n) not in (None, 0.0) or (n == "momentum" and src.optimizer == "sgd")]
    text = lambda c: ", ".join(f"{word(c, src.optimizer, n)}={getattr(src, n)!r}" for n in names)
    return {}, Row("same-hyperparameters", text(S), text(T))


def default_hyperparameters(src, S, T):
    """The unset hyperparameters take the source's defaults (scratch/conventions.py DEFAULTS),
    written out on the target side, whose defaults differ (Adagrad's accumulator 0 vs 0.1, eps, rho,
    AdamW's weight_decay 0.01, 0.004, optax's 1e-4, ...)."""
    mine, theirs = (dict(c.optimizer_defaults.get(src.optimizer, {})) for c in (S, T))
    for n in theirs:                        # a default the source has not: its own value (Lion's decay: none)
        if n not in mine and n == "weight_decay" and src.weight_decay is not None:
            mine[n] = src.weight_decay
    differ = [n for n in mine if n in theirs and mine[n] != theirs[n]]
    if not differ:
        return None
    return {}, Row("default-hyperparameters",
                   "defaults " + ", ".join(f"{word(S, src.optimizer, n)}={mine[n]!r}" for n in differ),
                   "written out (its own: " + ", ".join(f"{word(T, src.optimizer, n)}={theirs[n]!r}"
                                                        for n in differ) + ")")


def keras_float32(src, S, T):
    """Keras's TF backend casts a Python-float hyperparameter through float32 in a float64 run
    (keras/src/optimizers/sgd.py update_step: ops.cast(self.momentum, ...); adam.py: the betas in
    the bias correction; nadam.py, lion.py: the betas; base_optimizer.py _apply_weight_decay;
    adagrad.py build: initial_accumulator_value). np.float64 scalars stay exact
    (reference/keras_mlp.py)."""
    if T.float32_hyperparameters:
        return {"keras_float32_casts": False}, Row(
            "keras-float32-hyperparameters", "Python floats", "np.float64(...) for each float",
            why="a Python float would act through float32")
    if not (S.float32_hyperparameters and src.keras_float32_casts):
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


def sgd_momentum(src, S, T):
    """torch: v = mu v + g, p -= lr v (torch/optim/sgd.py _single_tensor_sgd); optax.sgd the same
    (optax/_src/transform.py trace: g + decay * trace, then scale_by_learning_rate); Keras: v = mu v
    - lr g, p += v (keras/src/optimizers/sgd.py update_step): the same steps; the buffers differ by
    -lr."""
    if src.optimizer != "sgd" or not src.momentum or S.sgd_lr_in_momentum == T.sgd_lr_in_momentum:
        return None
    return {}, Row("sgd-momentum-form", f"momentum={src.momentum!r}" + (", nesterov=True" if src.nesterov else ""),
                   "the same (the momentum buffers mean different things: not compared)")


def rmsprop_momentum(src, S, T):
    """torch keeps lr outside its momentum buffer (buf = mu buf + g / avg; p -= lr buf:
    torch/optim/rmsprop.py), Keras inside (buf = mu buf + lr g / avg; p -= buf: rmsprop.py), optax
    inside with the sign (optax.rmsprop: trace after scale_by_learning_rate): the same steps, the
    buffers differ by a factor."""
    if src.optimizer != "rmsprop" or not src.momentum or S.rmsprop_lr_in_momentum == T.rmsprop_lr_in_momentum:
        return None
    return {}, Row("rmsprop-momentum-form", f"momentum={src.momentum!r}",
                   "the same (the momentum buffers differ by a factor lr: not compared)")


def sgd_dampening(src, S, T):
    """torch: buf = mu buf + (1 - d) g after the first step, whose buf = g (torch/optim/sgd.py);
    Keras's SGD and optax.sgd have none: learning_rate lr (1 - d) is the same from step 2 on."""
    if src.optimizer != "sgd" or not src.dampening or T.sgd_dampening:
        return None
    lr = src.lr * (1 - src.dampening)
    return {"lr": lr, "dampening": 0.0}, Row(
        "sgd-dampening", f"dampening={src.dampening!r}", f"{word(T, 'sgd', 'lr')}={lr!r}", "closest",
        f"{fw(S)} does not damp the first step's buffer", {"dampening": 0.0}, "dampening=0")


EPS_RULES = {"rmsprop": ("rmsprop-eps-placement", "rmsprop_eps_in_root"),
             "adagrad": ("adagrad-eps-placement", "adagrad_eps_in_root"),
             "adam": ("adam-eps-placement", "adam_eps_hat"), "adamw": ("adam-eps-placement", "adam_eps_hat"),
             "adamax": ("adamax-eps-placement", "adamax_eps_in_max")}


def eps_form(convention, optimizer):
    """Where `convention` puts eps, in words."""
    inside = getattr(convention, EPS_RULES[optimizer][1])
    if optimizer in ("rmsprop", "adagrad"):
        return "sqrt(s + eps)" if inside else "sqrt(s) + eps"
    if optimizer == "adamax":
        return "eps to |g| inside the max" if inside else "eps to u in the denominator"
    return "eps to sqrt(v)" if inside else "eps to sqrt(v_hat)"


def eps_placement(src, S, T):
    """Where eps sits, as each convention holds it. RMSprop, Adagrad: torch sqrt(s) + eps
    (torch/optim/ rmsprop.py, adagrad.py), Keras and optax sqrt(s + eps)
    (keras/src/optimizers/rmsprop.py, adagrad.py update_step; optax/_src/transform.py scale_by_rms
    eps_in_sqrt=True, the default, and the JAX reference's; scale_by_rss): the closest eps makes the
    two equal where s starts, s0 (0; Adagrad's initial accumulator); from inside to outside at s0 =
    0, the eps itself (sqrt(eps) would be off by sqrt(eps) once s > 0). Adam/AdamW: torch and optax
    add eps to sqrt(v_hat) (optax scale_by_adam: m_hat / (sqrt(v_hat + eps_root) + eps)), Keras to
    sqrt(v) (adam.py): Keras's eps acts as eps sqrt(1 - beta2^t). Adamax: torch max(b2 u, |g| +
    eps), Keras (u + eps) in the denominator (adamax.py). No eps > 0 maps exactly between two
    placements."""
    o = src.optimizer
    if o not in EPS_RULES or not src.eps:
        return None
    rule, attribute = EPS_RULES[o]
    if getattr(S, attribute) == getattr(T, attribute):
        return None
    eps, why = src.eps, f"{fw(S)} adds {eps_form(S, o)}, {fw(T)} {eps_form(T, o)}"
    if o in ("rmsprop", "adagrad"):
        s0 = src.initial_accumulator if o == "adagrad" else 0.0
        if not getattr(S, attribute):                       # outside -> inside: equal at s = s0
            eps = (math.sqrt(s0) + eps) ** 2 - s0
        else:                                  # s > 0 from step 1 on: at s0 = 0, eps itself beats sqrt(eps)
            eps = math.sqrt(s0 + eps) - math.sqrt(s0) if s0 else eps
        eps = float(f"{eps:.12g}")
        why = f"{fw(S)} divides by {eps_form(S, o)}, {fw(T)} by {eps_form(T, o)}"
    exact = ""
    if o == "rmsprop" and T is JAX and not S.rmsprop_eps_in_root:    # scale_by_rms(eps_in_sqrt=False):
        why += ("; optax.rmsprop(eps_in_sqrt=False) is torch's form exactly (printed beside); the JAX "
                "reference runs optax's default placement")           # g / (sqrt(nu) + eps)
        exact = (f"optax.rmsprop({src.lr!r}, decay={src.rho!r}, eps={src.eps!r}, initial_scale=0.0, "
                 f"eps_in_sqrt=False, centered={src.centered!r}, momentum={src.momentum or None!r})")
    return {"eps": eps}, Row(rule, f"{word(S, o, 'eps')}={src.eps!r}", f"{word(T, o, 'eps')}={eps!r}",
                             "closest", why, {"eps": 0.0}, f"{word(S, o, 'eps')}=0", exact)


def amsgrad_max(src, S, T):
    """AMSGrad: torch and Keras keep the maximum of the raw v and correct it by the step's 1 - b2^t
    (torch/optim/adam.py: max_exp_avg_sqs; keras/src/optimizers/adam.py: v_hat); optax.amsgrad keeps
    the maximum of the corrected v / (1 - b2^t) (optax/_src/transform.py scale_by_amsgrad): the
    steps part once v falls, and v_max means another thing (not compared)."""
    if src.optimizer not in ("adam", "adamw") or not src.amsgrad or \
            S.amsgrad_max_of_corrected == T.amsgrad_max_of_corrected:
        return None
    form = {c: ("optax.amsgrad: max of the corrected v" if c.amsgrad_max_of_corrected else
                "amsgrad=True: max of the raw v") for c in (S, T)}
    return {}, Row("amsgrad-corrected-max", form[S], form[T], "closest",
                   "the maximum of the corrected v is not the corrected maximum once v falls")


def nadam_schedule(src, S, T):
    """torch: mu_t = b1 (1 - 0.5 * 0.96^(t psi)) in the product and in the step
    (torch/optim/nadam.py _single_tensor_nadam); Keras: 0.96^t with 0.96 exact in the product
    (nadam.py _backend_update_step) and rounded through float32 in the step (update_step:
    ops.cast(0.96, var_dtype)). No psi gives both; the closest is psi = log(float32(0.96)) /
    log(0.96). torch keeps mu_product in _get_scalar_dtype(): float32 unless torch's default dtype
    is float64 (torch/optim/optimizer.py). optax.nadam is Adam with Nesterov's look-ahead and no
    mu_t at all (optax/_src/alias.py nadam = adam(nesterov=True); transform.py scale_by_adam): no
    torch or Keras setting gives it."""
    if src.optimizer != "nadam":
        return None
    if S.nadam_nesterov_adam != T.nadam_nesterov_adam:
        names = {c: (f"momentum_decay={src.momentum_decay!r}" if c.nadam_momentum_decay is not None else
                     "Nadam (0.96^t)") if not c.nadam_nesterov_adam else
                 "optax.nadam (Adam with Nesterov's look-ahead, no mu_t)" for c in (S, T)}
        return {}, Row("nadam-nesterov-adam", names[S], names[T], "closest",
                       f"no {fw(T)} setting gives {fw(S)}'s momentum schedule")
    if S.nadam_momentum_decay is not None:
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


def decay_words(convention, optimizer, wd, decoupled):
    """A weight decay in a framework's words."""
    if convention is JAX:
        if optimizer in ("adamw", "lion"):
            return f"optax.{optimizer}(weight_decay={wd!r})"
        return (f"optax.add_decayed_weights({wd!r}) " +
                ("after the scaling, before the learning rate" if decoupled else "before the optimizer"))
    name = {"adamw": "AdamW", "adam": "Adam", "lion": "Lion"}.get(optimizer, optimizer)
    return f"{name}(weight_decay={wd!r})" + ("" if optimizer in ("adamw", "adam", "lion") else
                                            " (decoupled)" if decoupled else " (coupled)")


def decoupled_decay(src, S, T):
    """torch AdamW: p *= 1 - lr wd before the step (torch/optim/adamw.py -> adam.py, decoupled);
    Keras: p -= p wd lr before the step (base_optimizer.py _apply_weight_decay) for AdamW and every
    optimizer's weight_decay: Keras's Adam(weight_decay) is torch's AdamW; optax.adamw and
    optax.lion add wd p to the direction before the learning rate, p += -lr (d + wd p)
    (optax/_src/alias.py adamw: chain( scale_by_adam, add_decayed_weights, scale_by_learning_rate)):
    the same arithmetic, rounded in another order. An RMSprop momentum trace after the scaling
    (optax.rmsprop) takes the decay in."""
    if not src.weight_decay or not (src.optimizer in ("adamw", "lion") or src.decay == "decoupled"):
        return None
    o, wd = src.optimizer, src.weight_decay
    said = decay_words(S, o, wd, True)
    if o in ("adam", "adamw"):
        target = "adamw" if "adam" not in DECOUPLED[T] or T is JAX else o
        changes = {"optimizer": target, "decay": "coupled"} if target != o else {}
        return changes, Row("adamw-decoupled-decay", said, decay_words(T, target, wd, True))
    if o == "lion":
        return {}, Row("adamw-decoupled-decay", said, decay_words(T, o, wd, True))
    if o in DECOUPLED[T]:
        traced = o == "rmsprop" and src.momentum and (S is JAX) != (T is JAX)
        return {}, Row("decoupled-decay", said, decay_words(T, o, wd, True),
                       "closest" if traced else "exact",
                       "optax's RMSprop momentum trace follows the decay: the decay enters the buffer"
                       if traced else "")
    if o == "sgd" and not src.momentum:                    # coupled = decoupled without momentum
        return {"decay": "coupled"}, Row("sgd-decay-forms", said + " (decoupled)",
                                         decay_words(T, o, wd, False) + ": the same without momentum")
    return {"decay": "coupled"}, Row("decoupled-decay", said, decay_words(T, o, wd, False), "closest",
                                     f"{fw(T)}'s {o} decays only through the gradient")


def coupled_decay(src, S, T):
    """torch's SGD/RMSprop/Adam weight_decay=wd adds wd p to every parameter's gradient, biases too
    (torch/optim/sgd.py: grad.add(param, alpha=weight_decay)), as optax.add_decayed_weights(wd)
    chained before the optimizer does (optax/transforms/_adding.py: g + wd p); Keras:
    kernel_regularizer= L2(wd/2) and bias_regularizer=L2(wd/2) add wd p to the gradient through the
    loss (regularizers.py L2: ops.cast(self.l2): float32 in a float64 run). The loss and dW, db then
    differ by design."""
    if not src.weight_decay or src.decay != "coupled" or src.optimizer in ("adamw", "lion"):
        return None
    wd = src.weight_decay
    if src.optimizer in COUPLED[T]:
        return {}, Row("coupled-decay", decay_words(S, src.optimizer, wd, False),
                       decay_words(T, src.optimizer, wd, False))
    half = wd / 2
    kind, why = ("exact", "") if exact_f32(half) else ("closest", f"Keras's L2 rounds {half!r} to float32: {f32(half)!r}")
    if any(getattr(src, n) is not None for n in ("clip_norm", "clip_norm_per_tensor", "clip_value")):
        kind, why = "closest", "; ".join(filter(None, [why, f"{fw(S)} clips before adding wd p, Keras "
                                                            "clips with it"]))
    return {"weight_decay": 0.0, "l2": half, "regularize_biases": True}, Row(
        "coupled-decay-is-l2", f"weight_decay={wd!r}",
        f"kernel_regularizer=L2({half!r}), bias_regularizer=L2({half!r})", kind, why)


def regularizers(src, S, T):
    """--l1/--l2: Keras's L1/L2 kernel_regularizer (and bias_regularizer) round the factor through
    float32 (regularizers.py: float(l), ops.cast); torch and JAX users add the term to the loss as
    written (reference/jax_mlp.py: l2 sum(w^2), float64)."""
    if not (src.l1 or src.l2) or (src.weight_decay and src.decay == "coupled" and not COUPLED[T]):
        return None
    if S.float32_regularizers == T.float32_regularizers:
        return None                                          # torch <-> JAX: the same loss terms
    clipped = any(getattr(src, n) is not None for n in ("clip_norm", "clip_norm_per_tensor", "clip_value"))
    if (S.float32_regularizers and src.regularize_biases and src.l2 and not src.l1 and not src.weight_decay
            and not clipped and src.optimizer in ("sgd", "rmsprop", "adam")):   # the reverse of coupled-decay-is-l2
        wd = 2 * f32(src.l2)
        return {"weight_decay": wd, "decay": "coupled", "l2": 0.0, "regularize_biases": False}, Row(
            "coupled-decay-is-l2", f"kernel_regularizer=L2({src.l2!r}), bias_regularizer=L2({src.l2!r})",
            decay_words(T, src.optimizer, wd, False) + f" (2 x float32({src.l2!r}))")
    where = "weights and biases" if src.regularize_biases else "weights"
    terms = [f"{n}={getattr(src, n)!r}" for n in ("l1", "l2") if getattr(src, n)]
    if S.float32_regularizers:
        changes = {n: f32(getattr(src, n)) for n in ("l1", "l2") if getattr(src, n)}
        return changes, Row("regularizer-float32", f"{', '.join(terms)} on the {where}",
                            "loss += " + ", ".join(f"{n}={v!r}" for n, v in changes.items()) + f" on the {where}")
    exact = exact_f32(src.l1) and exact_f32(src.l2)
    return {}, Row("regularizer-float32", f"loss += {', '.join(terms)} on the {where}",
                   f"the same as kernel{'/bias' if src.regularize_biases else ''}_regularizer",
                   "exact" if exact else "closest", "" if exact else "Keras rounds the factor through float32")


CLIP_WORDS = {TORCH: ("clip_grad_value_({c})", "clip_grad_norm_(all, {c})", "clip_grad_norm_(each, {c})"),
              KERAS: ("clipvalue={c}", "global_clipnorm={c}", "clipnorm={c}"),
              JAX: ("optax.clip({c})", "optax.clip_by_global_norm({c})",
                    "optax.clip_by_global_norm({c}) on each leaf")}


def clipping(src, S, T):
    """torch clip_grad_norm_ scales by min(c / (norm + 1e-6), 1) (torch/nn/utils/clip_grad.py
    _clip_grads_with_norm_); Keras's global_clipnorm by min(c / norm, 1), clipnorm per tensor
    likewise (base_optimizer.py _clip_gradients, clip_by_global_norm); optax.clip_by_global_norm by
    c / norm where norm >= c (optax/transforms/_clipping.py: no eps): the same until the clip acts.
    clipvalue = clip_grad_value_ = optax.clip (exact)."""
    for n, name in enumerate(("clip_value", "clip_norm", "clip_norm_per_tensor")):
        c = getattr(src, name)
        if c is None:
            continue
        words = {conv: CLIP_WORDS[conv][n].format(c=repr(c)) for conv in (S, T)}
        if name == "clip_value":
            return {}, Row("clip-value", words[S], words[T])
        if S.clip_norm_eps == T.clip_norm_eps:
            return {}, Row("clip-norm", words[S], words[T])
        eps = S.clip_norm_eps or T.clip_norm_eps
        who = S if S.clip_norm_eps else T
        return {}, Row("clip-norm-eps", words[S], words[T], "closest",
                       f"{fw(who)} divides by norm + {eps:g}; the same while the clip does not act")
    return None


def lion(src, S, T):
    """Lion: keras/src/optimizers/lion.py, optax.lion (optax/_src/alias.py); torch.optim has none.
    """
    if src.optimizer != "lion" or "lion" in T.optimizer_defaults:
        return None
    return {}, Row("lion", "Lion", f"nothing: {fw(T)} has no Lion", "none",
                   f"{fw(T)} ships no Lion optimizer")


def schedule(src, S, T):
    """The learning-rate schedule. The spec's numbers have torch's meaning (compare/engine/spec.py);
    `from_source_terms` turned the source's into them. torch: torch/optim/lr_scheduler.py
    (MultiStepLR decays at last_epoch in milestones; ReduceLROnPlateau.step reduces when
    num_bad_epochs > patience, its cooldown counted down after; CosineAnnealingLR.get_lr periodic);
    Keras: keras/src/optimizers/ schedules/learning_rate_schedule.py (PiecewiseConstantDecay: step >
    boundary; CosineDecay: min(step, decay_steps)), keras/src/callbacks/reduce_lr_on_plateau.py
    (wait >= patience, the cooldown counted down first, min_delta absolute),
    learning_rate_scheduler.py (every epoch); optax: optax/schedules/_schedule.py
    (exponential_decay: init_value decay_rate^(count / transition_steps), the count int32 made
    float32; piecewise_constant_schedule: scaled from count = boundary on; cosine_decay_schedule:
    min(count, decay_steps), as Keras's)."""
    name, h = src.schedule, src.schedule_hyper()
    if name is None:
        return None
    words = {c: schedule_words(c, h) for c in (S, T)}
    every = "" if src.schedule_every == "step" else " each epoch"
    rule = {"exponential": "schedule-recursive-form", "step": "schedule-step-boundary",
            "cosine": "schedule-recursive-form", "plateau": "plateau-counts"}[name]
    if name == "cosine" and S.cosine_restarts != T.cosine_restarts and beyond_t_max(src):
        restarts = S if S.cosine_restarts else T
        return {}, Row("cosine-after-t-max", words[S] + every, words[T], "closest",
                       f"{fw(restarts)}'s cosine rises again after T_max, the other stays at eta_min",
                       {"t_max": src.steps if src.schedule_every == "step" and src.steps else None},
                       "T_max as long as the run")
    form = {"sgd": "sgd_lr_in_momentum", "rmsprop": "rmsprop_lr_in_momentum"}.get(src.optimizer)
    if form and src.momentum > 0 and getattr(S, form) != getattr(T, form):
        outside = S if not getattr(S, form) else T
        return {}, Row("momentum-lr-schedule", words[S] + every, words[T], "closest",
                       f"{fw(outside)} scales the whole momentum buffer by the current lr, the other each "
                       "gradient by the lr of its step: they part as soon as lr changes")
    float32_count = [c for c in (S, T) if c.exponential_float32_count]
    if name == "exponential" and src.schedule_every == "step" and len(float32_count) == 1:
        return {}, Row("exponential-float32-count", words[S] + every, words[T], "closest",
                       "optax.exponential_decay's exponent count / transition_steps is float32 even with "
                       "x64: each rate off by ~1e-8 relative")
    return {}, Row(rule, words[S] + every, words[T])


def beyond_t_max(src):
    from .conventions import beyond_t_max as beyond
    return beyond(src)


def schedule_words(convention, h):
    """The schedule `h` (spec.schedule_hyper(): torch's meaning) in a framework's words."""
    if convention is TORCH:
        return torch_schedule_words(h)
    if convention is KERAS:
        return keras_schedule_words(h)
    name = h["schedule"]
    if name == "exponential":
        return f"optax.exponential_decay(transition_steps=1, decay_rate={h['gamma']!r})"
    if name == "step":
        bounds = {milestone_in(JAX, m): h["gamma"] for m in h["milestones"]}
        return f"optax.piecewise_constant_schedule(boundaries_and_scales={bounds})"
    return f"optax.cosine_decay_schedule(decay_steps={h['t_max']}, alpha=eta_min / lr)"


def milestone_in(convention, m):
    """torch's milestone m (the m-th step, counted from 0, is the first decayed) in `convention`'s
    words: Keras's boundary is m - 1 (it decays where step > boundary), optax's boundary is m."""
    return m if convention.schedule_milestone_inclusive else m - 1


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
        return f"PiecewiseConstantDecay(boundaries={[milestone_in(KERAS, m) for m in h['milestones']]}, values=...)"
    if name == "cosine":
        return f"CosineDecay(decay_steps={h['t_max']}, alpha=eta_min / lr)"
    patience, cooldown = h["patience"] + 1, h["cooldown"] + 1 if h["cooldown"] else 0
    return (f"ReduceLROnPlateau(factor={h['gamma']!r}, patience={patience}, min_delta={h['threshold']!r}, "
            f"cooldown={cooldown}, min_lr={h['min_lr']!r})")


def from_source_terms(spec, convention):
    """Settings given in the source's words -> the spec's (torch's): a boundary b of a convention
    that decays after it (Keras) is milestone b + 1; a plateau patience or cooldown p of one that
    counts the wait reaching it (Keras) is p - 1 (Keras's 0 and 1 act alike)."""
    if spec.schedule == "step" and spec.milestones and not convention.schedule_milestone_inclusive:
        spec = dataclasses.replace(spec, milestones=[b + 1 for b in spec.milestones])
    if spec.schedule == "plateau" and not convention.plateau_counts_exceed:
        spec = dataclasses.replace(spec, patience=max(spec.patience - 1, 0), cooldown=max(spec.cooldown - 1, 0))
    return spec


def from_keras_terms(spec):
    """Keras's words -> the spec's (from_source_terms with KERAS)."""
    return from_source_terms(spec, KERAS)


def fw(convention):
    """A convention's framework as messages name it."""
    return {TORCH: "torch", KERAS: "Keras", JAX: "JAX"}[convention]


def leaky_words(convention, slope):
    return {TORCH: f"LeakyReLU(negative_slope={slope!r})", KERAS: f"leaky_relu(negative_slope={slope!r})",
            JAX: f"jax.nn.leaky_relu(x, negative_slope={slope!r})"}[convention]


def gelu_words(convention, tanh):
    """gelu (erf) or its tanh form: torch nn.GELU(approximate='none' | 'tanh'), Keras
    keras.activations.gelu(approximate=False default), jax.nn.gelu(approximate=True default:
    jax/_src/nn/functions.py gelu)."""
    if convention is TORCH:
        return "GELU(approximate='tanh')" if tanh else "GELU()"
    if convention is KERAS:
        return f"gelu(approximate={tanh})"
    return f"jax.nn.gelu(x, approximate={tanh})"


def norm_words(convention, norm, momentum, eps):
    """A normalization in a framework's words; momentum in torch's meaning (the new batch's weight).
    """
    if norm == "batch":
        m = momentum if convention.norm_momentum_weights_new else complement(momentum)
        return {TORCH: f"BatchNorm1d(momentum={m!r}, eps={eps!r})",
                KERAS: f"BatchNormalization(momentum={m!r}, epsilon={eps!r})",
                JAX: f"nnx.BatchNorm(n, momentum={m!r}, epsilon={eps!r}, rngs=rngs)"}[convention]
    return {TORCH: f"LayerNorm(eps={eps!r})", KERAS: f"LayerNormalization(epsilon={eps!r})",
            JAX: f"nnx.LayerNorm(n, epsilon={eps!r}, rngs=rngs)"}[convention]


def smoothing_words(convention, loss, e):
    binary = loss == "binary_crossentropy"
    if convention is TORCH:
        return (f"BCEWithLogitsLoss on targets y * (1 - {e!r}) + {e / 2!r}" if binary else
                f"CrossEntropyLoss(label_smoothing={e!r})")
    if convention is KERAS:
        return f"{'Binary' if binary else 'Categorical'}Crossentropy(label_smoothing={e!r})"
    return (f"optax.losses.sigmoid_binary_cross_entropy(z, y * (1 - {e!r}) + {e / 2!r})" if binary else
            f"optax.losses.softmax_cross_entropy(z, optax.losses.smooth_labels(y, {e!r}))")


def network(src, S, T):
    """The network's own pieces (issue 11): leaky_relu's slope (torch nn.LeakyReLU 0.01,
    jax.nn.leaky_relu 0.01, Keras keras.activations.leaky_relu 0.2, kept as a float32 attribute by
    tf.nn.leaky_relu), gelu's form (jax.nn.gelu is the tanh form unless approximate=False),
    BatchNorm's momentum (torch's weight of the new batch = 1 - Keras's and Flax's weight of the
    old: torch/nn/modules/batchnorm.py, keras/src/ layers/normalization/batch_normalization.py,
    flax/nnx/nn/normalization.py BatchNorm) and eps (1e-5, 1e-3, 1e-5), LayerNorm's eps (1e-5, 1e-3,
    Flax 1e-6), label smoothing (CE: the same; BCE: Keras's argument, torch and JAX users smooth
    targets y(1 - e) + e/2), SmoothL1's beta = Huber(delta=beta) / beta. The source's defaults are
    written out; the running variance cannot be matched where one stores the unbiased batch variance
    (torch) and the other the biased: not compared, said so."""
    changes, said, kind, why = {}, {S: [], T: []}, "exact", []
    if "leaky_relu" in src.activations:
        slope = src.slope if src.slope is not None else S.leaky_relu_slope
        changes["slope"] = slope
        for c in (S, T):
            said[c].append(leaky_words(c, slope))
        if T.float32_activation_constants and not exact_f32(slope):
            kind, why = "closest", why + [f"Keras keeps the slope as float32 ({f32(slope)!r})"]
    gelus = [a for a in ("gelu", "gelu_tanh") if a in src.activations]
    if gelus and S.gelu_approximate_by_default != T.gelu_approximate_by_default:
        for c in (S, T):
            said[c] += [gelu_words(c, a == "gelu_tanh") for a in gelus]
    if src.norm:
        settings = src.norm_settings(S)
        changes["norm_eps"] = settings["eps"]
        momentum = None
        if src.norm == "batch":
            momentum = torch_momentum(src, S)
            changes["norm_momentum"] = momentum
            if S.running_var_unbiased != T.running_var_unbiased:
                why.append("the running variance: torch stores the unbiased batch variance, "
                           f"{fw(S if S is not TORCH else T)} the biased (not compared)")
        for c in (S, T):
            said[c].append(norm_words(c, src.norm, momentum, settings["eps"]))
        if S.fast_variance != T.fast_variance:
            why.append("Flax takes the variance as E[x^2] - E[x]^2 (use_fast_variance=True): the last bits")
    if src.label_smoothing:
        for c in (S, T):
            said[c].append(smoothing_words(c, src.loss, src.label_smoothing))
    if src.loss == "smooth_l1":
        d = src.delta
        for c in (S, T):
            said[c].append({TORCH: f"SmoothL1Loss(beta={d!r})", KERAS: f"Huber(delta={d!r}) / {d!r}",
                            JAX: f"optax.losses.huber_loss(a, y, delta={d!r}) / {d!r}"}[c])
    if not said[S]:
        return None
    return changes, Row("network-pieces", ", ".join(said[S]), ", ".join(said[T]), kind, "; ".join(why))


def complement(x):
    """1 - x as written in decimals: 0.1 <-> 0.9, 0.99 <-> 0.01 (not 0.09999999999999998, the float
    1.0 - 0.9). BatchNorm's momentum in the other framework's words, printed as a user writes it;
    the value is the float nearest the decimal, within a rounding of 1.0 - x."""
    from decimal import Decimal

    return float(Decimal(1) - Decimal(repr(float(x))))


def torch_momentum(src, convention):
    """BatchNorm's momentum in torch's words (the new batch's weight): the spec's (the command line
    read it in the source's words: compare/cli/translate.py), else the source's default (Keras's and
    Flax's 0.99, the old average's weight, is torch's 0.01)."""
    if src.norm_momentum is not None:
        return float(src.norm_momentum)
    convention = as_convention(convention)
    default = convention.norm_defaults["batch"]["momentum"]
    return default if convention.norm_momentum_weights_new else complement(default)


RULES = [hyperparameters, default_hyperparameters, keras_float32, sgd_momentum, rmsprop_momentum, sgd_dampening,
         eps_placement, amsgrad_max, nadam_schedule, decoupled_decay, coupled_decay, regularizers, clipping, lion, schedule,
         network]
