"""The scratch MLP again, in Keras 3 on TensorFlow: Dense layers, Keras's own losses and
optimizers, tf.GradientTape.

Read it beside scratch/mlp.py: same class shape, same method order, one line per line of math.
Shapes (Keras keeps one example per ROW):
    X = A0 : (m, n_0)
    kernel_l : (n_{l-1}, n_l)    (Dense.kernel, the scratch W_l transposed)
    bias_l   : (n_l,)
    Z_l, A_l : (m, n_l)
Dense layers are built without an activation so that Z is visible; the activation is Keras's
own function, applied next. A softmax/sigmoid output keeps its logits (`_keras_logits`), and
Keras's cross-entropy reads them, so it does not clip. Backward is the tape's: dZ_l, dW_l and
db_l are gradients of the loss with respect to Z_l, kernel_l and bias_l.

Keras creates an optimizer's learning rate as a variable of the global float type, so this
module sets `keras.config.set_floatx(spec.dtype)` while it builds (`float_type`, which gives the
previous setting back): in float32 mode the rate 0.1 would otherwise reach a float64 run as
0.10000000149011612.

Training rules as Keras ships them: weight decay is the optimizer's weight_decay (decoupled);
L2/L1 regularisation is the Dense layers' kernel_regularizer (and bias_regularizer with
spec.regularize_biases), whose layer.losses this custom step
adds to the loss inside the tape itself (model.fit would; calling layers directly does not);
clipping is the optimizer's global_clipnorm, clipnorm or clipvalue, applied inside
apply_gradients: the dW/db recorded are the tape's, before any clipping.

Learning-rate schedules as Keras users write them: every step, a keras.optimizers.schedules
object as the optimizer's learning_rate (read at optimizer.iterations); every epoch, the
keras.callbacks.LearningRateScheduler callback evaluating that same schedule at the epoch index;
plateau, the keras.callbacks.ReduceLROnPlateau callback watching the loss (each step or epoch).
The callbacks are Keras's own objects, called here as fit would call them.

The network is the spec's layer list (`spec.network`, compare/engine/layers.py), built in its
order: each layer kind builds its own Keras layer through `layer.keras(ctx)` (the builders below:
`dense`, `batch_norm`, `layer_norm`, `activation`, `dropout`), which returns a `Part`: the layer,
its variables and state by role. Norms are called with training=True in the step and
training=False in predict; dropout goes through SharedMaskDropout, which applies the harness's
mask (keyed by block) by keras.layers.Dropout's own rule (see there), since Keras's seed
generator cannot draw the masks torch draws. Each output is recorded under its role and block
(Z2, N2, A2); A_l is the block's output after its activation and dropout, in whichever order.

Frozen roles (`layer.frozen`): Keras's `layer.trainable` is one flag for the whole layer, and
Keras 3 runs a BatchNormalization whose layer.trainable is False in inference mode (its moving
statistics, not updated), which torch's requires_grad=False does not do. The layer list's frozen
roles mean torch's rule (no gradient, no update, nothing else changes), so they are mirrored per
variable instead: each frozen variable's own `trainable` is set False (Keras 3's Variable has
the setter), the layer's stays True. A partial freeze (W frozen, b trained) is then exact, and a
frozen BatchNorm keeps normalizing with the batch's statistics in training, as torch's does. A
frozen variable is kept out of the tape's targets, the optimizer and layer.losses (Keras's own
rule for a non-trainable variable's regularizer).

Left out: model.fit (its step boundaries and shuffling are its own), callbacks, metrics objects.
"""
import contextlib
import os
import types
from dataclasses import dataclass, field

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")   # before TensorFlow is imported: keep it quiet
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")   # TF 2.21 prints a oneDNN notice on import otherwise; float64 never uses oneDNN

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.get_logger().setLevel("ERROR")   # a new model per run retraces its step: expected, not worth a warning

LOSSES = {
    "mse": keras.losses.MeanSquaredError,
    "binary_crossentropy": keras.losses.BinaryCrossentropy,
    "categorical_crossentropy": keras.losses.CategoricalCrossentropy,
}
# Activations Keras does not name the way the spec does, or that take a setting
# (keras/src/activations/activations.py); every other name is keras.activations.get(name).
ACTIVATIONS = {
    "gelu": lambda x: keras.activations.gelu(x, approximate=False),   # tf.nn.gelu's erfc form
    "gelu_tanh": lambda x: keras.activations.gelu(x, approximate=True),
}


