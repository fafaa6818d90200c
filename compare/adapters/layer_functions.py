"""compare.layer_functions: your cs231n-style layer functions, run as the network of a layer list.

    mine = compare.layer_functions(
        [compare.Conv2D(4, 3, padding=1), compare.Activation("relu"), compare.MaxPool2D(2),
         compare.Flatten(), compare.Dense(3), compare.Activation("softmax")], input_shape=(1, 8, 8),
        conv=(conv_forward_naive, conv_backward_naive), max_pool=(max_pool_forward_naive,
        max_pool_backward_naive), affine=(affine_forward, affine_backward),
        relu=(relu_forward, relu_backward), loss=softmax_loss)

Each pair is cs231n's assignment 2 (layers.py), in cs231n's layouts:
    conv_forward(x, w, b, conv_param) -> out, cache     x (N, C, H, W), w (F, C, HH, WW), b (F,),
    conv_backward(dout, cache) -> dx, dw, db            conv_param {'stride': s, 'pad': p}
    max_pool_forward(x, pool_param) -> out, cache        pool_param {'pool_height', 'pool_width',
    max_pool_backward(dout, cache) -> dx                 'stride'} (avg_pool= the same signature)
    affine_forward(x, w, b) -> out, cache                x (N, d1, ..., dk) read as (N, D), w (D, M)
    affine_backward(dout, cache) -> dx, dw, db           b (M,); dx has x's shape
    relu_forward(x) -> out, cache; relu_backward(dout, cache) -> dx
    softmax_loss(x, y) -> loss, dx                       x the scores (N, classes), y labels (N,)

The adapter runs the layer list's forward through your forward functions, keeping each cache,
then the backward through your backward functions in reverse: every tensor is yours, named as the
harness names them (Z1 your conv's out, A1 your relu's, P1 your pool's, dP1 the dout your pool
backward got, dZ1 the dout your conv backward got, dW1, db1 its dw, db; the Flatten is your
affine's reshape). The update is the spec's optimizer on your gradients (scratch/optimizers.py),
in each reference's conventions. Layouts: cs231n keeps torch's (NCHW images, (F, C, HH, WW)
kernels, one example per row), except affine's w (D, M), the transpose of torch's Linear.weight:
converted by compare/engine/convert.py (from_scratch/to_scratch 'torch'; Layout(weights='in_out')).

Left out: conv strides or padding that differ between height and width, or per side (cs231n's
conv_param has one stride and one pad), dilation; the probabilities A_L (softmax_loss keeps them:
no predictions, the loss and dZ_L are compared); other layers than those above.
"""
import inspect

import numpy as np

from ..engine import convert
from ..engine.errors import InputError
from ..engine.image_layers import AvgPool2D, Conv2D, Flatten, MaxPool2D, pair
from ..engine.layers import Activation, Dense, Network
from . import values
from .base import UserImplementation, dense_params
from .boundary import UserCodeFailed

CS231N = convert.Layout(examples="rows", weights="in_out", bias="flat", labels="integer")
PAIRS = {Conv2D: "conv", MaxPool2D: "max_pool", AvgPool2D: "avg_pool", Dense: "affine"}


