"""Optimizers, written the way each framework writes them.

Parameters and gradients are dicts name -> array ('W1', 'b1', ...). State is kept in plain
arrays in `self.state[name]`. Each `step` returns the new parameters and leaves the old
arrays untouched.

torch and Keras do not define every optimizer alike (see scratch/conventions.py); each
class takes a convention (scratch/conventions.py TORCH or KERAS, or its name) and follows that
framework's update exactly, down to the order of operations, so float64 results agree to the last
bits or nearly. Where the two forks, the convention's rule says which way (`sgd_lr_in_momentum`,
`rmsprop_eps_in_root`, `adam_eps_hat`, ...): the branch it picks is that framework's code.
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

More optimizers (AdamW, NAdam, Adamax, Adagrad, Adadelta, Lion) and flags (AMSGrad, centered
RMSprop, RMSprop momentum, SGD dampening) follow each framework's single-tensor code the same way;
their Keras float32 roundings (with float32_casts): AdamW's weight_decay, NAdam's and Lion's
betas (in the moment updates too), Adamax's beta1 (bias correction), Adagrad's initial
accumulator 0.1; NAdam's 0.96 in the step is float32 in every Keras run (a literal), exact in the
product. torch's NAdam keeps mu_product in a float32 tensor (torch's default dtype).

JAX (optax 0.2.8, optax/_src/alias.py and transform.py) writes every optimizer as a chain of
gradient transformations (Convention.chain_rounding): clip, (coupled decay g + wd p,) the
optimizer's direction d (its scale_by_* transform), (decoupled decay d + wd p,) u = -lr d
(scale_by_learning_rate), (RMSprop's momentum trace,) p = p + u (apply_updates). Each class's
`direction` is optax's transform, term for term; the moments are (1 - b) g^k + b m
(optax/tree_utils/_tree_math.py tree_update_moment), the bias corrections m / (1 - b^t):
    SGD        trace: v = g + mu v;  d = v  (Nesterov: g + mu v)   (torch's form, v starts at 0)
    RMSprop    scale_by_rms: s = (1 - r) g^2 + r s;  d = g / sqrt(s + eps)   (eps inside the root)
               centered (scale_by_stddev): / sqrt(s - a^2 + eps), a = (1 - r) g + r a
               momentum: trace AFTER the lr: buf = u + mu buf, p = p + buf
    Adam       d = m_hat / (sqrt(v_hat) + eps)                   (torch's eps placement)
       AMSGrad v_max = max(v_max, v_hat) of the CORRECTED v; d = m_hat / (sqrt(v_max) + eps)
    NAdam      Adam with m_hat = b1 m / (1 - b1^(t+1)) + (1 - b1) g / (1 - b1^t)
    Adamax     u = max(|g| + eps, b2 u);  d = (m / (1 - b1^t)) / u   (torch's eps placement)
    Adagrad    s = g^2 + s (from 0.1);  d = where(s > 0, 1 / sqrt(s + eps), 0) g   (rsqrt: equal)
    Adadelta   d = sqrt(x + eps) / sqrt(s + eps) g;  x = (1 - r) d^2 + r x
    Lion       d = sign((1 - b1) g + b1 m);  m = (1 - b2) g + b2 m
    AdamW, Lion (and decoupled decay anywhere): d = d + wd p before the lr (decay_in_update)
    clipping   global: g if ||g||_all < c else (g / ||g||_all) c  (clip_by_global_norm, no eps);
               per tensor: the same rule on each tensor alone; by value: clip(g, -c, c)

Left out: weight decay for the optimizers other than SGD, RMSprop, Adam and AdamW (refused by
the spec; AdamW's and Lion's own decay aside), learning-rate schedules, Adagrad's lr_decay.
"""
import numpy as np

from .conventions import KERAS, TORCH, as_convention


def as_keras_casts(x):
    """A Python float as Keras's ops.cast(x, float64) sees it: rounded through float32."""
    return float(np.float32(x))


