"""Your own Keras model, optimizer and loss, checked in lockstep without editing them.

    kerasnet = compare.keras_model(model, optimizer, loss)      # or model.compile(...) first, then
    kerasnet = compare.keras_model(model)                       # model.optimizer and model.loss are read

model      a keras.Sequential or a functional chain (each layer reads the one before) of Dense
           (bias or not, activation= any the tool mirrors), BatchNormalization, LayerNormalization
           (over the last axis, with gamma and beta), Dropout and Activation layers; and on images
           (m, H, W, C), channels_last: Conv2D (groups 1, 'valid' or 'same', activation= its
           Activation), ZeroPadding2D right before a Conv2D (folded into its padding per side),
           MaxPooling2D and AveragePooling2D ('valid' or 'same'), GlobalAveragePooling2D
           (keepdims=False), BatchNormalization (axis -1 or 3: per channel), Dropout (a mask value
           per number), SpatialDropout2D, Flatten; it must be built (an Input, or called once);
           images' (C, H, W) is read from its input (m, H, W, C)
optimizer  keras.optimizers.SGD (momentum, nesterov), RMSprop or Adam
loss       keras.losses.CategoricalCrossentropy, BinaryCrossentropy (from_logits either way) or
           MeanSquaredError, reduction 'sum_over_batch_size' (mean) or 'sum'; or their names as strings

What the adapter reads (`read_layers`): the layer list (compare/engine/layers.py) in the order the
layers run (a functional model's graph walked from its input), each setting as you wrote it
(BatchNormalization momentum 0.1 stays Keras's 0.1, `written_in='keras'`: it weights the old
average); a Dense's activation= as the Activation after it; trainable=False as the layer's `frozen`;
the loss (a from_logits loss after a linear last Dense is our softmax / sigmoid fused with the
cross-entropy) and its reduction, and the optimizer's settings from get_config(). Keras rounds a
Python-float hyperparameter through float32 even in a float64 run (SGD momentum, Adam's betas:
scratch/optimizers.py); user code always hands it Python floats, so the settings set
keras_float32_casts=True and scratch@keras rounds the same way. A layer the tool does not mirror is
one line naming it and the kinds it does; a layer used twice (shared weights) is one line naming it.

Your objects are never modified, and they cannot run float64 as they are: their variables were
created float32. Each build therefore makes float64 twins from your objects' own classes and
configs: every layer is `type(layer).from_config(config with dtype float64)` (a Dense without its
activation, so calling it gives Z_l; A_l is your layer's own Keras activation function applied to
it), built and given the run's initial values (gamma 1, beta 0, moving mean 0, moving variance 1);
a BatchNormalization twin is called with training=True in the step and False in predict; each
Dropout applies the harness's mask (set_masks) by keras.layers.Dropout's own rule (reference/
keras_mlp.py SharedMaskDropout), so a dropout network is judged on the same units dropped as
everyone's. The optimizer is `type(optimizer).from_config(config)` built after
keras.config.set_floatx(dtype): its learning-rate variable is created float32 in your code, so
get_config() reports 0.01 as 0.009999999776482582; the adapter takes the shortest decimal that
rounds to that float32 (0.01), the number you wrote. The loss is made the same way, from your
loss's class and config with the run's dtype (a Keras loss casts its inputs to the dtype it was
made with: float32 in your code). The tape gives dZ, dN, dW, db, dgamma, dbeta; your optimizer's
class applies the update (apply_gradients) to the trainable ones.

Left out: SparseCategoricalCrossentropy (give one-hot labels and CategoricalCrossentropy), layers
other than those above (the activation layers ReLU, LeakyReLU, Softmax: use Activation), a frozen
BatchNormalization (trainable=False runs it in inference mode in Keras 3), renorm, regularizers and
constraints, weight decay, clipping, EMA, learning-rate schedules, centered or momentum RMSprop,
amsgrad.
"""
import inspect

from reference import keras_mlp  # noqa: F401 - sets TensorFlow's environment before it is imported
from reference.keras_mlp import (LOSSES, REDUCTIONS, STATE_NAMES, SharedMaskDropout, float_type, make_optimizer,
                                 optimizer_slots)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from ..engine import convert  # noqa: E402
from ..engine.errors import InputError  # noqa: E402
from ..engine.image_layers import (AvgPool2D, Conv2D, Flatten, GlobalAvgPool2D,  # noqa: E402
                                   MaxPool2D, SpatialDropout2D)
