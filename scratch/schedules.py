"""Learning-rate schedules, written the way each framework writes them.

A schedule holds the learning rate the next optimizer step uses (`lr`) and moves it one
schedule step at a time (`step(metric)`): after every optimizer step (every='step') or after
every epoch (every='epoch'). The scratch network sets its optimizer's lr from it.

torch (torch/optim/lr_scheduler.py) and Keras (keras/src/optimizers/schedules/
learning_rate_schedule.py, keras/src/callbacks/reduce_lr_on_plateau.py) compute the same
schedules differently:

    schedule     torch (scheduler.step() moves it)        Keras (read at the step count t)
    exponential  ExponentialLR: lr = lr * gamma            ExponentialDecay: lr0 * gamma ** t
    step         MultiStepLR: lr = lr * gamma when the     PiecewiseConstantDecay: values[k] for
                 count reaches a milestone m               b_{k-1} < t <= b_k, boundaries b = m - 1
    cosine       CosineAnnealingLR: a recursive formula,   CosineDecay: lr0 ((1 - a) c + a),
                 restarting after T_max (periodic)         c = (1 + cos(pi min(t, T) / T)) / 2, a = eta_min / lr0
    plateau      ReduceLROnPlateau: reduce when the bad    the ReduceLROnPlateau callback: reduce when
                 count exceeds patience                     the wait reaches patience (patience + 1 here)

torch's schedulers multiply the current lr (chainable form), Keras's schedules recompute it
from lr0: the two round differently, a few units in the last place. The spec's milestones,
patience and cooldown have torch's meaning; the Keras objects are built with the equivalent
numbers (boundaries m - 1, patience + 1, cooldown + 1), as compare translate prints them.

Keras's float32 roundings in a float64 run (with Python floats; np.float64 stays exact):
ExponentialDecay's decay_rate, PiecewiseConstantDecay's values, and a Python-float lr0, which
makes the ExponentialDecay and CosineDecay computation float32 throughout
(tf.convert_to_tensor of a Python float is float32); the plateau callback compares losses as
float32 tensors (ops.less on Python floats) in every run.

JAX (optax 0.2.8, optax/schedules/_schedule.py, optax/contrib/_reduce_on_plateau.py) reads a
schedule at its int32 step count inside optax.inject_hyperparams (every step), or a JAX user's
loop sets the injected rate from schedule(epoch) (every epoch); the rates, term for term:
    exponential  exponential_decay(lr0, 1, gamma): lr0 * gamma ** (t / 1); per step t is int32 and
                 JAX makes t / 1 float32 even with x64, so the whole rate is float32
                 (Convention.exponential_float32_count); per epoch (a Python int) float64
    step         piecewise_constant_schedule(lr0, {m: gamma}): decayed from count m on (count >= m,
                 torch's milestone rule), the value a running product v = gamma v
    cosine       cosine_decay_schedule(lr0, T, alpha): lr0 ((1 - a) c + a),
                 c = 0.5 (1 + cos(pi min(t, T) / T)), pi t first; it stays at alpha lr0 after T
    plateau      contrib.reduce_on_plateau(factor, patience + 1, rtol=0, atol=threshold, cooldown,
                 min_scale=min_lr / lr0)'s rule, fed the loss after the step: improved when
                 loss < (1 - 0) best - threshold; reduce when the plateau count reaches
                 patience + 1;
                 cooldown counted down before looking, torch's number; lr = lr0 * scale

Left out: warmup, cyclic and one-cycle schedules, per-group learning rates.
"""
import math
from collections import Counter

import numpy as np

from .conventions import as_convention

SCHEDULES = ("exponential", "step", "cosine", "plateau")
EVERY = ("step", "epoch")
TORCH_PLATEAU_EPS = 0.0           # ReduceLROnPlateau skips a reduction smaller than eps (default 1e-8: it
                                  # stops near lr 1e-8); Keras has no such cutoff, so the reference sets 0


def f32(x):
    """A Python float as Keras's TF backend converts it: float32."""
    return float(np.float32(x))


class Schedule:
    """The learning rate a schedule gives the next optimizer step, and one schedule step."""

    def __init__(self, lr, every):
        self.lr, self.every, self.t = lr, every, 0     # t: schedule steps taken (Keras's step count)

    def step(self, metric=None):
        """Move one schedule step (the metric is the plateau's loss). -> the new lr"""
        self.t += 1
        self.lr = self.next_lr(metric)
        return self.lr