def clip_gradients(grads, rules, convention):
    """{name: g} -> the clipped copies, as `convention` clips (see the module docstring)."""
    convention = as_convention(convention)
    eps = convention.clip_norm_eps          # torch's 1e-6; None: Keras's or optax's forms, no eps
    if convention.chain_rounding and (rules.get("clip_norm") or rules.get("clip_norm_per_tensor")):
        return clip_by_norm_chain(grads, rules)
    if rules.get("clip_norm"):
        c = rules["clip_norm"]
        if eps is not None:
            total = np.sqrt(sum(np.sqrt(np.sum(g * g)) ** 2 for g in grads.values()))  # norm of the norms
            coef = min(c / (total + eps), 1.0)
            return {n: g * coef for n, g in grads.items()}
        total = np.sqrt(sum(np.sum(np.square(g)) for g in grads.values()))
        scale = c * min(1.0 / total, 1.0 / c)
        return {n: g * scale for n, g in grads.items()}
    if rules.get("clip_norm_per_tensor"):
        c = rules["clip_norm_per_tensor"]
        if eps is not None:
            return {n: g * min(c / (np.sqrt(np.sum(g * g)) + eps), 1.0) for n, g in grads.items()}
        return {n: g * c / max(np.sqrt(np.sum(g * g)), c) for n, g in grads.items()}
    if rules.get("clip_value"):
        c = rules["clip_value"]
        return {n: np.clip(g, -c, c) for n, g in grads.items()}
    return grads


def clip_by_norm_chain(grads, rules):
    """optax.clip_by_global_norm (optax/transforms/_clipping.py): norm = sqrt(sum over the tensors,
    in the pytree's sorted-key order, of sum(g^2)) (optax.tree.norm); g stays if norm < c, else
    becomes (g / norm) c. Per tensor: the same rule on each tensor alone (optax has no per-tensor
    norm clip; reference/jax_optim.py applies clip_by_global_norm to each leaf)."""
    def clip(tensors, c):
        norm = np.sqrt(sum(np.sum(np.square(tensors[n])) for n in sorted(tensors)))
        return dict(tensors) if norm < c else {n: (g / norm) * c for n, g in tensors.items()}
    if rules.get("clip_norm"):
        return clip(grads, rules["clip_norm"])
    c = rules["clip_norm_per_tensor"]
    return {n: clip({n: g}, c)[n] for n, g in grads.items()}


class Rules:
    """Gradient clipping and weight decay around an optimizer's `update` (see the module docstring)."""

    def set_rules(self, rules, convention):
        self.rules = dict(rules or {})
        wd = self.rules.get("weight_decay") or 0.0
        if wd and self.rules.get("float32_casts"):
            wd = as_keras_casts(wd)
        self.rule_decay = wd                     # (AdamW decays inside its own update instead)
        self.rule_decay_form = self.rules.get("decay", "coupled")

    def step(self, params, grads):
        grads = {"d" + n: g for n, g in
                 clip_gradients({n: grads["d" + n] for n in params}, getattr(self, "rules", {}), self.convention).items()}
        self.begin_step()
        if self.convention.chain_rounding:
            return self.chain_step(params, grads)
        new = {}
        for name, p in params.items():
            g = grads["d" + name]
            if getattr(self, "rule_decay", 0.0):
                if self.rule_decay_form == "coupled":
                    g = g + self.rule_decay * p                        # torch: grad.add(param, alpha=wd)
                else:
                    p = p - p * self.rule_decay * self.lr             # keras: variable -= variable * wd * lr
            new[name] = self.update(name, p, g)
        return new

    def begin_step(self):
        pass

    def chain_step(self, params, grads):
        """optax's chain (the module docstring): for each parameter p (any shape), its gradient g,
            g = g + wd p                  coupled decay: add_decayed_weights before the optimizer
            d = direction(g)              the optimizer's scale_by_* (AdamW's, Lion's decay in it)
            d = d + wd p                  decoupled decay: add_decayed_weights before the scaling
            u = (-lr) d                   scale_by_learning_rate: scale(-lr)
            u = after_lr(u)               RMSprop's momentum trace (optax.trace after the scaling)
            p = p + u                     optax.apply_updates"""
        new = {}
        for name, p in params.items():
            g = grads["d" + name]
            decay = getattr(self, "rule_decay", 0.0)
            if decay and self.rule_decay_form == "coupled":
                g = g + decay * p                                   # add_decayed_weights: g + wd p
            d = self.direction(name, p, g)
            if decay and self.rule_decay_form != "coupled":
                d = d + decay * p
            u = self.after_lr(name, (-self.lr) * d)
            new[name] = p + u
        return new

    def after_lr(self, name, u):
        return u


