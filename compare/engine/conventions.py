"""Which of the torch-vs-Keras convention differences (scratch/conventions.py) apply to a spec.

A pair of conventions (scratch/conventions.py ConventionPair: TORCH~KERAS unless another is given)
knows which rules it differs by; `differences(spec, pair)` keeps those of them the spec meets, so
a pair that agrees on a rule never reports it (torch~torch: nothing).

A difference either changes only what a state tensor means (SGD momentum: torch stores v,
Keras stores -lr v), so the direct torch-vs-Keras check skips that state and still holds
everything else to the tolerance; or it changes the numbers themselves, so the direct check
is reported with the reasons instead of being judged.

Left out: differences the spec cannot trigger (initializer defaults; the eps of a cosine similarity,
which shows only for output vectors shorter than 1e-7).
"""
import numpy as np

from scratch.conventions import (CONVENTIONS, DIFFERENCES, JAX, KERAS, TORCH, UNAVAILABLE, UNAVAILABLE_LOSSES, Convention,
                                 ConventionPair, as_convention)

TORCH_KERAS = ConventionPair(TORCH, KERAS)

STATE_ONLY = {"sgd-momentum-form", "rmsprop-momentum-form", "rmsprop-momentum-sign"}
# rules the references are configured around (boundaries m - 1, patience + 1, ...): named in the
# report, but the numbers agree, so the torch~keras pair is still judged
CONFIGURED = {"schedule-step-boundary", "schedule-every-epoch", "schedule-recursive-form", "plateau-counts",
              "plateau-float32-comparison",
              "same-padding-strided",    # torch's reference pads by hand with TensorFlow's rule (image_layers.sides)
              "flatten-order",           # the Dense after a Flatten gets its rows permuted (convert.py)
              "avgpool-padding-count"}   # each reference divides by the layer's count (image_layers.py)
MOMENTUM_FORMS = STATE_ONLY       # rules under which the momentum buffers mean different things


def exact_in_float32(x):
    return x == float(np.float32(x))


def differences(spec, pair=TORCH_KERAS):
    """{key: reason} for every convention difference of `pair` (its `rules`) that applies to `spec`."""
    applies = {
        "sgd-momentum-form": spec.optimizer == "sgd" and spec.momentum > 0,
        "keras-float32-hyperparameters": spec.keras_float32_casts and (
            spec.optimizer == "sgd" and spec.momentum != float(np.float32(spec.momentum))
            or spec.optimizer in ("adam", "adamw", "nadam", "adamax", "adagrad", "lion")
            or not exact_in_float32(spec.weight_decay or 0.0)),
        "keras-float32-regularizer": not (exact_in_float32(spec.l1) and exact_in_float32(spec.l2)),
        "clip-norm-eps": spec.clip_norm is not None or spec.clip_norm_per_tensor is not None,
        "weight-decay-form": bool(spec.weight_decay) and spec.optimizer != "adamw"
                             and None not in (pair.a.weight_decay_coupled, pair.b.weight_decay_coupled),   # JAX: both
        "rmsprop-eps-placement": spec.optimizer == "rmsprop",
        "rmsprop-momentum-form": spec.optimizer == "rmsprop" and spec.momentum > 0,
        "adam-eps-placement": spec.optimizer in ("adam", "adamw"),
        "adamw-decay-form": spec.optimizer == "adamw",
        "nadam-momentum-schedule": spec.optimizer == "nadam",
        "adamax-eps-placement": spec.optimizer == "adamax",
        "adagrad-eps-placement": spec.optimizer == "adagrad",
        "adagrad-initial-accumulator": spec.optimizer == "adagrad",
        "default-hyperparameters": ({k: v for k, v in spec.hyper(pair.a).items() if k != "float32_casts"}
                                    != {k: v for k, v in spec.hyper(pair.b).items() if k != "float32_casts"}),
        "schedule-step-boundary": spec.schedule == "step",
        "schedule-every-epoch": spec.schedule is not None and spec.schedule_every == "epoch",
        "schedule-recursive-form": spec.schedule in ("exponential", "step", "cosine"),
        "plateau-counts": spec.schedule == "plateau",
        "plateau-float32-comparison": spec.schedule == "plateau",
        "cosine-after-t-max": spec.schedule == "cosine" and beyond_t_max(spec),
        "momentum-lr-schedule": spec.schedule is not None and spec.optimizer in ("sgd", "rmsprop") and spec.momentum > 0,
        "keras-float32-schedule": spec.keras_float32_casts and spec.schedule in ("exponential", "step", "cosine"),
        "softplus-threshold": "softplus" in spec.activations,
        "mse-sum-reduction": (spec.reduction == "sum" and spec.loss != "categorical_crossentropy"
                              and spec.sizes[-1] > 1
                              and spec.loss not in ("sparse_categorical_crossentropy", "kld", "cosine_similarity")),
    }
    applies.update(optax_differences(spec))
    applies.update(activation_differences(spec))
    applies.update(loss_differences(spec))
    applies.update(norm_differences(spec))
    applies.update(image_differences(spec))
    rules = set(pair.rules)
    return {key: DIFFERENCES[key][1] for key, yes in applies.items() if yes and key in rules}


