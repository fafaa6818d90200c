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

Left out: weight decay, dampening, centered RMSprop, RMSprop momentum, AMSGrad,
learning-rate schedules, gradient clipping.
"""
import numpy as np


def as_keras_casts(x):
    """A Python float as Keras's ops.cast(x, float64) sees it: rounded through float32."""
    return float(np.float32(x))


class SGD:
    """Gradient descent, optionally with (Nesterov) momentum; state 'momentum' per parameter."""

    def __init__(self, lr, momentum=0.0, nesterov=False, convention="torch", float32_casts=False):
        self.lr, self.momentum, self.nesterov, self.convention = lr, momentum, nesterov, convention
        self.float32_casts = float32_casts
        self.state = {}

    def step(self, params, grads):
        return {name: self.update(name, p, grads["d" + name]) for name, p in params.items()}

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


class RMSprop:
    """Divide by a running root mean square of the gradient; state 'square_avg' per parameter."""

    def __init__(self, lr, rho, eps, convention="torch"):
        self.lr, self.rho, self.eps, self.convention = lr, rho, eps, convention
        self.state = {}

    def step(self, params, grads):
        return {name: self.update(name, p, grads["d" + name]) for name, p in params.items()}

    def update(self, name, p, g):
        s = self.state.get(name, {}).get("square_avg", np.zeros_like(p))
        if self.convention == "torch":
            s = s * self.rho + (1 - self.rho) * g * g
            self.state[name] = {"square_avg": s}
            return p + (-self.lr) * (g / (np.sqrt(s) + self.eps))      # eps outside the root
        s = self.rho * s + (1 - self.rho) * np.square(g)
        self.state[name] = {"square_avg": s}
        return p - (self.lr * g) / np.sqrt(s + self.eps)               # eps inside the root


class Adam:
    """Adaptive moments with bias correction; state 'm', 'v' per parameter and a step count t."""

    def __init__(self, lr, beta1, beta2, eps, convention="torch", float32_casts=False):
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.convention, self.float32_casts = convention, float32_casts
        self.state = {}
        self.t = 0

    def step(self, params, grads):
        self.t += 1
        return {name: self.update(name, p, grads["d" + name]) for name, p in params.items()}

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
    """Build the optimizer `name` from resolved hyperparameters (see compare.spec.Spec.hyper)."""
    if name == "sgd":
        return SGD(hyper["lr"], hyper["momentum"], hyper["nesterov"], convention, hyper.get("float32_casts", False))
    if name == "rmsprop":
        return RMSprop(hyper["lr"], hyper["rho"], hyper["eps"], convention)
    if name == "adam":
        return Adam(hyper["lr"], hyper["beta1"], hyper["beta2"], hyper["eps"], convention,
                    hyper.get("float32_casts", False))
    raise ValueError(f"unknown optimizer {name!r}")
