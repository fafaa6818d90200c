"""What differs between two ports of one CNN (a user's torch module and their Keras model), in the
user's words: the padding each conv layer adds, and the weights a port copied from the original.

Three mistakes porting engineers report (docs/conventions.md, issue 20):

    'same' with stride 2     torch's padding=1 pads every side; Keras's 'same' pads TensorFlow's
                             way, the odd extra row and column at the bottom and right (0 on
                             top/left): the port's feature maps are shifted by one pixel
    Flatten order            torch flattens (C, H, W), Keras (H, W, C): the first Dense's kernel
                             copied from torch's Linear.weight.T without permuting its rows
    kernel reshaped          Conv2d.weight (out, in, kh, kw) reshaped to Keras's (kh, kw, in, out),
                             not transposed: the numbers land on the wrong taps and channels

`image_differences` reads two layer lists (their specs' networks) and names each conv layer whose
padding per side differs, as `compare/engine/diagnose.py`'s layer_differences does for norm
settings ('setting-block<l>-conv2d-padding' reasons, printed after the divergence). `copy_words`
reads a port's own initial weights beside the original's (check --weights mine: the first model's
weights are the run's, a later model that holds other numbers runs from its own) and says which
copying mistake they are. Every layout is compare/engine/convert.py's.

`summed_words` names a bias gradient summed over too few axes: a conv's db with the output map's
shape (summed over the examples, not the positions), or one per example (diagnose.explain asks it
before its shape words).

Left out: stride, kernel size or dilation written differently (the layer lists then differ:
'the layer lists differ' names both), pooling padding and ceil_mode.
"""
import numpy as np

from . import convert, names
from .image_layers import Conv2D


FRAMEWORK_WORDS = {"torch": "torch", "keras": "Keras", "jax": "Flax"}


def sides_words(layer, sides, strides):
    """How much a conv layer pads, as the user wrote it: '1 on every side', "'same' with stride 2
    pads 0 on top/left and 1 on bottom/right", 'top 0, bottom 1, left 0, right 1'."""
    top, bottom, left, right = sides
    if layer.padding == "same" and (top, bottom) == (left, right):
        return (f"'same' with stride {strides[0]} pads {top} on top/left and {bottom} on "
                f"bottom/right")
    if len(set(sides)) == 1:
        return f"pads {top} on every side"
    return f"pads top {top}, bottom {bottom}, left {left}, right {right}"


def padding_fix(convention, sides):
    """How `convention`'s model pads `sides` (top, bottom, left, right) exactly."""
    top, bottom, left, right = sides
    if convention == "torch":
        if top == bottom and left == right:
            return f"use nn.Conv2d(..., padding={(top, left) if top != left else top})"
        sides = f"({left}, {right}, {top}, {bottom})"           # F.pad's order: last axis first
        return f"use F.pad(x, {sides}) (nn.ZeroPad2d({sides}) before the Conv2d) and padding=0"
    return (f"use keras.layers.ZeroPadding2D((({top}, {bottom}), ({left}, {right}))) and "
            f"padding='valid'")


def image_differences(network_a, convention_a, network_b, convention_b):
    """{'setting-block<l>-conv2d-padding': one line} for each Conv2D of two layer lists of the same
    kinds whose zeros per side differ (each list's own geometry: 'same' resolved by TensorFlow's
    rule for its input). Lists of other kinds: {} (layer_differences names them)."""
    placed_a, placed_b = network_a.placed, network_b.placed
    if [type(p.layer) for p in placed_a] != [type(p.layer) for p in placed_b]:
        return {}
    out = {}
    for pa, pb in zip(placed_a, placed_b):
        if not isinstance(pa.layer, Conv2D) or pa.n_in != pb.n_in:
            continue
        _, strides_a, _, sides_a = pa.layer.geometry(pa.n_in)
        _, strides_b, _, sides_b = pb.layer.geometry(pb.n_in)
        if tuple(sides_a) == tuple(sides_b):
            continue
        ca, cb = str(convention_a), str(convention_b)
        wa, wb = (FRAMEWORK_WORDS.get(c, c) for c in (ca, cb))
        fix = ""
        if "torch" in (ca, cb) and ca != cb:
            fix = f": {padding_fix('torch', sides_b if ca == 'torch' else sides_a)}"
        out[f"setting-block{pa.block}-conv2d-padding"] = (
            f"the Conv2D of block {pa.block}: {wa} {sides_words(pa.layer, sides_a, strides_a)}; "
            f"{wb} {sides_words(pb.layer, sides_b, strides_b)}{fix}")
    return out


def copy_words(first, port, params, own, network):
    """Why the weights `port` holds are not those of `first` (the run's `params`, scratch layout),
    one line per weight that differs, in the users' words. `own`: port's [(W, b)], scratch layout;
    network: port's layer list. [] when every weight is the original's."""
    out = []
    a, b = first.convention, port.convention
    for block, ((W, bias), (W_port, bias_port)) in enumerate(zip(params, own), start=1):
        name = f"W{block}"
        where = f"{port.label}'s {port.vocabulary.get(name, name)}"
        original = f"{first.label}'s {first.vocabulary.get(name, name)}"
        if np.array_equal(np.asarray(W, np.float64), W_port):
            if not np.array_equal(np.asarray(bias, np.float64), bias_port):
                out.append(f"{where.rsplit('.', 1)[0]} bias is not {original.rsplit('.', 1)[0]} "
                           f"bias")
            continue
        theirs = convert.from_scratch(a, name, np.asarray(W, np.float64), network)   # first's
        mine = convert.from_scratch(b, name, W_port, network)                        # the port's
        words = which_mistake(theirs, mine, name, network, a, b)
        out.append(f"{where} is not {original} in {FRAMEWORK_WORDS.get(b, b)}'s layout: {words}")
    return out