def make_activation(name, spec):
    """Keras's activation function for a name. leaky_relu is keras.activations.leaky_relu, the
    function Dense(activation='leaky_relu') uses (negative_slope 0.2; the layer
    keras.layers.LeakyReLU defaults to 0.3), with the spec's slope when it gives one."""
    if name == "leaky_relu" and spec.slope is not None:
        return lambda x: keras.activations.leaky_relu(x, negative_slope=float(spec.slope))
    return ACTIVATIONS.get(name) or keras.activations.get(name)


REDUCTIONS = {"mean": "sum_over_batch_size", "sum": "sum"}
MORE_LOSSES = {   # keras/src/losses/losses.py, each as its class
    "sparse_categorical_crossentropy": keras.losses.SparseCategoricalCrossentropy,   # no label_smoothing in 3.15
    "mae": keras.losses.MeanAbsoluteError, "huber": keras.losses.Huber, "smooth_l1": keras.losses.Huber,
    "kld": keras.losses.KLDivergence, "poisson": keras.losses.Poisson, "hinge": keras.losses.Hinge,
    "squared_hinge": keras.losses.SquaredHinge, "cosine_similarity": keras.losses.CosineSimilarity,
}


def make_loss(spec):
    """The spec's loss as a Keras user writes it -> loss(A_L, Y one-hot rows) -> 0-d tensor, Keras's
    own loss object reading A_L (a softmax/sigmoid output hands it its logits). With
    spec.probabilities the output goes through tf.identity first, which drops the cached logits
    (as any op between the activation and the loss does: a restored model, a Lambda), so Keras
    computes on the probabilities and clips them. smooth_l1: torch's SmoothL1Loss(beta) has no
    Keras class; its users write Huber(delta=beta) / beta (USER-WRITTEN: the division)."""
    reduction = "mean" if spec.reduction == "batchmean" else spec.reduction   # kld: Keras's mean is torch's batchmean
    name, kw = spec.loss, dict(reduction=REDUCTIONS[reduction], dtype=spec.dtype)
    if name in ("binary_crossentropy", "categorical_crossentropy"):
        fn = LOSSES[name](label_smoothing=spec.label_smoothing, **kw)
    elif name in ("huber", "smooth_l1"):
        fn = keras.losses.Huber(delta=spec.delta, **kw)
    else:
        fn = (LOSSES.get(name) or MORE_LOSSES[name])(**kw)
    output = tf.identity if spec.probabilities else (lambda A: A)
    if name == "sparse_categorical_crossentropy":
        return lambda A, Y: fn(tf.argmax(Y, axis=1), output(A))                  # integer labels
    if name == "smooth_l1":
        return lambda A, Y: fn(Y, A) / spec.delta
    return lambda A, Y: fn(Y, output(A))
STATE_NAMES = {"sgd": ("momentum",), "rmsprop": ("square_avg", "grad_avg", "momentum"), "adam": ("m", "v", "v_max"),
               "adamw": ("m", "v", "v_max"), "nadam": ("m", "v"), "adamax": ("m", "u"), "adagrad": ("accumulator",),
               "adadelta": ("square_avg", "acc_delta"), "lion": ("m",)}


@contextlib.contextmanager
def float_type(dtype):
    """Keras's global float type (and dtype policy) set to `dtype` while a network is built, and
    given back after: a float64 run leaves a user's later float32 Keras models float32."""
    from keras.src.backend.common import global_state   # read without fixing it (dtype_policy() would)

    floatx, policy = keras.config.floatx(), global_state.get_global_attribute("dtype_policy", None)
    keras.config.set_floatx(dtype)
    keras.config.set_dtype_policy(dtype)
    try:
        yield
    finally:
        keras.config.set_floatx(floatx)
        global_state.set_global_attribute("dtype_policy", policy)   # None again if it was unset: it follows floatx


def make_schedule(hyper):
    """keras.optimizers.schedules' own schedule for the spec's (None: constant, or plateau, which
    is a callback), in schedule steps. The spec's milestones have torch's meaning (the m-th step
    is decayed): PiecewiseConstantDecay switches after a boundary (step > b), so b = m - 1."""
    h, name = hyper, hyper.get("schedule")
    f = float if hyper["float32_casts"] else np.float64     # a Python float becomes a float32 tensor
    lr = f(h["lr"])
    if name == "exponential":
        return keras.optimizers.schedules.ExponentialDecay(lr, decay_steps=1, decay_rate=f(h["gamma"]))
    if name == "step":
        values = [f(h["lr"] * h["gamma"] ** k) for k in range(len(h["milestones"]) + 1)]
        return keras.optimizers.schedules.PiecewiseConstantDecay([m - 1 for m in h["milestones"]], values)
    if name == "cosine":
        return keras.optimizers.schedules.CosineDecay(lr, decay_steps=h["t_max"], alpha=h["eta_min"] / h["lr"]
                                                      if h["eta_min"] else 0.0)
    return None


