"""2-D convolution, channel batch norm and spatial dropout, in cs231n's form: each
`X_forward(...) -> (out, cache)` beside its `X_backward(dout, cache)`, no autograd.

Shapes (scratch/'s conv layout: examples first, as torch's NCHW; Keras holds NHWC and a kernel
(kh, kw, C, F) = W.transpose(2, 3, 1, 0)):
    x, dx    : (N, C, H, W)       N examples, C channels, H rows, W columns
    w, dw    : (F, C, kh, kw)     F filters (torch's Conv2d.weight)
    b, db    : (F,)
    out, dout: (N, F, Ho, Wo)
    padding  : (top, bottom, left, right) zeros, given per side; stride (sh, sw), dilation (dh, dw)

What is computed is a cross-correlation (the kernel is not flipped), in torch and Keras alike:
    out[n, f, i, j] = sum_{c, u, v} x_pad[n, c, i sh + u dh, j sw + v dw] w[f, c, u, v] + b[f]
    Ho = (H + top + bottom - (kh - 1) dh - 1) // sh + 1          (Wo likewise)
  backward:
    db[f] = sum_{n, i, j} dout[n, f, i, j]                        (over examples AND positions)
    dw[f, c, u, v] = sum_{n, i, j} dout[n, f, i, j] x_pad[n, c, i sh + u dh, j sw + v dw]
    dx_pad[n, c, i sh + u dh, j sw + v dw] += sum_f dout[n, f, i, j] w[f, c, u, v]   (col2im)

'same' padding (TensorFlow's rule, also JAX's 'SAME'): the output has ceil(size / stride) positions,
    total = max((ceil(size / s) - 1) s + (k - 1) d + 1 - size, 0),  before = total // 2,
the odd extra row / column AFTER (bottom / right). torch's padding='same' splits d (k - 1) the same
way but refuses stride > 1 (torch/nn/modules/conv.py _ConvNd.__init__;
Convention.same_padding_strided).

im2col (conv2d_forward), with the examples LAST: x_pad (C, Hp, Wp, N), the order of scratch's
columns (C H W, N) between layers, so no transpose is made on the way in or out. For each kernel
offset (u, v) one strided slice of x_pad (every channel, position and example at once) fills the
rows (c, u, v) of cols (K, Ho Wo N), K = C kh kw; then ONE product out (F, Ho Wo N) =
w.reshape(F, K) @ cols, which is already the next layer's columns (F Ho Wo, N). Backward: dw =
dout (F, Ho Wo N) @ cols.T, dcols = w_col.T @ dout scattered back by col2im, tap by tap; the first
layer's dx is not computed (need_dx=False: nothing consumes it). The examples go in chunks whose
columns stay under COLUMN_BYTES = 64 MiB (one example at least): a mini-batch of mnist-cnn is one
chunk (10 MB of columns for its first conv at batch 64), the 10,000 test images are 150 chunks
(1.5 GB of columns otherwise). Chunking changes no bit of out and dx (each element is the same
sum over K or F, whatever the number of columns), and dw only in the order its N Ho Wo products
are added (one product per chunk, then the chunks): tests/test_conv_scratch.py measures both.
windows / unwindows below are the same tap slices in cs231n's (n, C, ...) order, for pooling.

Channel batch norm: statistics per channel over N, H and W, i.e. scratch/layers.py's batch norm on
the (C, N H W) columns; torch's unbiased running variance uses the count N H W.
Spatial dropout: one mask value per (example, channel), kept ones scaled by 1 / (1 - p).
Flatten: scratch keeps images as (C H W, m) columns between layers (scratch/image_layers.py), so
it computes nothing; the frameworks' orders (torch C.H.W, Keras H.W.C: Convention.channels_last)
are a layout, compare/engine/convert.py's.

Left out: groups, transposed convolution, padding modes other than zeros, 1-D and 3-D.
Pooling: scratch/pool.py.
"""
import math

import numpy as np

from .conventions import TORCH, as_convention
from .layers import (BATCH, dropout_backward, dropout_forward, norm_backward, norm_forward, norm_inference,
                     running_update)

COLUMN_BYTES = 64 * 2**20          # the most bytes one chunk's im2col columns may take
VALID = (0, 0, 0, 0)               # (top, bottom, left, right)


# --- padding and sizes -------------------------------------------------------------------------

