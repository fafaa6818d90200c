"""Optimizers, written the way each framework writes them.

Parameters and gradients are dicts name -> array ('W1', 'b1', ...). State is kept in plain
arrays in `self.state[name]`. Each `step` returns the new parameters and leaves the old
arrays untouched.

torch and Keras do not define every optimizer alike (see scratch/conventions.py); each
class takes `convention='torch'|'keras'` and follows that framework's update exactly,
down to the order of operations, so float64 results agree to the last bits or nearly.
    SGD + momentum   torch: v = mu v + g;        p = p - lr v   (first step: v = g)
                     keras: v = mu v - lr g;     p = p + v
        Nesterov     torch: p = p - lr (g + mu v)
                     keras: p = p + (mu v - lr g)
    RMSprop          torch: s = a s + (1 - a) g^2;  p = p - lr g / (sqrt(s) + eps)
                     keras: s = r s + (1 - r) g^2;  p = p - lr g / sqrt(s + eps)
    Adam             torch: p = p - lr/(1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
                     keras: p = p - lr sqrt(1 - b2^t)/(1 - b1^t) * m / (sqrt(v) + eps)
       (m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) g^2 in both; Keras's eps is torch's eps
        times sqrt(1 - b2^t), so the two match only when eps is negligible)

One more Keras detail (TensorFlow backend): `ops.cast(self.momentum, float64)` turns the Python
float into a float32 tensor first, so Keras's SGD momentum and the betas inside Adam's bias
correction are the float32 roundings of the numbers given (0.9 -> 0.8999999761581421), even in
a float64 run. Handing Keras np.float64 scalars instead keeps them exact; `float32_casts=True`
reproduces the rounding, for a Keras optimizer built from plain Python floats. (RMSprop's rho
and Adam's 1 - beta in the moment updates are never rounded.)

Before any update, each optimizer's `step` applies the training rules both frameworks ship, in
their order (clip the gradients, then decay, then the update above):
    clip_norm            torch clip_grad_norm_:  g *= min(c / (||g||_all + 1e-6), 1)
                         keras global_clipnorm:  g *= c * min(1 / ||g||_all, 1 / c)      (no eps)
    clip_norm_per_tensor torch clip_grad_norm_ on each tensor alone (+1e-6 as above)
                         keras clipnorm:         g = g c / max(||g||, c)                 (tf.clip_by_norm)
    clip_value           both: g = clip(g, -c, c)
    weight decay coupled   (torch's weight_decay in SGD/RMSprop/Adam): g = g + wd p
                 decoupled (Keras's weight_decay):                     p = p - p wd lr, then the update
The gradients handed in (what backward computed) are not changed; only the update sees the
clipped ones. Keras's TF backend rounds a Python-float weight_decay through float32 like the
momentum (float32_casts). Coupled decay is not available in Keras's optimizers and decoupled
decay not in torch's SGD/RMSprop/Adam: a convention runs only the form its framework ships.

Left out: dampening, centered RMSprop, RMSprop momentum, AMSGrad, learning-rate schedules.
"""
import numpy as np


def as_keras_casts(x):
    """A Python float as Keras's ops.cast(x, float64) sees it: rounded through float32."""
    return float(np.float32(x))


def clip_gradients(grads, rules, convention):
    """{name: g} -> the clipped copies, as `convention` clips (see the module docstring)."""
    if rules.get("clip_norm"):
        c = rules["clip_norm"]
        if convention == "torch":
            total = np.sqrt(sum(np.sqrt(np.sum(g * g)) ** 2 for g in grads.values()))  # norm of the norms
            coef = min(c / (total + 1e-6), 1.0)
            return {n: g * coef for n, g in grads.items()}
        total = np.sqrt(sum(np.sum(np.square(g)) for g in grads.values()))
        scale = c * min(1.0 / total, 1.0 / c)
        return {n: g * scale for n, g in grads.items()}
    if rules.get("clip_norm_per_tensor"):
        c = rules["clip_norm_per_tensor"]
        if convention == "torch":
            return {n: g * min(c / (np.sqrt(np.sum(g * g)) + 1e-6), 1.0) for n, g in grads.items()}
        return {n: g * c / max(np.sqrt(np.sum(g * g)), c) for n, g in grads.items()}
    if rules.get("clip_value"):
        c = rules["clip_value"]
        return {n: np.clip(g, -c, c) for n, g in grads.items()}
    return grads


class Rules:
    """Gradient clipping and weight decay around an optimizer's `update` (see the module docstring)."""

    def set_rules(self, rules, convention):
        self.rules = dict(rules or {})
        wd = self.rules.get("weight_decay") or 0.0
        if wd and self.rules.get("float32_casts"):
            wd = as_keras_casts(wd)
        self.weight_decay = wd
        self.decay = self.rules.get("decay", "coupled")

    def step(self, params, grads):
        grads = {"d" + n: g for n, g in
                 clip_gradients({n: grads["d" + n] for n in params}, getattr(self, "rules", {}), self.convention).items()}
        self.begin_step()
        new = {}
        for name, p in params.items():
            g = grads["d" + name]
            if getattr(self, "weight_decay", 0.0):
                if self.decay == "coupled":
                    g = g + self.weight_decay * p                      # torch: grad.add(param, alpha=wd)
                else:
                    p = p - p * self.weight_decay * self.lr           # keras: variable -= variable * wd * lr
            new[name] = self.update(name, p, g)
        return new

    def begin_step(self):
        pass


