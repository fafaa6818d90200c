"""Every layout conversion between scratch, torch and Keras, in one place, each shape asserted.

                 scratch            torch                 Keras
    weight       W  (out, in)       Linear.weight (out, in)   Dense.kernel (in, out) = W.T
    bias         b  (out, 1)        Linear.bias   (out,)      Dense.bias   (out,)
    batch        X, Z, A  (units, m)  (m, units)              (m, units)
(scratch keeps one example per column, the frameworks one per row.)

A tensor is converted by its ROLE's layout, not by its rank: each role of the layer list
(compare/engine/layers.py) has one `RoleLayout`:
    kernel     W                         scratch (out, in); torch the same; Keras (in, out)
    per_unit   b gamma beta mean var     scratch (n, 1); torch and Keras (n,)
    rows       Z N A (a layer's output)  scratch (n, m); torch and Keras (m, n)
    same       (a new kind's choice)     the same shape everywhere
A gradient dX follows X's layout, optimizer state 'X.m' its parameter's. A layer kind declares
the layout of a new parameter role in its `layouts` ({role: 'per_unit' | 'kernel' | 'same'});
its output role is 'rows'. The scratch shape a tensor must have comes from the network (its
layers' params(n) and state(n), each output (n_out, m)), or, given only `sizes`, from the block's
widths.

The harness compares everything in the scratch layout: framework tensors come back through
`to_scratch`, named as in the scratch code: Z1, A1, dZ1, dW1, db1, W1, b1, and optimizer state
as '<param>.<state>' (e.g. 'W1.m'). `framework_initial` gives a reference every parameter it
starts from in its own layout: the harness's W and b for each Dense, `layer.initial` for the rest.

A user's own layouts (compare/adapters) are converted here too: `Layout` and the functions below it.

Images, conv kernels and the Dense after a Flatten: the section "images and convolution kernels"
below (the layer kinds that use them come with issue 20).
"""
from dataclasses import dataclass

import numpy as np

from scratch.conventions import as_convention

from .layers import KINDS, Network
from .names import TensorName


@dataclass(frozen=True)
class RoleLayout:
    """How one role's array is held in the frameworks, given its scratch shape."""
    name: str

    def transposed(self, framework):
        """Whether the framework holds it transposed: rows when it puts one example per row, the
        Dense weight when it keeps it (in, out) (the Convention's examples_per_row,
        dense_weight_in_out: scratch/conventions.py)."""
        convention = as_convention(framework)
        return (self.name == "rows" and convention.examples_per_row
                or self.name == "kernel" and convention.dense_weight_in_out)

    def framework_shape(self, framework, shape):
        shape = tuple(shape)
        if self.name == "per_unit":
            return (shape[0],)
        if self.transposed(framework):
            return shape[::-1]
        return shape

    def to_framework(self, framework, array):
        """scratch -> the framework's layout, a fresh array."""
        if self.name == "per_unit":
            return array.reshape(-1).copy()
        if self.transposed(framework):
            return np.ascontiguousarray(array.T)
        return array.copy()

    def to_scratch(self, framework, array, shape):
        """The framework's layout -> scratch (a view where a transpose is all it takes)."""
        if self.name == "per_unit":
            return array.reshape(shape)
        if self.transposed(framework):
            return array.T
        return array


LAYOUTS = {name: RoleLayout(name) for name in ("kernel", "per_unit", "rows", "same")}
# the built-in roles; a layer kind adds its own (Layer.layouts), its output role is 'rows'
ROLE_LAYOUTS = {"W": "kernel", "b": "per_unit", "gamma": "per_unit", "beta": "per_unit", "mean": "per_unit",
                "var": "per_unit", "Z": "rows", "N": "rows", "A": "rows"}
PER_UNIT = tuple(role for role, layout in ROLE_LAYOUTS.items() if layout == "per_unit")


@dataclass(frozen=True)
class ImageLayout:
    """An image batch (a Conv2D's Z, an activation's A or pooling's P on images, their gradients):
    scratch (C H W, m) columns; the frameworks' 4-D batch (see images_to_framework below)."""
    shape: tuple                                 # (C, H, W)
    name: str = "images"

    def framework_shape(self, framework, shape):
        C, H, W = self.shape
        return (shape[1], H, W, C) if as_convention(framework).channels_last else (shape[1], C, H, W)

    def to_framework(self, framework, array):
        return images_to_framework(framework, array, self.shape)

    def to_scratch(self, framework, array, shape):
        return images_to_scratch(framework, array, self.shape)


