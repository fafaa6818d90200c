"""2-D max, average and global average pooling, each forward beside its backward (cs231n's form).

Shapes (scratch/conv.py's layout): x, dx (N, C, H, W); out, dout (N, C, Ho, Wo); kernel (kh, kw),
stride (sh, sw), padding (top, bottom, left, right) per side, as in scratch/conv.py. A window
(i, j) covers the rows i sh + u, u < kh, and the columns j sw + v, v < kw, of the padded input:
    max:  out[n, c, i, j] = max_{u, v} x_pad[n, c, i sh + u, j sw + v]        (padding = -inf)
    avg:  out[n, c, i, j] = sum_{u, v} x_pad[n, c, i sh + u, j sw + v] / count[i, j]   (padding = 0)
    Ho = (H + top + bottom - kh) // sh + 1, or with ceil_mode (torch's only) rounded up, less one
    when that last window would start beyond the input and its top padding (torch/
    _meta_registrations.py pooling_output_shape_pad_lr); a ceil-mode window's overhang is padding.
  count[i, j] (avg): how many of the window's cells lie in the input (count_include_pad False:
  Keras's 'same', TF's avg_pool) or in the input and its padding (True: torch's default; the
  ceil-mode overhang beyond the padding still not counted, as in aten's avg_pool2d).
  backward:
    max: dx gets dout[n, c, i, j] at ONE position per window, the convention's maximum
         (maxpool_grad_to_first_max: the first in scan order u, v = 0, 1, ..., in torch, Keras and
         JAX: reduce_window max's JVP, jax/_src/lax/windowed_reductions.py
         _reduce_window_chooser_jvp_rule, selects with ge_p, the first maximum kept; measured in
         tests/test_jax_layers.py);
         overlapping windows (stride < kernel) add up where they chose the same element.
    avg: every cell of window (i, j) gets dout[n, c, i, j] / count[i, j] (padding's share dropped).
Global average: out (N, C, 1, 1) = mean over H, W (torch's AdaptiveAvgPool2d(1); Keras's
GlobalAveragePooling2D drops the 1, 1), dx = dout / (H W) everywhere.

Left out: dilation in pooling, LP / fractional / adaptive pooling other than global, NaN inputs
(torch's max keeps a NaN; the tie rule here is for NaN-free inputs), return_indices.
"""
import numpy as np

from .conv import VALID, crop, examples_last, pad, tap, unwindows, windows
from .conventions import TORCH, as_convention

NO_DILATION = (1, 1)


def pool_output_size(size, k, stride, before, after, ceil_mode):
    """Windows along one axis: torch's pooling_output_shape_pad_lr with dilation 1."""
    span = size + before + after - k
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + before:      # the last window must start inside
        out -= 1
    return out


def pool_geometry(hw, kernel, stride, padding, ceil_mode):
    """-> (out_hw, full): full = padding plus the ceil-mode overhang at the bottom and right."""
    top, bottom, left, right = padding
    Ho = pool_output_size(hw[0], kernel[0], stride[0], top, bottom, ceil_mode)
    Wo = pool_output_size(hw[1], kernel[1], stride[1], left, right, ceil_mode)
    over_h = max(0, (Ho - 1) * stride[0] + kernel[0] - (hw[0] + top + bottom))
    over_w = max(0, (Wo - 1) * stride[1] + kernel[1] - (hw[1] + left + right))
    return (Ho, Wo), (top, bottom + over_h, left, right + over_w)


def check_ceil_mode(ceil_mode, convention):
    if ceil_mode and not as_convention(convention).pool_ceil_mode_available:
        raise ValueError(f"{as_convention(convention).framework} pooling has no ceil_mode")


# --- max pooling ------------------------------------------------------------------------------

def window_taps(x_pad, kernel, stride, out_hw):
    """x_pad (C, Hp, Wp, N), the examples last (conv.examples_last) -> [(C, Ho, Wo, N)], entry
    u kw + v every window's tap (u, v): strided views of x_pad, nothing copied."""
    (kh, kw), (sh, sw), (Ho, Wo) = kernel, stride, out_hw
    return [x_pad[:, tap(u, 1, sh, Ho), tap(v, 1, sw, Wo)] for u in range(kh) for v in range(kw)]