def make_callback(hyper, optimizer):
    """The Keras callback a schedule needs (None for a per-step schedule object), its model a
    holder of the optimizer (all the callbacks read). ReduceLROnPlateau reduces when its wait
    reaches patience, torch when the bad count exceeds it, and counts its cooldown down before
    looking: the spec's (torch's) patience and cooldown are one more here."""
    h, name = hyper, hyper.get("schedule")
    if name == "plateau":
        callback = keras.callbacks.ReduceLROnPlateau(
            monitor="loss", mode="min", factor=h["gamma"], patience=h["patience"] + 1, min_delta=h["threshold"],
            cooldown=h["cooldown"] + 1 if h["cooldown"] else 0, min_lr=h["min_lr"])
    elif name is not None and h["schedule_every"] == "epoch":
        schedule = make_schedule(hyper)
        callback = keras.callbacks.LearningRateScheduler(lambda epoch, lr: float(schedule(epoch)))
    else:
        return None
    callback.set_model(types.SimpleNamespace(optimizer=optimizer))
    callback.on_train_begin()
    return callback


def make_optimizer(name, hyper):
    """keras.optimizers' own optimizer for the spec's choice. Its TF backend casts a Python-float
    hyperparameter through float32 (0.9 -> 0.8999999761581421); np.float64 scalars stay exact,
    so they are what it gets unless the spec asks for Python floats (float32_casts)."""
    per_step = hyper.get("schedule") not in (None, "plateau") and hyper.get("schedule_every") == "step"
    lr = make_schedule(hyper) if per_step else float(hyper["lr"])
    f = float if hyper["float32_casts"] else np.float64
    if hyper.get("weight_decay") and hyper.get("decay") != "decoupled" and name != "adamw":
        raise ValueError(f"Keras's {name} has no coupled weight decay")
    rules = {"weight_decay": f(hyper["weight_decay"]) if hyper.get("weight_decay") else None,
             "global_clipnorm": hyper.get("clip_norm"), "clipnorm": hyper.get("clip_norm_per_tensor"),
             "clipvalue": hyper.get("clip_value")}
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=lr, momentum=f(hyper["momentum"]), nesterov=hyper["nesterov"], **rules)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=lr, rho=f(hyper["rho"]), epsilon=f(hyper["eps"]),
                                        momentum=f(hyper.get("momentum", 0.0)), centered=hyper.get("centered", False),
                                        **rules)
    h = hyper
    betas = dict(beta_1=f(h["beta1"]), beta_2=f(h["beta2"])) if "beta1" in h and h["beta1"] is not None else {}
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=lr, **betas, epsilon=f(h["eps"]), amsgrad=h.get("amsgrad", False),
                                     **rules)
    if name == "adamw":
        return keras.optimizers.AdamW(learning_rate=lr, **betas, epsilon=f(h["eps"]), amsgrad=h.get("amsgrad", False),
                                      **dict(rules, weight_decay=f(h["weight_decay"])))
    if name == "nadam":
        return keras.optimizers.Nadam(learning_rate=lr, **betas, epsilon=f(h["eps"]), **rules)
    if name == "adamax":
        return keras.optimizers.Adamax(learning_rate=lr, **betas, epsilon=f(h["eps"]), **rules)
    if name == "adagrad":
        return keras.optimizers.Adagrad(learning_rate=lr, initial_accumulator_value=f(h["initial_accumulator"]),
                                        epsilon=f(h["eps"]), **rules)
    if name == "adadelta":
        return keras.optimizers.Adadelta(learning_rate=lr, rho=float(h["rho"]), epsilon=f(h["eps"]),   # rho * variable: exact
                                         **rules)
    if name == "lion":
        return keras.optimizers.Lion(learning_rate=lr, **betas, **rules)
    raise ValueError(f"unknown optimizer {name!r}")


