"""Your own torch nn.Module, optimizer and loss, checked in lockstep without editing them.

    torchnet = compare.torch_module(model, optimizer, loss)

model      an nn.Sequential, or any module whose layers run one after another (checked on a probe
           batch: each module reads the previous one's output), of
               nn.Linear (bias or not), nn.BatchNorm1d, nn.LayerNorm (over the last dimension, with
               its weight and bias), nn.Dropout, and the activation modules (ACTIVATION_NAMES:
               ReLU, Sigmoid, Tanh, LeakyReLU, GELU, ...; Softmax(dim=1) last); and on images
               (m, C, H, W): nn.Conv2d (groups 1, zero padding: an int, a pair, 'valid', 'same'),
               nn.ZeroPad2d right before a Conv2d (folded into its padding per side), nn.MaxPool2d
               and nn.AvgPool2d (padding an int or a pair, ceil_mode, count_include_pad),
               nn.AdaptiveAvgPool2d(1) (then nn.Flatten: GlobalAvgPool2D), nn.BatchNorm2d (per
               channel, read as BatchNorm1d is), nn.Dropout (a mask value per number) and
               nn.Dropout2d (per channel: SpatialDropout2D), nn.Flatten (the layer kinds of
               compare/engine/image_layers.py); a model with a Conv2d needs
               input_shape=(C, H, W), the shape of one input (its height and width are nowhere in it)
optimizer  torch.optim.SGD (momentum, nesterov), RMSprop or Adam built on model.parameters()
           (None: the spec's optimizer)
loss       nn.MSELoss, nn.BCEWithLogitsLoss, nn.BCELoss or nn.CrossEntropyLoss, reduction mean or sum
           (None: the spec's loss)

What the adapter reads (`read_layers`): the layer list (compare/engine/layers.py) in the order the
modules RUN (forward hooks on a probe batch through a copy, not the order they were registered),
each setting as you wrote it (BatchNorm1d momentum 0.1 stays torch's 0.1, `written_in='torch'`);
parameters with requires_grad=False as the layer's `frozen`; the loss (a CrossEntropyLoss after a
last Linear is our softmax fused with categorical_crossentropy, BCEWithLogitsLoss our sigmoid fused
with binary_crossentropy) and its reduction; the optimizer's settings from param_groups[0] (alpha is
our rho). The layer list and these settings are applied to the references it is compared with. A
module the tool does not mirror is one line naming it and the kinds it does; a module run twice, or
a parameter two modules share, is one line naming it (shared weights are not mirrored).

Your objects are never modified. Each build deep-copies (model, optimizer, loss) in one go, so the
copied optimizer holds the copied parameters; the copy is converted to the spec's dtype in place
(p.data = p.data.to(dtype): the optimizer's references stay valid), gets the shared initial weights
(gamma 1, beta 0, running mean 0 and variance 1, as both frameworks start), and its optimizer state
is cleared. Intermediates come from forward hooks on the copy, named by block (each Linear opens
one): a Linear's output is Z_l, a norm's N_l (their .grad, kept with retain_grad, dZ_l and dN_l),
and the block's last output (activation or dropout) A_l. Each nn.Dropout applies the harness's mask
(set_masks) by torch's own rule, reference/torch_mlp.py SharedMaskDropout: a forward hook replaces
its output in training, so your dropout network is judged on the same units dropped as everyone's.
For a fused loss the model outputs Z_L, and A_L = softmax / sigmoid of it is computed for the
record only. The loss is your loss object's, backward is loss.backward(), the update your
optimizer's step(); predict runs the copy in eval() mode (running statistics, no dropout).

CrossEntropyLoss gets class indices (argmax of the one-hot rows), as a training loop's labels are;
torch gives the same numbers for one-hot probability targets.

Left out (each refused in one line): pooling with dilation, return_indices or divisor_override,
AdaptiveAvgPool2d to more than one cell, F.pad or other functions inside forward, recurrent and
other modules, activations applied as functions inside forward (F.relu), BatchNorm1d/2d without
affine parameters or running statistics (or momentum=None), weight decay, dampening, amsgrad,
centered or momentum RMSprop, label smoothing.
"""
import copy
import inspect

import numpy as np
import torch
from torch import nn

from reference.torch_mlp import LOSSES, STATE_NAMES, SharedMaskDropout, make_optimizer

from ..engine import convert
from ..engine.errors import InputError
from ..engine.image_layers import (AvgPool2D, Conv2D, Flatten, GlobalAvgPool2D, MaxPool2D,
                                   SpatialDropout2D)
from ..engine.layers import Activation, BatchNorm, Dense, Dropout, LayerNorm
from .base import UserImplementation, batch_norm_notes, block_names, dense_params, initial_norm, read_network
from . import values
from .boundary import Boundary, UserCodeFailed

ACTIVATION_NAMES = {nn.ReLU: "relu", nn.Sigmoid: "sigmoid", nn.Tanh: "tanh", nn.Softplus: "softplus",
                    nn.Identity: "linear", nn.Softmax: "softmax", nn.LeakyReLU: "leaky_relu", nn.ELU: "elu",
                    nn.SELU: "selu", nn.CELU: "celu", nn.GELU: "gelu", nn.SiLU: "silu", nn.Softsign: "softsign",
                    nn.Hardsigmoid: "hard_sigmoid", nn.Hardswish: "hard_silu", nn.ReLU6: "relu6", nn.Mish: "mish",
                    nn.LogSigmoid: "log_sigmoid", nn.Hardtanh: "hard_tanh"}