@dataclass(frozen=True)
class ConvKernelLayout:
    """A conv kernel (and its gradient and optimizer state): scratch (F, C, kh, kw)."""
    name: str = "conv_kernel"

    def framework_shape(self, framework, shape):
        F, C, kh, kw = shape
        return (kh, kw, C, F) if as_convention(framework).channels_last else tuple(shape)

    def to_framework(self, framework, array):
        return conv_kernel_to_framework(framework, array)

    def to_scratch(self, framework, array, shape):
        return conv_kernel_to_scratch(framework, array, shape)


@dataclass(frozen=True)
class FlattenedKernelLayout:
    """The weight of a Dense after a Flatten of images `image` (C, H, W): scratch (n, C H W), the
    columns channels-first; a channels-last framework's in Flatten's H W C order."""
    image: tuple
    name: str = "flattened_kernel"

    def framework_shape(self, framework, shape):
        return tuple(shape)[::-1] if as_convention(framework).dense_weight_in_out else tuple(shape)

    def to_framework(self, framework, array):
        return flattened_weight_to_framework(framework, array, self.image)

    def to_scratch(self, framework, array, shape):
        return flattened_weight_to_scratch(framework, array, self.image, shape[0])


_PLACES = {}              # id(network) -> (network, {name: layout}): the layouts that depend on the place


def placed_layouts(network):
    """{name: layout} of the tensors whose layout depends on where they stand, not on their role
    alone: an image layer's outputs (ImageLayout), a Conv2D's kernel, the weight of a Dense after a
    Flatten of images. Other names follow their role's layout (role_layout)."""
    if not isinstance(network, Network):
        return {}
    if id(network) not in _PLACES or _PLACES[id(network)][0] is not network:
        table, image = {}, None
        for p in network.placed:
            if isinstance(p.n_out, tuple) and p.layer.role:
                table[p.name(p.layer.role)] = ImageLayout(p.n_out)
                if p.layer.role != "P":
                    table[f"A{p.block}"] = ImageLayout(p.n_out)
            if "W" in p.layer.params(p.n_in) and len(p.layer.params(p.n_in)["W"]) == 4:
                table[p.name("W")] = ConvKernelLayout()
            if p.layer.role is None and isinstance(p.n_in, tuple):       # a Flatten of images
                image = p.n_in
            elif p.layer.opens_block and image is not None and not isinstance(p.n_in, tuple):
                table[p.name("W")], image = FlattenedKernelLayout(image), None
        if len(_PLACES) > 16:
            _PLACES.clear()
        _PLACES[id(network)] = (network, table)
    return _PLACES[id(network)][1]


def layout_of(name, network):
    """The layout of a named tensor ('dZ1', 'W2.m', 'P1') in `network` (or widths: by role)."""
    role, block, _ = split(name)
    places = placed_layouts(network)
    base = role[1:] if role.startswith("d") and role[1:] else role
    for candidate in (f"{base}{block}", f"{role}{block}"):
        if candidate in places:
            return places[candidate]
    return role_layout(role)


def role_layout(role):
    """The RoleLayout of a role ('W', 'gamma', 'Z'), of a gradient ('dW': W's), or of a role a
    registered layer kind declares. KeyError for a role nobody declares."""
    for candidate in (role, role[1:] if role.startswith("d") else None):
        if candidate in ROLE_LAYOUTS:
            return LAYOUTS[ROLE_LAYOUTS[candidate]]
        for cls in KINDS.values():
            if candidate is not None and candidate in cls.layouts:
                return LAYOUTS[cls.layouts[candidate]]
            if candidate is not None and candidate == cls.role:
                return LAYOUTS["rows"]
    raise KeyError(f"no layout for the role {role!r}: declare it in its layer kind's `layouts`")


_SPLIT = {}


