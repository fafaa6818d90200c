"""A zoo of classic from-scratch mistakes, to prove the checker can fail and says where.

    python -m compare bugs                          the list: each mistake, its recipe, where it shows
    python -m compare RECIPE --inject-bug NAME      run with that one mistake in the scratch code

Each mistake is the correct scratch function or method with one line changed (marked BUG),
put in place by `inject(name)`, a context manager built on unittest.mock.patch, so the
teaching code in scratch/ stays clean. Both scratch runners (torch and Keras conventions)
carry the mistake, so both pairs (scratch vs torch, scratch@keras vs keras) catch it.

`expected` says where the harness must localise each mistake: the step, layer and tensor
of summary.first_divergence, or, for a mistake that raises, summary.error at that step;
`diagnosis` the words the verdict line must use to say what the difference looks like
(compare/engine/diagnose.py); tests/test_bugs.py checks every entry. `NEEDS` says when a
mistake's code cannot change a number of a run (--inject-bug then refuses, exit 2).

The CNN mistakes run on mnist-cnn-small, or on cnn-zoo (compare/data/cnn_zoo.py) where they need
a window count that a stride makes exact or 'same' padding with an odd extra row and column.

`avgpool-divisor-counts-padding` runs on cnn-zoo-avgpool, whose 'same' average pooling divides
its border windows by their real cells alone.

Left out: mistakes in the reference implementations; several mistakes at once.
"""
import contextlib
import math
from types import SimpleNamespace
from dataclasses import asdict, dataclass, field
from unittest import mock

import numpy as np

import scratch.activations as act
import scratch.conv as conv
import scratch.image_layers as image_layers
import scratch.pool as pool
import scratch.layers as scratch_layers
import scratch.optimizers as opt
from scratch.losses import LOSSES
from scratch.mlp import MLP, Cache

from ..engine import image_layers as engine_images
from ..engine.errors import InputError


# --- the mistakes, each beside the line it gets wrong ----------------------------------------

def conv_forward_kernel_flipped(self, P, X, run):
    """scratch/image_layers.Conv2D.forward with the kernel rotated by 180 degrees. BUG: the textbook
    convolution (kernel flipped), not the cross-correlation torch and Keras compute."""
    return CONV_FORWARD(self, {**P, "W": P["W"][:, :, ::-1, ::-1]}, X, run)      # BUG: W[:, :, ::-1, ::-1]


CONV_FORWARD = image_layers.Conv2D.forward            # the correct one, before any patch


def conv_backward_bias_mean_positions(self, P, kept, dZ, need_dX):
    """scratch/image_layers.Conv2D.backward. BUG: db averaged over the positions of the output map
    instead of summed (each position's output adds b once, so each adds its dZ to db)."""
    dX, grads = CONV_BACKWARD(self, P, kept, dZ, need_dX)
    cache, shape = kept
    grads["b"] = dZ.T.reshape(shape).sum(axis=0).mean(axis=(1, 2))[:, None]    # BUG: mean, not sum, of positions
    return dX, grads


CONV_BACKWARD = image_layers.Conv2D.backward


def maxpool_backward_whole_window(self, P, kept, dP, need_dX):
    """scratch/image_layers.MaxPool2D.backward. BUG: every cell of a window gets its dP, as average
    pooling would (times the window size), not the maximum alone."""
    cache, shape = kept
    x_shape, which, kernel, stride, full = cache
    dout = dP.T.reshape(shape)
    dwin = np.repeat(dout[:, :, None], kernel[0] * kernel[1], axis=2)  # BUG: no mask of the chosen maximum
    padded = (*x_shape[:2], x_shape[2] + full[0] + full[1], x_shape[3] + full[2] + full[3])
    return image_layers.columns(pool.crop(pool.unwindows(dwin, padded, kernel, stride, (1, 1)), full)), {}