from ..engine.layers import (Activation, BatchNorm, Dense, Dropout, LayerNorm,  # noqa: E402
                             Network, channels)
from .base import UserImplementation, batch_norm_notes, block_names, dense_params, initial_norm, read_network  # noqa: E402

ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh", "softplus", "softmax", "leaky_relu", "elu", "selu", "celu",
               "gelu", "silu", "softsign", "hard_sigmoid", "hard_silu", "relu6", "mish", "log_sigmoid", "hard_tanh")
DEFAULT_SLOPE = 0.2              # keras.activations.leaky_relu's negative_slope, which activation='leaky_relu' uses
LAYER_KINDS = {keras.layers.Dense: "Dense", keras.layers.BatchNormalization: "BatchNormalization",
               keras.layers.LayerNormalization: "LayerNormalization", keras.layers.Dropout: "Dropout",
               keras.layers.Activation: "Activation", keras.layers.Conv2D: "Conv2D",
               keras.layers.MaxPooling2D: "MaxPooling2D", keras.layers.AveragePooling2D: "AveragePooling2D",
               keras.layers.Flatten: "Flatten", keras.layers.ZeroPadding2D: "ZeroPadding2D",
               keras.layers.GlobalAveragePooling2D: "GlobalAveragePooling2D",
               keras.layers.SpatialDropout2D: "SpatialDropout2D"}
IMAGE_KINDS = (keras.layers.Conv2D, keras.layers.MaxPooling2D, keras.layers.AveragePooling2D,
               keras.layers.GlobalAveragePooling2D, keras.layers.SpatialDropout2D)
KINDS_WORDS = f"the adapter mirrors the layers {', '.join(LAYER_KINDS.values())}"
LOSS_NAMES = {keras.losses.MeanSquaredError: "mse", keras.losses.BinaryCrossentropy: "binary_crossentropy",
              keras.losses.CategoricalCrossentropy: "categorical_crossentropy"}
LOSS_STRINGS = {"mse": "mse", "mean_squared_error": "mse", "binary_crossentropy": "binary_crossentropy",
                "categorical_crossentropy": "categorical_crossentropy"}
FUSED = {"binary_crossentropy": "sigmoid", "categorical_crossentropy": "softmax"}
OPTIMIZERS = {keras.optimizers.SGD: "sgd", keras.optimizers.RMSprop: "rmsprop", keras.optimizers.Adam: "adam"}
REDUCTION_NAMES = {v: k for k, v in REDUCTIONS.items()}
WORDS = {"W": "kernel", "b": "bias", "gamma": "gamma", "beta": "beta", "mean": "moving_mean", "var": "moving_variance"}


def activation_name(function, where):
    name = getattr(function, "__name__", None)
    if name not in ACTIVATIONS or keras.activations.get(name) is not function:
        raise InputError(f"{where}: activation {name or function!r} cannot be mirrored: use one of {', '.join(ACTIVATIONS)}")
    return name


def chain(model):
    """The model's layers in the order they run, InputLayer left out: a Sequential's in order, a
    functional model's walked from its input, each layer reading the one before. Raises InputError
    naming the layer (one that is no chain, or that is used twice: shared weights)."""
    if not isinstance(model, keras.Model):
        raise InputError(f"keras_model needs a keras.Model (Sequential or functional), got {type(model).__name__}")
    if not model.built:
        raise InputError("the model is not built: give it an input shape (keras.Input(shape=(n,))) or call it once")
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    for layer in layers:
        uses = len(layer._inbound_nodes) if not isinstance(model, keras.Sequential) else layers.count(layer)
        if uses > 1 or isinstance(layer, keras.Model):
            what = "is a model inside the model" if isinstance(layer, keras.Model) else \
                f"is used {uses} times" + (" (shared weights)" if layer.weights else "")
            raise InputError(f"layer {layer.name!r} ({type(layer).__name__}) {what}: a chain of layers, each used "
                             f"once, is mirrored")
    if isinstance(model, keras.Sequential):
        return layers
    try:
        model.inputs, model.outputs
    except AttributeError:                        # a subclass with its own call(): no graph to read
        raise InputError(f"{type(model).__name__} is a subclassed keras.Model (its own call method): the adapter "
                         f"reads a chain of layers: build it with keras.Sequential or the functional API") from None
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise InputError("the model has several inputs or outputs: a chain of layers is mirrored")
    ordered, previous, left = [], model.inputs[0], list(layers)
    while left:
        readers = [layer for layer in left if layer.input is previous]
        if len(readers) != 1:
            layer = readers[1] if readers else left[0]
            raise InputError(f"layer {layer.name!r} ({type(layer).__name__}) does not read the layer before it: "
                             f"a chain of layers is mirrored")
        ordered.append(readers[0])
        left.remove(readers[0])
        previous = readers[0].output
    if previous is not model.outputs[0]:
        raise InputError("the model's output is not its last layer's output: a chain of layers is mirrored")
    return ordered


