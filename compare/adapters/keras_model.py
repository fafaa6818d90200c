"""Your own Keras model, optimizer and loss, checked in lockstep without editing them.

    kerasnet = compare.keras_model(model, optimizer, loss)      # or model.compile(...) first, then
    kerasnet = compare.keras_model(model)                       # model.optimizer and model.loss are read

model      a keras.Sequential or a functional chain of Dense layers (activation= inside Dense, or
           separate Activation layers); it must be built (an Input, or called once)
optimizer  keras.optimizers.SGD (momentum, nesterov), RMSprop or Adam
loss       keras.losses.CategoricalCrossentropy, BinaryCrossentropy (from_logits either way) or
           MeanSquaredError, reduction 'sum_over_batch_size' (mean) or 'sum'; or their names as strings

What the adapter reads: sizes (Dense units), activations (a from_logits loss after a linear last
Dense is our softmax / sigmoid fused with the cross-entropy), loss and reduction, and the optimizer's
settings from get_config(). Keras rounds a Python-float hyperparameter through float32 even in a
float64 run (SGD momentum, Adam's betas: scratch/optimizers.py); user code always hands it Python
floats, so the settings set keras_float32_casts=True and scratch@keras rounds the same way.

Your objects are never modified, and they cannot run float64 as they are: their variables were
created float32. Each build therefore makes float64 twins from your objects' own classes and
configs: every Dense is `type(layer).from_config(config with dtype float64 and no activation)`, so
calling it gives Z_l, and A_l is your layer's own Keras activation function (layer.activation,
or the Activation layer's) applied to Z_l. The optimizer is `type(optimizer).from_config(config)`
built after keras.config.set_floatx(dtype): its learning-rate variable is created float32 in your
code, so get_config() reports 0.01 as 0.009999999776482582; the adapter takes the shortest decimal
that rounds to that float32 (0.01), the number you wrote. The loss is made the same way, from your
loss's class and config with the run's dtype (a Keras loss casts its inputs to the dtype it was
made with: float32 in your code). The tape gives dZ, dW, db;
your optimizer's class applies the update (apply_gradients).

Left out: SparseCategoricalCrossentropy (give one-hot labels and CategoricalCrossentropy), layers
other than Dense and Activation, regularizers and constraints, weight decay, clipping, EMA,
learning-rate schedules, centered or momentum RMSprop, amsgrad.
"""
import inspect

from reference import keras_mlp  # noqa: F401 - sets TensorFlow's environment before it is imported
from reference.keras_mlp import LOSSES, REDUCTIONS, STATE_NAMES, float_type, make_optimizer, optimizer_slots

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from ..engine import convert  # noqa: E402
from ..engine.errors import InputError  # noqa: E402
from .base import UserImplementation  # noqa: E402

ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh", "softplus", "softmax")
LOSS_NAMES = {keras.losses.MeanSquaredError: "mse", keras.losses.BinaryCrossentropy: "binary_crossentropy",
              keras.losses.CategoricalCrossentropy: "categorical_crossentropy"}
LOSS_STRINGS = {"mse": "mse", "mean_squared_error": "mse", "binary_crossentropy": "binary_crossentropy",
                "categorical_crossentropy": "categorical_crossentropy"}
FUSED = {"binary_crossentropy": "sigmoid", "categorical_crossentropy": "softmax"}
OPTIMIZERS = {keras.optimizers.SGD: "sgd", keras.optimizers.RMSprop: "rmsprop", keras.optimizers.Adam: "adam"}
REDUCTION_NAMES = {v: k for k, v in REDUCTIONS.items()}


def activation_name(function, where):
    name = getattr(function, "__name__", None)
    if name not in ACTIVATIONS or keras.activations.get(name) is not function:
        raise InputError(f"{where}: activation {name or function!r} cannot be mirrored: use one of {', '.join(ACTIVATIONS)}")
    return name


def chain(model):
    """The model's layers in the order they run, InputLayer left out. A functional model must be a
    chain: each layer reads the one before. Raises InputError naming the layer."""
    if not isinstance(model, keras.Model):
        raise InputError(f"keras_model needs a keras.Model (Sequential or functional), got {type(model).__name__}")
    if not model.built:
        raise InputError("the model is not built: give it an input shape (keras.Input(shape=(n,))) or call it once")
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    if not isinstance(model, keras.Sequential):
        try:
            model.inputs, model.outputs
        except AttributeError:                        # a subclass with its own call(): no graph to read
            raise InputError(f"{type(model).__name__} is a subclassed keras.Model (its own call method): the adapter "
                             f"reads a chain of layers: build it with keras.Sequential or the functional API") from None
        if len(model.inputs) != 1 or len(model.outputs) != 1:
            raise InputError("the model has several inputs or outputs: a chain of Dense layers is mirrored")
        previous = model.inputs[0]
        for layer in layers:
            if len(layer._inbound_nodes) != 1 or layer.input is not previous:
                raise InputError(f"layer {layer.name!r} ({type(layer).__name__}) does not read the layer before it: "
                                 f"a chain of Dense layers is mirrored")
            previous = layer.output
    return layers