class LayerFunctions(UserImplementation):
    """The user's layer functions composed over a layer list (module docstring)."""

    def __init__(self, layers, input_shape, functions, name=None, origin=None):
        self.name, self.origin, self.functions = name, origin, functions
        self.layers = network_of(layers, input_shape)
        for p in self.layers.placed:
            needs = PAIRS.get(type(p.layer)) or ("relu" if isinstance(p.layer, Activation) and
                                                 p.layer.name == "relu" else None)
            if needs and not valid_pair(functions.get(needs)):
                raise InputError(f"layer {p.index + 1} ({p.layer.describe()}) needs "
                                 f"{needs}=(forward, backward): two functions, as cs231n's "
                                 f"{needs}_forward and {needs}_backward")
            self.refuse(p)
        if not callable(functions.get("loss")):
            raise InputError("loss= is your softmax_loss(x, y) -> loss, dx")
        self.settings = {"sizes": [self.layers.n_in], "layers": self.layers,
                         "input_shape": self.layers.input_shape, "loss": "categorical_crossentropy",
                         "reduction": "mean"}
        self.vocabulary = {}
        for p in self.layers.placed:
            word, block = PAIRS.get(type(p.layer)), f"(block {p.block})"
            if word in ("conv", "affine"):
                self.vocabulary.update({p.name("Z"): f"{word}_forward's out {block}",
                                        f"d{p.name('W')}": f"{word}_backward's dw {block}",
                                        f"d{p.name('b')}": f"{word}_backward's db {block}",
                                        f"d{p.name('Z')}": f"the dout {word}_backward got {block}"})
            elif word:
                self.vocabulary.update({p.name("P"): f"{word}_forward's out {block}",
                                        f"d{p.name('P')}": f"the dout {word}_backward got {block}"})
        self.notes = {"A_L": "softmax_loss keeps the probabilities to itself: the loss and its dx "
                             "(dZ_L) are compared"}

    def refuse(self, p):
        """One line for a layer cs231n's functions cannot express."""
        layer, where = p.layer, f"layer {p.index + 1} ({p.layer.describe()})"
        if getattr(layer, "bias", True) is False:
            raise InputError(f"{where}: cs231n's forward functions take a bias b: give the layer "
                             f"bias=True")
        if isinstance(layer, Conv2D):
            kernel, strides, dilation, sides = layer.geometry(p.n_in)
            if strides[0] != strides[1] or len(set(sides)) != 1 or dilation != (1, 1):
                raise InputError(f"{where}: cs231n's conv_param holds one 'stride' and one 'pad' "
                                 f"for every side (no dilation): give Conv2D a square stride and "
                                 f"an int padding")
        elif isinstance(layer, (MaxPool2D, AvgPool2D)):
            kernel, strides = layer.window()
            if strides[0] != strides[1]:
                raise InputError(f"{where}: cs231n's pool_param holds one 'stride'")
        elif isinstance(layer, Activation) and layer.name not in ("relu", "linear") and \
                not (layer.name == "softmax" and p.index == len(self.layers.layers) - 1):
            raise InputError(f"{where}: relu between layers and softmax (your softmax_loss) at the "
                             f"end are mirrored")
        elif not isinstance(layer, (Activation, Flatten, Dense)):
            raise InputError(f"{where}: cs231n-style functions are mirrored for Conv2D, MaxPool2D, "
                             f"AvgPool2D, Flatten, Dense and relu")
        last = p.index == len(self.layers.layers) - 1
        if last and not (isinstance(layer, Activation) and layer.name == "softmax"):
            raise InputError("the layer list ends with Dense and Activation('softmax'): your "
                             "softmax_loss")

    def network(self):
        return dict(self.settings)

    def entry(self):
        """The spec's optimizer runs on your gradients in each reference's conventions."""
        entry = super().entry()
        entry.conventions = ("torch", "keras")
        return entry

    def build(self, spec, params, convention):
        return LayerFunctionsRun(self, spec, params, convention)


def valid_pair(value):
    return isinstance(value, (tuple, list)) and len(value) == 2 and all(callable(f) for f in value)


def network_of(layers, input_shape):
    """The validated Network of a layer list and the shape of one input image (C, H, W)."""
    if isinstance(layers, Network):
        return layers.validate()
    if not isinstance(layers, (list, tuple)):
        raise InputError(f"layers is a list of layers (compare.Conv2D, ...), got "
                         f"{type(layers).__name__}")
    if input_shape is None or len(tuple(input_shape)) != 3:
        raise InputError(f"input_shape is (channels, height, width) of one image, got "
                         f"{input_shape!r}")
    shape = tuple(int(d) for d in input_shape)
    layers = tuple(layers)
    return Network(int(np.prod(shape)), layers, shape).validate()