class TorchExponential(Schedule):
    """ExponentialLR.get_lr: group['lr'] * gamma."""

    def __init__(self, lr, every, gamma):
        super().__init__(lr, every)
        self.gamma = gamma

    def next_lr(self, metric):
        return self.lr * self.gamma


class TorchMultiStep(Schedule):
    """MultiStepLR.get_lr: group['lr'] * gamma ** milestones[last_epoch] when last_epoch is a milestone."""

    def __init__(self, lr, every, gamma, milestones):
        super().__init__(lr, every)
        self.gamma, self.milestones = gamma, Counter(milestones)

    def next_lr(self, metric):
        if self.t not in self.milestones:
            return self.lr
        return self.lr * self.gamma ** self.milestones[self.t]


class TorchCosine(Schedule):
    """CosineAnnealingLR.get_lr, the recursive (chainable) form: each lr from the one before;
    after T_max it rises again (period 2 T_max)."""

    def __init__(self, lr, every, t_max, eta_min):
        super().__init__(lr, every)
        self.base_lr, self.t_max, self.eta_min = lr, t_max, eta_min

    def next_lr(self, metric):
        t, T, eta_min = self.t, self.t_max, self.eta_min
        if (t - 1 - T) % (2 * T) == 0:
            return self.lr + (self.base_lr - eta_min) * (1 - math.cos(math.pi / T)) / 2
        return (1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T)) * (self.lr - eta_min) + eta_min


class TorchPlateau(Schedule):
    """ReduceLROnPlateau(mode='min', threshold_mode='abs').step(metric): a bad step when not
    metric < best - threshold; reduce when the bad count exceeds patience, and only if the lr
    falls by more than eps (TORCH_PLATEAU_EPS)."""

    def __init__(self, lr, every, factor, patience, threshold, cooldown, min_lr):
        super().__init__(lr, every)
        self.factor, self.patience, self.threshold, self.cooldown, self.min_lr = factor, patience, threshold, cooldown, min_lr
        self.best, self.bad, self.cooldown_counter = math.inf, 0, 0

    def next_lr(self, metric):
        current = float(metric)
        if current < self.best - self.threshold:
            self.best, self.bad = current, 0
        else:
            self.bad += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.bad = 0                                   # bad steps in cooldown do not count
        if self.bad > self.patience:
            self.cooldown_counter, self.bad = self.cooldown, 0
            new_lr = max(self.lr * self.factor, self.min_lr)
            if self.lr - new_lr > TORCH_PLATEAU_EPS:
                return new_lr
        return self.lr


class KerasExponential(Schedule):
    """ExponentialDecay(lr0, decay_steps=1, decay_rate=gamma)(t) = lr0 * gamma ** t.

    pow32: the float32 pow to use with casts. TensorFlow's float32 pow is Eigen's vectorised one,
    and its last bits depend on the CPU's instruction set (AVX2 and AVX-512 builds of the same
    TensorFlow differ by 1-2 ulps at some t; NumPy's pow is neither), so a float32 gamma ** t is
    reproduced only by TensorFlow's own pow on the machine at hand: the harness hands it in
    (compare/implementations/scratch.py) where Keras is the partner. NumPy's by default."""

    def __init__(self, lr, every, gamma, casts=False, pow32=None):
        self.real = np.float32 if casts else np.float64      # a Python-float lr0 makes the whole schedule float32
        super().__init__(float(self.real(lr)), every)
        self.lr0, self.gamma = self.real(lr), self.real(gamma)
        self.pow32 = pow32

    def next_lr(self, metric):
        if self.real is np.float32 and self.pow32 is not None:
            return float(self.lr0 * np.float32(self.pow32(self.gamma, self.real(self.t))))
        return float(self.lr0 * np.power(self.gamma, self.real(self.t)))


class KerasPiecewise(Schedule):
    """PiecewiseConstantDecay(boundaries=[m - 1 ...], values=[lr0, lr0 gamma, lr0 gamma^2 ...])(t):
    values[k] where k boundaries lie below t (t > b)."""

    def __init__(self, lr, every, gamma, milestones, casts=False):
        cast = f32 if casts else float
        self.boundaries = [m - 1 for m in milestones]
        self.values = [cast(lr * gamma**k) for k in range(len(milestones) + 1)]
        super().__init__(self.values[0], every)

    def next_lr(self, metric):
        return self.values[sum(self.t > b for b in self.boundaries)]