class SGD(Rules):
    """Gradient descent, optionally with (Nesterov) momentum; state 'momentum' per parameter."""

    def __init__(self, lr, momentum=0.0, nesterov=False, convention=TORCH, float32_casts=False, dampening=0.0):
        self.lr, self.momentum, self.nesterov = lr, momentum, nesterov
        self.convention = as_convention(convention)
        self.dampening = dampening
        if dampening and not self.convention.sgd_dampening:
            raise ValueError(f"{self.convention.framework}'s SGD has no dampening")
        self.float32_casts = float32_casts
        self.state = {}

    def update(self, name, p, g):
        lr, mu = self.lr, self.momentum
        if mu == 0:
            return p - lr * g                                   # (torch's p + (-lr) g: the same bits)
        if self.convention.sgd_lr_in_momentum:                  # keras: v = mu v - lr g; p = p + v
            mu = as_keras_casts(mu) if self.float32_casts else mu
            v = self.state.get(name, {}).get("momentum", np.zeros_like(p))
            v = v * mu - g * lr                                 # the buffer starts at 0
            self.state[name] = {"momentum": v}
            return p + (v * mu - g * lr) if self.nesterov else p + v
        v = self.state.get(name, {}).get("momentum")            # torch: v = mu v + g; p = p - lr v
        v = g.copy() if v is None else v * mu + (1 - self.dampening) * g   # the buffer starts as g
        self.state[name] = {"momentum": v}
        step = g + mu * v if self.nesterov else v
        return p + (-lr) * step

    def direction(self, name, p, g):
        """optax.sgd: optax.trace(decay=mu, nesterov) (optax/transforms/_accumulation.py):
        v = g + mu v (from 0); d = v, or g + mu v with Nesterov. Without momentum (optax's
        momentum=None) d = g."""
        mu = self.momentum
        if mu == 0:
            return g
        v = g + mu * self.state.get(name, {}).get("momentum", np.zeros_like(p))
        self.state[name] = {"momentum": v}
        return g + mu * v if self.nesterov else v


