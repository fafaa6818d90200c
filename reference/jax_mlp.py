"""The scratch MLP again, in JAX: Flax's layers (the nnx API), Optax's optimizers, jax.value_and_grad.

Read it beside scratch/mlp.py and reference/keras_mlp.py: same class shape, same method order.
Shapes (JAX, like Keras, keeps one example per ROW, and Flax's kernels are (in, out)):
    X = A0 : (m, n_0)                 (images: (m, H, W, C), NHWC, Flax's layout)
    kernel_l : (n_{l-1}, n_l)         (nnx.Linear.kernel, the scratch W_l transposed)
    bias_l   : (n_l,)
    Z_l, A_l : (m, n_l)
The parameters are one flat dict {'W1': kernel, 'b1': bias, 'gamma2': scale, ...} named as the
scratch code names them: the pytree Optax updates and jax.grad differentiates. Each Flax module is
split once (nnx.split) into its graph and its variables; a step merges it again with the current
values (nnx.merge), the functional form jax.jit traces (Flax's own pattern for a pure step).

Backward is jax.value_and_grad's. The gradient of an intermediate output (dZ_l, dN_l) is the
gradient of a zero added to it: Z_l + 0 is Z_l, and d loss / d 0 is d loss / d Z_l. That is the
standard JAX way to read an intermediate's gradient; nothing here writes a derivative.

float64. JAX computes in float32 unless jax_enable_x64 is set: a float64 request without it is
silently float32 (scratch/conventions.py JAX.x64_opt_in). Every call into this module that makes
or runs arrays does so inside `precise(dtype)`: jax.enable_x64(True) for a float64 run (a context
manager: jax/_src/config.py State, thread-local, the caller's setting back on exit) and
jax.default_matmul_precision('highest') (on CPU a no-op; on an accelerator JAX's default matmul
precision rounds through bfloat16 passes: the reference computes at the dtype's precision).

Training rules as JAX users write them (Optax: reference/jax_optim.py): the optimizer is an
optax.GradientTransformation (`tx.update`, `optax.apply_updates`) inside the jitted step; L2/L1
regularisation is added to the loss over the weights (the biases too with spec.regularize_biases),
l2 * sum(w^2) and l1 * sum(|w|), as torch users and Keras's regularizers write it; weight decay,
clipping and schedules are Optax's (reference/jax_optim.py). The dW/db recorded are jax.grad's,
before any clipping.

The network is the spec's layer list (`spec.network`, compare/engine/layers.py), built in its
order: each layer kind builds its own Flax module through `layer.jax(ctx)` (the builders below:
`dense`, `activation`; the other kinds in reference/jax_layers.py), which returns a `Part`.
Frozen roles (`layer.frozen`) are kept out of the differentiated pytree and the optimizer: no
gradient, no update, their value unchanged.

Losses as JAX users write them: optax.losses' functions where Optax ships one (each returns one
value per example or per element, not reduced: the reduction is the user's .mean() or .sum()),
jnp where it does not (marked USER-WRITTEN).

Left out: nnx.Optimizer and nnx.jit (the pure split/merge form is what runs here; a user's
nnx.Optimizer is read by compare/adapters), model.fit-like loops, devices other than the default.
"""
import contextlib
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from scratch.conventions import JAX

from .jax_optim import make_optimizer


@contextlib.contextmanager
def precise(dtype):
    """float64 on for a float64 run and matmuls at full precision, only while the block runs: the
    caller's JAX settings are given back (jax.enable_x64 and jax.default_matmul_precision are
    context managers of jax/_src/config.py)."""
    with contextlib.ExitStack() as stack:
        if dtype == "float64":
            stack.enter_context(jax.enable_x64(True))
        stack.enter_context(jax.default_matmul_precision("highest"))
        yield