class LayerFunctionsRun:
    """One run: the user's parameters in cs231n's layouts; step(X, Y) -> record, scratch layout."""

    def __init__(self, user, spec, params, convention):
        from scratch.optimizers import make_optimizer

        if spec.network.layers != user.layers.layers:
            raise InputError(f"{user.label} is {user.layers.describe()}, the spec asks for "
                             f"{spec.network.describe()}")
        self.user, self.spec, self.network, self.f = user, spec, spec.network, user.functions
        self.door = user.door(spec.seed)
        self.placed = self.network.placed
        self.params = {}                                   # 'W1' -> the user's layout
        for p in self.placed:
            if p.layer.opens_block:
                W, b = dense_params(params, p.block)
                self.params.update(self.to_user(p, W, b))
        self.optimizer = make_optimizer(spec.optimizer, spec.hyper(convention), convention)
        self.missing = {"A": f"softmax_loss keeps A{spec.n_layers} to itself"}

    def to_user(self, p, W, b):
        return user_block(self.network, p, W, b)

    def to_scratch(self, p, name, value, m):
        return scratch_tensor(self.network, p, name, value, m)

    def call(self, what, function, *args):
        with self.door.calling(getattr(function, "__name__", what)):
            return function(*args)

    def result(self, out, n, role, function):
        """A forward's (out, cache) or a backward's n grads, checked to be arrays of numbers."""
        items = out if n > 1 else (out,)
        if n > 1 and (not isinstance(out, (tuple, list)) or len(out) != n):
            raise UserCodeFailed(f"your {role} returned {values.container_words(out)}, not {n} "
                                 f"values", "TypeError", values.function_frames(function))
        return items

    def step(self, X, Y):
        m, f, record = X.shape[0], self.f, {}
        x = convert.inputs_to_framework("torch", X, self.network)           # (N, C, H, W)
        y = convert.targets_to_layout(Y, CS231N)
        A, caches = x, []
        for p in self.placed:
            layer, kind = p.layer, PAIRS.get(type(p.layer))
            if isinstance(layer, Conv2D):
                _, strides, _, sides = layer.geometry(p.n_in)
                conv_param = {"stride": strides[0], "pad": sides[0]}
                args = (A, self.params[p.name("W")], self.params[p.name("b")], conv_param)
            elif isinstance(layer, (MaxPool2D, AvgPool2D)):
                (ph, pw), strides = layer.window()
                args = (A, {"pool_height": ph, "pool_width": pw, "stride": strides[0]})
            elif isinstance(layer, Dense):
                args = (A, self.params[p.name("W")], self.params[p.name("b")])
            elif isinstance(layer, Activation) and layer.name == "relu":
                kind, args = "relu", (A,)
            else:                          # Flatten (affine reshapes), linear, the loss's softmax
                caches.append(None)
                continue
            forward = f[kind][0]
            role = f"{kind}_forward"
            A, cache = self.result(self.call(role, forward, *args), 2, role, forward)
            values.check_tensor(f"{kind}_forward's out", A, role, forward)
            caches.append(cache)
            record[p.name(layer.role)] = A
        loss_fn = f["loss"]
        loss, dout = self.result(self.call("softmax_loss", loss_fn, A, y), 2, "softmax_loss",
                                 loss_fn)
        record["loss"] = np.asarray(values.check_tensor("loss", loss, "softmax_loss", loss_fn))
        for p, cache in zip(reversed(self.placed), reversed(caches)):
            if cache is None:
                continue
            kind = PAIRS.get(type(p.layer), "relu")
            backward = f[kind][1]
            if p.layer.role in ("Z", "P"):
                record[f"d{p.name(p.layer.role)}"] = dout
            if kind in ("conv", "affine"):
                dout, dw, db = self.result(self.call(f"{kind}_backward", backward, dout, cache), 3,
                                           f"{kind}_backward", backward)
                role = f"{kind}_backward"
                record[f"d{p.name('W')}"] = values.check_tensor("dw", dw, role, backward)
                record[f"d{p.name('b')}"] = values.check_tensor("db", db, role, backward)
            else:
                dout = self.call(f"{kind}_backward", backward, dout, cache)
            values.check_tensor("dx", dout, f"{kind}_backward", backward)
        out = {name: value if name == "loss" else self.to_scratch(self.opener(name), name, value, m)
               for name, value in record.items()}
        self.update(out)
        for name, value in self.params.items():
            out[name] = self.to_scratch(self.opener(name), name, value, m)
        return out

    def opener(self, name):
        return opener(self.network, name)

    def update(self, record):
        """The spec's optimizer on the user's gradients (scratch layout), back in cs231n's."""
        params = {}
        for p in self.placed:
            if p.layer.opens_block:
                for role in p.layer.params(p.n_in):
                    name = p.name(role)
                    params[name] = self.to_scratch(p, name, self.params[name], None)
        usable = {n: v for n, v in params.items() if np.shape(record.get("d" + n)) == np.shape(v)}
        stepped = {**params, **(self.optimizer.step(usable, record) if usable else {})}
        for p in self.placed:
            if p.layer.opens_block:
                self.params.update(self.to_user(p, stepped[p.name("W")], stepped[p.name("b")]))