def optax_differences(spec):
    """{key: applies} for optax's rules (scratch/conventions.py, the optax block): only where the
    numbers differ (the decay inside the update changes the math only under RMSprop's trace)."""
    return {
        "decay-in-update": (bool(spec.weight_decay) and spec.decay == "decoupled" and spec.optimizer == "rmsprop"
                            and spec.momentum > 0),
        "rmsprop-momentum-sign": spec.optimizer == "rmsprop" and spec.momentum > 0,
        "amsgrad-corrected-max": spec.optimizer in ("adam", "adamw") and bool(spec.amsgrad),
        "exponential-float32-count": spec.schedule == "exponential" and spec.schedule_every == "step",
    }


def loss_differences(spec):
    """{key: applies} for the loss rules (scratch/conventions.py, the losses block)."""
    return {
        "kld-mean-reduction": spec.loss == "kld" and spec.reduction == "mean",
        "kld-target-clip": spec.loss == "kld",
        "poisson-eps": spec.loss == "poisson",
        "probabilities-clipping": bool(getattr(spec, "probabilities", False)),
    }


def loss_unavailable(spec):
    """{framework: why} for a loss setting a framework does not ship (scratch/conventions.py
    UNAVAILABLE_LOSSES: Keras's sparse CE has no smoothing, torch's NLLLoss neither)."""
    out = {}
    categorical = spec.loss in ("categorical_crossentropy", "sparse_categorical_crossentropy")
    if spec.label_smoothing and spec.loss == "sparse_categorical_crossentropy":
        out["keras"] = UNAVAILABLE_LOSSES["keras"][1]
    if spec.label_smoothing and spec.probabilities and categorical:
        out["torch"] = UNAVAILABLE_LOSSES["torch"][1]
    return out


def numeric_differences(spec, pair=TORCH_KERAS):
    """The differences of `pair` that change numbers (not only the meaning of a state tensor, not a
    rule the references are configured around, nor only the derivative at an input exactly on a kink)."""
    return {k: v for k, v in differences(spec, pair).items() if k not in STATE_ONLY | CONFIGURED | KINK_ONLY}


def beyond_t_max(spec):
    """Whether a cosine run may take more than t_max schedule steps (where torch's restarts and
    Keras's stays): the step-counted length when the spec fixes it, else assume it may."""
    length = spec.steps if spec.schedule_every == "step" else (spec.epochs if spec.steps is None else None)
    return length is None or length > spec.schedule_length()     # the rate after the last step is compared too


def float32_roundings(spec):
    """The float32 audit: [{'setting', 'value', 'as_float32', 'rule'}] for every number Keras rounds
    through float32 in this float64 run (values exact in float32 left out). With Python floats
    (keras_float32_casts): SGD's momentum, the betas of adam, adamw, nadam, adamax and lion, the
    optimizers' weight_decay, Adagrad's initial accumulator, a schedule's lr0, decay rate and
    values; in every run: the L1/L2 factors (Keras stores float(l))."""
    if spec.dtype != "float64":
        return []
    h, found = spec.hyper(KERAS), []

    def add(setting, value, rule):
        if value is not None and not exact_in_float32(value):
            found.append({"setting": setting, "value": float(value), "as_float32": float(np.float32(value)), "rule": rule})

    if spec.keras_float32_casts:
        rule = "keras-float32-hyperparameters"
        if spec.optimizer == "sgd" and spec.momentum:
            add("momentum", spec.momentum, rule)
        if spec.optimizer in ("adam", "adamw", "nadam", "adamax", "lion"):
            add("beta1", h["beta1"], rule)
        if spec.optimizer in ("adam", "adamw", "nadam", "lion"):
            add("beta2", h["beta2"], rule)
        if h.get("weight_decay"):
            add("weight_decay", h["weight_decay"], rule)
        if spec.optimizer == "adagrad":
            add("initial_accumulator", h["initial_accumulator"], rule)
        if spec.schedule in ("exponential", "cosine"):
            add("schedule lr0", spec.lr, "keras-float32-schedule")
        if spec.schedule == "exponential":
            add("schedule decay_rate", h["gamma"], "keras-float32-schedule")
        if spec.schedule == "step":
            for k in range(len(h["milestones"]) + 1):
                add(f"schedule values[{k}]", spec.lr * h["gamma"] ** k, "keras-float32-schedule")
    add("l1", spec.l1 or None, "keras-float32-regularizer")
    add("l2", spec.l2 or None, "keras-float32-regularizer")
    return found


