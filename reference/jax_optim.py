"""Every optimizer, weight decay, clipping and learning-rate schedule the tool mirrors, as JAX users
write them with Optax (optax 0.2.8): the optimizer half of the JAX reference (reference/jax_mlp.py).

The interface the core calls (params: the flat dict of TRAINABLE parameters in JAX's layout,
{'W1': kernel (in, out), 'b1': (out,), 'gamma2': (n,), ...}):

    opt = make_optimizer(spec, spec.hyper("jax"), params)          -> JaxOptimizer
    state = opt.init(params)
    updates, state = opt.tx.update(grads, state, params)           inside the jitted step
    params = optax.apply_updates(params, updates)
    opt.end_step(state, loss) -> state     after each step, outside jit (a per-step plateau)
    opt.end_epoch(state, mean_loss) -> state   after each epoch, outside jit (per-epoch schedules,
                                           plateau)
    opt.lr(state) -> float                 the learning rate the NEXT step uses (the record's 'lr')
    opt.slots(state) -> {'W1.m': array}    optimizer state under scratch's slot names, JAX layout
    opt.load_slots(state, {'W1.m': array}) -> state     (a resync; may be partial)

`tx` is `optax.inject_hyperparams(optimizer)(learning_rate=...)`, where `optimizer(learning_rate)`
builds the chain a JAX user writes:

    optax.chain(clip, add_decayed_weights(wd) [coupled], optax.<optimizer>(learning_rate, ...))
    decoupled decay: the optimizer's scale_by_* transform, add_decayed_weights(wd), then
    scale_by_learning_rate(learning_rate) (and RMSprop's trace): optax.adamw's own placement

so the rate lives in the state (state.hyperparams['learning_rate']): a per-step schedule is an
optax schedule handed in as learning_rate (read at the int32 step count); a per-epoch one is set
there from schedule(epoch) by end_epoch, as a JAX user's loop does; the plateau schedule is
optax.contrib.reduce_on_plateau's own rule object, fed the loss after the step (end_step or
end_epoch) and setting the rate lr0 * scale. (Chained after the optimizer, as optax's example
does, it would scale the update of the very step whose loss it reads: one step before torch and
Keras move their rates; and it averages an epoch's losses with a running mean. Fed after the step
its rule gives torch's rates with patience + 1 and torch's cooldown.)

The forms, each cited in the installed optax (optax/_src/alias.py, optax/_src/transform.py,
optax/transforms/_clipping.py, _adding.py, _accumulation.py, optax/schedules/_schedule.py);
scratch/optimizers.py and scratch/schedules.py write each formula out (scratch@jax):
    sgd       optax.sgd(lr, momentum or None, nesterov): torch's trace v = g + mu v; dampening: none
    rmsprop   optax.rmsprop(lr, decay=rho, eps, centered, momentum or None): eps INSIDE the root
              (eps_in_sqrt=True), initial_scale 0 (torch's start), momentum traced after the lr
    adam      optax.adam; amsgrad: optax.amsgrad (its v_max is the max of the CORRECTED v)
    adamw     optax.adamw(lr, ..., weight_decay, mask=None: every leaf, as torch and Keras): the
              decay multiplied by the lr, default 1e-4; with amsgrad built from scale_by_amsgrad
              as adamw is
    nadam     optax.nadam = adam(nesterov=True): no momentum schedule
    adamax    optax.adamax (eps inside the max, as torch)
    adagrad   optax.adagrad(lr, initial_accumulator_value, eps): starts at 0.1, eps 1e-7,
              rsqrt(s + eps)
    adadelta  optax.adadelta(lr, rho, eps)
    lion      optax.lion(lr, b1, b2, weight_decay): default decay 1e-3 (Keras's Lion: none)
Weight decay: coupled = add_decayed_weights BEFORE the optimizer (g + wd p: torch's weight_decay;
optax's own adadelta(weight_decay=) places it so); decoupled = after the optimizer's scaling and
before the lr (p += -lr (d + wd p)): optax.adamw's and optax.lion's placement, JAX's idiom for
"decoupled". Clipping: optax.clip_by_global_norm (no eps; torch adds 1e-6), optax.clip (by
value); per tensor: optax has no per-tensor norm clip, so clip_by_global_norm's rule is applied
to each leaf alone (optax.stateless_with_tree_map, USER-WRITTEN: Keras's clipnorm). L1/L2 are
not the optimizer's: the core adds l1 sum|W| + l2 sum W^2 to the loss as torch users do (exact
float64 factors: no float32 cast as in Keras).

Refused (one line, `unavailable`): SGD dampening (optax.sgd has none); the plateau schedule with
threshold 0 (reduce_on_plateau refuses rtol = atol = 0).

Left out: optax's other optimizers and schedules (warmup, one-cycle, sgdr), masks other than all
leaves, optax.MultiSteps.
"""
import contextlib
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.contrib