def kernel_regularizer(spec):
    """Keras's own regularizer for the spec's l1/l2 (None when both are 0). Keras stores float(l)
    whatever it is given (validate_float_arg), and its TF backend casts that Python float through
    float32: l2 0.01 acts as 0.009999999776482582 even in a float64 run (keras-float32-regularizer)."""
    if spec.l1 and spec.l2:
        return keras.regularizers.L1L2(l1=spec.l1, l2=spec.l2)
    if spec.l2:
        return keras.regularizers.L2(spec.l2)
    if spec.l1:
        return keras.regularizers.L1(spec.l1)
    return None


def optimizer_slots(optimizer, name):
    """The optimizer's per-variable state lists, in the order of STATE_NAMES[name] (an empty list
    for a slot it does not keep: RMSprop's grad_avg uncentered, Adam's v_max without AMSGrad)."""
    if name == "sgd":
        return (optimizer.momentums,) if optimizer.momentum != 0 else ()
    if name == "rmsprop":
        return (optimizer._velocities, optimizer._average_gradients, optimizer._momentums)
    if name in ("adam", "adamw"):
        return (optimizer._momentums, optimizer._velocities, getattr(optimizer, "_velocity_hats", []))
    if name == "nadam":
        return (optimizer._momentums, optimizer._velocities)
    if name == "adamax":
        return (optimizer._m, optimizer._u)
    if name == "adagrad":
        return (optimizer._accumulators,)
    if name == "adadelta":
        return (optimizer._accumulated_grads, optimizer._accumulated_delta_vars)
    return (optimizer._momentums,)