class RMSprop(Rules):
    """Divide by a running root mean square of the gradient; state 'square_avg' per parameter, and
    'grad_avg' (centered) and 'momentum' (momentum > 0). torch keeps lr outside its momentum buffer
    (buf = mu buf + g / avg; p -= lr buf), Keras inside (buf = mu buf + lr g / avg; p -= buf)."""

    def __init__(self, lr, rho, eps, convention=TORCH, momentum=0.0, centered=False):
        self.lr, self.rho, self.eps, self.convention = lr, rho, eps, as_convention(convention)
        self.momentum, self.centered = momentum, centered
        self.state = {}
        c = self.convention
        one_framework = c.rmsprop_lr_in_momentum == c.rmsprop_eps_in_root or c.chain_rounding
        if momentum > 0 and not one_framework:
            raise ValueError(f"no RMSprop here has eps {'inside' if c.rmsprop_eps_in_root else 'outside'} the "
                             f"root and lr {'inside' if c.rmsprop_lr_in_momentum else 'outside'} the momentum buffer")

    def update(self, name, p, g):
        old = self.state.get(name, {})
        s = old.get("square_avg", np.zeros_like(p))
        state = {}
        if not self.convention.rmsprop_eps_in_root:                         # torch's code (lr outside the buffer:
                                                                            # not rmsprop_lr_in_momentum)
            s = s * self.rho + (1 - self.rho) * g * g
            state["square_avg"] = s
            if self.centered:
                ga = old.get("grad_avg", np.zeros_like(p))
                ga = ga + (1 - self.rho) * (g - ga)                          # grad_avg.lerp_(g, 1 - alpha)
                state["grad_avg"] = ga
                avg = np.sqrt(s + (-1) * ga * ga) + self.eps
            else:
                avg = np.sqrt(s) + self.eps                                 # eps outside the root
            if self.momentum > 0:
                buf = old.get("momentum", np.zeros_like(p)) * self.momentum + g / avg
                state["momentum"] = buf
                self.state[name] = state
                return p + (-self.lr) * buf
            self.state[name] = state
            return p + (-self.lr) * (g / avg)
        s = self.rho * s + (1 - self.rho) * np.square(g)                    # Keras's code (lr inside the buffer)
        state["square_avg"] = s
        if self.centered:
            ga = self.rho * old.get("grad_avg", np.zeros_like(p)) + (1 - self.rho) * g
            state["grad_avg"] = ga
            denominator = s - np.square(ga) + self.eps
        else:
            denominator = s + self.eps                                      # eps inside the root
        increment = (self.lr * g) / np.sqrt(denominator)
        if self.momentum > 0:                                               # rmsprop_lr_in_momentum
            buf = self.momentum * old.get("momentum", np.zeros_like(p)) + increment
            state["momentum"] = buf
            self.state[name] = state
            return p - buf
        self.state[name] = state
        return p - increment

    def direction(self, name, p, g):
        """optax.rmsprop: scale_by_rms (centered: scale_by_stddev), optax/_src/transform.py, decay r
            s = (1 - r) g^2 + r s            (from initial_scale 0)
            a = (1 - r) g + r a              (centered only)
            d = g / sqrt(s - a^2 + eps)    (rsqrt(s + eps) g; eps_in_sqrt=False: / (sqrt(s) + eps))
        """
        old, r, eps = self.state.get(name, {}), self.rho, self.eps
        s = (1 - r) * (g * g) + r * old.get("square_avg", np.zeros_like(p))
        state = {"square_avg": s}
        if self.centered:
            a = (1 - r) * g + r * old.get("grad_avg", np.zeros_like(p))
            state["grad_avg"] = a
            s = s - a * a
        if self.convention.rmsprop_eps_in_root:
            scaling = 1 / np.sqrt(s + eps)
        else:
            scaling = 1 / (np.sqrt(s) + eps)
        if "momentum" in old:
            state["momentum"] = old["momentum"]
        self.state[name] = state
        return scaling * g

    def after_lr(self, name, u):
        """optax.rmsprop's momentum: optax.trace(decay=mu) AFTER scale_by_learning_rate:
        buf = u + mu buf (from 0), the update is buf: it holds -lr g / avg
        (rmsprop_momentum_traces_update)."""
        if not self.momentum > 0:
            return u
        buf = u + self.momentum * self.state[name].get("momentum", np.zeros_like(u))
        self.state[name]["momentum"] = buf
        return buf