# optax state type -> {field: scratch's slot name}, per optimizer where one type means two things
# (scale_by_adamax keeps ScaleByAdamState: its nu is the infinity norm u)
SLOT_FIELDS = {
    "TraceState": {"trace": "momentum"},
    "ScaleByRmsState": {"nu": "square_avg"},
    "ScaleByRStdDevState": {"mu": "grad_avg", "nu": "square_avg"},
    "ScaleByAdamState": {"mu": "m", "nu": "v"},
    "ScaleByAmsgradState": {"mu": "m", "nu": "v", "nu_max": "v_max"},
    "ScaleByRssState": {"sum_of_squares": "accumulator"},
    "ScaleByAdaDeltaState": {"e_g": "square_avg", "e_x": "acc_delta"},
    "ScaleByLionState": {"mu": "m"},
}
ADAMAX_FIELDS = {"ScaleByAdamState": {"mu": "m", "nu": "u"}}


def unavailable(spec):
    """Why JAX cannot express the spec's training rule (None when it can): one line."""
    if spec.optimizer == "sgd" and spec.dampening > 0:
        return "optax.sgd has no dampening (its trace is v = g + mu v)"
    if spec.schedule == "plateau" and not spec.threshold:
        return "optax.contrib.reduce_on_plateau refuses threshold 0 (rtol = atol = 0)"
    return None


def per_tensor_clip(c):
    """Clip each gradient's norm alone: optax.clip_by_global_norm's rule on each leaf
    (g if ||g|| < c else (g / ||g||) c). USER-WRITTEN: optax has no per-tensor norm clip."""
    by_norm = optax.clip_by_global_norm(c)
    return optax.stateless_with_tree_map(lambda g, _: by_norm.update(g, optax.EmptyState())[0])


def clipping(h):
    """The spec's clipping as an optax transformation (None without one)."""
    if h.get("clip_norm"):
        return optax.clip_by_global_norm(h["clip_norm"])
    if h.get("clip_norm_per_tensor"):
        return per_tensor_clip(h["clip_norm_per_tensor"])
    if h.get("clip_value"):
        return optax.clip(h["clip_value"])
    return None


def direction(name, h):
    """The optimizer's scale_by_* transforms, without the learning rate (the chain optax's alias
    builds before scale_by_learning_rate), and what follows the scaling (RMSprop's trace)."""
    if name == "sgd":
        trace = [optax.trace(decay=h["momentum"], nesterov=h["nesterov"])] if h["momentum"] else []
        return trace, []
    if name == "rmsprop":
        scale = optax.scale_by_stddev if h.get("centered") else optax.scale_by_rms
        after = [optax.trace(decay=h["momentum"])] if h.get("momentum") else []
        return [scale(decay=h["rho"], eps=h["eps"], initial_scale=0.0, eps_in_sqrt=True)], after
    if name in ("adam", "adamw"):
        scale = optax.scale_by_amsgrad if h.get("amsgrad") else optax.scale_by_adam
        return [scale(b1=h["beta1"], b2=h["beta2"], eps=h["eps"])], []
    raise ValueError(f"optax builds {name} whole (no decoupled decay form here)")


def build(name, h):
    """-> optimizer(learning_rate): the spec's chain, as a JAX user writes it (module docstring)."""
    wd, decoupled = h.get("weight_decay") or 0.0, h.get("decay") == "decoupled"
    clip = clipping(h)

    def optimizer(learning_rate):
        head = [clip] if clip is not None else []
        if name == "adamw" or decoupled and wd and name in ("sgd", "rmsprop", "adam"):
            if name == "adamw" and not h.get("amsgrad"):
                adamw = optax.adamw(learning_rate, b1=h["beta1"], b2=h["beta2"], eps=h["eps"],
                                    weight_decay=wd, mask=None)
                return optax.chain(*head, adamw)
            scale, after = direction(name, h)          # adamw's placement: decay before the lr
            return optax.chain(*head, *scale, optax.add_decayed_weights(wd),
                               optax.scale_by_learning_rate(learning_rate), *after)
        if wd and name != "lion":
            head.append(optax.add_decayed_weights(wd))   # coupled: g + wd p before the optimizer
        return optax.chain(*head, alias(name, h, learning_rate))

    return optimizer