class SGD(Rules):
    """Gradient descent, optionally with (Nesterov) momentum; state 'momentum' per parameter."""

    def __init__(self, lr, momentum=0.0, nesterov=False, convention="torch", float32_casts=False):
        self.lr, self.momentum, self.nesterov, self.convention = lr, momentum, nesterov, convention
        self.float32_casts = float32_casts
        self.state = {}

    def update(self, name, p, g):
        lr, mu = self.lr, self.momentum
        if mu == 0:
            return p - lr * g if self.convention == "keras" else p + (-lr) * g
        if self.convention == "torch":
            v = self.state.get(name, {}).get("momentum")
            v = g.copy() if v is None else v * mu + g          # torch: buffer starts as g
            self.state[name] = {"momentum": v}
            step = g + mu * v if self.nesterov else v
            return p + (-lr) * step
        mu = as_keras_casts(mu) if self.float32_casts else mu
        v = self.state.get(name, {}).get("momentum", np.zeros_like(p))
        v = v * mu - g * lr                                     # keras: buffer starts at 0
        self.state[name] = {"momentum": v}
        return p + (v * mu - g * lr) if self.nesterov else p + v


class RMSprop(Rules):
    """Divide by a running root mean square of the gradient; state 'square_avg' per parameter."""

    def __init__(self, lr, rho, eps, convention="torch"):
        self.lr, self.rho, self.eps, self.convention = lr, rho, eps, convention
        self.state = {}

    def update(self, name, p, g):
        s = self.state.get(name, {}).get("square_avg", np.zeros_like(p))
        if self.convention == "torch":
            s = s * self.rho + (1 - self.rho) * g * g
            self.state[name] = {"square_avg": s}
            return p + (-self.lr) * (g / (np.sqrt(s) + self.eps))      # eps outside the root
        s = self.rho * s + (1 - self.rho) * np.square(g)
        self.state[name] = {"square_avg": s}
        return p - (self.lr * g) / np.sqrt(s + self.eps)               # eps inside the root


class Adam(Rules):
    """Adaptive moments with bias correction; state 'm', 'v' per parameter and a step count t."""

    def __init__(self, lr, beta1, beta2, eps, convention="torch", float32_casts=False):
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.convention, self.float32_casts = convention, float32_casts
        self.state = {}
        self.t = 0

    def begin_step(self):
        self.t += 1

    def update(self, name, p, g):
        b1, b2, t = self.beta1, self.beta2, self.t
        m = self.state.get(name, {}).get("m", np.zeros_like(p))
        v = self.state.get(name, {}).get("v", np.zeros_like(p))
        if self.convention == "torch":
            m = m + (1 - b1) * (g - m)                                  # exp_avg.lerp_(g, 1 - b1)
            v = v * b2 + (1 - b2) * g * g
            self.state[name] = {"m": m, "v": v}
            step_size = self.lr / (1 - b1**t)
            denom = np.sqrt(v) / np.sqrt(1 - b2**t) + self.eps
            return p + (-step_size) * (m / denom)
        m = m + (g - m) * (1 - b1)
        v = v + (np.square(g) - v) * (1 - b2)
        self.state[name] = {"m": m, "v": v}
        cast = as_keras_casts if self.float32_casts else float
        b1_power, b2_power = cast(b1) ** float(t), cast(b2) ** float(t)
        alpha = self.lr * np.sqrt(1 - b2_power) / (1 - b1_power)
        return p - (m * alpha) / (np.sqrt(v) + self.eps)


def make_optimizer(name, hyper, convention):
    """Build the optimizer `name` from resolved hyperparameters (see compare.spec.Spec.hyper),
    with its clipping and weight decay."""
    if name == "sgd":
        optimizer = SGD(hyper["lr"], hyper["momentum"], hyper["nesterov"], convention, hyper.get("float32_casts", False))
    elif name == "rmsprop":
        optimizer = RMSprop(hyper["lr"], hyper["rho"], hyper["eps"], convention)
    elif name == "adam":
        optimizer = Adam(hyper["lr"], hyper["beta1"], hyper["beta2"], hyper["eps"], convention,
                         hyper.get("float32_casts", False))
    else:
        raise ValueError(f"unknown optimizer {name!r}")
    optimizer.set_rules({k: hyper.get(k) for k in RULES + ("float32_casts",)}, convention)
    return optimizer


RULES = ("weight_decay", "decay", "clip_norm", "clip_norm_per_tensor", "clip_value")