class Adam(Rules):
    """Adaptive moments with bias correction; state 'm', 'v' (and 'v_max' with AMSGrad) per
    parameter and a step count t. weight_decay > 0 (decoupled: AdamW) shrinks p before the step:
    torch p *= 1 - lr wd; Keras p -= p wd lr."""

    def __init__(self, lr, beta1, beta2, eps, convention=TORCH, float32_casts=False, amsgrad=False,
                 weight_decay=0.0):
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.convention, self.float32_casts = as_convention(convention), float32_casts
        self.amsgrad, self.weight_decay = amsgrad, weight_decay
        self.state = {}
        self.t = 0

    def begin_step(self):
        self.t += 1

    def update(self, name, p, g):
        b1, b2, t = self.beta1, self.beta2, self.t
        old = self.state.get(name, {})
        m = old.get("m", np.zeros_like(p))
        v = old.get("v", np.zeros_like(p))
        cast = as_keras_casts if self.float32_casts else float
        if self.weight_decay and self.convention.adamw_decay_multiplies:
            p = p * (1 - self.lr * self.weight_decay)                   # torch: param.mul_(1 - lr * wd)
        elif self.weight_decay:
            p = p - p * cast(self.weight_decay) * self.lr               # keras: _apply_weight_decay, before the step
        if not self.convention.adam_eps_hat:                            # torch's code: eps added to sqrt(v_hat)
            m = m + (1 - b1) * (g - m)                                  # exp_avg.lerp_(g, 1 - b1)
            v = v * b2 + (1 - b2) * g * g
            self.state[name] = {"m": m, "v": v}
            if self.amsgrad:
                v = np.maximum(old.get("v_max", np.zeros_like(p)), v)
                self.state[name]["v_max"] = v
            step_size = self.lr / (1 - b1**t)
            denom = np.sqrt(v) / np.sqrt(1 - b2**t) + self.eps
            return p + (-step_size) * (m / denom)
        m = m + (g - m) * (1 - b1)                                      # Keras's code: eps added to sqrt(v)
        v = v + (np.square(g) - v) * (1 - b2)
        self.state[name] = {"m": m, "v": v}
        if self.amsgrad:
            v = np.maximum(old.get("v_max", np.zeros_like(p)), v)
            self.state[name]["v_max"] = v
        b1_power, b2_power = cast(b1) ** float(t), cast(b2) ** float(t)
        alpha = self.lr * np.sqrt(1 - b2_power) / (1 - b1_power)
        return p - (m * alpha) / (np.sqrt(v) + self.eps)

    def direction(self, name, p, g):
        """optax.adam: scale_by_adam (optax/_src/transform.py), t the step count (int32):
            m = (1 - b1) g + b1 m;  v = (1 - b2) g^2 + b2 v
            d = (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t) + eps_root) + eps)        (eps_root 0)
        AMSGrad (scale_by_amsgrad, bias_correction_nu=True): v_max = max(v_max, v / (1 - b2^t)), the
        CORRECTED v, and d = (m / (1 - b1^t)) / (sqrt(v_max) + eps) (amsgrad_max_of_corrected).
        AdamW (optax.adamw: add_decayed_weights(wd) after scale_by_adam): d = d + wd p."""
        b1, b2, t, old = self.beta1, self.beta2, self.t, self.state.get(name, {})
        m = (1 - b1) * g + b1 * old.get("m", np.zeros_like(p))
        v = (1 - b2) * (g * g) + b2 * old.get("v", np.zeros_like(p))
        self.state[name] = {"m": m, "v": v}
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        if self.amsgrad:
            v_hat = np.maximum(old.get("v_max", np.zeros_like(p)), v_hat)
            self.state[name]["v_max"] = v_hat
        d = m_hat / (np.sqrt(v_hat + 0.0) + self.eps)
        if self.weight_decay:
            d = d + self.weight_decay * p           # adamw: add_decayed_weights(wd, mask=None)
        return d