LAYOUT_WORDS = {("torch", True): "(out, in, kh, kw)", ("keras", True): "(kh, kw, in, out)",
                ("torch", False): "(out, in)", ("keras", False): "(in, out)",
                ("jax", False): "(in, out)"}
AXES = {("torch", "keras"): "2, 3, 1, 0", ("keras", "torch"): "3, 2, 0, 1"}


def which_mistake(theirs, mine, name, network, a, b):
    """The copying mistake that turns `theirs` (the original's weight, in a's layout) into `mine`
    (the port's, in b's layout), in words."""
    layout = convert.layout_of(name, network)
    conv = isinstance(layout, convert.ConvKernelLayout)
    reshaped = theirs.size == mine.size and np.array_equal(theirs.reshape(mine.shape), mine)
    if theirs.shape != mine.shape and reshaped:
        if conv:
            return (f"the conv kernel was reshaped, not transposed: "
                    f"{LAYOUT_WORDS.get((a, True))} -> {LAYOUT_WORDS.get((b, True))} needs a "
                    f"transpose: "
                    f"weight.transpose({AXES.get((a, b))})")
        return (f"the Dense kernel was reshaped, not transposed: {LAYOUT_WORDS.get((a, False))} -> "
                f"{LAYOUT_WORDS.get((b, False))} needs weight.T")
    flattened = isinstance(layout, convert.FlattenedKernelLayout) and theirs.ndim == 2
    if flattened and (a, b) == ("torch", "keras") and np.array_equal(theirs.T, mine):
        (C, H, W), n = layout.image, theirs.shape[0]
        return (f"the Dense after Flatten: its rows are in torch's C,H,W order, Keras flattens "
                f"H,W,C: permute them: kernel = weight.reshape({n}, {C}, {H}, {W})"
                f".transpose(2, 3, 1, 0).reshape({C * H * W}, {n})")
    if flattened and (a, b) == ("keras", "torch") and np.array_equal(theirs.T, mine):
        return ("the Linear after Flatten: its columns are in Keras's H,W,C order, torch flattens "
                "C,H,W: permute them")
    if not conv and theirs.shape == mine.shape and np.array_equal(theirs, mine) and \
            LAYOUT_WORDS.get((a, False)) != LAYOUT_WORDS.get((b, False)):   # square: shapes fit
        return (f"the Dense kernel was copied without transposing it: "
                f"{LAYOUT_WORDS.get((a, False))} -> {LAYOUT_WORDS.get((b, False))} needs weight.T "
                f"(a square layer hides it: the shapes fit)")
    if conv and np.array_equal(theirs.T, mine):
        return (f"the conv kernel was transposed with .T (every axis reversed): use "
                f"weight.transpose({AXES.get((a, b))})")
    foreign = int(np.sum(~np.isin(mine, theirs)))               # numbers the original does not hold
    if foreign:
        return (f"{foreign} of {mine.size} numbers are not the original's (not a copy of it, in "
                f"any order)")
    return ("it holds the original's numbers in another order than the layouts' (convert.py) or "
            "the mistakes above")


def summed_words(name, a_shape, b_shape, ours, theirs, network, m):
    """A bias gradient of the wrong shape, in words, or '' (then diagnose.shape_words speaks): one
    side's db_l holds the parameter's numbers times the output map's positions or the batch, the
    other's the parameter's. A conv's bias is added at every example and position (F, Ho, Wo), so
    its gradient sums dZ over both: db = dZ.sum(axis=(0, 2, 3)) (NCHW; (0, 1, 2) channels-last).
    A Dense's sums over the examples. a_shape, b_shape: ours's and theirs's."""
    parsed = names.parse(name)
    if parsed.kind != "db" or parsed.state or network is None:
        return ""
    p = next((p for p in network.placed if p.block == parsed.layer and p.layer.opens_block), None)
    if p is None:
        return ""
    out = p.n_out if isinstance(p.n_out, tuple) else (p.n_out,)
    F = out[0]
    a_shape, b_shape = tuple(a_shape), tuple(b_shape)
    for shape, other, who in ((a_shape, b_shape, ours), (b_shape, a_shape, theirs)):
        if int(np.prod(other, dtype=int)) != F or shape == other:
            continue
        if isinstance(p.layer, Conv2D):
            maps = {out: "0, 2, 3", (*out[1:], F): "0, 1, 2"}
            batches = {(m, *out): "0, 2, 3", (m, *out[1:], F): "0, 1, 2"}
            fix = f"db = dZ.sum(axis=({maps.get(shape) or batches.get(shape) or '0, 2, 3'}))"
            if shape in maps:
                return (f"{who}'s {name} has the output map's shape {shape}: summed over the "
                        f"examples but not over the positions ({fix})")
            if shape in batches:
                return (f"{who}'s {name} has dZ's shape {shape}: summed over neither the examples "
                        f"nor the positions ({fix})")
            if shape in ((m, F), (m, F, 1, 1), (m, 1, 1, F)):
                return (f"{who}'s {name} is {shape}, one per example: summed over the positions "
                        f"but not over the examples ({fix})")
        elif shape in ((F, m), (m, F)) and m > 1:
            axis = "axis=1, keepdims=True" if shape == (F, m) else "axis=0"
            return (f"{who}'s {name} has Z{parsed.layer}'s shape {shape}, one per example: not "
                    f"summed over the examples (db = dZ.sum({axis}))")
    return ""
