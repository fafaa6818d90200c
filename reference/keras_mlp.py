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

Left out: model.fit (its step boundaries and shuffling are its own), callbacks, metrics objects.
"""
import contextlib
import os

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
REDUCTIONS = {"mean": "sum_over_batch_size", "sum": "sum"}
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


def make_optimizer(name, hyper):
    """keras.optimizers' own optimizer for the spec's choice. Its TF backend casts a Python-float
    hyperparameter through float32 (0.9 -> 0.8999999761581421); np.float64 scalars stay exact,
    so they are what it gets unless the spec asks for Python floats (float32_casts)."""
    lr = float(hyper["lr"])
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


class KerasMLP:
    """The network of a spec, starting from `params` = [(kernel (in, out), bias (out,)), ...]
    (numpy, from compare.convert.to_keras)."""

    def __init__(self, spec, params, compiled=True):
        with float_type(spec.dtype):
            self.build(spec, params, compiled)

    def build(self, spec, params, compiled):
        self.L, self.dtype, self.optimizer_name = len(params), spec.dtype, spec.optimizer
        self.converted = {}                   # id -> (array, tensor): see tensor()
        self.layers = [None]                                                  # layers[l] for layer l
        for kernel, bias in params:
            n_in, n_out = kernel.shape
            layer = keras.layers.Dense(n_out, activation=None, dtype=spec.dtype,
                                       kernel_regularizer=kernel_regularizer(spec),
                                       bias_regularizer=kernel_regularizer(spec) if spec.regularize_biases else None)
            layer.build((None, n_in))
            layer.set_weights([kernel, bias])
            self.layers.append(layer)
        self.g = [None] + [keras.activations.get(name) for name in spec.activations]
        self.loss_fn = LOSSES[spec.loss](reduction=REDUCTIONS[spec.reduction], dtype=spec.dtype)
        self.params = {}
        for l in range(1, self.L + 1):
            self.params[f"W{l}"], self.params[f"b{l}"] = self.layers[l].kernel, self.layers[l].bias
        self.optimizer = make_optimizer(spec.optimizer, spec.hyper("keras"))
        self.optimizer.build(list(self.params.values()))
        # tf.function traces forward, tape and update into one graph (about 20x faster per step
        # than eager here); every intermediate is still returned. Batch size may vary.
        signature = [tf.TensorSpec([None, spec.sizes[0]], spec.dtype), tf.TensorSpec([None, spec.sizes[-1]], spec.dtype)]
        self.traced_step = tf.function(self.tensor_step, input_signature=signature) if compiled else self.tensor_step

    def tensor(self, array):
        """numpy -> tf tensor. The same arrays step after step (full-batch training: X and Y; the
        test set evaluated after every epoch) are converted once: a full MNIST batch is 376 MB."""
        key = id(array)
        if key not in self.converted or self.converted[key][0] is not array:
            if len(self.converted) >= 4:
                self.converted.clear()
            self.converted[key] = (array, tf.convert_to_tensor(array, dtype=self.dtype))
        return self.converted[key][1]

    def forward(self, X):
        """X (m, n_0) -> cache {'A0': X, 'Z1': .., 'A1': .., ..., 'ZL': .., 'AL': ..}"""
        cache = {"A0": X}
        A = X
        for l in range(1, self.L + 1):
            Z = self.layers[l](A)                                             # Z = A K + b  (m, n_l)
            A = self.g[l](Z)
            cache[f"Z{l}"], cache[f"A{l}"] = Z, A
        return cache

    def loss(self, cache, Y):
        """The loss of the batch, a 0-d tensor, from Keras's own loss object (it reads A_L), plus the
        layers' regularization losses (layer.losses: the kernel_regularizers' terms), as fit adds them."""
        loss = self.loss_fn(Y, cache[f"A{self.L}"])
        penalties = [term for l in range(1, self.L + 1) for term in self.layers[l].losses]
        if penalties:
            loss = loss + tf.add_n(penalties)
        return loss

    def backward(self, tape, cache, loss):
        """The tape -> grads {'dZl': (m, n_l), 'dWl': (n_{l-1}, n_l), 'dbl': (n_l,)}"""
        wrt = {}
        for l in range(self.L, 0, -1):
            wrt[f"dZ{l}"] = cache[f"Z{l}"]                                   # d loss / d Z_l, and so on
            wrt[f"dW{l}"] = self.layers[l].kernel
            wrt[f"db{l}"] = self.layers[l].bias
        grads = tape.gradient(loss, wrt)                                      # the same keys, gradients
        return grads

    def step(self, grads):
        """keras.optimizers' update."""
        self.optimizer.apply_gradients([(grads["d" + name], p) for name, p in self.params.items()])

    def tensor_step(self, X, Y):
        """One step on a batch of tensors. -> (cache, loss, grads)"""
        with tf.GradientTape() as tape:
            cache = self.forward(X)
            loss = self.loss(cache, Y)
        grads = self.backward(tape, cache, loss)
        self.step(grads)
        return cache, loss, grads

    def train_step(self, X, Y):
        """One step on a batch (numpy, rows are examples). -> (cache, loss, grads)"""
        return self.traced_step(self.tensor(X), self.tensor(Y))

    def predict(self, X):
        """A_L (m, n_L) for inputs X (m, n_0), as numpy."""
        return self.forward(self.tensor(X))[f"A{self.L}"].numpy()

    def optimizer_state(self):
        """{'<param>.<state>': variable}, state named as in scratch (momentum, square_avg, m, v)."""
        state = {}
        for slots, key in zip(optimizer_slots(self.optimizer, self.optimizer_name), STATE_NAMES[self.optimizer_name]):
            if not slots:
                continue
            for name, p in self.params.items():
                state[f"{name}.{key}"] = slots[self.optimizer._get_variable_index(p)]
        return state

    def load_state(self, tensors):
        """Overwrite parameters and optimizer state: {'W1': kernel, 'W1.m': momentum, ...} in Keras's
        layout (numpy). The harness uses it to restart each float32 step from scratch's state."""
        state = self.optimizer_state()
        for name, value in tensors.items():
            target = state.get(name) if "." in name else self.params[name]
            if target is not None:
                target.assign(value)

    def record(self, cache, loss, grads):
        """Everything the harness compares after a step, as numpy in Keras's layout. The step's
        outputs are viewed without a copy (nothing writes to them again); variables are copied,
        since the next step updates them in place."""
        out = {name: np.asarray(t) for name, t in cache.items() if name != "A0"}
        out["loss"] = np.asarray(loss)
        out.update({name: np.asarray(t) for name, t in grads.items()})
        out.update({name: p.numpy() for name, p in self.params.items()})
        out.update({name: v.numpy() for name, v in self.optimizer_state().items()})
        return out