class NAdam(Rules):
    """Adam with Nesterov momentum and a momentum schedule mu_t; state 'm', 'v' per parameter.
    torch: mu_t = b1 (1 - 0.5 * 0.96^(t * momentum_decay)), momentum_decay 0.004, the product of
    the mu_t kept in a float32 tensor; Keras: mu_t = b1 (1 - 0.5 * 0.96^t), 0.96 rounded to
    float32 in the step (a literal cast), exact in the product (a float64 variable)."""

    def __init__(self, lr, beta1, beta2, eps, convention=TORCH, float32_casts=False, momentum_decay=None):
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.convention, self.float32_casts = as_convention(convention), float32_casts
        self.momentum_decay = self.convention.nadam_momentum_decay if momentum_decay is None else momentum_decay
        self.state = {}
        self.t = 0
        self.mu_product = 1.0

    def begin_step(self):
        self.t += 1
        t, b1 = float(self.t), self.beta1
        if self.convention.nadam_nesterov_adam:
            return                                                                  # optax: no mu_t
        if self.convention.nadam_momentum_decay is not None:                        # torch's code
            self.mu = b1 * (1.0 - 0.5 * (0.96 ** (t * self.momentum_decay)))
            self.mu_next = b1 * (1.0 - 0.5 * (0.96 ** ((t + 1) * self.momentum_decay)))
            self.mu_product = float(np.float32(self.mu_product) * np.float32(self.mu))   # a float32 tensor
        else:
            self.mu_product = self.mu_product * b1 * (1.0 - 0.5 * 0.96 ** t)         # _backend_update_step

    def update(self, name, p, g):
        b1, b2, t = self.beta1, self.beta2, float(self.t)
        m = self.state.get(name, {}).get("m", np.zeros_like(p))
        v = self.state.get(name, {}).get("v", np.zeros_like(p))
        if self.convention.nadam_momentum_decay is not None:                # torch's code
            m = m + (1 - b1) * (g - m)
            v = v * b2 + (1 - b2) * g * g
            self.state[name] = {"m": m, "v": v}
            denom = np.sqrt(v / (1 - b2**t)) + self.eps
            mu_product_next = self.mu_product * self.mu_next
            p = p + (-self.lr * (1.0 - self.mu) / (1.0 - self.mu_product)) * (g / denom)
            return p + ((-self.lr * self.mu_next) / (1.0 - mu_product_next)) * (m / denom)
        cast = as_keras_casts if self.float32_casts else float
        b1, b2, decay = cast(b1), cast(b2), as_keras_casts(0.96)
        u_t = b1 * (1.0 - 0.5 * decay**t)
        u_t_1 = b1 * (1.0 - 0.5 * decay ** (t + 1))
        u_product_t_1 = self.mu_product * u_t_1
        m = m + (g - m) * (1 - b1)
        v = v + (np.square(g) - v) * (1 - b2)
        self.state[name] = {"m": m, "v": v}
        m_hat = (u_t_1 * m) / (1 - u_product_t_1) + ((1 - u_t) * g) / (1 - self.mu_product)
        v_hat = v / (1 - b2**t)
        return p - (m_hat * self.lr) / (np.sqrt(v_hat) + self.eps)

    def direction(self, name, p, g):
        """optax.nadam = optax.adam(nesterov=True) (nadam_nesterov_adam; no momentum schedule mu_t):
            m = (1 - b1) g + b1 m;  v = (1 - b2) g^2 + b2 v
            m_hat = b1 (m / (1 - b1^(t+1))) + (1 - b1) (g / (1 - b1^t))
            d = m_hat / (sqrt(v / (1 - b2^t)) + eps)"""
        b1, b2, t, old = self.beta1, self.beta2, self.t, self.state.get(name, {})
        m = (1 - b1) * g + b1 * old.get("m", np.zeros_like(p))
        v = (1 - b2) * (g * g) + b2 * old.get("v", np.zeros_like(p))
        self.state[name] = {"m": m, "v": v}
        m_hat = b1 * (m / (1 - b1 ** (t + 1))) + (1 - b1) * (g / (1 - b1**t))
        return m_hat / (np.sqrt(v / (1 - b2**t) + 0.0) + self.eps)


class Adamax(Rules):
    """Adam with an infinity norm; state 'm', 'u' per parameter. torch adds eps to |g| inside the
    max, Keras to u in the denominator."""

    def __init__(self, lr, beta1, beta2, eps, convention=TORCH, float32_casts=False):
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.convention, self.float32_casts = as_convention(convention), float32_casts
        self.state = {}
        self.t = 0

    def begin_step(self):
        self.t += 1

    def update(self, name, p, g):
        b1, b2, t = self.beta1, self.beta2, float(self.t)
        m = self.state.get(name, {}).get("m", np.zeros_like(p))
        u = self.state.get(name, {}).get("u", np.zeros_like(p))
        if self.convention.adamax_eps_in_max:
            m = m + (1 - b1) * (g - m)
            u = np.maximum(u * b2, np.abs(g) + self.eps)
            self.state[name] = {"m": m, "u": u}
            return p + (-(self.lr / (1 - b1**t))) * (m / u)
        cast = as_keras_casts if self.float32_casts else float
        b1_power = cast(b1) ** t
        m = m + (g - m) * (1 - b1)
        u = np.maximum(b2 * u, np.abs(g))
        self.state[name] = {"m": m, "u": u}
        return p - (self.lr * m) / ((1 - b1_power) * (u + self.eps))

    def direction(self, name, p, g):
        """optax.adamax: scale_by_adamax: m = (1 - b1) g + b1 m;  u = max(|g| + eps, b2 u)
        (tree_update_infinity_moment: eps inside the max, as torch);  d = (m / (1 - b1^t)) / u."""
        b1, b2, t, old = self.beta1, self.beta2, self.t, self.state.get(name, {})
        m = (1 - b1) * g + b1 * old.get("m", np.zeros_like(p))
        u = np.maximum(np.abs(g) + self.eps, b2 * old.get("u", np.zeros_like(p)))
        self.state[name] = {"m": m, "u": u}
        return (m / (1 - b1**t)) / u