def conv_forward_windows_short(x, w, b=None, stride=(1, 1), padding=conv.VALID, dilation=(1, 1),
                               chunk_bytes=conv.COLUMN_BYTES):
    """scratch/conv.conv2d_forward as a loop over the windows' top-left corners, the output
    allocated at the size Ho = (Hp - (kh - 1) dh - 1) // sh + 1. BUG: the corners taken from
    range(0, Hp - span, s), which stops one window short whenever Hp - span is a multiple of the
    stride (always at stride 1): the formula's + 1 left out of the loop. The output's last row and
    column keep the bias alone."""
    (F, C, kh, kw), (sh, sw), (dh, dw) = w.shape, stride, dilation
    x_pad = conv.pad(x, padding)
    span_h, span_w = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    out_hw = conv.output_hw(x_pad.shape[2:], (kh, kw), stride, dilation)
    out = np.zeros((x.shape[0], F, *out_hw), dtype=x.dtype)
    for i, top in enumerate(range(0, x_pad.shape[2] - span_h, sh)):       # BUG: Hp - span + 1
        for j, left in enumerate(range(0, x_pad.shape[3] - span_w, sw)):   # BUG: Wp - span + 1
            patch = x_pad[:, :, top:top + span_h:dh, left:left + span_w:dw]
            out[:, :, i, j] = np.einsum("ncuv,fcuv->nf", patch, w)
    if b is not None:
        out = out + b[None, :, None, None]
    return out, (x, w, b is not None, stride, padding, dilation, chunk_bytes)


def pad_pairs_swapped(x, padding, value=0.0):
    """scratch/conv.pad. BUG: np.pad's (before, after) pairs given as (after, before): the odd
    extra row and column of 'same' padding land on the top and left instead of TensorFlow's
    bottom and right."""
    top, bottom, left, right = padding
    return np.pad(x, ((0, 0), (0, 0), (bottom, top), (right, left)), constant_values=value)  # BUG


def im2col_taps_transposed(x_pad, kernel, stride, dilation, out_hw):
    """scratch/conv.im2col (the columns, examples last). BUG: the taps stacked column-major, v
    outer and u inner, while the kernel is flattened row-major (u kw + v): each tap (u, v) meets
    w[.., v, u], the kernel transposed in its spatial axes."""
    (kh, kw), (sh, sw), (dh, dw), (Ho, Wo) = kernel, stride, dilation, out_hw
    taps = [x_pad[:, conv.tap(u, dh, sh, Ho), conv.tap(v, dw, sw, Wo)]
            for v in range(kw) for u in range(kh)]                         # BUG: for u ... for v
    return np.stack(taps, axis=1).reshape(x_pad.shape[0] * kh * kw, -1)


def conv_forward_kernel_channels_last(x, w, b=None, stride=(1, 1), padding=conv.VALID,
                                      dilation=(1, 1), chunk_bytes=conv.COLUMN_BYTES):
    """scratch/conv.conv2d_forward. BUG: the kernel flattened in (kh, kw, C) order (Keras's kernel
    layout) while im2col's columns run over (C, kh, kw): each filter's entries meet other taps."""
    (F, C, kh, kw), kernel = w.shape, w.shape[2:]
    x_pad = conv.pad(x, padding)
    out_hw = conv.output_hw(x_pad.shape[2:], kernel, stride, dilation)
    K, P = C * kh * kw, math.prod(out_hw)
    w_col, parts = w.transpose(0, 2, 3, 1).reshape(F, K), []                 # BUG: w.reshape(F, K)
    for part in conv.chunks(x.shape[0], K * P * x.itemsize, chunk_bytes):
        cols = conv.windows(x_pad[part], kernel, stride, dilation, out_hw).reshape(-1, K, P)
        parts.append(np.matmul(w_col, cols))
    out = np.concatenate(parts).reshape(x.shape[0], F, *out_hw)
    if b is not None:
        out = out + b[None, :, None, None]
    return out, (x, w, b is not None, stride, padding, dilation, chunk_bytes)


class FlattenChannelsLast:
    """scratch/image_layers.Flatten written after Keras's Flatten. BUG: each image's numbers handed
    on in (H, W, C) order, while the Dense after it (scratch's W, columns in torch's order) expects
    (C, H, W)."""

    def __init__(self, shape):
        self.shape = shape                                                  # (C, H, W)

    def forward(self, P, X, run):
        hwc = image_layers.images(X, self.shape).transpose(0, 2, 3, 1)      # BUG: (m, H, W, C)
        return image_layers.columns(hwc), None

    def backward(self, P, kept, dY, need_dX):
        C, H, W = self.shape
        return image_layers.columns(dY.T.reshape(-1, H, W, C).transpose(0, 3, 1, 2)), {}