def alias(name, h, learning_rate):
    """optax's own optimizer for the spec's choice (coupled decay and clipping go before it)."""
    if name == "sgd":
        return optax.sgd(learning_rate, momentum=h["momentum"] or None, nesterov=h["nesterov"])
    if name == "rmsprop":
        return optax.rmsprop(learning_rate, decay=h["rho"], eps=h["eps"], initial_scale=0.0,
                             eps_in_sqrt=True, centered=h.get("centered", False),
                             momentum=h.get("momentum") or None)
    betas = dict(b1=h["beta1"], b2=h["beta2"])
    if name == "adam":
        if h.get("amsgrad"):
            return optax.amsgrad(learning_rate, **betas, eps=h["eps"])
        return optax.adam(learning_rate, **betas, eps=h["eps"])
    if name == "nadam":
        return optax.nadam(learning_rate, **betas, eps=h["eps"])
    if name == "adamax":
        return optax.adamax(learning_rate, **betas, eps=h["eps"])
    if name == "adagrad":
        return optax.adagrad(learning_rate, initial_accumulator_value=h["initial_accumulator"],
                             eps=h["eps"])
    if name == "adadelta":
        return optax.adadelta(learning_rate, rho=h["rho"], eps=h["eps"])
    if name == "lion":
        return optax.lion(learning_rate, **betas, weight_decay=h.get("weight_decay") or 0.0)
    raise ValueError(f"unknown optimizer {name!r}")


def make_schedule(h):
    """optax's own schedule for the spec's (None: constant, or plateau), in schedule steps. The
    spec's milestones have torch's meaning, and piecewise_constant_schedule decays from count m on
    (indicator max(0, sign(m - count))): the boundaries are the milestones themselves."""
    name, lr = h.get("schedule"), h["lr"]
    if name == "exponential":
        return optax.exponential_decay(lr, transition_steps=1, decay_rate=h["gamma"])
    if name == "step":
        return optax.piecewise_constant_schedule(lr, {m: h["gamma"] for m in h["milestones"]})
    if name == "cosine":
        alpha = h["eta_min"] / lr if h["eta_min"] else 0.0
        return optax.cosine_decay_schedule(lr, decay_steps=h["t_max"], alpha=alpha)
    return None


def make_plateau(h):
    """optax.contrib.reduce_on_plateau with the spec's (torch's) counts: it reduces when the plateau
    count reaches patience (torch: exceeds), and counts its cooldown as torch does."""
    return optax.contrib.reduce_on_plateau(factor=h["gamma"], patience=h["patience"] + 1, rtol=0.0,
                                           atol=h["threshold"], cooldown=h["cooldown"],
                                           min_scale=h["min_lr"] / h["lr"])