def split(name):
    """'dW2' -> ('dW', 2, None); 'W1.m' -> ('W', 1, 'm'): role, block, optimizer state."""
    if name not in _SPLIT:
        base, _, state = name.partition(".")
        role = base.rstrip("0123456789")
        if role == base or not role:
            TensorName.parse(name)                                # raises UnknownTensor, naming it
            raise KeyError(f"{name!r} names no layer's tensor")
        _SPLIT[name] = (role, int(base[len(role):]), state or None)
    return _SPLIT[name]


def expect(array, shape, what):
    """Assert `array` has exactly `shape`; the message names the tensor."""
    if tuple(np.shape(array)) != tuple(shape):
        raise AssertionError(f"{what}: expected shape {tuple(shape)}, got {tuple(np.shape(array))}")
    return array


_SHAPES = {}              # id(network) -> (network, {name: scratch shape, an output's as (n, None)})


def declared_shapes(network):
    """{name: scratch shape} of every parameter, state and output of a layer list (an output's
    shape is (n, None): m is the batch's). Computed once per network."""
    if id(network) not in _SHAPES or _SHAPES[id(network)][0] is not network:
        table, last = {}, {}
        for p in network.placed:
            for role, shape in {**p.layer.params(p.n_in), **p.layer.state(p.n_in)}.items():
                table[p.name(role)] = tuple(shape)
            if p.layer.role:                                    # a Flatten has no tensor of its own
                table[p.name(p.layer.role)] = (p.width_out, None)
                last.setdefault(p.block, (p.width_out, None))
                if p.layer.role != "P":                          # pooling's output comes after A
                    last[p.block] = (p.width_out, None)
        for block, shape in last.items():                       # a block without an activation: its last output
            table.setdefault(f"A{block}", shape)
        if len(_SHAPES) > 16:
            _SHAPES.clear()
        _SHAPES[id(network)] = (network, table)
    return _SHAPES[id(network)][1]


def scratch_shape(name, shapes, m):
    """The scratch shape of a tensor ('dW2', 'gamma1', 'Z3', 'W1.m'). shapes: the network (a
    layers.Network: its layers' declarations) or the widths [n0, ..., nL] (each block's W, per-unit
    vectors and outputs)."""
    role, block, _ = split(name)
    base = role[1:] if role.startswith("d") and role not in ROLE_LAYOUTS and role[1:] else role
    if isinstance(shapes, Network):
        table = declared_shapes(shapes)
        found = table.get(f"{base}{block}", table.get(f"{role}{block}"))
        if found is not None:
            return (found[0], m) if found[1] is None else found
        shapes = shapes.sizes
    TensorName.parse(name)                                        # a name no one declares: UnknownTensor
    layout = role_layout(role).name
    n_out, n_in = shapes[block], shapes[block - 1]
    return {"kernel": (n_out, n_in), "per_unit": (n_out, 1), "rows": (n_out, m)}.get(layout, (n_out, 1))


def to_torch(params):
    """[(W (out, in), b (out, 1))] -> [(weight (out, in), bias (out,))] as numpy arrays."""
    return [pair_to("torch", l, W, b) for l, (W, b) in enumerate(params, start=1)]


def to_keras(params):
    """[(W (out, in), b (out, 1))] -> [(kernel (in, out), bias (out,))] as numpy arrays."""
    return [pair_to("keras", l, W, b) for l, (W, b) in enumerate(params, start=1)]


def pair_to(framework, l, W, b):
    """One Dense layer's (W, b) in scratch's layout -> the framework's, shapes asserted."""
    n_out, n_in = W.shape
    expect(b, (n_out, 1), f"b{l}")
    return LAYOUTS["kernel"].to_framework(framework, W), LAYOUTS["per_unit"].to_framework(framework, b)


def framework_initial(framework, network, params):
    """{name: array in the framework's layout} of every parameter of the layer list: each Dense's
    W and b from the harness's `params` [(W, b)] (one pair per Dense, scratch layout; b left out
    where the Dense has no bias), every other layer's from its kind's `initial(n, dtype)`, each
    shape asserted against the layer's declaration."""
    dtype = np.asarray(params[0][0]).dtype if params else np.float64
    out = {}
    for p in network.placed:
        values = p.layer.initial(p.n_in, dtype)
        opener = p.index == 0 or network.placed[p.index - 1].block != p.block
        harness = dict(zip(("W", "b"), params[p.block - 1])) if opener else {}
        for role, shape in p.layer.params(p.n_in).items():
            value = values[role] if role in values else harness.get(role)
            if value is None:
                raise ValueError(f"{p.layer.describe()} declares the parameter {role} and no initial value for it "
                                 f"(its kind's initial(n, dtype))")
            value = expect(np.asarray(value), shape, f"initial {p.name(role)}")
            out[p.name(role)] = layout_of(p.name(role), network).to_framework(framework, value)
    return out