def flatten_scratch_channels_last(self, ctx):
    """compare/engine/image_layers.Flatten.scratch, building the learner's Flatten above."""
    return FlattenChannelsLast(ctx.n_in)


def maxpool_forward_keeping_input(self, P, X, run):
    """scratch/image_layers.MaxPool2D.forward, the input kept for the backward below."""
    Y, (cache, shape) = MAXPOOL_FORWARD(self, P, X, run)
    return Y, (cache, shape, X)


MAXPOOL_FORWARD = image_layers.MaxPool2D.forward


def maxpool_backward_every_tie(self, P, kept, dP, need_dX):
    """scratch/image_layers.MaxPool2D.backward. BUG: the mask 'equal to the window's maximum'
    sends dP to every tied maximum (a blank background's equal values), not to the one the forward
    kept."""
    (x_shape, which, kernel, stride, full), shape, X = kept
    padded = pool.pad(image_layers.images(X, self.shape), full, -np.inf)
    win = pool.windows(padded, kernel, stride, (1, 1), shape[2:])         # (m, C, kh kw, Ho, Wo)
    top = win == win.max(axis=2, keepdims=True)                           # BUG: every maximum
    dwin = top * dP.T.reshape(shape)[:, :, None]
    size = (*x_shape[:2], x_shape[2] + full[0] + full[1], x_shape[3] + full[2] + full[3])
    dX = pool.crop(pool.unwindows(dwin, size, kernel, stride, (1, 1)), full)
    return image_layers.columns(dX), {}


def avg_pool_forward_window_divisor(x, kernel, stride, padding=conv.VALID, ceil_mode=False,
                                    count_include_pad=None, convention=None):
    """scratch/pool.avg_pool2d_forward as a learner writes it first: each window's sum divided by
    the window's size kh kw. BUG: count_include_pad ignored, so a window over the padding divides
    by its padded cells too (Keras's 'same' and count_include_pad=False divide by the real cells
    alone); the backward, reading the count from the cache, follows the same divisor."""
    out_hw, full = pool.pool_geometry(x.shape[2:], kernel, stride, padding, ceil_mode)
    count = np.full((1, 1, *out_hw), float(kernel[0] * kernel[1]))      # BUG: window_counts(...)
    win = pool.windows(pool.pad(x, full, 0.0), kernel, stride, (1, 1), out_hw)
    return win.sum(axis=2) / count, (x.shape, count, kernel, stride, full)


def conv_forward_kernel_in_out(x, w, b=None, stride=(1, 1), padding=conv.VALID, dilation=(1, 1),
                               chunk_bytes=conv.COLUMN_BYTES):
    """scratch/conv.conv2d_forward. BUG: the kernel's buffer read as (C, F, kh, kw), in-channels
    first (the order of Keras's (kh, kw, in, out) or of torch's ConvTranspose2d weight), and then
    transposed to (F, C, kh, kw) for the GEMM: torch's Conv2d weight is (out, in, kh, kw)."""
    (F, C, kh, kw), kernel = w.shape, w.shape[2:]
    x_pad = conv.pad(x, padding)
    out_hw = conv.output_hw(x_pad.shape[2:], kernel, stride, dilation)
    K, P = C * kh * kw, math.prod(out_hw)
    w_col = w.reshape(C, F, kh, kw).transpose(1, 0, 2, 3).reshape(F, K)     # BUG: w.reshape(F, K)
    parts = []
    for part in conv.chunks(x.shape[0], K * P * x.itemsize, chunk_bytes):
        cols = conv.windows(x_pad[part], kernel, stride, dilation, out_hw).reshape(-1, K, P)
        parts.append(np.matmul(w_col, cols))
    out = np.concatenate(parts).reshape(x.shape[0], F, *out_hw)
    if b is not None:
        out = out + b[None, :, None, None]
    return out, (x, w, b is not None, stride, padding, dilation, chunk_bytes)