def chosen_tap(taps, top, convention):
    """taps [(C, Ho, Wo, N)] in scan order, top their maximum -> which (C, Ho, Wo, N): the index k
    of the maximum that takes the gradient, the first in scan order (np.argmax's pick) or the last.
    Each tap bids its k where it holds the maximum and K elsewhere; the least bid is the first
    (for the last: the taps in reverse order, then K - 1 - the least)."""
    first = as_convention(convention).maxpool_grad_to_first_max
    K, dtype = len(taps), np.min_scalar_type(2 * len(taps))
    which = np.full(top.shape, K - 1, dtype)             # K - 1 also where no tap equals a NaN
    for k, t in enumerate(taps if first else taps[::-1]):
        np.minimum(which, (t != top).astype(dtype) * dtype.type(K) + dtype.type(k), out=which)
    return which if first else dtype.type(K - 1) - which


def max_pool2d_forward(x, kernel, stride, padding=VALID, ceil_mode=False, convention=TORCH):
    """out = each window's maximum, padding -inf; the examples last as in scratch/conv.py (each
    tap a strided view, no window copied). -> (out (N, C, Ho, Wo), cache: which (C, Ho, Wo, N))."""
    check_ceil_mode(ceil_mode, convention)
    out_hw, full = pool_geometry(x.shape[2:], kernel, stride, padding, ceil_mode)
    taps = window_taps(examples_last(x, full, -np.inf), kernel, stride, out_hw)
    top = taps[0].copy()
    for t in taps[1:]:
        top = np.maximum(top, t)                                                 # (C, Ho, Wo, N)
    which = chosen_tap(taps, top, convention)
    return top.transpose(3, 0, 1, 2), (x.shape, which, kernel, stride, full)


def max_pool2d_backward(dout, cache):
    """dout (N, C, Ho, Wo) -> dx (N, C, H, W): each window's dout to its chosen maximum only; tap
    by tap (overlapping windows, stride < kernel, add up where they chose the same element)."""
    (N, C, H, W), which, (kh, kw), (sh, sw), full = cache
    d = np.ascontiguousarray(dout.transpose(1, 2, 3, 0))                         # (C, Ho, Wo, N)
    Ho, Wo = d.shape[1:3]
    dx_pad = np.zeros((C, H + full[0] + full[1], W + full[2] + full[3], N), dtype=d.dtype)
    for u in range(kh):
        for v in range(kw):
            dx_pad[:, tap(u, 1, sh, Ho), tap(v, 1, sw, Wo)] += (which == u * kw + v) * d
    return crop(dx_pad.transpose(3, 0, 1, 2), full)


# --- average pooling --------------------------------------------------------------------------

def window_counts(hw, kernel, stride, padding, full, out_hw, count_include_pad):
    """count (1, 1, Ho, Wo): how many cells of each window are counted (the module docstring)."""
    inside = pad(np.ones((1, 1, *hw)), padding, 1.0 if count_include_pad else 0.0)
    overhang = (0, full[1] - padding[1], 0, full[3] - padding[3])
    return windows(pad(inside, overhang, 0.0), kernel, stride, NO_DILATION, out_hw).sum(axis=2)


def avg_pool2d_forward(x, kernel, stride, padding=VALID, ceil_mode=False, count_include_pad=None,
                       convention=TORCH):
    """out = each window's sum / its count; count_include_pad None: the convention's default
    (avgpool_counts_padding). -> (out (N, C, Ho, Wo), cache)."""
    check_ceil_mode(ceil_mode, convention)
    if count_include_pad is None:
        count_include_pad = as_convention(convention).avgpool_counts_padding
    out_hw, full = pool_geometry(x.shape[2:], kernel, stride, padding, ceil_mode)
    count = window_counts(x.shape[2:], kernel, stride, padding, full, out_hw, count_include_pad)
    win = windows(pad(x, full, 0.0), kernel, stride, NO_DILATION, out_hw)
    return win.sum(axis=2) / count, (x.shape, count, kernel, stride, full)


def avg_pool2d_backward(dout, cache):
    """dout (N, C, Ho, Wo) -> dx (N, C, H, W): dout / count to every cell of the window."""
    shape, count, kernel, stride, full = cache
    dwin = np.repeat((dout / count)[:, :, None], kernel[0] * kernel[1], axis=2)  # (N, C, kh kw, ..)
    padded = (*shape[:2], shape[2] + full[0] + full[1], shape[3] + full[2] + full[3])
    return crop(unwindows(dwin, padded, kernel, stride, NO_DILATION), full)


# --- global average pooling -------------------------------------------------------------------

def global_avg_pool2d_forward(x):
    """(N, C, H, W) -> (N, C, 1, 1), the mean of each channel's H W values."""
    return x.mean(axis=(2, 3), keepdims=True), x.shape


def global_avg_pool2d_backward(dout, shape):
    """dout (N, C, 1, 1) -> dx (N, C, H, W) = dout / (H W) at every position."""
    return np.broadcast_to(dout / (shape[2] * shape[3]), shape).copy()