def read_layers(model):
    """-> (dense [(Dense, its activation function or None)], activations [names], sizes)"""
    dense, activations = [], []
    for layer in chain(model):
        where = f"layer {layer.name!r} ({type(layer).__name__})"
        if type(layer) is keras.layers.Dense:
            if not layer.use_bias:
                raise InputError(f"{where} has no bias: the harness compares b, give it use_bias=True")
            extras = [n for n in ("kernel_regularizer", "bias_regularizer", "activity_regularizer",
                                  "kernel_constraint", "bias_constraint") if getattr(layer, n, None) is not None]
            if extras or getattr(layer, "lora_rank", None):
                raise InputError(f"{where} has {', '.join(extras) or 'LoRA'}: not mirrored")
            name = activation_name(layer.activation, where)
            dense.append([layer, None if name == "linear" else layer.activation])
            activations.append(name)
        elif type(layer) is keras.layers.Activation:
            if not dense:
                raise InputError(f"{where} comes before the first Dense layer")
            name = activation_name(layer.activation, where)
            if name == "linear":
                continue
            if activations[-1] != "linear":
                raise InputError(f"{where} is a second activation after {dense[-1][0].name!r}: one per Dense is mirrored")
            dense[-1][1], activations[-1] = layer.activation, name
        else:
            raise InputError(f"{where} cannot be mirrored: the adapter takes Dense and Activation layers")
    if not dense:
        raise InputError("the model has no Dense layer")
    sizes = [int(dense[0][0].kernel.shape[0])] + [int(layer.units) for layer, _ in dense]
    return [tuple(d) for d in dense], activations, sizes


def as_loss(loss):
    """A loss object, a name, or None -> (loss object or None, Spec fields, from_logits)."""
    if loss is None:
        return None, {}, False
    if isinstance(loss, str):
        if loss not in LOSS_STRINGS:
            raise InputError(f"loss {loss!r} is not mirrored: use {', '.join(LOSS_STRINGS)}")
        loss = LOSSES[LOSS_STRINGS[loss]]()
    name = LOSS_NAMES.get(type(loss))
    if name is None:
        hint = (": give one-hot labels and CategoricalCrossentropy" if isinstance(loss, keras.losses.SparseCategoricalCrossentropy)
                else ": use CategoricalCrossentropy, BinaryCrossentropy or MeanSquaredError")
        raise InputError(f"loss {type(loss).__name__} is not mirrored{hint}")
    config = loss.get_config()
    if config.get("reduction") not in REDUCTION_NAMES:
        raise InputError(f"{type(loss).__name__}(reduction={config.get('reduction')!r}): use 'sum_over_batch_size' or 'sum'")
    if config.get("label_smoothing"):
        raise InputError(f"{type(loss).__name__}(label_smoothing={config['label_smoothing']}) is not mirrored")
    if config.get("axis", -1) != -1:
        raise InputError(f"{type(loss).__name__}(axis={config['axis']}): the units are axis -1")
    return loss, {"loss": name, "reduction": REDUCTION_NAMES[config["reduction"]]}, bool(config.get("from_logits"))


def written(value):
    """The number the user wrote, from its float32 rounding: 0.009999999776482582 -> 0.01."""
    return float(str(np.float32(value)))