def softmax_whole_batch(Z):
    """BUG: normalised over the whole (units, m) matrix, not per column (example)."""
    E = np.exp(Z - Z.max())
    return E / E.sum()


def softmax_unstable(Z):
    """BUG: e^z without subtracting the max: overflows to inf (and inf / inf = NaN) once z > 709."""
    E = np.exp(Z)
    return E / E.sum(axis=0, keepdims=True)


def sigmoid_wrong_sign(Z):
    """BUG: 1 / (1 - e^-z) instead of 1 / (1 + e^-z)."""
    return 1 / (1 - np.exp(-Z))


def sigmoid_grad_of_input(Z, A):
    """BUG: s(z) (1 - z) instead of s(z) (1 - s(z))."""
    return A * (1 - Z)


def forward_skipping_activation(self, X):
    """MLP.forward, but a hidden layer's activation is computed and the pre-activation passed on."""
    cache = Cache(A0=X)
    run = SimpleNamespace(training=self.training, masks=self.masks)
    out = X
    for placed, layer in self.layers:
        result, kept = layer.forward(self.own(placed), out, run)
        cache.kept.append(kept)
        cache[placed.name(placed.layer.role)] = result
        if placed.layer.kind != "activation":
            out = result                                         # BUG: an activation's A is not passed on
    return cache


def dense_rows_times_weights(self, P, A, run):
    """scratch.layers.Dense.forward with the row convention's A W in the column layout: a shape error."""
    Z = A @ P["W"]                                               # BUG: should be W @ A
    return (Z + P["b"] if "b" in P else Z), A


def dense_bias_grad_all_units(self, P, A, dZ, need_dA):
    """scratch.layers.Dense.backward, but db summed over every unit and example."""
    grads = {"W": dZ @ A.T}
    if "b" in P:
        grads["b"] = dZ.sum()                                    # BUG: a scalar; should sum over columns only
    return (P["W"].T @ dZ if need_dA else None), grads


def backward_dW_with_own_activation(self, cache, Y):
    """MLP.backward, but a Dense's dW is taken with its own block's activation A_l, not its input."""
    grads = {}
    d = self.output_dZ(cache, Y)
    inner = list(zip(self.layers, cache.kept))[:-1]
    for (placed, layer), kept in reversed(inner):
        if "d" + placed.layer.role in placed.layer.grads:
            grads["d" + placed.name(placed.layer.role)] = d
        if placed.layer.kind == "dense":
            kept = cache[f"A{placed.block}"]                     # BUG: should be A_{l-1}, the Dense's input
        d, own = layer.backward(self.own(placed), kept, d, placed.index > 0)
        grads.update({"d" + placed.name(role): g for role, g in own.items()})
    return grads


def output_dZ_no_batch_mean(self, cache, Y):
    """MLP.output_dZ, but the gradient is not divided by the batch size m."""
    _, loss_grad, _, gives = LOSSES[self.loss_name]
    d = loss_grad(cache[f"A{self.L}"], Y, self.divisor(Y) / Y.shape[1])   # BUG: the 1/m of the mean left out
    if gives == "dZ":
        return d
    placed, activation = self.layers[-1]                          # the output activation g_L
    return activation.backward({}, cache.kept[-1], d, True)[0]


def step_weights_only(self, grads, loss=None):
    """MLP.step, but only the weights reach the optimizer."""
    weights = {name: p for name, p in self.params.items() if name.startswith("W")}  # BUG: biases left out
    self.params = {**self.params, **self.optimizer.step(weights, grads)}


def sgd_ascent(self, name, p, g):
    """SGD.update without momentum, but the step is added."""
    return p + self.lr * g                                       # BUG: should be p - lr g


def activation(name, g=None, g_grad=None):
    """Patches that replace one activation (or its derivative) in both conventions' tables."""
    patches = []
    for table in (act.ACTIVATIONS, act.TORCH_ACTIVATIONS):
        old_g, old_grad = table[name]
        patches.append(mock.patch.dict(table, {name: (g or old_g, g_grad or old_grad)}))
    return patches