def batch_to_rows(X):
    """A scratch batch (units, m) -> the frameworks' (m, units). A transposed view, not a copy:
    BLAS multiplies transposed operands directly, and a full MNIST batch is 376 MB."""
    return X.T


def inputs_to_framework(framework, X, network):
    """A batch of inputs as the harness holds them (m, n_0), rows -> what the framework's network
    takes: the rows themselves, or for images (network.input_shape) its 4-D batch."""
    shape = getattr(network, "input_shape", None)
    return images_to_framework(framework, X.T, shape) if shape else X


def mask_to_framework(framework, network, block, mask):
    """Block `block`'s dropout mask (rows, m), scratch's layout (compare/engine/masks.py) -> the
    framework's: rows (m, n) after units; after images (C, H, W) the image batch of a Dropout's
    (C H W, m), or, a SpatialDropout2D's (C, m), the batch of (C, 1, 1) images it broadcasts as:
    torch (m, C, 1, 1) as Dropout2d's noise, Keras (m, 1, 1, C) as SpatialDropout2D's noise_shape
    (keras/src/layers/regularization/spatial_dropout.py _get_noise_shape)."""
    placed = next(p for p in network.placed
                  if p.block == block and p.layer.kind in ("dropout", "spatial_dropout2d"))
    if not isinstance(placed.n_in, tuple):
        return batch_to_rows(mask)
    C = placed.n_in[0]
    shape = placed.n_in if np.shape(mask)[0] == placed.width_in else (C, 1, 1)
    return images_to_framework(framework, mask, shape)


def rows_to_batch(X):
    """The frameworks' (m, units) -> a scratch batch (units, m). A transposed view, not a copy."""
    return X.T


def to_scratch(framework, name, array, sizes, m=None):
    """One named framework tensor -> the scratch layout, shape asserted.

    framework: 'torch' | 'keras'; name: e.g. 'Z2', 'dW1', 'b3', 'gamma1', 'W1.m', 'loss';
    sizes: the network (a layers.Network) or its widths [n0, ..., nL]; m: batch size (for Z, A, dZ).
    """
    array = np.asarray(array)
    if name in ("loss", "lr"):
        return expect(array, (), name)
    layout = layout_of(name, sizes)
    shape = scratch_shape(name, sizes, m)
    expect(array, layout.framework_shape(framework, shape), f"{framework} {name}")
    return layout.to_scratch(framework, array, shape)


def from_scratch(framework, name, array, network=None):
    """A scratch parameter, state or optimizer-state tensor ('W1', 'b2', 'gamma1', 'mean1', 'W1.m')
    -> the framework's layout (the inverse of `to_scratch`), by its layout in `network`."""
    return layout_of(name, network).to_framework(framework, array)


def record_to_scratch(framework, record, sizes, m):
    """Every tensor of a framework's step record -> scratch layout (see `to_scratch`)."""
    return {name: to_scratch(framework, name, value, sizes, m) for name, value in record.items()}


def scratch_params(params):
    """[(W, b)] -> {'W1': W, 'b1': b, ...}: the names the harness compares by."""
    named = {}
    for l, (W, b) in enumerate(params, start=1):
        named[f"W{l}"], named[f"b{l}"] = W, b
    return named