# --- cs231n's layouts of an image network, block by block (network_class's cs231n style too) ---

def opener(network, name):
    """The layer that opens the block of a tensor ('dW2' -> block 2's Dense or Conv2D)."""
    block = convert.split(name)[1]
    return next(p for p in network.placed if p.block == block and p.layer.opens_block)


def user_block(network, p, W, b):
    """A block's (W, b) in the scratch layout -> {'W<l>', 'b<l>'} in cs231n's (convert.py): a conv's
    w (F, C, HH, WW) is torch's; affine's w (D, M) is Layout(weights='in_out')'s; b flat."""
    if isinstance(p.layer, Conv2D):
        W = convert.from_scratch("torch", p.name("W"), np.asarray(W, np.float64), network)
        return {p.name("W"): W, p.name("b"): np.asarray(b, np.float64).reshape(-1).copy()}
    W, b = np.asarray(W, np.float64), np.asarray(b, np.float64)
    (W, b), = convert.params_to_layout([(W, b)], CS231N)
    return {p.name("W"): W, p.name("b"): b}


def scratch_tensor(network, p, name, value, m):
    """One of the user's tensors (cs231n's layout) -> the scratch layout when its shape is cs231n's;
    any other shape unchanged, so the comparison reports it (and what it looks like). p: the layer
    opening its block."""
    value = np.asarray(value)
    role = convert.split(name)[0].lstrip("d") or convert.split(name)[0]
    if isinstance(p.layer, Dense) and role in ("W", "b"):
        n_out, n_in = p.layer.params(p.n_in)["W"]
        W = value if role == "W" else np.zeros((n_in, n_out))
        b = value if role == "b" else np.zeros(n_out)
        if W.shape != (n_in, n_out) or b.size != n_out:
            return value
        W, b = convert.params_from_layout([(W, b)], [n_in, n_out], CS231N)[0]
        return W if role == "W" else b
    if role == "b":
        return value.reshape(-1, 1) if value.ndim == 1 else value
    try:
        return convert.to_scratch("torch", name, value, network, m)
    except AssertionError:                  # not cs231n's shape: compared (and described) as it is
        return value


def layer_functions(layers, input_shape=None, *, conv=None, max_pool=None, avg_pool=None,
                    affine=None, relu=None, loss=None, name=None):
    """Your cs231n-style layer functions over a layer list -> a UserImplementation (module
    docstring)."""
    caller = inspect.currentframe().f_back
    origin = f"{caller.f_code.co_filename}:{caller.f_lineno}" if caller else None
    functions = {"conv": conv, "max_pool": max_pool, "avg_pool": avg_pool, "affine": affine,
                 "relu": relu, "loss": loss}
    return LayerFunctions(layers, input_shape, functions, name=name, origin=origin)