def same_padding(size, k, stride, dilation, convention):
    """TensorFlow's 'same' padding of one axis -> (before, after), the odd one after.
    A convention without strided 'same' (torch) refuses stride > 1, as torch's Conv2d does."""
    convention = as_convention(convention)
    if stride > 1 and not convention.same_padding_strided:
        raise ValueError(f"padding 'same' with stride {stride}: {convention.framework} allows it "
                         "only with stride 1")
    total = max((math.ceil(size / stride) - 1) * stride + (k - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def same_padding_2d(hw, kernel, stride, dilation, convention):
    """'same' padding of both axes -> (top, bottom, left, right)."""
    rows = same_padding(hw[0], kernel[0], stride[0], dilation[0], convention)
    cols = same_padding(hw[1], kernel[1], stride[1], dilation[1], convention)
    return (*rows, *cols)


def output_size(size, k, stride, dilation):
    """How many windows of k taps, dilation apart, fit stride apart in `size` padded positions."""
    return (size - (k - 1) * dilation - 1) // stride + 1


def output_hw(padded_hw, kernel, stride, dilation):
    return tuple(output_size(*args) for args in zip(padded_hw, kernel, stride, dilation))


def pad(x, padding, value=0.0):
    """x (N, C, H, W) -> (N, C, H + top + bottom, W + left + right), the new border = value."""
    top, bottom, left, right = padding
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=value)


def crop(x_pad, padding):
    """The inverse of pad: drop the border."""
    top, bottom, left, right = padding
    return x_pad[:, :, top:x_pad.shape[2] - bottom, left:x_pad.shape[3] - right]


def tap(u, dilation, stride, n_out):
    """The rows (or columns) tap u of n_out windows reads: u d, u d + s, ..., u d + (n_out - 1) s."""
    return slice(u * dilation, u * dilation + (n_out - 1) * stride + 1, stride)


# --- the readable definition ----------------------------------------------------------------------

def conv2d_forward_naive(x, w, b=None, stride=(1, 1), padding=VALID, dilation=(1, 1)):
    """out[n, f, i, j] = sum_{c,u,v} x_pad[n, c, i sh + u dh, j sw + v dw] w[f, c, u, v] + b[f],
    one output at a time. -> (out (N, F, Ho, Wo), cache for conv2d_backward)."""
    (sh, sw), (dh, dw), (F, _, kh, kw) = stride, dilation, w.shape
    x_pad = pad(x, padding)
    Ho, Wo = output_hw(x_pad.shape[2:], (kh, kw), stride, dilation)
    out = np.zeros((x.shape[0], F, Ho, Wo), dtype=x.dtype)
    for n, f, i, j in np.ndindex(out.shape):
        rows = slice(i * sh, i * sh + (kh - 1) * dh + 1, dh)            # i sh + u dh, u < kh
        cols = slice(j * sw, j * sw + (kw - 1) * dw + 1, dw)            # j sw + v dw, v < kw
        out[n, f, i, j] = np.sum(x_pad[n, :, rows, cols] * w[f]) + (0.0 if b is None else b[f])
    return out, (x, w, b is not None, stride, padding, dilation, COLUMN_BYTES)


# --- windows and unwindows: the tap slices, read and scattered (pooling's) -----------------------

def windows(x_pad, kernel, stride, dilation, out_hw):
    """x_pad (n, C, Hp, Wp) -> (n, C, kh kw, Ho, Wo): entry u kw + v is every window's tap (u, v)."""
    (kh, kw), (sh, sw), (dh, dw), (Ho, Wo) = kernel, stride, dilation, out_hw
    taps = [x_pad[:, :, tap(u, dh, sh, Ho), tap(v, dw, sw, Wo)]
            for u in range(kh) for v in range(kw)]
    return np.stack(taps, axis=2)


def unwindows(dwin, padded_shape, kernel, stride, dilation):
    """The adjoint of windows: dwin (n, C, kh kw, Ho, Wo) scattered and added into zeros of
    padded_shape. Within one tap (u, v) the slice's positions are distinct, so a plain += on the
    slice is the scatter (np.add.at is needed only for repeated indices); taps overlap one another
    when stride < (k - 1) d + 1, and add up in the order u, v = 0, 1, ..."""
    (kh, kw), (sh, sw), (dh, dw), (Ho, Wo) = kernel, stride, dilation, dwin.shape[3:]
    dx_pad = np.zeros(padded_shape, dtype=dwin.dtype)
    for u in range(kh):
        for v in range(kw):
            dx_pad[:, :, tap(u, dh, sh, Ho), tap(v, dw, sw, Wo)] += dwin[:, :, u * kw + v]
    return dx_pad


def chunks(N, bytes_per_example, chunk_bytes):
    """Slices of the N examples, each one's columns within chunk_bytes (at least one example)."""
    size = max(1, chunk_bytes // max(1, bytes_per_example))
    return [slice(start, min(start + size, N)) for start in range(0, N, size)]


# --- the vectorised convolution: im2col with the examples last ------------------------------------

def examples_last(x, padding, value=0.0):
    """x (N, C, H, W) -> x_pad (C, H + top + bottom, W + left + right, N), C-contiguous, the new
    border = value. Free (a view) for scratch's columns (C H W, N) seen as images
    (image_layers.images) when there is no padding."""
    if tuple(padding) == VALID:
        return np.ascontiguousarray(x.transpose(1, 2, 3, 0))
    return np.ascontiguousarray(pad(x, padding, value).transpose(1, 2, 3, 0))


def im2col(x_pad, kernel, stride, dilation, out_hw):
    """x_pad (C, Hp, Wp, n) -> cols (C kh kw, Ho Wo n), one row per tap of each channel:
        cols[(c, u, v), (i, j, e)] = x_pad[c, i sh + u dh, j sw + v dw, e]
    Tap (u, v) is one strided slice of x_pad for every channel, position and example at once;
    with the examples last, its rows are runs of Wo n contiguous numbers (stride 1)."""
    (kh, kw), (sh, sw), (dh, dw), (Ho, Wo) = kernel, stride, dilation, out_hw
    C, n = x_pad.shape[0], x_pad.shape[3]
    cols = np.empty((C, kh, kw, Ho, Wo, n), dtype=x_pad.dtype)
    for u in range(kh):
        for v in range(kw):
            cols[:, u, v] = x_pad[:, tap(u, dh, sh, Ho), tap(v, dw, sw, Wo)]
    return cols.reshape(C * kh * kw, Ho * Wo * n)


def col2im(dcols, padded_shape, kernel, stride, dilation, out_hw):
    """The adjoint of im2col: dcols (C kh kw, Ho Wo n) scattered and added into zeros of
    padded_shape (C, Hp, Wp, n), tap by tap (within one tap the positions are distinct, so += on
    the slice is the scatter; taps overlap when stride < (k - 1) d + 1 and add in order u, v)."""
    (kh, kw), (sh, sw), (dh, dw), (Ho, Wo) = kernel, stride, dilation, out_hw
    C, n = padded_shape[0], padded_shape[3]
    dcols = dcols.reshape(C, kh, kw, Ho, Wo, n)
    dx_pad = np.zeros(padded_shape, dtype=dcols.dtype)
    for u in range(kh):
        for v in range(kw):
            dx_pad[:, tap(u, dh, sh, Ho), tap(v, dw, sw, Wo)] += dcols[:, u, v]
    return dx_pad


def by_chunks(parts, work, shape, dtype):
    """work(part) -> an array whose last axis is that part's examples, for each part; -> the parts
    side by side along that last axis (the one array itself when there is one part)."""
    if len(parts) == 1:
        return work(parts[0])
    whole = np.empty(shape, dtype=dtype)
    for part in parts:
        whole[..., part] = work(part)
    return whole


def conv2d_forward(x, w, b=None, stride=(1, 1), padding=VALID, dilation=(1, 1),
                   chunk_bytes=COLUMN_BYTES):
    """The same out as conv2d_forward_naive, by im2col with the examples last, one product per
    chunk of n examples:  out (F, Ho Wo n) = w_col (F, K) @ cols (K, Ho Wo n),  K = C kh kw.
    -> (out (N, F, Ho, Wo): a view of (F, Ho, Wo, N), scratch's columns (F Ho Wo, N); cache)."""
    (F, C, kh, kw), kernel, N = w.shape, w.shape[2:], x.shape[0]
    x_pad = examples_last(x, padding)                                  # (C, Hp, Wp, N)
    out_hw = output_hw(x_pad.shape[1:3], kernel, stride, dilation)
    K, P = C * kh * kw, math.prod(out_hw)
    w_col = w.reshape(F, K)

    def product(part):                                                 # (F, Ho, Wo, n)
        return (w_col @ im2col(x_pad[..., part], kernel, stride, dilation, out_hw)).reshape(F, *out_hw, -1)

    out = by_chunks(chunks(N, K * P * x.itemsize, chunk_bytes), product, (F, *out_hw, N), x.dtype)
    if b is not None:
        out += b[:, None, None, None]
    return out.transpose(3, 0, 1, 2), (x, w, b is not None, stride, padding, dilation, chunk_bytes)


def conv2d_backward(dout, cache, need_dx=True):
    """dout (N, F, Ho, Wo) -> (dx (N, C, H, W), or None when not needed; dw (F, C, kh, kw);
    db (F,) or None). Per chunk of n examples, d (F, Ho Wo n) its part of dout:
        dw_col (F, K) += d @ cols.T          dcols (K, Ho Wo n) = w_col.T @ d, then col2im."""
    x, w, has_bias, stride, padding, dilation, chunk_bytes = cache
    (F, C, kh, kw), kernel, out_hw, N = w.shape, w.shape[2:], dout.shape[2:], x.shape[0]
    x_pad = examples_last(x, padding)                                  # (C, Hp, Wp, N)
    d_all = np.ascontiguousarray(dout.transpose(1, 2, 3, 0))          # (F, Ho, Wo, N)
    K, P = C * kh * kw, math.prod(out_hw)
    w_col, dw_col = w.reshape(F, K), np.zeros((F, K), dtype=w.dtype)
    parts = chunks(N, K * P * x.itemsize, chunk_bytes)
    for part in parts:
        cols = im2col(x_pad[..., part], kernel, stride, dilation, out_hw)     # (K, Ho Wo n)
        dw_col = dw_col + d_all[..., part].reshape(F, -1) @ cols.T

    def scattered(part):                                               # (C, Hp, Wp, n)
        dcols = w_col.T @ d_all[..., part].reshape(F, -1)                      # (K, Ho Wo n)
        return col2im(dcols, (*x_pad.shape[:3], part.stop - part.start), kernel, stride, dilation, out_hw)

    dx = None
    if need_dx:
        dx = crop(by_chunks(parts, scattered, x_pad.shape, x.dtype).transpose(3, 0, 1, 2), padding)
    db = d_all.sum(axis=(1, 2, 3)) if has_bias else None
    return dx, dw_col.reshape(w.shape), db


# --- batch norm over channels, spatial dropout ----------------------------------------------

def to_channel_columns(x):
    """(N, C, H, W) -> (C, N H W): one row per channel, every example's every position a column."""
    return x.transpose(1, 0, 2, 3).reshape(x.shape[1], -1)


def from_channel_columns(Z, shape):
    """The inverse of to_channel_columns, back to shape (N, C, H, W)."""
    N, C, H, W = shape
    return Z.reshape(C, N, H, W).transpose(1, 0, 2, 3)


def batchnorm2d_forward(x, gamma, beta, eps, convention=TORCH):
    """y = gamma (x - mu_c) / sqrt(var_c + eps) + beta, statistics per channel over N, H, W
    (scratch/layers.py norm_forward on the (C, N H W) columns); gamma, beta (C,).
    -> (y, cache); cache[1] is layers' cache, for layers.running_update (count m = N H W)."""
    Z = to_channel_columns(x)
    Y, norm_cache = norm_forward(Z, gamma[:, None], beta[:, None], eps, BATCH, convention)
    return from_channel_columns(Y, x.shape), (x.shape, norm_cache)


def batchnorm2d_backward(dy, cache):
    """dy (N, C, H, W) -> (dx, dgamma (C,), dbeta (C,)): layers.norm_backward on the columns."""
    shape, norm_cache = cache
    dZ, dgamma, dbeta = norm_backward(to_channel_columns(dy), norm_cache, BATCH)
    return from_channel_columns(dZ, shape), dgamma[:, 0], dbeta[:, 0]


def batchnorm2d_running_update(running_mean, running_var, cache, momentum, convention):
    """layers.running_update per channel -> (mean (C,), var (C,)); torch's unbiased variance
    multiplies by m / (m - 1) with m = N H W, the count each channel's statistics came from."""
    mean, var = running_update(running_mean[:, None], running_var[:, None], cache[1], momentum, convention)
    return mean[:, 0], var[:, 0]


def batchnorm2d_inference(x, gamma, beta, eps, mean, var):
    """Evaluation mode: the running statistics (C,) instead of the batch's."""
    Z = norm_inference(to_channel_columns(x), gamma[:, None], beta[:, None], eps, mean[:, None], var[:, None])
    return from_channel_columns(Z, x.shape)


def spatial_dropout_forward(x, mask, rate, convention=TORCH):
    """x * mask / (1 - rate) with mask (N, C) of 1.0 / 0.0: a whole channel kept or dropped
    (Flax: x / (1 - rate) where kept, layers.dropout_forward)."""
    return dropout_forward(x, mask[:, :, None, None], rate, convention)


def spatial_dropout_backward(dy, mask, rate, convention=TORCH):
    return dropout_backward(dy, mask[:, :, None, None], rate, convention)