LAYER_KINDS = (nn.Linear, nn.BatchNorm1d, nn.LayerNorm, nn.Dropout)
IMAGE_KINDS = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d, nn.ZeroPad2d, nn.AdaptiveAvgPool2d,
               nn.BatchNorm2d, nn.Dropout2d)              # images (m, C, H, W): image_layers.py
KINDS_WORDS = ("the adapter mirrors nn.Linear, nn.BatchNorm1d, nn.LayerNorm, nn.Dropout, "
               "nn.Conv2d, nn.ZeroPad2d, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d(1), "
               "nn.BatchNorm2d, nn.Dropout2d, nn.Flatten and the activations "
               + ", ".join(c.__name__ for c in ACTIVATION_NAMES))
BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)
LOSS_NAMES = {nn.MSELoss: "mse", nn.BCELoss: "binary_crossentropy", nn.BCEWithLogitsLoss: "binary_crossentropy",
              nn.CrossEntropyLoss: "categorical_crossentropy"}
FUSED = {nn.BCEWithLogitsLoss: "sigmoid", nn.CrossEntropyLoss: "softmax"}   # the loss applies this to the output
OPTIMIZERS = {torch.optim.SGD: "sgd", torch.optim.RMSprop: "rmsprop", torch.optim.Adam: "adam"}
WORDS = {"W": "weight", "b": "bias", "gamma": "weight", "beta": "bias", "mean": "running_mean", "var": "running_var"}


class _First(Exception):
    """Raised by the probe's pre-hook at the first module called: which one it is."""

    def __init__(self, module):
        super().__init__()
        self.module = module


def mirrored(module):
    return type(module) in ACTIVATION_NAMES or type(module) in LAYER_KINDS + IMAGE_KINDS or type(module) is nn.Flatten


def has_state(module):
    """Whether a module holds parameters or buffers (a Linear, a norm): one used twice shares them."""
    return any(True for _ in module.parameters(recurse=False)) or any(True for _ in module.buffers(recurse=False))


def input_width(model, door):
    """The width of the model's input: the in_features of the first Linear that RUNS (a module whose
    layers were registered in another order than they run starts with another one)."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    width = linears[0].in_features
    handles = []

    def first(module, inputs):
        raise _First(module)

    for module in model.modules():
        if not list(module.children()):
            handles.append(module.register_forward_pre_hook(first))
    try:
        with torch.no_grad(), (door or Boundary()).calling(f"{type(model).__name__}.forward"):
            model(torch.zeros(2, width, dtype=linears[0].weight.dtype))
    except _First as found:
        if isinstance(found.module, nn.Linear):
            return found.module.in_features
    finally:
        for handle in handles:
            handle.remove()
    return width


def probe(model, shape, door=None):
    """Run the model on a zero batch of 2 examples of `shape` ((n,) or an image's (C, H, W)) and
    return its leaf modules in call order, [(path, module)], after checking that each one reads the previous one's output (nothing runs between them that the
    adapter cannot see), that none runs twice, and that it is one the tool mirrors. `model` is a copy:
    a probe in training mode moves batch norm's running statistics. Raises InputError naming the module."""
    paths = {module: path for path, module in model.named_modules()}
    calls, handles = [], []

    def hook(module, inputs, output):
        calls.append((module, inputs, output))

    def refuse(module, inputs):                # before it runs: a module the tool cannot read may fail on the probe
        if not mirrored(module):
            raise InputError(f"{paths[module] or 'the model'} ({type(module).__name__}) cannot be mirrored: "
                             f"{KINDS_WORDS}")
        if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):   # return_indices: a tuple
            pooling(f"{paths[module] or 'the model'} ({type(module).__name__})", module)

    for module in model.modules():
        if not list(module.children()):
            handles.append(module.register_forward_pre_hook(refuse))
            handles.append(module.register_forward_hook(hook))
    x = torch.zeros(2, *shape, dtype=next(model.parameters()).dtype)
    try:
        with torch.no_grad(), (door or Boundary()).calling(f"{type(model).__name__}.forward"):
            out = model(x)
    finally:
        for handle in handles:
            handle.remove()
    previous, seen = x, set()
    for module, inputs, output in calls:
        where = f"{paths[module] or 'the model'} ({type(module).__name__})"
        if not mirrored(module):
            raise InputError(f"{where} cannot be mirrored: {KINDS_WORDS}")
        if id(module) in seen and has_state(module):
            raise InputError(f"{where} runs twice in forward (one module used twice: shared weights): each layer "
                             f"is mirrored once; give the second use its own module")
        seen.add(id(module))
        if len(inputs) != 1 or inputs[0] is not previous:
            raise InputError(f"{where} does not read the output of the module before it: the forward method "
                             f"computes something in between (e.g. F.relu): use nn modules one after another")
        previous = output
    if out is not previous:
        raise InputError("the model's output is not its last module's output: its forward method computes something "
                         "after its last module")
    return [(paths[module] or type(module).__name__, module) for module, _, _ in calls]