class SharedMaskDropout(keras.layers.Layer):
    """Dropout with a mask given from outside, scaled as keras.layers.Dropout scales with the TF
    backend: keras/src/backend/tensorflow/random.py dropout -> tf.nn.experimental.stateless_dropout
    -> tensorflow/python/ops/nn_ops.py _dropout: scale = 1 / (1 - rate) (a Python float),
    ret = x * scale, then where(keep_mask, ret, 0) (measured bit for bit against
    keras.layers.Dropout in tests/test_layers.py). USER-WRITTEN: Keras has no dropout taking a mask."""

    def __init__(self, rate, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate

    def call(self, inputs, keep):
        scale = tf.convert_to_tensor(1 / (1 - self.rate), dtype=inputs.dtype)
        return tf.where(keep > 0, inputs * scale, tf.zeros_like(inputs))


# --- the layers: each kind's builder (called by its `keras(ctx)`, compare/engine/layers.py) ---------

@dataclass
class Context:
    """What a layer's builder gets: its place (block, input and output widths), the run's dtype
    ('float64' | 'float32'), the spec (regularization, ...), and its initial parameters {role:
    numpy array in Keras's layout} (compare/engine/convert.py; {} when the caller gave none)."""
    n_in: int
    n_out: int
    block: int
    dtype: str
    spec: object
    initial: dict = field(default_factory=dict)


class Part:
    """A layer as Keras built it: `layer` (a Keras layer or function), its variables {role:
    variable} and state {role: variable} (moving statistics). Calling it applies the layer:
    part(A, masks, training) -> output. `losses()`: its regularization terms (layer.losses)."""

    def __init__(self, layer, params=None, state=None, training=False):
        self.layer, self.params, self.state, self.training = layer, dict(params or {}), dict(state or {}), training

    def __call__(self, A, masks, training):
        return self.layer(A, training=training) if self.training else self.layer(A)

    def losses(self):
        return list(getattr(self.layer, "losses", ()))


class DropoutPart(Part):
    """SharedMaskDropout with its block's mask in training; nothing in inference (or at rate 0)."""

    def __init__(self, rate, block, dtype):
        super().__init__(SharedMaskDropout(rate, dtype=dtype))
        self.block, self.rate = block, rate

    def __call__(self, A, masks, training):
        if not training or not self.rate:
            return A
        return self.layer(A, masks[self.block])


def load(params, initial):
    """Assign the initial values {role: numpy} to the variables {role: variable} they name."""
    for role, variable in params.items():
        if role in initial:
            variable.assign(initial[role])


def dense(layer, ctx):
    """keras.layers.Dense without an activation (Z stays visible), use_bias as the layer says, the
    spec's L1/L2 as its kernel_regularizer (and bias_regularizer with spec.regularize_biases)."""
    spec = ctx.spec
    dense = keras.layers.Dense(ctx.n_out, activation=None, dtype=ctx.dtype, use_bias=layer.bias,
                               kernel_regularizer=kernel_regularizer(spec),
                               bias_regularizer=kernel_regularizer(spec) if spec.regularize_biases else None)
    dense.build((None, ctx.n_in))
    params = {"W": dense.kernel, "b": dense.bias} if layer.bias else {"W": dense.kernel}
    if set(params) <= set(ctx.initial):
        dense.set_weights([ctx.initial[role] for role in params])
    else:
        load(params, ctx.initial)
    return Part(dense, params)


def batch_norm(layer, ctx):
    """keras.layers.BatchNormalization, built, with the layer's settings in Keras's meaning
    (momentum: the old average's weight); on images (C, H, W) axis=-1 of NHWC: per channel."""
    s = layer.settings("keras")
    norm = keras.layers.BatchNormalization(axis=-1, momentum=s["momentum"], epsilon=s["eps"],
                                           dtype=ctx.dtype)
    image = isinstance(ctx.n_in, tuple)              # on images: per channel, the last axis of NHWC
    norm.build((None, ctx.n_in[1], ctx.n_in[2], ctx.n_in[0]) if image else (None, ctx.n_in))
    params = {"gamma": norm.gamma, "beta": norm.beta}
    load(params, ctx.initial)
    return Part(norm, params, state={"mean": norm.moving_mean, "var": norm.moving_variance}, training=True)


def layer_norm(layer, ctx):
    """keras.layers.LayerNormalization over the units, with the layer's epsilon (Keras's 1e-3 unset)."""
    norm = keras.layers.LayerNormalization(epsilon=layer.settings("keras")["eps"], dtype=ctx.dtype)
    norm.build((None, ctx.n_in))
    params = {"gamma": norm.gamma, "beta": norm.beta}
    load(params, ctx.initial)
    return Part(norm, params, training=True)


class Chain:
    """Keras layers applied one after another (ZeroPadding2D, then Conv2D); losses: their terms."""

    def __init__(self, *layers):
        self.layers = layers

    def __call__(self, A):
        for layer in self.layers:
            A = layer(A)
        return A

    @property
    def losses(self):
        return [term for layer in self.layers for term in layer.losses]


def conv2d(layer, ctx):
    """keras.layers.Conv2D (channels-last: images (m, H, W, C), kernel (kh, kw, C, F)) from the
    harness's W and b; padding 'same' as Keras's own, other padding by ZeroPadding2D before a
    'valid' Conv2D; the spec's L1/L2 as its kernel_regularizer, as for Dense."""
    spec = ctx.spec
    kernel, strides, dilation, (top, bottom, left, right) = layer.geometry(ctx.n_in)
    C, H, W = ctx.n_in
    same = layer.padding == "same"
    conv = keras.layers.Conv2D(layer.filters, kernel, strides=strides, padding="same" if same else "valid",
                               dilation_rate=dilation, use_bias=layer.bias, dtype=ctx.dtype,
                               kernel_regularizer=kernel_regularizer(spec),
                               bias_regularizer=kernel_regularizer(spec) if spec.regularize_biases else None)
    padded = same or not (top or bottom or left or right)
    conv.build((None, H, W, C) if padded else (None, H + top + bottom, W + left + right, C))
    params = {"W": conv.kernel, "b": conv.bias} if layer.bias else {"W": conv.kernel}
    load(params, ctx.initial)
    if padded:
        return Part(conv, params)
    return Part(Chain(keras.layers.ZeroPadding2D(((top, bottom), (left, right)), dtype=ctx.dtype), conv), params)


def pool2d(layer, ctx):
    """keras.layers.MaxPooling2D / AveragePooling2D with the layer's window and strides: 'valid'
    unpadded; 'same' where the padding is TensorFlow's 'same' and Keras's rule fits (a max, or an
    average of the real cells: tf.nn.avg_pool 'SAME' divides by them, keras/src/backend/tensorflow/
    nn.py average_pool); else padded by hand before a 'valid' pooling: -inf before a max, zeros
    (ZeroPadding2D) before an average that counts them, and an average of the real cells as the
    padded windows' mean over the mean of padded ones. (ceil_mode: only where it adds no window.)"""
    kernel, strides, (top, bottom, left, right) = layer.geometry(ctx.n_in)
    maxpool = layer.kind == "max_pool2d"
    kind = keras.layers.MaxPooling2D if maxpool else keras.layers.AveragePooling2D
    valid = kind(kernel, strides, padding="valid", dtype=ctx.dtype)
    if not (top or bottom or left or right):
        return Part(valid)
    tf_same_padding = (top, bottom, left, right) == same_pads(ctx.n_in, kernel, strides)
    if tf_same_padding and (maxpool or not layer.counts_padding()):
        return Part(kind(kernel, strides, padding="same", dtype=ctx.dtype))
    pads = [[0, 0], [top, bottom], [left, right], [0, 0]]
    if maxpool:                          # USER-WRITTEN: Keras pads with zeros only (ZeroPadding2D)
        return Part(lambda A: valid(keras.ops.pad(A, pads, constant_values=-np.inf)))
    if layer.counts_padding():
        zeros = keras.layers.ZeroPadding2D(((top, bottom), (left, right)), dtype=ctx.dtype)
        return Part(Chain(zeros, valid))
    # USER-WRITTEN: the real cells' mean (count_include_pad=False), padding other than TF's 'same'
    return Part(lambda A: valid(keras.ops.pad(A, pads)) / valid(keras.ops.pad(keras.ops.ones_like(A),
                                                                            pads)))


def same_pads(shape, kernel, strides):
    """TensorFlow's 'same' padding (top, bottom, left, right) of a pooling over images `shape`."""
    rows = tf_same(shape[1], kernel[0], strides[0])
    cols = tf_same(shape[2], kernel[1], strides[1])
    return (*rows, *cols)


def tf_same(size, k, stride):
    """TensorFlow's 'same' padding of one axis -> (before, after), the odd one after."""
    total = max((-(-size // stride) - 1) * stride + k - size, 0)
    return total // 2, total - total // 2


def global_avg_pool2d(layer, ctx):
    """keras.layers.GlobalAveragePooling2D: (m, H, W, C) -> (m, C), each channel's mean."""
    return Part(keras.layers.GlobalAveragePooling2D(dtype=ctx.dtype))


def flatten(layer, ctx):
    """keras.layers.Flatten: (m, H, W, C) -> (m, H W C), channels-last (convert.py orders the next
    Dense's kernel rows to match)."""
    return Part(keras.layers.Flatten(dtype=ctx.dtype))


def activation(layer, ctx):
    """Keras's activation function (leaky_relu with the layer's slope when it gives one)."""
    return Part(make_activation(layer.name, layer))


def dropout(layer, ctx):
    return DropoutPart(float(layer.rate), ctx.block, ctx.dtype)


class KerasMLP:
    """The network of a spec (its layer list, `spec.network`), starting from `params`: either
    {name: numpy array in Keras's layout} for every parameter ('W1' a kernel (in, out), 'b1',
    'gamma1', ...: from compare.convert.framework_initial), or [(kernel (in, out), bias (out,)),
    ...] for the Dense layers alone (compare.convert.to_keras; the other layers then start from
    Keras's own init)."""

    def __init__(self, spec, params, compiled=True):
        with float_type(spec.dtype):
            self.build(spec, params, compiled)

    def build(self, spec, params, compiled):
        self.dtype, self.optimizer_name = spec.dtype, spec.optimizer
        self.converted = {}                   # id -> (array, tensor): see tensor()
        initial = params if isinstance(params, dict) else {
            name: value for l, (kernel, bias) in enumerate(params, start=1) for name, value in ((f"W{l}", kernel), (f"b{l}", bias))}
        self.placed = spec.network.placed
        self.L = self.placed[-1].block
        self.parts, self.params, self.trainable = [], {}, {}
        for p in self.placed:
            given = {role: initial[p.name(role)] for role in p.layer.params(p.n_in) if p.name(role) in initial}
            part = p.layer.keras(Context(p.n_in, p.n_out, p.block, spec.dtype, spec, given))
            frozen = getattr(p.layer, "frozen", ())
            for role, variable in part.params.items():
                self.params[p.name(role)] = variable
                if role in frozen:
                    variable.trainable = False            # this variable alone: the layer stays trainable
                else:
                    self.trainable[p.name(role)] = variable
            self.parts.append(part)
        self.dropouts = [p for p, part in zip(self.placed, self.parts) if isinstance(part, DropoutPart) and part.rate]
        self.masks = ()                                                       # this step's, in layer order
        self.loss_fn = make_loss(spec)
        self.optimizer = make_optimizer(spec.optimizer, spec.hyper("keras"))
        self.optimizer.build(list(self.trainable.values()))
        self.callback, self.schedule_every = make_callback(spec.hyper("keras"), self.optimizer), spec.schedule_every
        self.schedule = spec.schedule
        self.epoch = 0
        self.begin_epoch()
        # tf.function traces forward, tape and update into one graph (about 20x faster per step
        # than eager here); every intermediate is still returned. Batch size may vary.
        image = spec.network.input_shape                          # (C, H, W): Keras takes (m, H, W, C)
        inputs = [None, image[1], image[2], image[0]] if image else [None, spec.sizes[0]]
        signature = [tf.TensorSpec(inputs, spec.dtype), tf.TensorSpec([None, spec.sizes[-1]], spec.dtype)]
        masks = [[None, p.n_in] if isinstance(p.n_in, int) else [None] * 4 for p in self.dropouts]
        signature += [tf.TensorSpec(shape, spec.dtype) for shape in masks]   # the dropout masks:
        # rows, or on images 4-D (compare/engine/convert.py mask_to_framework)
        self.traced_step = tf.function(self.step_and_state, input_signature=signature) if compiled else self.step_and_state
        if compiled:                          # traced now, not at the first step (the same graph): in the
            self.traced_step.get_concrete_function()   # harness's worker process, while torch builds
        self.after = None                     # the variables after the last step, read inside it (record)

    def tensor(self, array):
        """numpy -> tf tensor. The same arrays step after step (full-batch training: X and Y; the
        test set evaluated after every epoch) are converted once: a full MNIST batch is 376 MB."""
        key = id(array)
        if key not in self.converted or self.converted[key][0] is not array:
            if len(self.converted) >= 4:
                self.converted.clear()
            self.converted[key] = (array, tf.convert_to_tensor(array, dtype=self.dtype))
        return self.converted[key][1]

    def forward(self, X, masks=(), training=True):
        """X (m, n_0) -> cache {'A0': X, 'Z1': .., ('N1': ..), 'A1': .., ..., 'ZL': .., 'AL': ..}: each
        layer's output under its role and block (A_l: the block's activation's or dropout's,
        whichever comes last). masks: the dropout masks (m, n_l) in layer order, in training."""
        cache = {"A0": X}
        out = X
        keep = {p.block: mask for p, mask in zip(self.dropouts, masks)}
        for placed, part in zip(self.placed, self.parts):
            out = part(out, keep, training)                                   # the layer's Keras layer
            if placed.layer.role:                                             # a Flatten: no tensor of its own
                cache[placed.name(placed.layer.role)] = out
        return cache

    def loss(self, cache, Y):
        """The loss of the batch, a 0-d tensor, from Keras's own loss object (it reads A_L), plus the
        layers' regularization losses (layer.losses: the kernel_regularizers' terms), as fit adds them."""
        loss = self.loss_fn(cache[f"A{self.L}"], Y)
        penalties = [term for part in self.parts for term in part.losses()]
        if penalties:
            loss = loss + tf.add_n(penalties)
        return loss

    def backward(self, tape, cache, loss):
        """The tape -> grads {'dZl': (m, n_l), 'dWl': (n_{l-1}, n_l), 'dbl': (n_l,), 'dNl', ...}: each
        layer's gradient roles, of its output and of its trainable variables (a frozen one has none)."""
        wrt = {}
        for placed, part in reversed(list(zip(self.placed, self.parts))):
            for g in placed.layer.grads:
                role = g[1:]
                if role == placed.layer.role:                                 # dZ_l, dN_l
                    wrt[placed.name(g)] = cache[placed.name(role)]
                elif placed.name(role) in self.trainable:                     # dW_l, db_l, dgamma_l, ...
                    wrt[placed.name(g)] = self.trainable[placed.name(role)]
        grads = tape.gradient(loss, wrt)                                      # the same keys, gradients
        return {name: g for name, g in grads.items() if g is not None}

    def step(self, grads, loss=None):
        """keras.optimizers' update (a schedule object is read inside it, at optimizer.iterations)."""
        self.optimizer.apply_gradients([(grads["d" + name], p) for name, p in self.trainable.items()])

    def begin_epoch(self):
        """fit's on_epoch_begin: LearningRateScheduler sets the epoch's learning rate."""
        if isinstance(self.callback, keras.callbacks.LearningRateScheduler):
            with float_type(self.dtype):
                self.callback.on_epoch_begin(self.epoch)

    def end_step(self, loss):
        """After a step: ReduceLROnPlateau watching every step's loss (as if each were an epoch)."""
        if isinstance(self.callback, keras.callbacks.ReduceLROnPlateau) and self.schedule_every == "step":
            with float_type(self.dtype):
                self.callback.on_epoch_end(int(self.optimizer.iterations.numpy()) - 1, {"loss": float(loss)})

    def end_epoch(self, mean_loss):
        """fit's on_epoch_end (ReduceLROnPlateau every epoch: the epoch's mean loss), then the next
        epoch's on_epoch_begin."""
        if isinstance(self.callback, keras.callbacks.ReduceLROnPlateau) and self.schedule_every == "epoch":
            with float_type(self.dtype):
                self.callback.on_epoch_end(self.epoch, {"loss": float(mean_loss)})
        self.epoch += 1
        self.begin_epoch()

    def tensor_step(self, X, Y, *masks):
        """One step on a batch of tensors (and this step's dropout masks). -> (cache, loss, grads)"""
        with tf.GradientTape() as tape:
            cache = self.forward(X, masks)
            loss = self.loss(cache, Y)
        grads = self.backward(tape, cache, loss)
        self.step(grads, loss)
        return cache, loss, grads

    def step_and_state(self, X, Y, *masks):
        """tensor_step, then every variable the record holds read inside the same graph, after the
        update (a read is a copy: the next update writes a new buffer, not the one read). One call
        instead of a dozen eager reads, each a Python round trip (3 ms of a 5 ms MNIST step).
        -> (cache, loss, grads, {name: value after the step})"""
        cache, loss, grads = self.tensor_step(X, Y, *masks)
        variables = {**self.params, **self.optimizer_state(), **self.running_stats()}
        return cache, loss, grads, {name: tf.identity(v) for name, v in variables.items()}

    def train_step(self, X, Y):
        """One step on a batch (numpy, rows are examples). -> (cache, loss, grads)"""
        cache, loss, grads, self.after = self.traced_step(self.tensor(X), self.tensor(Y), *self.masks)
        self.end_step(loss)
        return cache, loss, grads

    def set_masks(self, masks):
        """This step's dropout masks {block: (m, n_l) numpy}, 1.0 kept, 0.0 dropped."""
        self.masks = tuple(tf.convert_to_tensor(masks[p.block], dtype=self.dtype) for p in self.dropouts)

    def predict(self, X):
        """A_L (m, n_L) for inputs X (m, n_0), as numpy, in inference mode (training=False: no
        dropout, batch norm's moving statistics)."""
        return self.forward(self.tensor(X), training=False)[f"A{self.L}"].numpy()

    def running_stats(self):
        """{'mean1': moving_mean, 'var1': moving_variance, ...}: every layer's state
        (BatchNormalization's moving statistics, the biased variance)."""
        return {p.name(role): v for p, part in zip(self.placed, self.parts) for role, v in part.state.items()}

    def optimizer_state(self):
        """{'<param>.<state>': variable}, state named as in scratch (momentum, square_avg, m, v)."""
        state = {}
        for slots, key in zip(optimizer_slots(self.optimizer, self.optimizer_name), STATE_NAMES[self.optimizer_name]):
            if not slots:
                continue
            for name, p in self.trainable.items():
                state[f"{name}.{key}"] = slots[self.optimizer._get_variable_index(p)]
        return state

    def load_state(self, tensors):
        """Overwrite parameters and optimizer state: {'W1': kernel, 'W1.m': momentum, ...} in Keras's
        layout (numpy). The harness uses it to restart each float32 step from scratch's state."""
        state, stats = self.optimizer_state(), self.running_stats()
        for name, value in tensors.items():
            target = state.get(name) if "." in name else stats[name] if name in stats else self.params[name]
            if target is not None:
                target.assign(value)

    def record(self, cache, loss, grads):
        """Everything the harness compares after a step, as numpy in Keras's layout. The step's
        outputs are viewed without a copy (nothing writes to them again); variables are copied,
        since the next step updates them in place."""
        out = {name: np.asarray(t) for name, t in cache.items() if name != "A0"}
        out["loss"] = np.asarray(loss)
        out.update({name: np.asarray(t) for name, t in grads.items()})
        if self.after is not None:                    # read inside the step (step_and_state)
            out.update({name: np.asarray(t) for name, t in self.after.items()})
        else:
            out.update({name: p.numpy() for name, p in self.params.items()})
            out.update({name: v.numpy() for name, v in self.optimizer_state().items()})
            out.update({name: v.numpy() for name, v in self.running_stats().items()})
        if self.schedule is not None:
            out["lr"] = np.asarray(self.optimizer.learning_rate)     # a schedule's, at the next step's iterations
        return out