def frozen(layer, roles):
    return frozenset() if layer.trainable else frozenset(roles)


def as_image_layers(layer, where, shape, pad):
    """One Keras image layer (Conv2D, MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D,
    SpatialDropout2D, Flatten of images) -> its Layers (BatchNormalization and Dropout on images
    are read by as_layers, as on units). shape: its input (C, H, W); pad: a ZeroPadding2D's
    ((top, bottom), (left, right)) before a Conv2D. Raises InputError for what is not mirrored."""
    config = layer.get_config()
    if config.get("data_format", "channels_last") != "channels_last":
        raise InputError(f"{where} data_format={config['data_format']!r}: channels_last (Keras's default) is "
                         f"mirrored")
    if type(layer) is keras.layers.Flatten:
        return [Flatten()]
    if type(layer) is keras.layers.Conv2D:
        if int(layer.kernel.shape[2]) != shape[0]:
            raise InputError(f"{where} takes {int(layer.kernel.shape[2])} channels, the layer before gives {shape[0]}")
        if config.get("groups", 1) != 1:
            raise InputError(f"{where} groups={config['groups']}: Conv2D with groups=1 is mirrored")
        (top, bottom), (left, right) = pad
        padding = config["padding"]
        if any((top, bottom, left, right)):
            if padding != "valid":
                raise InputError(f"{where} padding={padding!r} after a ZeroPadding2D: give the Conv2D "
                                 f"padding='valid' (the ZeroPadding2D pads)")
            padding = (top, bottom, left, right)
        conv = Conv2D(int(config["filters"]), tuple(config["kernel_size"]), tuple(config["strides"]), padding,
                      tuple(config["dilation_rate"]), bias=bool(config["use_bias"]),
                      frozen=frozen(layer, ("W", "b") if config["use_bias"] else ("W",)))
        return [conv] + activation_layers(layer.activation, where)
    if type(layer) is keras.layers.GlobalAveragePooling2D:
        if config.get("keepdims"):
            raise InputError(f"{where} keepdims=True: GlobalAveragePooling2D() (keepdims=False, "
                             f"each channel's mean as a unit) is mirrored")
        return [GlobalAvgPool2D()]
    if type(layer) is keras.layers.SpatialDropout2D:
        if not 0 <= config["rate"] < 1:
            raise InputError(f"{where} rate={config['rate']}: a dropout rate in [0, 1) is mirrored")
        return [SpatialDropout2D(float(config["rate"]))]
    if config["padding"] not in ("valid", "same"):
        raise InputError(f"{where} padding={config['padding']!r}: pooling 'valid' or 'same' is "
                         f"mirrored")
    kind = MaxPool2D if type(layer) is keras.layers.MaxPooling2D else AvgPool2D
    padding = config["padding"]           # 'same': TensorFlow's rule, an average of the real cells
    return [kind(tuple(config["pool_size"]), tuple(config["strides"]), padding)]