# --- the zoo -------------------------------------------------------------------------------

@dataclass
class Bug:
    name: str
    what: str                   # the mistake, one line
    recipe: str                 # the recipe it is demonstrated on
    expected: dict              # where it shows: {step, layer, tensor}, plus 'raises' for an exception
    diagnosis: str              # words the verdict line must contain: what the difference looks like
    patches: callable = field(repr=False, default=None)   # () -> [unittest.mock patchers]

    def listing(self):
        return {k: v for k, v in asdict(self).items() if k != "patches"}


BUGS = {bug.name: bug for bug in [
    Bug("softmax-whole-batch", "softmax normalised over the whole batch matrix instead of per example",
        "toy3", {"step": 1, "layer": 2, "tensor": "A2"},
        "softmax normalised over the whole batch",
        lambda: activation("softmax", g=softmax_whole_batch)),
    Bug("skipped-activation", "a hidden layer's activation computed but the pre-activation passed on",
        "toy3", {"step": 1, "layer": 2, "tensor": "Z2"},
        "layer 2 was fed Z1 instead of A1",
        lambda: [mock.patch.object(MLP, "forward", forward_skipping_activation)]),
    Bug("bias-grad-all-units", "bias gradient summed over every unit and example (a scalar), not per unit",
        "toy3", {"step": 1, "layer": 2, "tensor": "db2"},
        "a lost axis: scratch's db2 is (), summed over units and examples to a scalar",
        lambda: [mock.patch.object(scratch_layers.Dense, "backward", dense_bias_grad_all_units)]),
    Bug("sigmoid-sign", "sigmoid written as 1 / (1 - e^-z)",
        "parity", {"step": 1, "layer": 1, "tensor": "A1"},
        "the activation sigmoid itself is computed differently",
        lambda: activation("sigmoid", g=sigmoid_wrong_sign)),
    Bug("sigmoid-grad-of-input", "sigmoid derivative computed as s(z) (1 - z) instead of s(z) (1 - s(z))",
        "parity", {"step": 1, "layer": 3, "tensor": "dZ3"},
        "the derivative of the loss or of the output activation (sigmoid) is wrong",
        lambda: activation("sigmoid", g_grad=sigmoid_grad_of_input)),
    Bug("no-batch-mean", "gradients summed over the batch but not divided by its size",
        "toy3", {"step": 1, "layer": 2, "tensor": "dZ2"},
        "a factor of m = 4, the batch size",
        lambda: [mock.patch.object(MLP, "output_dZ", output_dZ_no_batch_mean)]),
    Bug("unstable-softmax", "softmax without subtracting the max: overflows on large logits (NaN)",
        "toy3-large-logits", {"step": 1, "layer": 1, "tensor": "A1"},
        "first non-finite value: step 1, scratch, layer 1, A1",
        lambda: activation("softmax", g=softmax_unstable)),
    Bug("bias-not-updated", "the optimizer updates the weights only",
        "toy3", {"step": 1, "layer": 1, "tensor": "b1"},
        "scratch did not update b1",
        lambda: [mock.patch.object(MLP, "step", step_weights_only)]),
    Bug("wrong-activation-in-dW", "dW computed with this layer's activation instead of the previous one's",
        "toy3", {"step": 1, "layer": 2, "tensor": "dW2"},
        "dW2 = dZ2 · A2ᵀ, where A1 (the input of layer 2) belongs",
        lambda: [mock.patch.object(MLP, "backward", backward_dW_with_own_activation)]),
    Bug("ascent", "the update added instead of subtracted (gradient ascent)",
        "toy3", {"step": 1, "layer": 1, "tensor": "W1"},
        "the update is added, not subtracted",
        lambda: [mock.patch.object(opt.SGD, "update", sgd_ascent)]),
    Bug("conv-kernel-flipped", "a convolution with the kernel flipped (rotated by 180°) instead of the "
        "cross-correlation the frameworks compute",
        "mnist-cnn-small", {"step": 1, "layer": 1, "tensor": "Z1"},
        "the input convolved with W1 rotated by 180°",
        lambda: [mock.patch.object(image_layers.Conv2D, "forward", conv_forward_kernel_flipped)]),
    Bug("conv-bias-grad-mean-positions", "a conv layer's bias gradient averaged over the positions of its "
        "output instead of summed",
        "mnist-cnn-small", {"step": 1, "layer": 2, "tensor": "db2"},
        "a mean over the positions where their sum belongs",
        lambda: [mock.patch.object(image_layers.Conv2D, "backward", conv_backward_bias_mean_positions)]),
    Bug("maxpool-grad-whole-window", "max pooling's gradient sent to every cell of the window, not to its "
        "maximum alone",
        "mnist-cnn-small", {"step": 1, "layer": 2, "tensor": "dZ2"},
        "routed back through the pooling: each window's dP to its maximum alone",
        lambda: [mock.patch.object(image_layers.MaxPool2D, "backward", maxpool_backward_whole_window)]),
    Bug("conv-windows-short", "a convolution's loop over window corners stops one window short "
        "(range(0, H + 2p - k, s): the + 1 of Ho = (H + 2p - k) // s + 1 left out)",
        "cnn-zoo", {"step": 1, "layer": 1, "tensor": "Z1"},
        "the last row and the last column of Z1's output map hold b1 alone",
        lambda: [mock.patch.object(conv, "conv2d_forward", conv_forward_windows_short)]),
    Bug("conv-padding-before", "'same' padding's odd extra row and column put on the top and left "
        "(np.pad's pairs swapped) instead of TensorFlow's bottom and right",
        "cnn-zoo", {"step": 1, "layer": 2, "tensor": "Z2"},
        "shifted by one row down and one column right",
        lambda: [mock.patch.object(conv, "pad", pad_pairs_swapped)]),
    Bug("im2col-taps-transposed", "im2col's taps stacked column-major against a row-major "
        "kernel: the kernel transposed in its spatial axes (kh <-> kw)",
        "mnist-cnn-small", {"step": 1, "layer": 1, "tensor": "Z1"},
        "the input convolved with W1 transposed in its spatial axes",
        lambda: [mock.patch.object(conv, "im2col", im2col_taps_transposed)]),
    Bug("conv-kernel-channels-last", "the kernel flattened in (kh, kw, C) order against im2col "
        "columns in (C, kh, kw) order",
        "mnist-cnn-small", {"step": 1, "layer": 2, "tensor": "Z2"},
        "W2's entries in (kh, kw, C) order read as (C, kh, kw)",
        lambda: [mock.patch.object(conv, "conv2d_forward", conv_forward_kernel_channels_last)]),
    Bug("flatten-channels-last", "Flatten hands on each image in (H, W, C) order where the "
        "Dense after it expects (C, H, W)",
        "mnist-cnn-small", {"step": 1, "layer": 3, "tensor": "Z3"},
        "the flattened P2 in (H, W, C) order where (C, H, W) belongs",
        lambda: [mock.patch.object(engine_images.Flatten, "scratch",
                                   flatten_scratch_channels_last)]),
    Bug("maxpool-grad-every-tie", "max pooling's gradient sent to every tied maximum of a "
        "window, not to the one the forward kept",
        "mnist-cnn-small", {"step": 1, "layer": 1, "tensor": "dZ1"},
        "scratch's dZ1 is dP1 sent to every tied maximum of its window",
        lambda: [mock.patch.object(image_layers.MaxPool2D, "forward",
                                   maxpool_forward_keeping_input),
                 mock.patch.object(image_layers.MaxPool2D, "backward",
                                   maxpool_backward_every_tie)]),
    Bug("avgpool-divisor-counts-padding", "average pooling divides each window's sum by the "
        "window's size, the padded cells counted where the layer counts the real cells alone",
        "cnn-zoo-avgpool", {"step": 1, "layer": 1, "tensor": "P1"},
        "the edge windows of P1 are scaled by 4/9 and 6/9 (the padded cells counted in the "
        "divisor), the interior agrees",
        lambda: [mock.patch.object(pool, "avg_pool2d_forward", avg_pool_forward_window_divisor)]),
    Bug("conv-kernel-filters-channels-swapped", "the kernel (F, C, kh, kw) read as (C, F, kh, kw): "
        "its filters and channels axes in the wrong order",
        "mnist-cnn-small", {"step": 1, "layer": 2, "tensor": "Z2"},
        "W2's (F, C) axes read in the wrong order",
        lambda: [mock.patch.object(conv, "conv2d_forward", conv_forward_kernel_in_out)]),
    Bug("rows-times-weights", "Z = A W + b (the row convention) in column-layout code: a shape error",
        "toy3", {"step": 1, "layer": 1, "tensor": "Z1", "raises": "ValueError"},
        "ValueError: matmul",
        lambda: [mock.patch.object(scratch_layers.Dense, "forward", dense_rows_times_weights)]),
]}