class Adagrad(Rules):
    """Divide by the root of the summed squared gradients; state 'accumulator' per parameter.
    torch: starts at 0, p -= lr g / (sqrt(s) + eps); Keras: starts at 0.1, p -= lr g / sqrt(s + eps)."""

    def __init__(self, lr, eps, initial_accumulator, convention=TORCH, float32_casts=False):
        self.lr, self.eps, self.convention = lr, eps, as_convention(convention)
        self.initial = as_keras_casts(initial_accumulator) if float32_casts else initial_accumulator
        self.state = {}

    def update(self, name, p, g):
        s = self.state.get(name, {}).get("accumulator", np.full_like(p, self.initial))
        if self.convention.adagrad_eps_in_root:
            s = s + np.square(g)
            self.state[name] = {"accumulator": s}
            return p - (self.lr * g) / np.sqrt(s + self.eps)
        s = s + g * g
        self.state[name] = {"accumulator": s}
        return p + (-self.lr) * (g / (np.sqrt(s) + self.eps))

    def direction(self, name, p, g):
        """optax.adagrad: scale_by_rss: s = g^2 + s (from initial_accumulator_value 0.1);
        d = where(s > 0, rsqrt(s + eps), 0) g  (jax.lax.rsqrt: 1 / sqrt, measured bit-equal)."""
        s = g * g + self.state.get(name, {}).get("accumulator", np.full_like(p, self.initial))
        self.state[name] = {"accumulator": s}
        return np.where(s > 0, 1 / np.sqrt(s + self.eps), 0.0) * g


class Adadelta(Rules):
    """Step by the ratio of running RMS of updates and of gradients; state 'square_avg',
    'acc_delta' per parameter. The same math in both frameworks, in a different order."""

    def __init__(self, lr, rho, eps, convention=TORCH):
        self.lr, self.rho, self.eps, self.convention = lr, rho, eps, as_convention(convention)
        self.state = {}

    def update(self, name, p, g):
        rho, eps = self.rho, self.eps
        s = self.state.get(name, {}).get("square_avg", np.zeros_like(p))
        d = self.state.get(name, {}).get("acc_delta", np.zeros_like(p))
        if self.convention.adadelta_ratio_first:
            s = s * rho + (1 - rho) * g * g
            delta = np.sqrt(d + eps) / np.sqrt(s + eps) * g
            d = d * rho + (1 - rho) * delta * delta
            self.state[name] = {"square_avg": s, "acc_delta": d}
            return p + (-self.lr) * delta
        s = rho * s + (1 - rho) * np.square(g)
        delta = -((np.sqrt(d + eps) * g) / np.sqrt(s + eps))
        d = rho * d + (1 - rho) * np.square(delta)
        self.state[name] = {"square_avg": s, "acc_delta": d}
        return p + self.lr * delta

    def direction(self, name, p, g):
        """optax.adadelta: scale_by_adadelta: s = (1 - r) g^2 + r s;
        d = (sqrt(x + eps) / sqrt(s + eps)) g;  x = (1 - r) d^2 + r x (before the lr, as torch)."""
        r, eps, old = self.rho, self.eps, self.state.get(name, {})
        s = (1 - r) * (g * g) + r * old.get("square_avg", np.zeros_like(p))
        x = old.get("acc_delta", np.zeros_like(p))
        d = (np.sqrt(x + eps) / np.sqrt(s + eps)) * g
        self.state[name] = {"square_avg": s, "acc_delta": (1 - r) * (d * d) + r * x}
        return d