def as_layers(layer, width, pad=((0, 0), (0, 0))):
    """One Keras layer -> the Layers of the list it stands for ([] for a linear Activation; a Dense
    with an activation is two), settings as written. width: its input's units, or its (C, H, W)
    image. Raises InputError for what is not mirrored."""
    where = f"layer {layer.name!r} ({type(layer).__name__})"
    kind = type(layer)
    if isinstance(width, tuple) and kind in (*IMAGE_KINDS, keras.layers.Flatten):
        return as_image_layers(layer, where, width, pad)
    if kind in IMAGE_KINDS:
        raise InputError(f"{where} takes images (m, H, W, C), the layer before gives rows (m, {width})")
    if kind is keras.layers.Flatten and len(layer.input.shape) == 2:   # of a batch of rows (m, n): nothing to do
        return []
    if kind not in LAYER_KINDS:
        raise InputError(f"{where} cannot be mirrored: {KINDS_WORDS}")
    config = layer.get_config()
    extras = [k for k in ("kernel_regularizer", "bias_regularizer", "activity_regularizer", "kernel_constraint",
                          "bias_constraint", "beta_regularizer", "gamma_regularizer", "beta_constraint",
                          "gamma_constraint") if config.get(k) is not None]
    if extras or getattr(layer, "lora_rank", None):
        raise InputError(f"{where} has {', '.join(extras) or 'LoRA'}: not mirrored")
    if kind is keras.layers.Dense:
        n_in = int(layer.kernel.shape[0])
        if n_in != width and width is not None:
            raise InputError(f"{where} takes {n_in} features, the layer before gives {width}")
        out = [Dense(int(layer.units), bias=bool(layer.use_bias), frozen=frozen(layer, ("W", "b") if layer.use_bias
                                                                                  else ("W",)))]
        return out + activation_layers(layer.activation, where)
    if kind is keras.layers.Activation:
        return activation_layers(layer.activation, where)
    if kind is keras.layers.Dropout:
        if config.get("noise_shape") is not None:
            raise InputError(f"{where} with noise_shape={config['noise_shape']}: not mirrored")
        if not 0 <= config["rate"] < 1:
            raise InputError(f"{where} rate={config['rate']}: a dropout rate in [0, 1) is mirrored")
        return [Dropout(float(config["rate"]))]
    axis = config.get("axis")
    last = (-1, 3, [-1], [3]) if isinstance(width, tuple) else (-1, 1, [-1], [1])  # 3: channels
    if axis not in last or not config.get("center", True) or not config.get("scale", True):
        raise InputError(f"{where} with axis={axis}, center={config.get('center')}, scale={config.get('scale')}: "
                         f"normalization over the last axis, with gamma and beta, is mirrored")
    if kind is keras.layers.LayerNormalization:
        if config.get("rms_scaling"):
            raise InputError(f"{where} with rms_scaling=True: not mirrored")
        return [LayerNorm(eps=config["epsilon"], written_in="keras", frozen=frozen(layer, ("gamma", "beta")))]
    if config.get("renorm") or config.get("synchronized"):
        raise InputError(f"{where} with renorm or synchronized: not mirrored")
    if not layer.trainable:
        raise InputError(f"{where} is frozen (trainable=False): Keras 3 then runs it in inference mode (its moving "
                         f"statistics, not the batch's), which torch's frozen BatchNorm1d does not: not mirrored")
    return [BatchNorm(momentum=config["momentum"], eps=config["epsilon"], written_in="keras")]


def activation_layers(function, where):
    name = activation_name(function, where)
    if name == "linear":
        return []
    return [Activation(name, DEFAULT_SLOPE if name == "leaky_relu" else None)]


def input_image(model):
    """(C, H, W) of the model's input when it takes images (m, H, W, C), else None."""
    shape = tuple(model.inputs[0].shape) if getattr(model, "inputs", None) else None
    if shape is None or len(shape) == 2:
        return None
    if len(shape) != 4 or not all(isinstance(d, int) for d in shape[1:]):
        raise InputError(f"the model's input has shape {shape}: rows (m, n) or images (m, height, width, "
                         f"channels) of a fixed size are mirrored")
    H, W, C = shape[1:]
    return C, H, W