def hidden(spec, name):
    return name in spec.activations[:-1]


def derivative_used(spec, name):
    """The activation's derivative g' is used: on a hidden layer, or on the output unless fused with cross-entropy."""
    return hidden(spec, name) or (spec.activations[-1] == name and spec.loss == "mse")


def batch_of_one(spec):
    return spec.batch_size == 1


def convs(spec):
    """[(kernel, strides, dilation, (top, bottom, left, right), input shape)] of each Conv2D."""
    return [(*p.layer.geometry(p.n_in), p.n_in) for p in spec.network.placed
            if p.layer.kind == "conv2d"]


def windows_short(spec):
    """Some Conv2D's windows fill its padded input exactly (Hp - span a multiple of the stride),
    so a loop to range(0, Hp - span, s) misses the last one."""
    def exact(size, k, s, d):
        return (size - (k - 1) * d - 1) % s == 0
    return any(exact(shape[1] + t + b, k[0], s[0], d[0])
               or exact(shape[2] + l + r, k[1], s[1], d[1])
               for k, s, d, (t, b, l, r), shape in convs(spec))


def pads_one_side_more(spec):
    return any(t != b or l != r for _, _, _, (t, b, l, r), _ in convs(spec))


def flattens_image(spec):
    """A Flatten of an image of several channels and positions (its orders differ)."""
    return any(p.layer.kind == "flatten" and len(p.n_in) == 3 and p.n_in[0] > 1
               and p.n_in[1] * p.n_in[2] > 1 for p in spec.network.placed)