# --- activations (issue 11) -------------------------------------------------------------------
# Rules that change the derivative only at an input exactly on a kink (z = 0 for SELU): a float64
# run never lands there by chance, so torch~keras is still judged; the reasons name them.
KINK_ONLY = {"selu-kink", "celu-kink", "hard-tanh-kink"}


def activation_differences(spec):
    """{key: applies} for the activation rules of scratch/conventions.py."""
    used = set(spec.activations)
    slope = getattr(spec, "slope", None)
    return {
        "leaky-relu-default-slope": "leaky_relu" in used and slope is None,
        "keras-float32-leaky-slope": "leaky_relu" in used and not exact_in_float32(
            KERAS.leaky_relu_slope if slope is None else float(slope)),
        "gelu-float32-constant": "gelu" in used,
        "gelu-tanh-float32-constant": "gelu_tanh" in used,
        "hard-sigmoid-float32-slope": "hard_sigmoid" in used,
        "selu-kink": "selu" in used,
        "celu-kink": "celu" in used,
        "hard-tanh-kink": "hard_tanh" in used,
    }


def unavailable(spec):
    """{framework: why} for the frameworks that cannot express the spec's training rule at all
    (Lion in torch, SGD dampening in Keras, the weight-decay form a framework does not ship):
    the harness does not build them, and the report says why."""
    out = {}
    if spec.optimizer == "lion":
        out["torch"] = UNAVAILABLE["torch"][1]
    if spec.optimizer == "sgd" and spec.dampening > 0:
        out["keras"] = UNAVAILABLE["keras"][1]
        out["jax"] = "optax.sgd has no dampening (its trace is v = g + mu v)"     # reference/jax_optim.py unavailable
    if spec.schedule == "plateau" and not spec.threshold:
        out["jax"] = "optax.contrib.reduce_on_plateau refuses threshold 0 (rtol = atol = 0)"
    if spec.weight_decay and spec.optimizer in ("sgd", "rmsprop", "adam"):
        if spec.decay == "decoupled":
            out["torch"] = (f"decoupled weight decay is not available in torch's {spec.optimizer} "
                            "(its weight_decay is coupled: g += wd p; torch decouples only in AdamW)")
        else:
            out["keras"] = (f"coupled weight decay is not available in Keras's {spec.optimizer} (its weight_decay "
                            "is decoupled: p -= lr wd p; Keras couples it through a kernel regularizer, --l2 wd/2)")
    out.update(loss_unavailable(spec))
    for p in spec.network.placed:                  # a layer a framework cannot express
        out.update(p.layer.unavailable(p.n_in))
    return out


HYPER_NAMES = ("optimizer", "lr", "momentum", "nesterov", "rho", "beta1", "beta2", "eps", "dampening", "centered",
               "amsgrad", "weight_decay", "initial_accumulator", "decay", "clip_norm", "clip_norm_per_tensor",
               "clip_value")


def is_convention(convention):
    """Whether `convention` is one of scratch/conventions.py's (a Convention or its name), not an
    implementation's own ('own')."""
    return isinstance(convention, Convention) or isinstance(convention, str) and convention in CONVENTIONS


def settings_differences(spec_a, convention_a, spec_b, convention_b):
    """{key: why} for two implementations that each bring their own settings (a user's torch model
    and their Keras port): every resolved hyperparameter that differs, and the rules of the pair
    of conventions the two follow (none for an implementation's own convention, read as torch's
    defaults)."""
    out = {}
    a, b = as_convention(convention_a, default=TORCH), as_convention(convention_b, default=TORCH)
    hyper_a = dict(spec_a.hyper(a), optimizer=spec_a.optimizer)
    hyper_b = dict(spec_b.hyper(b), optimizer=spec_b.optimizer)
    for name in HYPER_NAMES:
        if hyper_a.get(name) != hyper_b.get(name):
            out[f"setting-{name}"] = f"{name}: {hyper_a.get(name)} ({convention_a}) vs {hyper_b.get(name)} ({convention_b})"
    out.update(loss_settings_differences(spec_a, convention_a, spec_b, convention_b))
    from .diagnose import layer_differences                  # each layer's settings, as written (issue 19)
    out.update(layer_differences(spec_a.network, convention_a, spec_b.network, convention_b))
    from .port_words import image_differences                # each conv layer's padding per side (issue 20)
    out.update(image_differences(spec_a.network, convention_a, spec_b.network, convention_b))
    if is_convention(convention_a) and is_convention(convention_b) and spec_a.optimizer == spec_b.optimizer:
        pair = ConventionPair(a, b)
        rules = {**differences(spec_a, pair), **differences(spec_b, pair)}   # b's own rules too (float32 casts)
        rules.pop("default-hyperparameters", None)
        out.update(rules)
    return out