def read_layers(model):
    """-> (network, traced [(Keras layer, [indices of its Layers in the list])]) in the order they
    run; a ZeroPadding2D has no Layer of its own: it is folded into the Conv2D after it."""
    layers = chain(model)
    image = input_image(model)
    read, traced, width, pad = [], [], image, ((0, 0), (0, 0))
    for layer in layers:
        where = f"layer {layer.name!r} ({type(layer).__name__})"
        if type(layer) is keras.layers.ZeroPadding2D:
            if not isinstance(width, tuple) or any(map(any, pad)):
                raise InputError(f"{where} is mirrored right before a Conv2D, on images")
            if layer.get_config().get("data_format", "channels_last") != "channels_last":
                raise InputError(f"{where} data_format={layer.get_config()['data_format']!r}: channels_last")
            pad = tuple(tuple(int(v) for v in side) for side in layer.padding)
            traced.append((layer, []))
            continue
        if any(map(any, pad)) and type(layer) is not keras.layers.Conv2D:
            raise InputError(f"{where} follows a ZeroPadding2D: a ZeroPadding2D is mirrored right before a Conv2D")
        made = as_layers(layer, width, pad)
        pad = ((0, 0), (0, 0))
        if not read and made and not made[0].opens_block:
            raise InputError(f"{where} comes before the first Dense or Conv2D layer: a network starts with one "
                             f"of them")
        if width is None and made:
            width = int(layer.kernel.shape[0])
        if image is None and not read and made:
            n_in = width
        traced.append((layer, list(range(len(read), len(read) + len(made)))))
        for item in made:
            read.append((where, item))
            width = item.out_shape(width if isinstance(width, tuple) else (width,))
            width = width[0] if len(width) == 1 else width
    if not read:
        raise InputError("the model has no Dense layer")
    if image is not None:
        n_in = int(np.prod(image))
    return read_network(n_in, read, image), traced


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
    is in no config: it once passed, judged on code the user's training does not run."""
    layers = chain(model)
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
    holds_weights = True

    def __init__(self, model, optimizer, loss, name, origin):
        optimizer = optimizer if optimizer is not None else getattr(model, "optimizer", None)
        loss = loss if loss is not None else getattr(model, "loss", None)
        self.model, self.name, self.origin = model, name, origin
        self.loss, self.loss_fields, self.from_logits = as_loss(loss)
        self.layers, self.traced = read_layers(model)
        problem = unmirrored(model, optimizer, loss)
        if problem:
            raise InputError(problem)
        if self.from_logits:
            fused = FUSED[self.loss_fields["loss"]]
            last = self.layers.layers[-1]
            if last != Activation("linear"):
                raise InputError(f"layer {self.traced[-1][0].name!r} applies {last.describe()}, but the loss has "
                                 f"from_logits=True (it applies {fused} itself): the output would go through it twice")
            self.layers = Network(self.layers.n_in, (*self.layers.layers[:-1], Activation(fused)),
                                  self.layers.input_shape).validate()
        self.optimizer_class = type(optimizer) if optimizer is not None else None
        fields, self.optimizer_config = read_optimizer(optimizer)
        self.settings = {**fields, "sizes": [self.layers.n_in], "layers": self.layers}
        if self.layers.input_shape:
            self.settings["input_shape"] = self.layers.input_shape
        where = [layer.name for layer, indices in self.traced for _ in indices]
        shown = [f"layer {layer.name!r}" + (" (its activation)" if i and isinstance(self.layers.layers[index], Activation)
                                            else "")
                 for layer, indices in self.traced for i, index in enumerate(indices)]
        self.vocabulary = block_names(self.layers, where, WORDS, shown)
        self.notes = batch_norm_notes(self.layers, [f"{w}.moving_variance" for w in where],
                                      "is Keras's moving average of the biased batch variance")

    @property
    def sizes(self):
        """[n_in, units of each Dense]: the widths of the layer list read."""
        return self.layers.sizes

    def network(self):
        return {**self.loss_fields, **self.settings}

    def build(self, spec, params, convention):
        return KerasRun(self, spec, params)

    def initial_params(self, spec):
        """Your model's own weights, [(W, b)] per block in the scratch layout (convert.py): what
        --weights mine starts every implementation from."""
        return own_weights(self.traced, self.layers)


def own_weights(traced, network):
    """The weights the user's Keras layers hold now, [(W, b or zeros)] per block, scratch layout."""
    placed, out = network.placed, []
    for layer, indices in traced:
        for index in indices:
            p = placed[index]
            if not p.layer.opens_block:
                continue
            W = convert.to_scratch("keras", p.name("W"), np.asarray(layer.kernel.numpy(), np.float64), network)
            b = np.asarray(layer.bias.numpy(), np.float64).reshape(-1, 1) if p.layer.bias else \
                np.zeros((W.shape[0], 1))
            out.append((np.array(W), b))
    return out


def padded(pad, conv):
    """A ZeroPadding2D twin and the Conv2D twin after it, called as one op (the Conv2D's Z)."""
    return lambda A: conv(pad(A))