@dataclass
class JaxOptimizer:
    """The spec's Optax optimizer (`tx`), its schedule, and the state reads the harness needs."""
    name: str
    hyper: dict
    x64: bool
    tx: optax.GradientTransformation = None
    schedule: object = None                 # an optax schedule (every step: inside tx; every
                                            # epoch: end_epoch sets it)
    every: str = None
    plateau: object = None                  # reduce_on_plateau, called outside the chain
    plateau_state: object = None
    watch_jit: object = None
    epoch: int = 0
    fields: dict = field(default_factory=dict)

    def __post_init__(self):
        h = self.hyper
        self.every = h.get("schedule_every")
        self.schedule = make_schedule(h)
        if h.get("schedule") == "plateau":
            self.plateau = make_plateau(h)
        per_step = self.schedule is not None and self.every == "step"
        rate = self.schedule if per_step else h["lr"]
        self.tx = optax.inject_hyperparams(build(self.name, h))(learning_rate=rate)
        self.fields = {**SLOT_FIELDS, **(ADAMAX_FIELDS if self.name == "adamax" else {})}

    def precision(self):
        """float64 outside jit: x64 on while a method reads or builds arrays (the core turns it on
        around its run; this keeps a call outside it from silently making float32)."""
        return jax.enable_x64(True) if self.x64 else contextlib.nullcontext()

    def init(self, params):
        with self.precision():
            if self.plateau is not None:
                self.plateau_state = self.plateau.init(params)
            return self.tx.init(params)

    def lr(self, state):
        """The learning rate the next step uses: a per-step schedule read at the step count (int32,
        as inside the chain), else the injected rate."""
        with self.precision():
            if self.schedule is not None and self.every == "step":
                return float(self.schedule(jnp.asarray(state.count, jnp.int32)))
            return float(state.hyperparams["learning_rate"])

    def set_lr(self, state, lr):
        """state with the injected learning rate replaced (a JAX user's
        opt_state.hyperparams['learning_rate'] = lr)."""
        rate = jnp.asarray(lr, dtype=state.hyperparams["learning_rate"].dtype)
        return state._replace(hyperparams={**state.hyperparams, "learning_rate": rate})

    def watch(self, state, loss):
        """reduce_on_plateau's rule on one loss (accumulation_size 1: its average is the loss); the
        rate becomes lr0 * scale."""
        if self.watch_jit is None:                  # compiled once, as a JAX user's loop would
            self.watch_jit = jax.jit(lambda s, value: self.plateau.update({}, s, value=value)[1])
        value = jnp.asarray(loss, dtype=self.plateau_state.avg_value.dtype)
        self.plateau_state = self.watch_jit(self.plateau_state, value)
        return self.set_lr(state, self.hyper["lr"] * self.plateau_state.scale)

    def end_step(self, state, loss):
        """After a step (outside jit): a per-step plateau watches the step's loss."""
        if self.plateau is not None and self.every == "step":
            with self.precision():
                return self.watch(state, loss)
        return state

    def end_epoch(self, state, mean_loss):
        """After an epoch (outside jit): a per-epoch plateau watches the epoch's mean loss; a
        per-epoch schedule sets the next epoch's rate schedule(epoch), epoch a Python int (float64
        throughout)."""
        self.epoch += 1
        if self.every != "epoch":
            return state
        with self.precision():
            if self.plateau is not None:
                return self.watch(state, mean_loss)
            if self.schedule is not None:
                return self.set_lr(state, self.schedule(self.epoch))
        return state

    def states(self, state):
        """Every optax state object in the chain that holds slots: (type name, state) pairs."""
        found = []

        def walk(node):
            kind = type(node).__name__
            if kind in self.fields:
                found.append((kind, node))
            elif isinstance(node, dict):
                for value in node.values():
                    walk(value)
            elif isinstance(node, tuple):
                for value in node:
                    walk(value)
        walk(state.inner_state)
        return found

    def slots(self, state):
        """{'<param>.<slot>': numpy array (JAX layout)}, slots named as scratch names them."""
        out = {}
        for kind, node in self.states(state):
            for attribute, slot in self.fields[kind].items():
                for param, value in getattr(node, attribute).items():
                    out[f"{param}.{slot}"] = np.asarray(value)
        return out

    def load_slots(self, state, values):
        """state with the given slots {'<param>.<slot>': array} written in (others kept)."""
        def rebuild(node):
            kind = type(node).__name__
            if kind in self.fields:
                changes = {}
                for attribute, slot in self.fields[kind].items():
                    leaves = dict(getattr(node, attribute))
                    for param in leaves:
                        value = values.get(f"{param}.{slot}")
                        if value is not None:
                            leaves[param] = jnp.asarray(value, dtype=leaves[param].dtype)
                    changes[attribute] = leaves
                return node._replace(**changes)
            if isinstance(node, dict):
                return {k: rebuild(v) for k, v in node.items()}
            if isinstance(node, tuple) and hasattr(node, "_fields"):
                return type(node)(*map(rebuild, node))
            if isinstance(node, tuple):
                return tuple(map(rebuild, node))
            return node
        with self.precision():
            return state._replace(inner_state=rebuild(state.inner_state))


def make_optimizer(spec, hyper, params):
    """The spec's optimizer as a JAX user writes it with Optax (hyper = spec.hyper('jax')): a
    JaxOptimizer whose `tx` the jitted step updates with. A rule JAX cannot express: ValueError,
    one line (`unavailable`). params: the trainable parameters (their names; optax.adamw's mask
    stays None, every leaf)."""
    del params
    why = unavailable(spec)
    if why:
        raise ValueError(why)
    return JaxOptimizer(spec.optimizer, dict(hyper), x64=spec.dtype == "float64")