def avg_divisor_not_window(spec):
    """Some AvgPool2D divides a window by fewer cells than its size kh kw (padding it leaves out
    of the count, count_include_pad=False or Keras's 'same', or a ceil-mode overhang), so dividing
    by kh kw changes a number."""
    for p in spec.network.placed:
        if p.layer.kind == "avg_pool2d":
            kernel, strides, padding = p.layer.geometry(p.n_in)
            out_hw, full = pool.pool_geometry(p.n_in[1:], kernel, strides, padding,
                                              p.layer.adds_windows(p.n_in))
            count = pool.window_counts(p.n_in[1:], kernel, strides, padding, full, out_hw,
                                       p.layer.counts_padding())
            if np.any(count != kernel[0] * kernel[1]):
                return True
    return False


# bug -> spec -> why the bug's code cannot change a number of this run, or None when it can
NEEDS = {
    "softmax-whole-batch": lambda s: ("the network has no softmax layer" if "softmax" not in s.activations
                                      else "batches of 1 example: the whole batch is one column" if batch_of_one(s)
                                      else None),
    "skipped-activation": lambda s: ("the network has no hidden layer" if s.n_layers < 2
                                     else "every hidden layer is linear" if set(s.activations[:-1]) == {"linear"}
                                     else None),
    "sigmoid-sign": lambda s: None if "sigmoid" in s.activations else "the network has no sigmoid layer",
    "sigmoid-grad-of-input": lambda s: (None if derivative_used(s, "sigmoid") else
                                        "no sigmoid derivative is used (no sigmoid layer, or only one fused "
                                        "with cross-entropy)"),
    "no-batch-mean": lambda s: ("batches of 1 example: dividing by m = 1 changes nothing" if batch_of_one(s)
                                else "the loss is summed, not averaged, over the batch" if s.reduction == "sum"
                                else None),
    "unstable-softmax": lambda s: None if "softmax" in s.activations else "the network has no softmax layer",
    "bias-not-updated": lambda s: "the learning rate is 0: nothing is updated" if s.lr == 0 else None,
    "wrong-activation-in-dW": lambda s: "the network has one layer: A0 is the input" if s.n_layers < 2 else None,
    "conv-bias-grad-mean-positions": lambda s: (None if any(l.kind == "conv2d" and l.bias for l in s.network.layers)
                                              else "the network has no Conv2D layer with a bias"),
    "maxpool-grad-whole-window": lambda s: (None if any(l.kind == "max_pool2d" for l in s.network.layers)
                                            else "the network has no MaxPool2D layer"),
    "conv-kernel-flipped": lambda s: (None if any(l.kind == "conv2d" for l in s.network.layers)
                                      else "the network has no Conv2D layer"),
    "conv-windows-short": lambda s: (None if windows_short(s) else
                                     "the network has no Conv2D layer" if not convs(s) else
                                     "no Conv2D layer's windows fill its padded input exactly "
                                     "(H + 2p - k a multiple of the stride)"),
    "conv-padding-before": lambda s: (None if pads_one_side_more(s) else
                                      "no Conv2D layer pads one side more than the other"),
    "im2col-taps-transposed": lambda s: (None if any(k[0] * k[1] > 1 for k, *_ in convs(s)) else
                                         "the network has no Conv2D layer with a kernel larger "
                                         "than 1x1"),
    "conv-kernel-channels-last": lambda s: (None if any(k[0] * k[1] > 1 and shape[0] > 1
                                                        for k, *_, shape in convs(s)) else
                                            "no Conv2D layer has more than one input channel and "
                                            "a kernel larger than 1x1"),
    "flatten-channels-last": lambda s: (None if flattens_image(s) else "the network flattens no "
                                        "image of more than one channel and position"),
    "maxpool-grad-every-tie": lambda s: (None if any(l.kind == "max_pool2d"
                                                     for l in s.network.layers)
                                         else "the network has no MaxPool2D layer"),
    "avgpool-divisor-counts-padding": lambda s: (
        None if avg_divisor_not_window(s) else
        "the network has no AvgPool2D layer" if not any(l.kind == "avg_pool2d"
                                                        for l in s.network.layers) else
        "every AvgPool2D window is divided by its whole size already (no padding left out of "
        "its count)"),
    "conv-kernel-filters-channels-swapped": lambda s: (
        None if any(p.layer.kind == "conv2d" and p.n_in[0] > 1 and p.layer.filters > 1
                    for p in s.network.placed) else
        "no Conv2D layer has more than one input channel and more than one filter"),
    "ascent": lambda s: ("the optimizer is not plain SGD (the mistake is in SGD's update)"
                         if s.optimizer != "sgd" or s.momentum else
                         "the learning rate is 0: the update never moves a parameter" if s.lr == 0 else None),
}