# --- images and convolution kernels (issue 20) ------------------------------------------------
# Scratch holds an image batch as its columns, one example per COLUMN, each column the example's
# C*H*W numbers in channels-first order (the order torch's NCHW flattens to); a conv kernel as
# (out, in, kh, kw), torch's Conv2d.weight. A channels-last convention (Keras's default
# data_format, keras/src/backend/config.py _IMAGE_DATA_FORMAT) holds a batch (m, H, W, C), a
# kernel (kh, kw, in, out) (keras/src/layers/convolutional/base_conv.py build: kernel_size +
# (in, filters)), and its Flatten orders H*W*C whatever the data_format (keras/src/layers/
# reshaping/flatten.py Flatten.call switches channels_first to channels-last before reshaping):
# so the Dense after a Flatten holds its input rows in another order, a permutation of scratch's
# columns of W, and a port that copies that kernel without permuting it trains, quietly wrong.
#
#     scratch                  torch (NCHW)                Keras (channels-last)
#     images (C*H*W, m)        (m, C, H, W)                (m, H, W, C)
#     kernel (F, C, kh, kw)    Conv2d.weight (F, C, kh, kw)   Conv2D.kernel (kh, kw, C, F)
#     W after Flatten (n, C*H*W)   Linear.weight, same      Dense.kernel (H*W*C, n) = W[:, order].T


def images_to_framework(convention, A, shape):
    """Scratch columns (C*H*W, m) of images `shape` (C, H, W) -> the convention's 4-D batch."""
    C, H, W = shape
    expect(A, (C * H * W, np.shape(A)[-1]), "images (C*H*W, m)")
    nchw = A.T.reshape(-1, C, H, W)                                   # (m, C, H, W)
    return np.ascontiguousarray(nchw.transpose(0, 2, 3, 1) if as_convention(convention).channels_last else nchw)


def images_to_scratch(convention, T, shape):
    """The convention's 4-D batch -> scratch columns (C*H*W, m), asserting `shape` (C, H, W)."""
    C, H, W = shape
    T = np.asarray(T)
    channels_last = as_convention(convention).channels_last
    expect(T, (T.shape[0], H, W, C) if channels_last else (T.shape[0], C, H, W), "an image batch")
    nchw = T.transpose(0, 3, 1, 2) if channels_last else T
    return nchw.reshape(T.shape[0], C * H * W).T


def conv_kernel_to_framework(convention, K):
    """Scratch's (F, C, kh, kw) -> the convention's kernel, a fresh array."""
    if np.ndim(K) != 4:
        raise AssertionError(f"a conv kernel (out, in, kh, kw): expected 4 axes, got shape {np.shape(K)}")
    return np.ascontiguousarray(K.transpose(2, 3, 1, 0)) if as_convention(convention).channels_last else K.copy()


def conv_kernel_to_scratch(convention, K, shape):
    """The convention's kernel -> scratch's (F, C, kh, kw) = `shape`, asserted."""
    F, C, kh, kw = shape
    if as_convention(convention).channels_last:
        expect(K, (kh, kw, C, F), "a channels-last conv kernel (kh, kw, in, out)")
        return np.asarray(K).transpose(3, 2, 0, 1)
    expect(K, (F, C, kh, kw), "a conv kernel (out, in, kh, kw)")
    return np.asarray(K)


def flatten_order(convention, shape):
    """order[i] = the scratch (C*H*W) index of the convention's i-th flattened number of an image
    `shape` (C, H, W): the identity channels-first, H*W*C channels-last."""
    C, H, W = shape
    chw = np.arange(C * H * W).reshape(C, H, W)
    return (chw.transpose(1, 2, 0) if as_convention(convention).channels_last else chw).reshape(-1)


def flattened_weight_to_framework(convention, W, shape):
    """The weight (n, C*H*W) of a Dense after a Flatten of images `shape` -> the convention's
    weight (torch (n, C*H*W); Keras's kernel (H*W*C, n), its rows in Flatten's order)."""
    convention = as_convention(convention)
    expect(W, (W.shape[0], int(np.prod(shape))), "the weight of a Dense after a Flatten")
    W = W[:, flatten_order(convention, shape)]
    return np.ascontiguousarray(W.T) if convention.dense_weight_in_out else W.copy()


def flattened_weight_to_scratch(convention, K, shape, units):
    """The convention's weight of a Dense after a Flatten -> scratch's (units, C*H*W)."""
    convention = as_convention(convention)
    n = int(np.prod(shape))
    expect(K, (n, units) if convention.dense_weight_in_out else (units, n), "the weight of a Dense after a Flatten")
    W = np.asarray(K).T if convention.dense_weight_in_out else np.asarray(K)
    out = np.empty_like(W)
    out[:, flatten_order(convention, shape)] = W
    return out