def frozen(module, roles):
    """The roles of a module's parameters that are not trained (requires_grad=False)."""
    return frozenset(role for role, attribute in roles.items()
                     if getattr(module, attribute, None) is not None and not getattr(module, attribute).requires_grad)


def conv_sides(module, pad):
    """The (top, bottom, left, right) rows and columns of zeros a Conv2d adds, with the ZeroPad2d
    before it (`pad`, ZeroPad2d's (left, right, top, bottom)) folded in. padding='same' (stride 1)
    is torch's rule: total d (k - 1), the odd one after (torch/nn/modules/conv.py, _ConvNd.__init__,
    `left_pad = total_padding // 2`)."""
    left, right, top, bottom = pad
    if module.padding == "valid":
        return top, bottom, left, right
    if module.padding == "same":
        (th, tw) = (d * (k - 1) for d, k in zip(module.dilation, module.kernel_size))
        return top + th // 2, bottom + th - th // 2, left + tw // 2, right + tw - tw // 2
    ph, pw = module.padding
    return top + ph, bottom + ph, left + pw, right + pw


def as_image_layer(where, module, shape, pad):
    """One image module (nn.Conv2d, pooling, nn.AdaptiveAvgPool2d, nn.BatchNorm2d, nn.Dropout or
    nn.Dropout2d, nn.Flatten of images) -> its Layer. shape: its input (C, H, W); pad: the
    ZeroPad2d before a Conv2d. Raises InputError for what is not mirrored."""
    if isinstance(module, nn.Flatten):
        if (module.start_dim, module.end_dim) != (1, -1):
            raise InputError(f"{where} Flatten(start_dim={module.start_dim}, end_dim={module.end_dim}): only "
                             f"Flatten() of a batch (m, C, H, W) to (m, C*H*W) is mirrored")
        return Flatten()
    if isinstance(module, nn.Conv2d):
        if module.in_channels != shape[0]:
            raise InputError(f"{where} takes {module.in_channels} channels, the layer before gives {shape[0]}")
        if module.groups != 1 or module.padding_mode != "zeros":
            raise InputError(f"{where} groups={module.groups}, padding_mode={module.padding_mode!r}: "
                             f"Conv2d with groups=1 and zero padding is mirrored")
        top, bottom, left, right = conv_sides(module, pad)
        padding = "valid" if not (top or bottom or left or right) else (top, bottom, left, right)
        return Conv2D(module.out_channels, tuple(module.kernel_size), tuple(module.stride), padding,
                      tuple(module.dilation), bias=module.bias is not None,
                      frozen=frozen(module, {"W": "weight", "b": "bias"}))
    if isinstance(module, nn.AdaptiveAvgPool2d):
        if module.output_size not in (1, (1, 1)):
            raise InputError(f"{where} output_size={module.output_size!r}: AdaptiveAvgPool2d(1), "
                             f"the mean of each channel (then nn.Flatten), is mirrored")
        return GlobalAvgPool2D()
    if isinstance(module, BATCH_NORMS):
        return batch_norm(where, module, shape[0], nn.BatchNorm2d)
    if isinstance(module, (nn.Dropout, nn.Dropout2d)):
        spatial = isinstance(module, nn.Dropout2d)
        return dropout(where, module, SpatialDropout2D if spatial else Dropout)
    return pooling(where, module)


def pooling(where, module):
    """nn.MaxPool2d / nn.AvgPool2d -> MaxPool2D / AvgPool2D with the window, stride, padding (an
    int or a pair: zeros on both sides of each axis), ceil_mode and count_include_pad as written
    (torch/nn/modules/pooling.py); what the list cannot hold (dilation, return_indices,
    divisor_override) is one line."""
    refused = (("dilation", lambda v: v not in (1, (1, 1)), "dilated pooling"),
               ("return_indices", bool, "pooling that returns its indices"),
               ("divisor_override", lambda v: v is not None,
                "an average divided by its own divisor"))
    for name, odd, what in refused:
        if hasattr(module, name) and odd(getattr(module, name)):
            raise InputError(f"{where} {name}={getattr(module, name)!r}: {what} is not mirrored "
                             f"(padding, ceil_mode and count_include_pad are)")
    kernel, stride, padding = (tuple(v) if isinstance(v, tuple) else (v, v)
                               for v in (module.kernel_size, module.stride, module.padding))
    padding = "valid" if padding == (0, 0) else padding
    if isinstance(module, nn.MaxPool2d):
        return MaxPool2D(kernel, stride, padding, bool(module.ceil_mode))
    counts = None if padding == "valid" else bool(module.count_include_pad)   # None: nothing padded
    return AvgPool2D(kernel, stride, padding, bool(module.ceil_mode), counts)


def batch_norm(where, module, n, kind):
    """nn.BatchNorm1d over n units / nn.BatchNorm2d over n channels -> BatchNorm, its momentum and
    eps as written (torch's meaning: the new batch's weight)."""
    if not isinstance(module, kind):
        other = "images (m, C, H, W)" if kind is nn.BatchNorm2d else f"rows (m, {n})"
        raise InputError(f"{where} follows a layer that gives {other}: use nn.{kind.__name__}({n})")
    if not module.affine or not module.track_running_stats or module.momentum is None:
        raise InputError(f"{where} with affine=False, track_running_stats=False or momentum=None "
                         f"is not mirrored: give {kind.__name__}({module.num_features}) its "
                         f"weight, bias and running statistics, with a momentum")
    if module.num_features != n:
        what = "channels" if kind is nn.BatchNorm2d else "features"
        raise InputError(f"{where} normalizes {module.num_features} {what}, the layer before gives "
                         f"{n}")
    return BatchNorm(momentum=module.momentum, eps=module.eps, written_in="torch",
                     frozen=frozen(module, {"gamma": "weight", "beta": "bias"}))