# --- activations: jax.nn's own functions (jax/_src/nn/functions.py) ---------------------------------
ACTIVATIONS = {
    "linear": lambda z: z,
    "relu": jax.nn.relu,
    "sigmoid": jax.nn.sigmoid,
    "tanh": jnp.tanh,
    "softplus": jax.nn.softplus,                   # logaddexp(z, 0): exact everywhere, no threshold
    "softmax": lambda z: jax.nn.softmax(z, axis=-1),
    "leaky_relu": jax.nn.leaky_relu,               # negative_slope 0.01 unless the layer gives one
    "elu": jax.nn.elu,
    "selu": jax.nn.selu,
    "celu": jax.nn.celu,
    "gelu": lambda z: jax.nn.gelu(z, approximate=False),   # jax.nn.gelu's default is the tanh form
    "gelu_tanh": lambda z: jax.nn.gelu(z, approximate=True),
    "silu": jax.nn.silu,
    "softsign": jax.nn.soft_sign,
    "hard_sigmoid": jax.nn.hard_sigmoid,           # relu6(z + 3) / 6
    "hard_silu": jax.nn.hard_silu,                 # z hard_sigmoid(z)
    "relu6": jax.nn.relu6,
    "mish": jax.nn.mish,
    "log_sigmoid": jax.nn.log_sigmoid,
    "hard_tanh": jax.nn.hard_tanh,
}


def make_activation(name, layer):
    """jax.nn's function for an activation name; leaky_relu with the layer's slope when it gives one."""
    if name == "leaky_relu" and layer.slope is not None:
        slope = float(layer.slope)
        return lambda z: jax.nn.leaky_relu(z, negative_slope=slope)
    return ACTIVATIONS[name]


# --- losses -----------------------------------------------------------------------------------
def make_loss(spec):
    """The spec's loss as a JAX user writes it -> loss(Z_L, A_L, Y one-hot rows) -> 0-d array.
    optax.losses returns one value per example (cross-entropies, KL, cosine) or per element (the
    rest); `reduce` is the user's .mean() or .sum() over what it returns. A softmax/sigmoid output's
    cross-entropy reads the logits Z_L (optax's cross-entropies take logits)."""
    name, r, e, probs = spec.loss, spec.reduction, spec.label_smoothing, spec.probabilities
    reduce = (lambda t: t.sum()) if r == "sum" else (lambda t: t.mean())
    if name == "binary_crossentropy":
        smooth = (lambda Y: Y * (1 - e) + 0.5 * e) if e else (lambda Y: Y)    # USER-WRITTEN: no smoothing in optax's
        if probs:                                                           # USER-WRITTEN: optax's takes logits
            return lambda Z, A, Y: reduce(-(smooth(Y) * jnp.log(A) + (1 - smooth(Y)) * jnp.log(1 - A)))
        return lambda Z, A, Y: reduce(optax.losses.sigmoid_binary_cross_entropy(Z, smooth(Y)))
    if name in ("categorical_crossentropy", "sparse_categorical_crossentropy"):
        smooth = (lambda Y: optax.losses.smooth_labels(Y, e)) if e else (lambda Y: Y)
        if probs:                                                           # USER-WRITTEN: -sum y log p
            return lambda Z, A, Y: reduce(-(smooth(Y) * jnp.log(A)).sum(axis=-1))
        if name == "sparse_categorical_crossentropy" and not e:             # integer labels
            return lambda Z, A, Y: reduce(optax.losses.softmax_cross_entropy_with_integer_labels(Z, Y.argmax(axis=-1)))
        return lambda Z, A, Y: reduce(optax.losses.softmax_cross_entropy(Z, smooth(Y)))
    if name == "kld":                                                       # optax: targets (log p - log q), summed
        return lambda Z, A, Y: reduce(optax.losses.kl_divergence(jax.nn.log_softmax(Z, axis=-1), Y))
    if name in ("hinge", "squared_hinge"):
        power = 1 if name == "hinge" else 2

        def hinge(Z, A, Y):                                                 # 0/1 labels -> -1/1, as Keras does
            T = jnp.where(jnp.all((Y == 0) | (Y == 1)), 2 * Y - 1, Y)
            return reduce(optax.losses.hinge_loss(A, T) ** power)
        return hinge
    if name == "cosine_similarity":
        return lambda Z, A, Y: reduce(-optax.losses.cosine_similarity(A, Y, epsilon=JAX.cosine_eps))
    if name == "mse":
        return lambda Z, A, Y: reduce(optax.losses.squared_error(A, Y))     # (a - y)^2: not l2_loss's half
    if name == "mae":
        return lambda Z, A, Y: reduce(jnp.abs(A - Y))                       # USER-WRITTEN: optax has none
    if name == "huber":
        return lambda Z, A, Y: reduce(optax.losses.huber_loss(A, Y, delta=spec.delta))
    if name == "smooth_l1":                                                 # torch's SmoothL1Loss(beta) = huber / beta
        return lambda Z, A, Y: reduce(optax.losses.huber_loss(A, Y, delta=spec.delta)) / spec.delta
    if name == "poisson":                                                   # USER-WRITTEN: optax has none
        return lambda Z, A, Y: reduce(A - Y * jnp.log(A + JAX.poisson_eps))
    raise ValueError(f"unknown loss {name!r}")