LOSS_SETTINGS = ("loss", "reduction", "label_smoothing", "delta", "probabilities")


def loss_settings_differences(spec_a, convention_a, spec_b, convention_b):
    """{'setting-<name>': why} for the loss settings two implementations hold differently: label
    smoothing forgotten on one side (BCE at e = 0.1: 0.05 |z| per element, 0.12 at a logit of 2.4)."""
    out = {}
    for name in LOSS_SETTINGS:
        a, b = getattr(spec_a, name), getattr(spec_b, name)
        if a != b:
            out[f"setting-{name}"] = f"{name}: {a} ({convention_a}) vs {b} ({convention_b})"
    return out


# --- dropout and normalization (issue 11) -------------------------------------------------------
# Dropout brings no rule: the harness hands the same masks to everyone, and both frameworks scale
# the kept units by fl(1 / (1 - p)) (scratch/layers.py).

def image_differences(spec):
    """{key: applies} for the convolution and pooling rules (scratch/conventions.py; the sources in
    docs/conventions.md), read from the layer list: only a layer that can show a rule names it.
        same-padding-strided   a Conv2D (or a pooling) with padding 'same' and a stride > 1 on an axis
        flatten-order          a Flatten that takes an image (C, H, W) with more than one channel and
                               more than one position, followed by a Dense: only then do C.H.W and
                               H.W.C differ (one channel, or a 1 x 1 image: the same order)
        avgpool-padding-count  an AvgPool2D with padding other than 'valid' / 0
        pool-ceil-mode         a pooling whose ceil_mode adds a last, partial window (Keras is then
                               not run: image_layers.Pool2D.unavailable)"""
    placed = spec.network.placed
    pools = [p.layer for p in placed if p.layer.kind in ("max_pool2d", "avg_pool2d")]

    def strided_same(layer):
        strides = getattr(layer, "strides", None) or getattr(layer, "pool_size", 1)
        strides = (strides, strides) if isinstance(strides, int) else tuple(strides)
        return getattr(layer, "padding", "valid") == "same" and max(strides) > 1

    def padded(layer):
        padding = getattr(layer, "padding", "valid")
        return padding not in ("valid", 0, (0, 0), (0, 0, 0, 0))

    def flatten_reorders(i):
        shape = placed[i].n_in
        later = [p.layer.kind for p in placed[i + 1:]]
        return (isinstance(shape, tuple) and len(shape) == 3 and shape[0] > 1 and shape[1] * shape[2] > 1
                and "dense" in later)

    return {
        "same-padding-strided": any(strided_same(p.layer) for p in placed
                                    if p.layer.kind in ("conv2d", "max_pool2d", "avg_pool2d")),
        "flatten-order": any(flatten_reorders(i) for i, p in enumerate(placed) if p.layer.kind == "flatten"),
        "avgpool-padding-count": any(padded(layer) for layer in pools if layer.kind == "avg_pool2d"),
        "pool-ceil-mode": any(p.layer.adds_windows(p.n_in) for p in placed
                              if p.layer.kind in ("max_pool2d", "avg_pool2d")),
    }


def norm_differences(spec):
    """{key: applies} for the normalization rules of scratch/conventions.py. The running variance
    (unbiased in torch, biased in Keras) differs whatever the settings: batch norm's torch~keras
    pair is reported, and its summary shows that difference alone in the 'var' column. Read from
    the network's layer list: any normalization layer leaving a setting to each framework's default."""
    norms = [p.layer for p in spec.network.placed if getattr(p.layer, "norm", None)]
    batch = [layer for layer in norms if layer.norm == "batch"]
    return {
        "batchnorm-default-momentum": any(layer.momentum is None for layer in batch),
        "norm-default-eps": any(layer.eps is None for layer in norms),
        "batchnorm-running-variance": bool(batch),
    }