def dropout(where, module, kind):
    """nn.Dropout -> Dropout (on images a mask value per number); nn.Dropout2d -> SpatialDropout2D
    (a mask value per channel)."""
    if not 0 <= module.p < 1:
        raise InputError(f"{where} p={module.p}: a dropout rate in [0, 1) is mirrored")
    return kind(float(module.p))


def as_layer(path, module, width, pad=(0, 0, 0, 0)):
    """One traced module -> a Layer of the list (settings as written, in torch's words), or None for
    nn.Identity. width: its input's (n,) units or (C, H, W) image. Raises InputError for a setting
    that is not mirrored."""
    where = f"{path} ({type(module).__name__})"
    images = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.BatchNorm1d,
              nn.BatchNorm2d, nn.Dropout, nn.Dropout2d, nn.Flatten)
    if isinstance(width, tuple) and len(width) == 3 and isinstance(module, images):
        return as_image_layer(where, module, width, pad)
    width = width[0] if isinstance(width, tuple) else width
    if isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d,
                           nn.BatchNorm2d, nn.Dropout2d)):
        raise InputError(f"{where} takes images (m, C, H, W), the layer before gives rows "
                         f"(m, {width})")
    if isinstance(module, nn.Flatten):               # of a batch of rows (m, n): nothing to do
        if (module.start_dim, module.end_dim) not in ((1, -1),):
            raise InputError(f"{where} Flatten(start_dim={module.start_dim}, end_dim={module.end_dim}): only "
                             f"Flatten() of a batch of rows is mirrored")
        return None
    if isinstance(module, nn.Linear):
        if module.in_features != width:
            raise InputError(f"{where} takes {module.in_features} features, the layer before gives {width}")
        return Dense(module.out_features, bias=module.bias is not None, frozen=frozen(module, {"W": "weight", "b": "bias"}))
    if isinstance(module, nn.BatchNorm1d):
        return batch_norm(where, module, width, nn.BatchNorm1d)
    if isinstance(module, nn.LayerNorm):
        if tuple(module.normalized_shape) != (width,) or not module.elementwise_affine or module.bias is None:
            raise InputError(f"{where} normalized_shape={tuple(module.normalized_shape)}, elementwise_affine="
                             f"{module.elementwise_affine}, bias={module.bias is not None}: LayerNorm({width}) over "
                             f"the last dimension, with its weight and bias, is mirrored")
        return LayerNorm(eps=module.eps, written_in="torch", frozen=frozen(module, {"gamma": "weight", "beta": "bias"}))
    if isinstance(module, nn.Dropout):
        return dropout(where, module, Dropout)
    name = ACTIVATION_NAMES[type(module)]
    defaults = {nn.Softplus: {"beta": 1.0, "threshold": 20.0}, nn.ELU: {"alpha": 1.0}, nn.CELU: {"alpha": 1.0},
                nn.Hardtanh: {"min_val": -1.0, "max_val": 1.0}}.get(type(module), {})
    changed = {k: getattr(module, k) for k, v in defaults.items() if getattr(module, k) != v}
    if changed:
        raise InputError(f"{where}({', '.join(f'{k}={v}' for k, v in changed.items())}): only the defaults "
                         f"({', '.join(f'{k}={v}' for k, v in defaults.items())}) are mirrored")
    if isinstance(module, nn.Softmax) and module.dim not in (1, -1):
        raise InputError(f"{where} Softmax(dim={module.dim}): softmax over the units is dim=1")
    if isinstance(module, nn.GELU) and module.approximate == "tanh":
        name = "gelu_tanh"
    if name == "linear":
        return None
    return Activation(name, float(module.negative_slope) if isinstance(module, nn.LeakyReLU) else None)


def shared_parameters(model):
    """One line for a parameter that two modules share (lin2.weight = lin1.weight), or None."""
    owner = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        if id(p) in owner:
            return (f"{name} is {owner[id(p)]} (shared weights: one parameter in two layers): each layer's own "
                    f"parameters are mirrored")
        owner[id(p)] = name
    return None