class KerasCosine(Schedule):
    """CosineDecay(lr0, decay_steps=T, alpha=eta_min / lr0)(t): lr0 ((1 - alpha) c + alpha),
    c = 0.5 (1 + cos(pi min(t, T) / T)); it stays at eta_min after T."""

    def __init__(self, lr, every, t_max, eta_min, casts=False):
        self.real = np.float32 if casts else np.float64      # a Python-float lr0 makes the whole schedule float32
        super().__init__(float(self.real(lr)), every)
        self.lr0, self.t_max, self.alpha = self.real(lr), t_max, (eta_min / lr if eta_min else 0.0)

    def next_lr(self, metric):
        real = self.real
        fraction = np.minimum(real(self.t), real(self.t_max)) / real(self.t_max)
        cosine_decayed = real(0.5) * (real(1.0) + np.cos(real(math.pi) * fraction))
        return float(self.lr0 * (real(1 - self.alpha) * cosine_decayed + real(self.alpha)))


class KerasPlateau(Schedule):
    """keras.callbacks.ReduceLROnPlateau(monitor='loss', mode='min', min_delta=threshold,
    patience=patience + 1, cooldown=cooldown + 1 if cooldown else 0).on_epoch_end: the cooldown
    counts down first; an improvement is (metric - (-min_delta)) < best (mode 'min' negates
    min_delta: MonitorCallback._set_monitor_op), compared as float32 tensors; reduce when the wait reaches patience, if lr > float32(min_lr)."""

    def __init__(self, lr, every, factor, patience, threshold, cooldown, min_lr):
        super().__init__(lr, every)
        self.factor, self.min_delta, self.min_lr = factor, threshold, min_lr
        self.patience, self.cooldown = keras_plateau_counts(patience, cooldown)
        self.best, self.wait, self.cooldown_counter = None, 0, 0

    def next_lr(self, metric):
        current = float(metric)
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self.best is None or np.float32(current - (-self.min_delta)) < np.float32(self.best):   # min_delta *= -1
            self.best, self.wait = current, 0
        elif not self.cooldown_counter > 0:
            self.wait += 1
            if self.wait >= self.patience and self.lr > np.float32(self.min_lr):
                self.cooldown_counter, self.wait = self.cooldown, 0
                return max(self.lr * self.factor, self.min_lr)
        return self.lr


class OptaxExponential(Schedule):
    """optax.exponential_decay(lr0, transition_steps=1, decay_rate=gamma)(count)
    = lr0 * gamma ** (count / 1): per step the int32 count / 1 is float32 (JAX's promotion,
    measured), so lr0, gamma and the power are float32 (NumPy's float32 pow: measured equal to
    XLA's); per epoch float64."""

    def __init__(self, lr, every, gamma, float32):
        self.real = np.float32 if float32 else np.float64
        super().__init__(float(self.real(lr)), every)   # where(count <= 0, lr0, ...): float32 too
        self.lr0, self.gamma = self.real(lr), self.real(gamma)

    def next_lr(self, metric):
        real = self.real
        return float(self.lr0 * np.power(self.gamma, real(self.t) / real(1)))


class OptaxPiecewise(Schedule):
    """optax.piecewise_constant_schedule(lr0, {m: gamma ...})(count): for each boundary in order,
    indicator = max(0, sign(m - count)); v = v indicator + (1 - indicator) gamma v: v = gamma v
    from count m on (count >= m)."""

    def __init__(self, lr, every, gamma, milestones):
        super().__init__(lr, every)
        self.lr0, self.gamma, self.boundaries = lr, gamma, sorted(milestones)

    def next_lr(self, metric):
        v = self.lr0
        for m in self.boundaries:
            if self.t >= m:
                v = self.gamma * v
        return v