def read_optimizer(optimizer):
    """-> (Spec fields, config to rebuild it with) for the user's optimizer."""
    if optimizer is None:
        return {}, None
    if isinstance(optimizer, str):
        raise InputError(f"optimizer {optimizer!r} given by name: give the keras.optimizers object, or compile the model")
    name = OPTIMIZERS.get(type(optimizer))
    if name is None:
        raise InputError(f"optimizer {type(optimizer).__name__} is not mirrored: use keras.optimizers.SGD, RMSprop or Adam")
    config = optimizer.get_config()
    if not isinstance(config["learning_rate"], (int, float)):
        raise InputError("a learning-rate schedule is not mirrored: give a constant learning_rate")
    for key in ("weight_decay", "clipnorm", "clipvalue", "global_clipnorm", "loss_scale_factor"):
        if config.get(key) is not None:
            raise InputError(f"{type(optimizer).__name__}({key}={config[key]}) is not mirrored")
    for key in ("use_ema", "centered", "amsgrad"):
        if config.get(key):
            raise InputError(f"{type(optimizer).__name__}({key}=True) is not mirrored")
    if config.get("gradient_accumulation_steps"):
        raise InputError(f"{type(optimizer).__name__}(gradient_accumulation_steps=...) is not mirrored")
    if name == "rmsprop" and config["momentum"]:
        raise InputError(f"RMSprop(momentum={config['momentum']}) is not mirrored")
    config = dict(config, learning_rate=written(config["learning_rate"]))
    fields = {"optimizer": name, "lr": config["learning_rate"], "keras_float32_casts": True}
    if name == "sgd":
        fields.update(momentum=float(config["momentum"]), nesterov=bool(config["nesterov"]))
    else:
        fields.update(momentum=0.0, nesterov=False, eps=float(config["epsilon"]))
    if name == "rmsprop":
        fields["rho"] = float(config["rho"])
    if name == "adam":
        fields.update(beta1=float(config["beta_1"]), beta2=float(config["beta_2"]))
    return fields, config


REPLACEABLE = {"model": ("call", "train_step", "compute_loss"), "layer": ("call",),
               "optimizer": ("apply_gradients", "apply", "update_step", "minimize"), "loss": ("call",)}


def unmirrored(model, optimizer, loss):
    """Why the float64 twins (built from classes and configs) would not train as the user's objects
    do, or None. A method set on an object (`model.call = ...`, `optimizer.apply_gradients = ...`)
    is in no config, and a frozen layer (trainable=False) would still be trained by the twins' tape:
    each once passed, judged on code the user's training does not run."""
    layers = chain(model)
    if not model.trainable:
        return "the model is frozen (model.trainable = False): the twins train every Dense layer: not mirrored"
    for layer in layers:
        if not layer.trainable:
            return (f"layer {layer.name!r} ({type(layer).__name__}) is frozen (trainable=False): the twins train every "
                    f"Dense layer: not mirrored")
    for what, obj in (("model", model), *(("layer", layer) for layer in layers), ("optimizer", optimizer),
                      ("loss", loss)):
        mine = vars(obj) if obj is not None and hasattr(obj, "__dict__") else {}
        for method in REPLACEABLE[what]:
            if callable(mine.get(method)):
                named = f"layer {obj.name!r}" if what == "layer" else f"{what} ({type(obj).__name__})"
                return (f"your {named} has its {method} replaced on the object ({method} = ...): the check builds "
                        f"float64 twins from the classes and configs, which would not run it: declare the objects as "
                        f"Keras gives them")
    return None


class KerasModel(UserImplementation):
    convention = "keras"

    def __init__(self, model, optimizer, loss, name, origin):
        optimizer = optimizer if optimizer is not None else getattr(model, "optimizer", None)
        loss = loss if loss is not None else getattr(model, "loss", None)
        self.model, self.name, self.origin = model, name, origin
        self.loss, self.loss_fields, self.from_logits = as_loss(loss)
        self.dense, self.activations, self.sizes = read_layers(model)
        problem = unmirrored(model, optimizer, loss)
        if problem:
            raise InputError(problem)
        if self.from_logits:
            fused = FUSED[self.loss_fields["loss"]]
            if self.activations[-1] != "linear":
                raise InputError(f"layer {self.dense[-1][0].name!r} applies {self.activations[-1]}, but the loss has "
                                 f"from_logits=True (it applies {fused} itself): the output would go through it twice")
            self.activations[-1] = fused
        self.optimizer_class = type(optimizer) if optimizer is not None else None
        self.settings, self.optimizer_config = read_optimizer(optimizer)
        self.vocabulary = {f"{kind}{l}": f"{layer.name}.{'kernel' if kind == 'W' else 'bias'}"
                           for l, (layer, _) in enumerate(self.dense, start=1) for kind in ("W", "b")}

    def network(self):
        return {"sizes": list(self.sizes), "activations": list(self.activations), **self.loss_fields, **self.settings}

    def build(self, spec, params, convention):
        return KerasRun(self, spec, params)