def read_layers(model, loss, door=None, input_shape=None):
    """-> (network (compare/engine/layers.py Network), traced [(path, module, its index in the list
    or None for an Identity or a ZeroPad2d)]) in the order the modules run. `model` is probed
    through a copy, on inputs of `input_shape` (C, H, W) when it takes images (a Conv2d), else of
    the first Linear's width."""
    if not isinstance(model, nn.Module):
        raise InputError(f"torch_module needs an nn.Module, got {type(model).__name__}")
    if not any(isinstance(m, nn.Linear) for m in model.modules()):
        odd = next(((p, m) for p, m in model.named_modules() if not list(m.children()) and not mirrored(m)), None)
        if odd:
            raise InputError(f"{odd[0] or 'the model'} ({type(odd[1]).__name__}) cannot be mirrored: {KINDS_WORDS}")
        raise InputError("the model has no nn.Linear layer")
    problem = shared_parameters(model)
    if problem:
        raise InputError(problem)
    images = any(isinstance(m, nn.Conv2d) for m in model.modules())
    input_shape = image_shape(input_shape, model) if images or input_shape is not None else None
    with (door or Boundary()).calling(f"a copy of {type(model).__name__}"):
        twin = copy.deepcopy(model)
    paths = {id(m): p for p, m in twin.named_modules()}
    mine = {p: m for p, m in model.named_modules()}
    read, traced, pad = [], [], (0, 0, 0, 0)
    shape = first = input_shape or (input_width(twin, door),)
    for path, module in probe(twin, shape, door):
        if isinstance(module, nn.ZeroPad2d):                # folded into the Conv2d after it
            if len(shape) != 3 or any(pad):
                raise InputError(f"{path} (ZeroPad2d) is mirrored right before an nn.Conv2d, on images")
            pad = tuple(int(v) for v in module.padding)
            traced.append((path, mine.get(paths[id(module)], module), None))
            continue
        if any(pad) and not isinstance(module, nn.Conv2d):
            raise InputError(f"{path} ({type(module).__name__}) follows a ZeroPad2d: a ZeroPad2d is mirrored "
                             f"right before an nn.Conv2d")
        layer = as_layer(path, module, shape, pad)
        pad = (0, 0, 0, 0)
        if not read and layer is not None and not layer.opens_block:
            raise InputError(f"{path} ({type(module).__name__}) runs before the first nn.Linear or nn.Conv2d: a "
                             f"network starts with one of them")
        traced.append((path, mine.get(paths[id(module)], module), None if layer is None else len(read)))
        if layer is not None:
            read.append((f"{path} ({type(module).__name__})", layer))
            shape = layer.out_shape(shape)
    fused = FUSED.get(type(loss))
    if fused:
        if not isinstance(read[-1][1], Dense):
            raise InputError(f"{read[-1][0]} comes after the last Linear, but {type(loss).__name__} applies {fused} "
                             f"itself (it takes logits): the output would go through {fused} twice; end the model "
                             f"with the Linear layer")
        read.append((f"{type(loss).__name__} ({fused})", Activation(fused)))
    return read_network(int(np.prod(first)), read, input_shape), traced


def image_shape(input_shape, model):
    """The (C, H, W) of one input image, as declared (torch_module(..., input_shape=(1, 28, 28))), or
    InputError: a Conv2d's input height and width are not in the model."""
    if input_shape is None:
        raise InputError(f"{type(model).__name__} takes images (it has an nn.Conv2d): give the shape of one "
                         f"input, torch_module(model, optimizer, loss, input_shape=(channels, height, width)), "
                         f"e.g. input_shape=x.shape[1:] of a batch x")
    shape = tuple(input_shape)
    if len(shape) != 3 or not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d > 0
                                  for d in shape):
        raise InputError(f"input_shape is (channels, height, width) of one image, whole numbers, got {input_shape!r}")
    return tuple(int(d) for d in shape)


def read_loss(loss):
    """-> {'loss', 'reduction'} Spec fields, or {} for None. Raises InputError for what is not mirrored."""
    if loss is None:
        return {}
    name = LOSS_NAMES.get(type(loss))
    if name is None:
        raise InputError(f"loss {type(loss).__name__} is not mirrored: use nn.MSELoss, nn.BCEWithLogitsLoss, "
                         f"nn.BCELoss or nn.CrossEntropyLoss")
    if loss.reduction not in ("mean", "sum"):
        raise InputError(f"{type(loss).__name__}(reduction={loss.reduction!r}): use 'mean' or 'sum'")
    if getattr(loss, "weight", None) is not None or getattr(loss, "pos_weight", None) is not None:
        raise InputError(f"{type(loss).__name__} with class weights is not mirrored")
    if getattr(loss, "label_smoothing", 0.0):
        raise InputError(f"{type(loss).__name__}(label_smoothing={loss.label_smoothing}) is not mirrored")
    return {"loss": name, "reduction": loss.reduction}


def read_optimizer(optimizer):
    """-> Spec fields of the user's optimizer (param_groups[0]), every one given explicitly."""
    if optimizer is None:
        return {}
    name = OPTIMIZERS.get(type(optimizer))
    if name is None:
        raise InputError(f"optimizer {type(optimizer).__name__} is not mirrored: use torch.optim.SGD, RMSprop or Adam")
    if len(optimizer.param_groups) != 1:
        raise InputError("the optimizer has several parameter groups: one group (model.parameters()) is mirrored")
    group = optimizer.param_groups[0]
    unsupported = {"weight_decay": 0, "dampening": 0, "maximize": False, "centered": False, "amsgrad": False}
    for key, neutral in unsupported.items():
        if key in group and group[key] != neutral:
            raise InputError(f"{type(optimizer).__name__}({key}={group[key]}) is not mirrored")
    if name == "rmsprop" and group["momentum"]:
        raise InputError(f"RMSprop(momentum={group['momentum']}) is not mirrored")
    fields = {"optimizer": name, "lr": float(group["lr"])}
    if name == "sgd":
        fields.update(momentum=float(group["momentum"]), nesterov=bool(group["nesterov"]))
    else:
        fields.update(momentum=0.0, nesterov=False, eps=float(group["eps"]))
    if name == "rmsprop":
        fields["rho"] = float(group["alpha"])
    if name == "adam":
        fields.update(beta1=float(group["betas"][0]), beta2=float(group["betas"][1]))
    return fields