class KerasRun:
    """One run of float64 (or float32) twins of the user's objects. step(X, Y) -> record in the scratch layout."""

    def __init__(self, user, spec, params):
        with float_type(spec.dtype):
            self.build(user, spec, params)

    def build(self, user, spec, params):
        if spec.network.layers != user.layers.layers:
            raise InputError(f"{user.label} is {user.layers.describe()}, the spec asks for {spec.network.describe()}")
        if user.loss is not None and (user.loss_fields["loss"], user.loss_fields["reduction"]) != (spec.loss, spec.reduction):
            raise InputError(f"{user.name}'s loss is {user.loss_fields}, the spec asks for {spec.loss} ({spec.reduction})")
        self.spec, self.dtype, self.from_logits, self.L = spec, spec.dtype, user.from_logits, spec.n_layers
        placed = spec.network.placed
        self.ops, self.params, self.trainable, self.stats, self.dropouts = [], {}, {}, {}, []
        pad = None
        for layer, indices in user.traced:
            if type(layer) is keras.layers.ZeroPadding2D:        # folded into the Conv2D's twin after it
                pad = type(layer).from_config({**layer.get_config(), "dtype": spec.dtype})
                continue
            for index in indices:
                twin = self.twin(layer, placed[index], params, spec, pad)
                self.ops.append((placed[index], twin if pad is None or index != indices[0] else padded(pad, twin)))
            pad = None
        if user.from_logits:                                           # A_L for the record only
            self.ops.append((placed[-1], keras.activations.get(placed[-1].layer.name)))
        if user.loss is not None:                                      # its dtype was fixed when it was made
            self.loss_fn = type(user.loss).from_config({**user.loss.get_config(), "dtype": spec.dtype})
        else:
            self.loss_fn = LOSSES[spec.loss](reduction=REDUCTIONS[spec.reduction], dtype=spec.dtype)
        if user.optimizer_class is not None:
            self.optimizer = user.optimizer_class.from_config(dict(user.optimizer_config))
        else:
            self.optimizer = make_optimizer(spec.optimizer, spec.hyper("keras"))
        self.optimizer_name = spec.optimizer
        self.optimizer.build(list(self.trainable.values()))
        self.masks = ()
        image = spec.network.input_shape
        inputs = [None, image[1], image[2], image[0]] if image else [None, spec.sizes[0]]
        signature = [tf.TensorSpec(inputs, spec.dtype), tf.TensorSpec([None, spec.sizes[-1]], spec.dtype)]
        masks = [[None, p.n_out] if isinstance(p.n_in, int) else [None] * 4 for p in self.dropouts]
        signature += [tf.TensorSpec(shape, spec.dtype) for shape in masks]     # the dropout masks
        self.traced_step = tf.function(self.tensor_step, input_signature=signature)

    def twin(self, layer, p, params, spec, pad=None):
        """The float64 twin of one Keras layer's part in block p.block, with the run's initial values,
        its variables noted by name; or the user's activation function; or the shared-mask dropout."""
        if isinstance(p.layer, Activation):
            return layer.activation                                    # the user's own Keras function
        if isinstance(p.layer, Dropout):
            if not p.layer.rate:
                return None
            self.dropouts.append(p)
            return SharedMaskDropout(float(p.layer.rate), dtype=spec.dtype)
        config = {**layer.get_config(), "dtype": spec.dtype}
        if isinstance(p.layer, (Dense, Conv2D)):
            config["activation"] = None
        twin = type(layer).from_config(config)
        if isinstance(p.n_in, tuple):                                  # images: (m, H, W, C), after its padding
            (top, bottom), (left, right) = pad.padding if pad is not None else ((0, 0), (0, 0))
            C, H, W = p.n_in
            twin.build((None, H + top + bottom, W + left + right, C))
        else:
            twin.build((None, p.n_in))
        if not p.layer.params(p.n_in):                                 # pooling, Flatten: no variables
            return twin
        if isinstance(p.layer, (Dense, Conv2D)):
            W, b = dense_params(params, p.block)                       # scratch's layout -> Keras's (convert.py)
            kernel = convert.from_scratch("keras", p.name("W"), np.asarray(W), spec.network)
            twin.set_weights([kernel] + ([np.asarray(b).reshape(-1)] if p.layer.bias else []))
            variables = {"W": twin.kernel, "b": twin.bias} if p.layer.bias else {"W": twin.kernel}
        else:
            gamma, beta = initial_norm(params, p)
            twin.gamma.assign(gamma)
            twin.beta.assign(beta)
            variables = {"gamma": twin.gamma, "beta": twin.beta}
            if isinstance(p.layer, BatchNorm):
                twin.moving_mean.assign(np.zeros(channels(p.n_in)))         # on images: per channel
                twin.moving_variance.assign(np.ones(channels(p.n_in)))
                self.stats[p.name("mean")], self.stats[p.name("var")] = twin.moving_mean, twin.moving_variance
        for role, variable in variables.items():
            self.params[p.name(role)] = variable
            if role not in getattr(p.layer, "frozen", ()):
                self.trainable[p.name(role)] = variable
        return twin

    def forward(self, X, masks=(), training=True):
        """X (m, n_0) -> cache {'Z1', 'N1', 'A1', ...}: each part's output under its block's name
        (the block's latest output is its A)."""
        cache, A, keep = {}, X, dict(zip([p.block for p in self.dropouts], masks))
        for p, op in self.ops:
            if op is None:
                continue
            if isinstance(p.layer, Dropout):
                if not training:
                    continue
                A = op(A, keep[p.block])
            elif p.layer.role in (None, "P"):                        # Flatten; pooling: P_l after the block's A_l
                A = op(A)
                if p.layer.role:
                    cache[p.name("P")] = A
                continue
            elif isinstance(p.layer, BatchNorm):
                A = op(A, training=training)
            else:
                A = op(A)
            if p.layer.role in ("Z", "N"):
                cache[p.name(p.layer.role)] = A
            cache[p.name("A")] = A
        return cache

    def tensor_step(self, X, Y, *masks):
        L = self.L
        with tf.GradientTape() as tape:
            cache = self.forward(X, masks)
            loss = self.loss_fn(Y, cache[f"Z{L}" if self.from_logits else f"A{L}"])
        wrt = {f"d{name}": t for name, t in cache.items() if name[0] in "ZNP"}
        wrt.update({f"d{name}": v for name, v in self.trainable.items()})
        grads = tape.gradient(loss, wrt)
        self.optimizer.apply_gradients([(grads["d" + name], v) for name, v in self.trainable.items()])
        after = {name: tf.identity(v) for name, v in {**self.params, **self.stats}.items()}
        return cache, loss, grads, after

    def inputs(self, X):
        """The harness's rows (m, n_0) -> what the model takes: rows, or a channels-last image batch."""
        return convert.inputs_to_framework("keras", X, self.spec.network)

    def set_masks(self, masks):
        """This step's dropout masks {l: (n_l, m)} in the scratch layout -> (m, n_l) tensors; on
        images (m, H, W, C), or (m, 1, 1, C) for a SpatialDropout2D (convert.mask_to_framework)."""
        network = self.spec.network
        self.masks = tuple(tf.convert_to_tensor(
            convert.mask_to_framework("keras", network, p.block, masks[p.block]), dtype=self.dtype)
            for p in self.dropouts)

    def step(self, X, Y):
        cache, loss, grads, after = self.traced_step(tf.convert_to_tensor(self.inputs(X), self.dtype),
                                                     tf.convert_to_tensor(Y, self.dtype), *self.masks)
        record = {name: np.asarray(t) for name, t in cache.items()}
        record["loss"] = np.asarray(loss)
        record.update({name: np.asarray(t) for name, t in grads.items() if t is not None})
        record.update({name: np.asarray(t) for name, t in after.items()})
        for slots, key in zip(optimizer_slots(self.optimizer, self.optimizer_name), STATE_NAMES[self.optimizer_name]):
            if not slots:                                              # a slot this optimizer does not keep
                continue
            for name, p in self.trainable.items():
                record[f"{name}.{key}"] = slots[self.optimizer._get_variable_index(p)].numpy()
        return convert.record_to_scratch("keras", record, self.spec.network, X.shape[0])

    def predict(self, X):
        A = self.forward(tf.convert_to_tensor(self.inputs(X), self.dtype), training=False)[f"A{self.L}"]
        return convert.rows_to_batch(np.asarray(A))


def keras_model(model, optimizer=None, loss=None, *, name=None):
    """Your Keras model with your optimizer and loss -> a UserImplementation (see the module docstring)."""
    caller = inspect.currentframe().f_back
    origin = f"{caller.f_code.co_filename}:{caller.f_lineno}" if caller else None
    return KerasModel(model, optimizer, loss, name, origin)