class KerasRun:
    """One run of float64 (or float32) twins of the user's objects. step(X, Y) -> record in the scratch layout."""

    def __init__(self, user, spec, params):
        with float_type(spec.dtype):
            self.build(user, spec, params)

    def build(self, user, spec, params):
        if list(spec.sizes) != user.sizes or list(spec.activations) != user.activations:
            raise InputError(f"{user.name} is {user.sizes} {user.activations}, the spec asks for "
                             f"{list(spec.sizes)} {list(spec.activations)}")
        if user.loss is not None and (user.loss_fields["loss"], user.loss_fields["reduction"]) != (spec.loss, spec.reduction):
            raise InputError(f"{user.name}'s loss is {user.loss_fields}, the spec asks for {spec.loss} ({spec.reduction})")
        self.spec, self.dtype, self.from_logits = spec, spec.dtype, user.from_logits
        self.layers, self.g = [], []
        for (layer, activation), (kernel, bias) in zip(user.dense, convert.to_keras(params)):
            twin = type(layer).from_config({**layer.get_config(), "dtype": spec.dtype, "activation": None})
            twin.build((None, kernel.shape[0]))
            twin.set_weights([kernel, bias])
            self.layers.append(twin)
            self.g.append(activation)                                  # the user's own Keras function, or None
        if user.from_logits:
            self.g[-1] = keras.activations.get(user.activations[-1])   # A_L for the record only
        if user.loss is not None:                                      # its dtype was fixed when it was made
            self.loss_fn = type(user.loss).from_config({**user.loss.get_config(), "dtype": spec.dtype})
        else:
            self.loss_fn = LOSSES[spec.loss](reduction=REDUCTIONS[spec.reduction], dtype=spec.dtype)
        self.params = {}
        for l, layer in enumerate(self.layers, start=1):
            self.params[f"W{l}"], self.params[f"b{l}"] = layer.kernel, layer.bias
        if user.optimizer_class is not None:
            self.optimizer = user.optimizer_class.from_config(dict(user.optimizer_config))
        else:
            self.optimizer = make_optimizer(spec.optimizer, spec.hyper("keras"))
        self.optimizer_name = spec.optimizer
        self.optimizer.build(list(self.params.values()))
        signature = [tf.TensorSpec([None, spec.sizes[0]], spec.dtype), tf.TensorSpec([None, spec.sizes[-1]], spec.dtype)]
        self.traced_step = tf.function(self.tensor_step, input_signature=signature)

    def forward(self, X):
        cache, A = {}, X
        for l, (layer, g) in enumerate(zip(self.layers, self.g), start=1):
            Z = layer(A)                                               # the user's Dense without its activation
            A = g(Z) if g is not None else Z                           # the user's activation function
            cache[f"Z{l}"], cache[f"A{l}"] = Z, A
        return cache

    def tensor_step(self, X, Y):
        L = len(self.layers)
        with tf.GradientTape() as tape:
            cache = self.forward(X)
            loss = self.loss_fn(Y, cache[f"Z{L}" if self.from_logits else f"A{L}"])
        wrt = {}
        for l, layer in enumerate(self.layers, start=1):
            wrt[f"dZ{l}"], wrt[f"dW{l}"], wrt[f"db{l}"] = cache[f"Z{l}"], layer.kernel, layer.bias
        grads = tape.gradient(loss, wrt)
        self.optimizer.apply_gradients([(grads["d" + name], p) for name, p in self.params.items()])
        return cache, loss, grads

    def step(self, X, Y):
        cache, loss, grads = self.traced_step(tf.convert_to_tensor(X, self.dtype), tf.convert_to_tensor(Y, self.dtype))
        record = {name: np.asarray(t) for name, t in cache.items()}
        record["loss"] = np.asarray(loss)
        record.update({name: np.asarray(t) for name, t in grads.items()})
        record.update({name: p.numpy() for name, p in self.params.items()})
        for slots, key in zip(optimizer_slots(self.optimizer, self.optimizer_name), STATE_NAMES[self.optimizer_name]):
            if not slots:                                              # a slot this optimizer does not keep
                continue
            for name, p in self.params.items():
                record[f"{name}.{key}"] = slots[self.optimizer._get_variable_index(p)].numpy()
        return convert.record_to_scratch("keras", record, self.spec.sizes, X.shape[0])

    def predict(self, X):
        A = self.forward(tf.convert_to_tensor(X, self.dtype))[f"A{len(self.layers)}"]
        return convert.rows_to_batch(np.asarray(A))


def keras_model(model, optimizer=None, loss=None, *, name=None):
    """Your Keras model with your optimizer and loss -> a UserImplementation (see the module docstring)."""
    caller = inspect.currentframe().f_back
    origin = f"{caller.f_code.co_filename}:{caller.f_lineno}" if caller else None
    return KerasModel(model, optimizer, loss, name, origin)