def unmirrored(optimizer):
    """Why the copy of the user's optimizer that a run steps would not do what theirs does, or None.
    A torch optimizer is copied as its state (torch's __getstate__: defaults, state, param_groups):
    a method set on the object (`optimizer.step = ...`, `zero_grad`) and step hooks
    (register_step_pre_hook, register_step_post_hook) are not copied, so the check would judge an
    optimizer other than the one the user trains with (one that never learned passed). The hooks
    every torch optimizer and module obeys (torch.optim.optimizer.register_optimizer_step_pre_hook,
    torch.nn.modules.module.register_module_forward_hook, ...) would act on the torch reference too."""
    import torch.nn.modules.module as modules
    import torch.optim.optimizer as optimizers

    kind = "torch.optim" if optimizer is None else type(optimizer).__name__
    for where, names in ((optimizers, ("_global_optimizer_pre_hooks", "_global_optimizer_post_hooks")),
                         (modules, ("_global_forward_hooks", "_global_forward_pre_hooks", "_global_backward_hooks",
                                    "_global_backward_pre_hooks", "_global_parameter_registration_hooks",
                                    "_global_buffer_registration_hooks", "_global_module_registration_hooks"))):
        for name in names:
            if len(getattr(where, name, None) or ()):
                what = name.strip("_").replace("global_", "").replace("_hooks", "").replace("_", " ")
                return (f"a global {what} hook is registered with torch (torch's register_..._{what.replace(' ', '_')}"
                        f"_hook): it would act on the torch reference as on your model, so the check could not tell "
                        f"them apart: remove it")
    if optimizer is None:
        return None
    twin = copy.deepcopy(optimizer)
    mine, kept = vars(optimizer), vars(twin)
    for name, value in mine.items():
        if name not in kept and not name.startswith("_") and callable(value):
            return (f"your {kind}'s {name} was replaced on the object ({name} = ...): the check steps a copy of "
                    f"the optimizer, which would not have it: declare the optimizer as torch.optim gives it")
        if name.startswith("_optimizer_step_") and name.endswith("hooks") and len(value or ()) > len(kept.get(name) or ()):
            when = "pre" if "pre" in name else "post"
            return (f"your {kind} has a step {when}-hook (register_step_{when}_hook): the check steps a copy of "
                    f"the optimizer, which would not run it: declare the optimizer without the hook")
    return None


class TorchModule(UserImplementation):
    convention = "torch"
    holds_weights = True

    def __init__(self, model, optimizer, loss, name, origin, input_shape=None):
        self.model, self.optimizer, self.loss = model, optimizer, loss
        self.name, self.origin = name, origin
        self.loss_fields = read_loss(loss)
        self.layers, traced = read_layers(model, loss, input_shape=input_shape)
        self.input_shape = self.layers.input_shape
        problem = unmirrored(optimizer)
        if problem:
            raise InputError(problem)
        if optimizer is not None:
            ours = {id(p) for p in model.parameters()}
            theirs = [p for g in optimizer.param_groups for p in g["params"]]
            if {id(p) for p in theirs} != ours:
                raise InputError("the optimizer was not built on model.parameters() (its parameters are not the model's)")
        self.settings = {**read_optimizer(optimizer), "sizes": [self.layers.n_in], "layers": self.layers}
        if self.input_shape:
            self.settings["input_shape"] = self.input_shape
        self.traced = traced
        where = [path for path, _, index in traced if index is not None]
        shown = [f"{path} ({type(module).__name__})" for path, module, index in traced if index is not None]
        self.vocabulary = block_names(self.layers, where, WORDS, shown)
        self.notes = batch_norm_notes(self.layers, [f"{w}.running_var" for w in where],
                                      "is torch's running variance of the UNBIASED batch variance (x m/(m-1))")

    @property
    def sizes(self):
        """[n_in, units of each Dense]: the widths of the layer list read."""
        return self.layers.sizes

    def network(self):
        return {**self.loss_fields, **self.settings}

    def build(self, spec, params, convention):
        return TorchRun(self, spec, params)

    def initial_params(self, spec):
        """Your model's own weights, [(W, b)] per block in the scratch layout (convert.py): what
        --weights mine starts every implementation from (a port's copied weights are compared
        from there: compare/engine/port_words.py)."""
        return own_weights(self.model, self.traced, self.layers)


def own_weights(model, traced, network):
    """The weights `model` holds now, [(W, b or zeros)] per block in the scratch layout."""
    placed, out = network.placed, []
    for _, module, index in traced:
        if index is None or not placed[index].layer.opens_block:
            continue
        p = placed[index]
        W = convert.to_scratch("torch", p.name("W"), module.weight.detach().double().numpy(), network)
        b = module.bias.detach().double().numpy().reshape(-1, 1) if module.bias is not None else \
            np.zeros((W.shape[0], 1))
        out.append((np.array(W), b))
    return out