class OptaxCosine(Schedule):
    """optax.cosine_decay_schedule(lr0, decay_steps=T, alpha=eta_min / lr0)(count):
    lr0 ((1 - alpha) c + alpha), c = 0.5 (1 + cos(pi min(count, T) / T)) with (pi count) / T
    (exponent 1.0)."""

    def __init__(self, lr, every, t_max, eta_min):
        super().__init__(lr, every)
        self.lr0, self.t_max, self.alpha = lr, float(t_max), (eta_min / lr if eta_min else 0.0)

    def next_lr(self, metric):
        count = min(float(self.t), self.t_max)
        cosine_decay = 0.5 * (1 + np.cos(np.pi * count / self.t_max))
        return float(self.lr0 * ((1 - self.alpha) * cosine_decay + self.alpha))


class OptaxPlateau(Schedule):
    """optax.contrib.reduce_on_plateau's _update_scale, fed one loss per schedule step
    (accumulation_size 1):
        improved = loss < (1 - rtol) best - atol            (rtol 0, atol the threshold)
        count = 0 if improved else count + 1;  best = loss if improved
        in cooldown: count = 0, cooldown -= 1
        else, when count == patience + 1: scale = max(scale factor, min_scale), count = 0,
                                          cooldown = C
    lr = lr0 * scale. patience + 1 and torch's cooldown give torch's ReduceLROnPlateau's rates."""

    def __init__(self, lr, every, factor, patience, threshold, cooldown, min_lr):
        super().__init__(lr, every)
        self.lr0, self.factor, self.patience = lr, factor, patience + 1
        self.atol, self.cooldown = threshold, cooldown
        self.min_scale = min_lr / lr
        self.scale, self.best, self.count, self.cooldown_count = 1.0, math.inf, 0, 0

    def next_lr(self, metric):
        value = float(metric)
        improved = value < (1 - 0.0) * self.best - self.atol
        self.best = value if improved else self.best
        count = 0 if improved else self.count + 1
        if self.cooldown_count > 0:
            self.count, self.cooldown_count = 0, self.cooldown_count - 1
        else:
            reduce = count == self.patience
            self.count = 0 if reduce else count
            self.scale = max(self.scale * self.factor if reduce else self.scale, self.min_scale)
            self.cooldown_count = self.cooldown if reduce else 0
        return self.lr0 * self.scale


def keras_plateau_counts(patience, cooldown):
    """torch's patience and cooldown (the spec's) -> Keras's: Keras reduces when the wait reaches
    its patience (torch: when the bad count exceeds it), and counts its cooldown down before
    looking at the step (torch: after), so each needs one more; a cooldown of 0 stays 0."""
    return patience + 1, cooldown + 1 if cooldown else 0


def make_schedule(hyper, convention):
    """The schedule of resolved hyperparameters (compare.spec.Spec.hyper), as `convention` (a
    Convention or its name) computes it, or None without one: the chainable scheduler objects
    where the convention's schedules are recursive (torch's), the closed forms read at the step
    count otherwise (Keras's)."""
    h, name = hyper, hyper.get("schedule")
    if name is None:
        return None
    lr, every, casts = h["lr"], h["schedule_every"], h.get("float32_casts", False)
    convention = as_convention(convention)
    if convention.chain_rounding:                     # optax's schedules (JAX)
        if name == "exponential":
            float32 = convention.exponential_float32_count and every == "step"
            return OptaxExponential(lr, every, h["gamma"], float32)
        if name == "step":
            return OptaxPiecewise(lr, every, h["gamma"], h["milestones"])
        if name == "cosine":
            return OptaxCosine(lr, every, h["t_max"], h["eta_min"])
        return OptaxPlateau(lr, every, h["gamma"], h["patience"], h["threshold"], h["cooldown"],
                            h["min_lr"])
    if convention.schedule_recursive:
        if name == "exponential":
            return TorchExponential(lr, every, h["gamma"])
        if name == "step":
            return TorchMultiStep(lr, every, h["gamma"], h["milestones"])
        if name == "cosine":
            return TorchCosine(lr, every, h["t_max"], h["eta_min"])
        return TorchPlateau(lr, every, h["gamma"], h["patience"], h["threshold"], h["cooldown"], h["min_lr"])
    if name == "exponential":
        return KerasExponential(lr, every, h["gamma"], casts)
    if name == "step":
        return KerasPiecewise(lr, every, h["gamma"], h["milestones"], casts)
    if name == "cosine":
        return KerasCosine(lr, every, h["t_max"], h["eta_min"], casts)
    return KerasPlateau(lr, every, h["gamma"], h["patience"], h["threshold"], h["cooldown"], h["min_lr"])