# --- the layers: each kind's builder (called by its `jax(ctx)`, compare/engine/layers.py) ----------

@dataclass
class Context:
    """What a layer's builder gets: its place (block, input and output shapes), the run's dtype
    ('float64' | 'float32'), the spec, and its initial parameters {role: numpy array in JAX's
    layout} (compare/engine/convert.py)."""
    n_in: object
    n_out: object
    block: int
    dtype: str
    spec: object
    initial: dict = field(default_factory=dict)


class Part:
    """A layer as Flax built it. `module`: an nnx.Module, split once into its graph and its
    variables; `params` {role: the module's Param attribute} ('W': 'kernel'), `state` {role: its
    other variables' attribute} (BatchNorm's 'mean': 'mean'); `penalized`: the roles L1/L2 covers.
    Calling it merges the module with the current values and applies it:
        part(params {role: array}, state {role: array}, A, masks, training) -> (output, new state)
    A part without a module is a function of A (an activation); `apply(module, A, masks, training)`
    is overridden where a layer needs more than module(A)."""

    def __init__(self, module=None, params=None, state=None, fn=None, penalized=()):
        self.module, self.fn, self.penalized = module, fn, penalized
        self.params, self.state = dict(params or {}), dict(state or {})
        if module is not None:
            self.graph, self.param_tree, self.rest = nnx.split(module, nnx.Param, ...)

    def values(self, which):
        """{role: numpy array} of the module's params ('params') or state ('state') now."""
        attrs = self.params if which == "params" else self.state
        return {role: np.asarray(getattr(self.module, attr).get_value()) for role, attr in attrs.items()}

    def load(self, initial):
        """Set the module's variables named by role in `initial` (numpy, JAX layout), re-split."""
        for role, attr in {**self.params, **self.state}.items():
            if role in initial:
                variable = getattr(self.module, attr)
                variable.set_value(jnp.asarray(initial[role], dtype=variable.get_value().dtype))
        if self.module is not None:
            self.graph, self.param_tree, self.rest = nnx.split(self.module, nnx.Param, ...)

    def __call__(self, params, state, A, masks, training):
        if self.module is None:
            return self.fn(A), {}
        tree = jax.tree.map(lambda v: v, self.param_tree)               # a copy: the template stays as built
        nnx.replace_by_pure_dict(tree, {attr: params[role] for role, attr in self.params.items()})
        rest = jax.tree.map(lambda v: v, self.rest)
        if self.state:
            nnx.replace_by_pure_dict(rest, {attr: state[role] for role, attr in self.state.items()})
        module = nnx.merge(self.graph, tree, rest)
        out = self.apply(module, A, masks, training)
        return out, {role: getattr(module, attr).get_value() for role, attr in self.state.items()}

    def apply(self, module, A, masks, training):
        return module(A)


def dtype_of(ctx):
    return jnp.float64 if ctx.dtype == "float64" else jnp.float32


def dense(layer, ctx):
    """nnx.Linear without an activation (Z stays visible), use_bias as the layer says; its kernel
    (in, out) and bias from the harness's W and b (ctx.initial, JAX's layout)."""
    dtype = dtype_of(ctx)
    given = {} if "W" not in ctx.initial else {"kernel_init": nnx.initializers.zeros_init()}   # overwritten
    linear = nnx.Linear(ctx.n_in, ctx.n_out, use_bias=layer.bias, dtype=dtype, param_dtype=dtype,
                        rngs=nnx.Rngs(0), **given)          # (Flax's lecun_normal draws cost a compile each)
    params = {"W": "kernel", "b": "bias"} if layer.bias else {"W": "kernel"}
    part = Part(linear, params, penalized=("W", "b") if ctx.spec.regularize_biases else ("W",))
    part.load(ctx.initial)
    return part