def overwritten(traced, position):
    """Whether the output of traced[position] is overwritten in place by what runs next (ReLU(inplace=
    True), possibly after an Identity or Flatten that hands the same tensor on): then it is recorded
    and a copy is handed on."""
    for _, module, index in traced[position + 1:]:
        if getattr(module, "inplace", False) and not isinstance(module, (nn.Dropout, nn.Dropout2d)):
            return True
        if index is not None:
            return False
    return False


def loss_for(spec, output):
    """The spec's loss for a model given without one. A model that ends in its own Softmax or Sigmoid
    outputs probabilities: its cross-entropy reads them (NLLLoss of their log, BCELoss), as a torch
    user writes it, not the logits CrossEntropyLoss and BCEWithLogitsLoss take."""
    module, reads = LOSSES[spec.loss]
    if reads == "Z" and output != "linear":
        return nn.BCELoss(reduction=spec.reduction) if spec.loss == "binary_crossentropy" else \
            ProbabilitiesNLL(reduction=spec.reduction)
    return module(reduction=spec.reduction)


class ProbabilitiesNLL(nn.NLLLoss):
    """Categorical cross-entropy of probabilities and one-hot rows: NLLLoss of log p and the classes."""

    def forward(self, p, Y):
        return super().forward(torch.log(p), Y.argmax(dim=1))