def check_applies(name, spec, recipe="this recipe"):
    """Raise InputError if `name` is not a bug of the zoo, or if its code cannot change a number of
    a run of `spec` (then the run would pass and prove nothing)."""
    if not name:
        raise InputError(f"--inject-bug needs a bug name: one of {', '.join(BUGS)} (python -m compare bugs)")
    if name not in BUGS:
        raise InputError(f"unknown bug {name!r}; choose one of: {', '.join(BUGS)} (python -m compare bugs)")
    why = NEEDS.get(name, lambda s: None)(spec)
    if why:
        raise InputError(f"--inject-bug {name} cannot show on {recipe}: {why}; it is shown on "
                         f"{BUGS[name].recipe} (python -m compare {BUGS[name].recipe} --inject-bug {name})")


@contextlib.contextmanager
def inject(name):
    """Run the body with the named mistake in the scratch code; everything is restored after."""
    if name not in BUGS:
        raise InputError(f"unknown bug {name!r}; choose one of: {', '.join(BUGS)} (python -m compare bugs)")
    with contextlib.ExitStack() as stack:
        stack.enter_context(np.errstate(all="ignore"))   # the harness reports overflow and NaN itself
        for patcher in BUGS[name].patches():
            stack.enter_context(patcher)
        yield BUGS[name]