def activation(layer, ctx):
    """jax.nn's activation function (leaky_relu with the layer's slope when it gives one)."""
    return Part(fn=make_activation(layer.name, layer))


def frame_shape(shape, m):
    """A layer output's JAX shape for a batch of m: rows (m, n), or an image (C, H, W) as NHWC."""
    return (m, shape) if isinstance(shape, int) else (m, shape[1], shape[2], shape[0])


class JaxMLP:
    """The network of a spec (its layer list, `spec.network`), starting from `params`: {name: numpy
    array in JAX's layout} for every parameter ('W1' a kernel (in, out), 'b1', 'gamma1', ...: from
    compare.convert.framework_initial)."""

    def __init__(self, spec, params):
        with precise(spec.dtype):
            self.build(spec, params)

    def build(self, spec, initial):
        self.dtype, self.spec = spec.dtype, spec
        self.placed = spec.network.placed
        self.L = self.placed[-1].block
        self.parts, trainable, frozen, state = [], {}, {}, {}
        for p in self.placed:
            given = {role: initial[p.name(role)] for role in p.layer.params(p.n_in) if p.name(role) in initial}
            n_out = p.layer.out_shape(p.n_in if isinstance(p.n_in, tuple) else (p.n_in,))
            n_out = n_out[0] if len(n_out) == 1 else n_out
            part = p.layer.jax(Context(p.n_in, n_out, p.block, spec.dtype, spec, given))
            roles = getattr(p.layer, "frozen", None) or ()
            for role, value in part.values("params").items():
                (frozen if role in roles else trainable)[p.name(role)] = jnp.asarray(value)
            for role, value in part.values("state").items():
                state[p.name(role)] = jnp.asarray(value)
            self.parts.append(part)
        self.trainable, self.frozen, self.state = trainable, frozen, state
        self.outputs = [(i, p) for i, p in enumerate(self.placed) if p.layer.role]   # Flatten: none
        self.watched = [p for _, p in self.outputs if "d" + p.layer.role in p.layer.grads]   # dZ, dN
        self.penalized = self.penalized_params()
        self.loss_fn = make_loss(spec)
        self.optimizer = make_optimizer(spec, spec.hyper(JAX), trainable)
        self.opt_state = self.optimizer.init(trainable)
        self.masks = {}
        self.after = None
        self.jitted_step = jax.jit(self.pure_step)
        self.jitted_predict = jax.jit(self.pure_predict)

    def penalized_params(self):
        """The trainable parameters L1/L2 covers: every part's first penalized role (the weights),
        then every part's second (the biases), as torch's reference sums them."""
        out, rank = [], 0
        while any(len(part.penalized) > rank for part in self.parts):
            for p, part in zip(self.placed, self.parts):
                if len(part.penalized) > rank and p.name(part.penalized[rank]) in self.trainable:
                    out.append(p.name(part.penalized[rank]))
            rank += 1
        return out

    # --- the pure functions jax.jit traces ---------------------------------------------------------
    def forward(self, params, state, X, perturb, masks, training):
        """X -> (cache {'Z1': .., ('N1': ..), 'A1': .., ...}, new state): each layer's output under its
        role and block; a watched output (dZ, dN) gets its zero perturbation added."""
        cache, new_state, out = {}, {}, X
        for placed, part in zip(self.placed, self.parts):
            mine = {role: params[placed.name(role)] for role in part.params}
            stats = {role: state[placed.name(role)] for role in part.state}
            out, updated = part(mine, stats, out, masks, training)
            new_state.update({placed.name(role): value for role, value in updated.items()})
            if placed.layer.role:
                name = placed.name(placed.layer.role)
                if name in perturb:
                    out = out + perturb[name]
                cache[name] = out
        return cache, new_state

    def loss(self, params, cache, Y):
        """The batch's loss (0-d) plus the L1/L2 penalty over the weights (the biases too with
        spec.regularize_biases), as a JAX user adds it."""
        loss = self.loss_fn(cache[f"Z{self.L}"], cache[f"A{self.L}"], Y)
        if self.spec.l2:
            loss = loss + self.spec.l2 * sum(jnp.sum(params[n] ** 2) for n in self.penalized)
        if self.spec.l1:
            loss = loss + self.spec.l1 * sum(jnp.sum(jnp.abs(params[n])) for n in self.penalized)
        return loss

    def pure_step(self, trainable, frozen, state, opt_state, X, Y, masks):
        """One training step: forward, loss and every gradient by jax.value_and_grad, then Optax's
        update. -> (trainable, state, opt_state after it, cache, loss, grads {'dW1': .., 'dZ1': ..})"""
        m = X.shape[0]
        perturb = {p.name(p.layer.role): jnp.zeros(frame_shape(p.n_out, m), X.dtype) for p in self.watched}

        def objective(trainable, perturb):
            cache, new_state = self.forward({**trainable, **frozen}, state, X, perturb, masks, True)
            return self.loss({**trainable, **frozen}, cache, Y), (cache, new_state)

        (loss, (cache, new_state)), (d_params, d_outputs) = jax.value_and_grad(
            objective, argnums=(0, 1), has_aux=True)(trainable, perturb)
        updates, opt_state = self.optimizer.tx.update(d_params, opt_state, trainable)
        trainable = optax.apply_updates(trainable, updates)
        grads = {"d" + name: g for name, g in {**d_params, **d_outputs}.items()}
        return trainable, new_state, opt_state, cache, loss, grads

    def pure_predict(self, params, state, X):
        cache, _ = self.forward(params, state, X, {}, {}, False)
        return cache[f"A{self.L}"]

    # --- what the harness calls (compare/implementations/jax.py) ----------------------------------
    def train_step(self, X, Y):
        """One step on a batch (numpy, rows are examples). -> (cache, loss, grads) as numpy"""
        with precise(self.dtype):
            X, Y = jnp.asarray(X, self.dtype), jnp.asarray(Y, self.dtype)
            self.trainable, state, self.opt_state, cache, loss, grads = self.jitted_step(
                self.trainable, self.frozen, self.state, self.opt_state, X, Y, self.masks)
            self.state = {**self.state, **state}
            self.opt_state = self.optimizer.end_step(self.opt_state, loss)     # a per-step plateau watches it
            return cache, loss, grads

    def set_masks(self, masks):
        """This step's dropout masks {block: (m, n_l) numpy (or NHWC)}, 1.0 kept, 0.0 dropped."""
        with precise(self.dtype):
            self.masks = {block: jnp.asarray(mask, self.dtype) for block, mask in masks.items()}

    def predict(self, X):
        """A_L (m, n_L) for inputs X, as numpy, in inference mode (no dropout, running statistics)."""
        with precise(self.dtype):
            return np.asarray(self.jitted_predict({**self.trainable, **self.frozen}, self.state,
                                                  jnp.asarray(X, self.dtype)))

    def end_epoch(self, mean_loss):
        """An epoch is over: a per-epoch schedule or plateau moves (reference/jax_optim.py)."""
        with precise(self.dtype):
            self.opt_state = self.optimizer.end_epoch(self.opt_state, float(mean_loss))

    def load_state(self, tensors):
        """Overwrite parameters, running statistics and optimizer state: {'W1': kernel, 'mean1': ..,
        'W1.m': ..} in JAX's layout (numpy)."""
        with precise(self.dtype):
            slots = {}
            for name, value in tensors.items():
                if "." in name:
                    slots[name] = value
                elif name in self.trainable:
                    self.trainable = {**self.trainable, name: jnp.asarray(value, self.dtype)}
                elif name in self.frozen:
                    self.frozen = {**self.frozen, name: jnp.asarray(value, self.dtype)}
                elif name in self.state:
                    self.state = {**self.state, name: jnp.asarray(value, self.dtype)}
            if slots:
                self.opt_state = self.optimizer.load_slots(self.opt_state, slots)

    def record(self, cache, loss, grads):
        """Everything the harness compares after a step, as numpy in JAX's layout."""
        out = {name: np.asarray(t) for name, t in cache.items()}
        out["loss"] = np.asarray(loss)
        out.update({name: np.asarray(t) for name, t in grads.items()})
        out.update({name: np.asarray(t) for name, t in {**self.trainable, **self.frozen, **self.state}.items()})
        out.update(self.optimizer.slots(self.opt_state))
        if self.spec.schedule is not None:
            out["lr"] = np.asarray(self.optimizer.lr(self.opt_state))     # the rate the next step uses
        return out