class TorchRun:
    """One run of a copy of the user's objects. step(X, Y) -> record in the scratch layout."""

    def __init__(self, user, spec, params):
        if spec.network.layers != user.layers.layers:
            raise InputError(f"{user.label} is {user.layers.describe()}, the spec asks for {spec.network.describe()}")
        self.spec, self.dtype = spec, getattr(torch, spec.dtype)
        self.door = user.door(spec.seed)          # every call into the user's module goes through it
        with self.door.calling(f"a copy of {type(user.model).__name__}"):
            self.model, self.optimizer, loss = copy.deepcopy((user.model, user.optimizer, user.loss))
        self.loss_fn = loss if loss is not None else loss_for(spec, user.layers.activations[-1])
        if loss is not None and (user.loss_fields["loss"], user.loss_fields["reduction"]) != (spec.loss, spec.reduction):
            raise InputError(f"{user.name}'s loss is {user.loss_fields}, the spec asks for {spec.loss} ({spec.reduction})")
        with torch.no_grad():
            for tensor in [*self.model.parameters(), *self.model.buffers()]:
                if tensor.is_floating_point():
                    tensor.data = tensor.data.to(self.dtype)   # in place: the optimizer's references stay valid
        self.model.train()
        network, traced = read_layers(self.model, self.loss_fn, self.door, user.input_shape)
        placed = network.placed
        self.params, self.stats, self.cache, self.masks, self.dropouts = {}, {}, {}, {}, {}
        self.uses, self.calls = {}, {}        # module -> [(placed, keep_own)] in call order; calls this forward
        self.flat = {p.name("P") for p in placed                       # AdaptiveAvgPool2d's P
                     if isinstance(p.layer, GlobalAvgPool2D)}         # is (m, C, 1, 1)
        for position, (path, module, index) in enumerate(traced):
            if index is None:
                continue
            p = placed[index]
            self.adopt(p, module, params)
            if module not in self.uses:       # an activation or dropout module may run in several blocks
                self.uses[module] = []
                module.register_forward_hook(self.hook)
            self.uses[module].append((p, overwritten(traced, position)))
        if self.optimizer is None:
            trained = [t for name, t in self.params.items() if t.requires_grad]
            self.optimizer = make_optimizer(spec.optimizer, spec.hyper("torch"), trained)
        self.optimizer.state.clear()                                   # a fresh start, as every other runner's
        self.fused = FUSED.get(type(self.loss_fn))
        self.L = spec.n_layers

    def adopt(self, p, module, params):
        """Give one of the copy's layers the run's initial values, and note its parameters."""
        with torch.no_grad():
            if isinstance(p.layer, (Dense, Conv2D)):
                W, b = dense_params(params, p.block)           # scratch's layout -> torch's (convert.py)
                W = convert.from_scratch("torch", p.name("W"), np.asarray(W), self.spec.network)
                module.weight.copy_(torch.from_numpy(np.ascontiguousarray(W)))
                self.params[p.name("W")] = module.weight
                if module.bias is not None:
                    module.bias.copy_(torch.from_numpy(np.asarray(b).reshape(-1)))
                    self.params[p.name("b")] = module.bias
            elif isinstance(p.layer, (BatchNorm, LayerNorm)):
                gamma, beta = initial_norm(params, p)
                module.weight.copy_(torch.from_numpy(gamma))
                module.bias.copy_(torch.from_numpy(beta))
                self.params[p.name("gamma")], self.params[p.name("beta")] = module.weight, module.bias
                if isinstance(module, BATCH_NORMS):
                    module.reset_running_stats()                         # mean 0, variance 1, no batch counted
                    self.stats[p.name("mean")], self.stats[p.name("var")] = module.running_mean, module.running_var
            elif isinstance(p.layer, Dropout) and p.layer.rate:
                module.inplace = False                                   # the hook reads its input as it came
                self.dropouts[p.block] = SharedMaskDropout(p.layer.rate)

    def hook(self, module, inputs, output):
        """A forward hook that records a layer's output as Z_l, N_l or A_l (the block's latest output
        is its A_l); a Dropout's output is replaced by the harness's mask with torch's scaling. A
        module run in several blocks (one ReLU used after each Linear) is each of its uses in turn."""
        count = self.calls.get(module, 0)
        self.calls[module] = count + 1
        p, keep_own = self.uses[module][count % len(self.uses[module])]
        if p.layer.role is None:                          # a Flatten: no tensor of its own
            return None
        if p.layer.role == "P":                           # pooling: P_l comes after the block's A_l
            if output.requires_grad:
                output.retain_grad()
            self.cache[p.name("P")] = output
            return output.clone() if keep_own else None
        dropout = self.dropouts.get(p.block) if isinstance(p.layer, Dropout) else None
        if dropout is not None and module.training:
            if p.block not in self.masks:                 # never the user's doing: the harness's own bug
                raise RuntimeError(f"the harness handed no dropout mask for block {p.block} (set_masks)")
            output = dropout(inputs[0], self.masks[p.block])
        role = p.layer.role
        if role in ("Z", "N") and output.requires_grad:
            output.retain_grad()
        if role in ("Z", "N"):
            self.cache[p.name(role)] = output
        self.cache[p.name("A")] = output
        if keep_own:                          # an in-place activation next would overwrite it: it gets a copy
            return output.clone()
        return output if dropout is not None and module.training else None

    def set_masks(self, masks):
        """This step's dropout masks {l: (n_l, m)} in the scratch layout -> (m, n_l) tensors; on
        images (m, C, H, W), or (m, C, 1, 1) for a Dropout2d (convert.mask_to_framework)."""
        self.masks = {l: torch.from_numpy(np.ascontiguousarray(
            convert.mask_to_framework("torch", self.spec.network, l, mask))).to(self.dtype)
            for l, mask in masks.items()}

    def output(self, out):
        """A_L from the model's output: softmax / sigmoid of the logits for a fused loss (record only)."""
        if self.fused == "softmax":
            return torch.softmax(out, dim=1)
        if self.fused == "sigmoid":
            return torch.sigmoid(out)
        return out

    def inputs(self, X):
        """The harness's rows (m, n_0) -> the tensor the model takes: rows, or an NCHW batch."""
        return torch.from_numpy(np.ascontiguousarray(convert.inputs_to_framework("torch", X, self.spec.network)))\
            .to(self.dtype)

    def targets(self, Y):
        if isinstance(self.loss_fn, nn.CrossEntropyLoss):
            return torch.from_numpy(np.argmax(Y, axis=1))            # class indices, as a training loop gives
        return torch.from_numpy(np.ascontiguousarray(Y)).to(self.dtype)

    def step(self, X, Y):
        self.cache, self.calls = {}, {}
        self.optimizer.zero_grad()
        with self.door.calling(f"{type(self.model).__name__}.forward"):
            out = self.model(self.inputs(X))
        if not isinstance(out, torch.Tensor):
            raise UserCodeFailed(f"your {type(self.model).__name__}.forward returned {values.container_words(out)}, "
                                 f"not a tensor", "TypeError", values.function_frames(type(self.model).forward))
        with self.door.calling(f"{type(self.model).__name__} (backward)", type(self.model).forward):
            loss = self.loss_fn(out, self.targets(Y))
            loss.backward()
            self.optimizer.step()
        record = {name: t.detach().numpy() for name, t in self.cache.items()}
        record[f"A{self.L}"] = self.output(out).detach().numpy()
        record["loss"] = loss.detach().numpy()
        for name, t in self.cache.items():
            if name[0] in "ZNP" and t.grad is not None:
                record[f"d{name}"] = t.grad.numpy()
        for name, p in self.params.items():
            if p.grad is not None:
                record[f"d{name}"] = p.grad.numpy().copy()
            record[name] = p.detach().numpy().copy()
            for key, value in self.optimizer.state.get(p, {}).items():
                if key in STATE_NAMES and value is not None:
                    record[f"{name}.{STATE_NAMES[key]}"] = value.detach().numpy().copy()
        record.update({name: t.detach().numpy().copy() for name, t in self.stats.items()})
        for name in [n for n in record if n.lstrip("d") in self.flat]:    # (m, C, 1, 1) -> (m, C)
            record[name] = record[name].reshape(X.shape[0], -1)
        return convert.record_to_scratch("torch", record, self.spec.network, X.shape[0])

    def predict(self, X):
        self.calls = {}
        self.model.eval()                                              # running statistics, no dropout
        try:
            with torch.no_grad(), self.door.calling(f"{type(self.model).__name__}.forward"):
                out = self.model(self.inputs(X))
        finally:
            self.model.train()
        return convert.rows_to_batch(self.output(out).numpy())


def torch_module(model, optimizer=None, loss=None, *, name=None, input_shape=None):
    """Your nn.Module with your optimizer and loss -> a UserImplementation (see the module docstring).
    input_shape: (channels, height, width) of one input image, for a model with an nn.Conv2d."""
    caller = inspect.currentframe().f_back
    origin = f"{caller.f_code.co_filename}:{caller.f_lineno}" if caller else None
    return TorchModule(model, optimizer, loss, name, origin, input_shape)