class Lion(Rules):
    """Sign of an interpolated momentum (Keras only: torch ships no Lion); state 'm' per parameter.
    p -= lr sign(b1 m + (1 - b1) g); m = b2 m + (1 - b2) g."""

    def __init__(self, lr, beta1, beta2, convention=KERAS, float32_casts=False, weight_decay=0.0):
        cast = as_keras_casts if float32_casts else float
        self.lr, self.beta1, self.beta2, self.convention = lr, cast(beta1), cast(beta2), as_convention(convention)
        self.weight_decay = weight_decay      # optax.lion's own (default 1e-3); Keras's: none
        self.state = {}

    def update(self, name, p, g):
        m = self.state.get(name, {}).get("m", np.zeros_like(p))
        p = p - self.lr * np.sign(m * self.beta1 + g * (1.0 - self.beta1))
        self.state[name] = {"m": m * self.beta2 + g * (1.0 - self.beta2)}
        return p

    def direction(self, name, p, g):
        """optax.lion: scale_by_lion: d = sign((1 - b1) g + b1 m);  m = (1 - b2) g + b2 m; then its
        add_decayed_weights(wd=1e-3 by default) before the scaling: d = d + wd p."""
        m = self.state.get(name, {}).get("m", np.zeros_like(p))
        d = np.sign((1.0 - self.beta1) * g + self.beta1 * m)
        self.state[name] = {"m": (1.0 - self.beta2) * g + self.beta2 * m}
        return d + self.weight_decay * p if self.weight_decay else d


def make_optimizer(name, hyper, convention):
    """Build the optimizer `name` from resolved hyperparameters (see compare.spec.Spec.hyper), with
    its clipping and (but for AdamW, which decays inside its update) weight decay, in `convention`
    (a Convention or its name)."""
    convention = as_convention(convention)
    optimizer = build_optimizer(name, hyper, convention)
    rules = {k: hyper.get(k) for k in RULES + ("float32_casts",)}
    if name in ("adamw", "lion"):
        rules["weight_decay"] = 0.0                 # their own decay, inside the update
    optimizer.set_rules(rules, convention)
    return optimizer


RULES = ("weight_decay", "decay", "clip_norm", "clip_norm_per_tensor", "clip_value")


def build_optimizer(name, hyper, convention):
    h, casts = hyper, hyper.get("float32_casts", False)
    if name == "sgd":
        return SGD(h["lr"], h["momentum"], h["nesterov"], convention, casts, h.get("dampening", 0.0))
    if name == "rmsprop":
        return RMSprop(h["lr"], h["rho"], h["eps"], convention, h.get("momentum", 0.0), h.get("centered", False))
    if name in ("adam", "adamw"):
        return Adam(h["lr"], h["beta1"], h["beta2"], h["eps"], convention, casts, h.get("amsgrad", False),
                    h.get("weight_decay") or 0.0 if name == "adamw" else 0.0)
    if name == "nadam":
        return NAdam(h["lr"], h["beta1"], h["beta2"], h["eps"], convention, casts,
                     h.get("momentum_decay"))   # torch's momentum_decay (Spec.momentum_decay; None: the default)
    if name == "adamax":
        return Adamax(h["lr"], h["beta1"], h["beta2"], h["eps"], convention, casts)
    if name == "adagrad":
        return Adagrad(h["lr"], h["eps"], h["initial_accumulator"], convention, casts)
    if name == "adadelta":
        return Adadelta(h["lr"], h["rho"], h["eps"], convention)
    if name == "lion":
        wd = h.get("weight_decay") or 0.0
        return Lion(h["lr"], h["beta1"], h["beta2"], convention, casts, wd)
    raise ValueError(f"unknown optimizer {name!r}")