# --- a user's own layouts (compare/adapters) --------------------------------------------------

@dataclass(frozen=True)
class Layout:
    """How a user's code holds its arrays. The defaults are the scratch layout (and most blog code's)."""
    examples: str = "columns"   # 'columns': X (n_0, m), Z/A/dZ (n_l, m); 'rows': (m, n_0), (m, n_l)
    weights: str = "out_in"     # 'out_in': W (n_l, n_{l-1}) as torch's Linear; 'in_out': (n_{l-1}, n_l) as a Keras kernel
    bias: str = "column"        # 'column': (n_l, 1); 'flat': (n_l,); 'row': (1, n_l)
    labels: str = "one_hot"     # 'one_hot': Y like Z_L; 'integer': y (m,) of class indices

    def validate(self):
        from .errors import InputError

        for field_name, choices in LAYOUT_CHOICES.items():
            if getattr(self, field_name) not in choices:
                raise InputError(f"layout {field_name} {getattr(self, field_name)!r}: choose one of {', '.join(choices)}")
        return self


LAYOUT_CHOICES = {"examples": ("columns", "rows"), "weights": ("out_in", "in_out"),
                  "bias": ("column", "flat", "row"), "labels": ("one_hot", "integer")}


def bias_shape(n, layout):
    return {"column": (n, 1), "flat": (n,), "row": (1, n)}[layout.bias]


def params_to_layout(params, layout):
    """[(W (out, in), b (out, 1))] -> the user's layout, as fresh copies."""
    out = []
    for W, b in params:
        n_out = W.shape[0]
        out.append((np.array(W.T if layout.weights == "in_out" else W), np.array(b).reshape(bias_shape(n_out, layout))))
    return out


def params_from_layout(params, sizes, layout):
    """The user's own initial [(W, b)] -> the scratch layout, each shape asserted (a wrong shape here
    is an input error of the declaration, not a finding)."""
    out = []
    for l, (W, b) in enumerate(params, start=1):
        n_out, n_in = sizes[l], sizes[l - 1]
        W = np.asarray(W, dtype=np.float64)
        want = (n_in, n_out) if layout.weights == "in_out" else (n_out, n_in)
        expect(W, want, f"your initial W{l} ({layout.weights})")
        b = np.asarray(b, dtype=np.float64)
        if b.size != n_out:
            raise AssertionError(f"your initial b{l}: expected {n_out} values, got shape {b.shape}")
        out.append((np.ascontiguousarray(W.T if layout.weights == "in_out" else W), b.reshape(n_out, 1).copy()))
    return out


def batch_to_layout(X, layout):
    """A batch of rows (m, n) -> the user's layout, a view (X.T for one example per column), not a
    copy: the harness hands every user's implementation a batch of its own and compares it with its
    own after each step (guard.py), so a change the user's code makes to it is seen and reported."""
    return X.T if layout.examples == "columns" else X


def targets_to_layout(Y, layout):
    """Targets as rows (m, n_L), one-hot or real -> the user's layout; integer labels (m,) if asked."""
    if layout.labels == "integer":
        return np.argmax(Y, axis=1)
    return batch_to_layout(Y, layout)


def tensor_from_layout(name, array, layout, sizes, m):
    """One of the user's tensors -> the scratch layout, when its shape is what the user's layout
    says it should be; any other shape is passed on unchanged, so the comparison reports it (and
    says what it looks like: a lost axis, a transpose) instead of this function failing."""
    array = np.asarray(array)
    parsed = TensorName.parse(name)
    if parsed.layer is None:
        return array
    n_out, n_in = sizes[parsed.layer], sizes[parsed.layer - 1]
    kind = "W" if parsed.state and parsed.kind == "W" else "b" if parsed.state else parsed.kind.lstrip("d")
    if kind in ("Z", "A"):
        if layout.examples == "rows" and array.shape == (m, n_out):
            return array.T
        return array
    if kind == "W":
        if layout.weights == "in_out" and array.shape == (n_in, n_out):
            return array.T
        return array
    if array.shape == bias_shape(n_out, layout):
        return array.reshape(n_out, 1)
    return array
