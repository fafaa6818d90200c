"""The image layer kinds of the layer list: Conv2D, MaxPool2D, AvgPool2D, GlobalAvgPool2D,
SpatialDropout2D, Flatten (issue 20); BatchNorm and Dropout (compare/engine/layers.py) take images
too.

A network takes images when it is given `input_shape` (C, H, W) (Spec(input_shape=...)); its
rows of data are each image's C H W numbers in channels-first order. A Conv2D opens a block as a
Dense does; a norm, the activation, pooling and dropout follow it in the block; a Flatten (or a
GlobalAvgPool2D) hands the image on as units to the Dense layers after it.

    kind             settings                              parameters (scratch)        produces
    Conv2D           filters, kernel_size, strides,        W (F, C, kh, kw), b (F, 1)  Z, dZ dW db
                     padding, dilation, bias
    MaxPool2D        pool_size, strides, padding,          -                           P, dP
                     ceil_mode
    AvgPool2D        the same, count_include_pad           -                           P, dP
    GlobalAvgPool2D  - ((C, H, W) -> C units)              -                           P, dP
    BatchNorm        momentum, eps, written_in (on         gamma, beta (C, 1);         N, dN dgamma
                     images: per channel)                  state mean, var (C, 1)      dbeta
    Dropout          rate (on images: a mask (C H W, m))   -                           A
    SpatialDropout2D rate (a mask (C, m): whole channels)  -                           A
    Flatten          -                                     -                           (a reshape)

Conv2D padding: 'valid', 'same' (TensorFlow's rule, the odd extra row and column at the bottom and
right; torch's reference pads by hand for stride > 1, which torch's padding='same' refuses), an
int p on every side, (ph, pw), or (top, bottom, left, right).
Pooling padding: 'valid', 'same' (TensorFlow's), or torch's int or (ph, pw), at most half the
window (torch/_meta_registrations.py pooling_output_shape). ceil_mode is torch's (a last, partial
window: scratch/pool.py pool_output_size); Keras and Flax have none (Convention.
pool_ceil_mode_available), so where it adds a window they are not built (`unavailable`: the rule
pool-ceil-mode, said in the report) and where it adds none they run the floor's windows.
count_include_pad (average): None follows the padding's framework, False for 'same'
(tf.nn.avg_pool 'SAME' divides by the real cells: keras/src/backend/tensorflow/nn.py
average_pool), True otherwise (torch/nn/modules/pooling.py AvgPool2d's default).
Scratch computes them in scratch/conv.py and scratch/pool.py (scratch/image_layers.py runs them
between the columns scratch keeps); the layouts (NCHW, NHWC, kernels, the Dense after a Flatten,
the dropout masks) are compare/engine/convert.py's.

Left out: LayerNorm on images, pooling padding per side (top, bottom, left, right), dilated
pooling, a max pooling's ties in a block whose dropout follows the pooling (judge.pool_ties).
"""
import math
from dataclasses import dataclass
from typing import ClassVar

from scratch import conv as scratch_conv
from scratch import image_layers as scratch_images
from scratch import pool as scratch_pool
from scratch.conventions import CONVENTIONS, KERAS, as_convention

from .errors import InputError
from .layers import Dropout, Layer, layer_kind


def pair(value, what):
    """An int or a pair of ints -> (rows, columns)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value, value
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return tuple(value)
    raise InputError(f"{what} is an int or a pair of ints, got {value!r}")


def sides(padding, hw, kernel, strides, dilation):
    """padding -> (top, bottom, left, right) for an input of hw (H, W)."""
    if padding == "valid":
        return 0, 0, 0, 0
    if padding == "same":                                           # TensorFlow's rule (Keras's convention)
        top, bottom = scratch_conv.same_padding(hw[0], kernel[0], strides[0], dilation[0], KERAS)
        left, right = scratch_conv.same_padding(hw[1], kernel[1], strides[1], dilation[1], KERAS)
        return top, bottom, left, right
    if isinstance(padding, int) and not isinstance(padding, bool):
        return (padding,) * 4
    if isinstance(padding, (tuple, list)) and len(padding) == 2:
        return padding[0], padding[0], padding[1], padding[1]
    if isinstance(padding, (tuple, list)) and len(padding) == 4:
        return tuple(padding)
    raise InputError(f"padding is 'valid', 'same', an int, (rows, columns) or (top, bottom, left, right), "
                     f"got {padding!r}")


@layer_kind
@dataclass(frozen=True)
class Conv2D(Layer):
    filters: int
    kernel_size: int | tuple = 3
    strides: int | tuple = 1
    padding: str | int | tuple = "valid"
    dilation: int | tuple = 1
    bias: bool = True
    frozen: frozenset = frozenset()          # roles not trained: 'W', 'b'
    kind: ClassVar[str] = "conv2d"
    role: ClassVar[str] = "Z"
    grads: ClassVar[tuple] = ("dZ", "dW", "db")
    param_roles: ClassVar[tuple] = ("W", "b")
    opens_block: ClassVar[bool] = True
    images: ClassVar[bool] = True

    def geometry(self, shape):
        """-> (kernel, strides, dilation, (top, bottom, left, right)) for an input image `shape`."""
        kernel, strides = pair(self.kernel_size, "kernel_size"), pair(self.strides, "strides")
        dilation = pair(self.dilation, "dilation")
        return kernel, strides, dilation, sides(self.padding, shape[1:], kernel, strides, dilation)

    def params(self, shape):
        C = shape[0]
        kh, kw = pair(self.kernel_size, "kernel_size")
        out = {"W": (self.filters, C, kh, kw)}
        if self.bias:
            out["b"] = (self.filters, 1)
        return out

    def fans(self, shape):
        """(fan_in, fan_out) of its kernel, as torch's _calculate_fan_in_and_fan_out and Keras's
        compute_fans count them: C kh kw and F kh kw."""
        kh, kw = pair(self.kernel_size, "kernel_size")
        return shape[0] * kh * kw, self.filters * kh * kw

    def out_shape(self, shape):
        kernel, strides, dilation, (top, bottom, left, right) = self.geometry(shape)
        H = scratch_conv.output_size(shape[1] + top + bottom, kernel[0], strides[0], dilation[0])
        W = scratch_conv.output_size(shape[2] + left + right, kernel[1], strides[1], dilation[1])
        return self.filters, H, W

    def scratch(self, ctx):
        kernel, strides, dilation, padding = self.geometry(ctx.n_in)
        return scratch_images.Conv2D(ctx.n_in, strides, padding, dilation)

    def torch(self, ctx):
        from reference.torch_mlp import conv2d
        return conv2d(self, ctx)

    def keras(self, ctx):
        from reference.keras_mlp import conv2d
        return conv2d(self, ctx)

    def jax(self, ctx):
        from reference.jax_layers import conv2d
        return conv2d(self, ctx)


def pool_sides(padding, shape, kernel, strides):
    """A pooling's padding -> (top, bottom, left, right): 'valid', 'same' (TensorFlow's rule, the
    odd extra row and column at the bottom and right: what Keras's 'same' pools), or torch's int p
    or (ph, pw) on both sides of each axis, at most half the window (torch refuses more:
    torch/_meta_registrations.py pooling_output_shape, 'pad should be at most half of effective
    kernel size')."""
    if padding in ("valid", "same"):
        return sides(padding, shape[1:], kernel, strides, (1, 1))
    if not (isinstance(padding, int) and not isinstance(padding, bool)
            or isinstance(padding, (tuple, list)) and len(padding) == 2):
        raise InputError(f"a pooling's padding is 'valid', 'same', an int or (rows, columns), "
                         f"got {padding!r}")
    ph, pw = pair(padding, "padding")
    if not (0 <= ph <= kernel[0] // 2 and 0 <= pw <= kernel[1] // 2):
        raise InputError(f"a pooling's padding is at most half its window on each side (torch's "
                         f"rule): padding {padding!r} with pool_size {kernel}")
    return ph, ph, pw, pw


@dataclass(frozen=True)
class Pool2D(Layer):
    """What max and average pooling share: a window pool_size, moved by strides (pool_size unset),
    over the input padded by `padding`, with torch's ceil_mode (a last, partial window)."""
    role: ClassVar[str] = "P"
    grads: ClassVar[tuple] = ("dP",)
    images: ClassVar[bool] = True
    follows_activation: ClassVar[bool] = True          # P comes after A in a block (names.py's order)

    def window(self):
        kernel = pair(self.pool_size, "pool_size")
        return kernel, pair(self.strides, "strides") if self.strides is not None else kernel

    def geometry(self, shape):
        """-> (kernel, strides, (top, bottom, left, right)) for an input image `shape`."""
        kernel, strides = self.window()
        if self.ceil_mode not in (True, False):
            raise InputError(f"ceil_mode is True or False, got {self.ceil_mode!r}")
        if self.ceil_mode and self.padding == "same":
            raise InputError("ceil_mode is torch's and padding 'same' Keras's: with ceil_mode give "
                             "the padding as an int or (rows, columns)")
        return kernel, strides, pool_sides(self.padding, shape, kernel, strides)

    def output_hw(self, shape, ceil_mode):
        kernel, strides, padding = self.geometry(shape)
        return scratch_pool.pool_geometry(shape[1:], kernel, strides, padding, ceil_mode)[0]

    def out_shape(self, shape):
        return (shape[0], *self.output_hw(shape, self.ceil_mode))

    def adds_windows(self, shape):
        """Whether ceil_mode adds a last, partial window here (else it changes nothing)."""
        return self.ceil_mode and self.output_hw(shape, True) != self.output_hw(shape, False)

    def unavailable(self, shape):
        """{framework: why} for each framework that cannot express it: one without ceil_mode (Keras,
        JAX: Convention.pool_ceil_mode_available False, the rule pool-ceil-mode), where ceil_mode
        adds a window."""
        if not self.adds_windows(shape):
            return {}
        images = "x".join(map(str, shape))
        return {c.name: f"{self.describe()} on {images} images adds a last, partial window "
                        f"(ceil_mode): {c.framework}'s pooling has no ceil_mode (pool-ceil-mode)"
                for c in CONVENTIONS.values() if not c.pool_ceil_mode_available}

    def scratch_args(self, ctx):
        """(kernel, strides, padding, ceil_mode) for scratch; ceil_mode only where it adds a window
        (where it adds none, the windows are the floor's, and Keras's conventions can follow)."""
        kernel, strides, padding = self.geometry(ctx.n_in)
        ceil_mode = self.adds_windows(ctx.n_in)
        if ceil_mode and not as_convention(ctx.convention).pool_ceil_mode_available:
            raise InputError(self.unavailable(ctx.n_in)[as_convention(ctx.convention).name])
        return kernel, strides, padding, ceil_mode

    def torch(self, ctx):
        from reference.torch_mlp import pool2d
        return pool2d(self, ctx)

    def keras(self, ctx):
        if self.adds_windows(ctx.n_in):
            raise InputError(self.unavailable(ctx.n_in)["keras"])
        from reference.keras_mlp import pool2d
        return pool2d(self, ctx)

    def jax(self, ctx):
        if self.adds_windows(ctx.n_in):
            raise InputError(self.unavailable(ctx.n_in)["jax"])
        from reference.jax_layers import pool2d
        return pool2d(self, ctx)


@layer_kind
@dataclass(frozen=True)
class MaxPool2D(Pool2D):
    pool_size: int | tuple = 2
    strides: int | tuple | None = None
    padding: str | int | tuple = "valid"     # 'valid', 'same' (Keras's), an int or (rows, columns)
    ceil_mode: bool = False                  # torch's: a last, partial window (Keras: none)
    kind: ClassVar[str] = "max_pool2d"

    def scratch(self, ctx):
        kernel, strides, padding, ceil_mode = self.scratch_args(ctx)
        return scratch_images.MaxPool2D(ctx.n_in, kernel, strides, padding, ctx.convention,
                                        ceil_mode)

    def windows(self, images):
        """images (m, C, H, W) -> its windows (m, C, kh kw, Ho, Wo), padding and a ceil-mode
        overhang -inf (what the maximum of each is taken over: judge.pool_ties reads them)."""
        kernel, strides, padding = self.geometry(images.shape[1:])
        out_hw, full = scratch_pool.pool_geometry(images.shape[2:], kernel, strides, padding,
                                                  self.ceil_mode)
        padded = scratch_conv.pad(images, full, -math.inf)
        return scratch_conv.windows(padded, kernel, strides, (1, 1), out_hw)


@layer_kind
@dataclass(frozen=True)
class AvgPool2D(Pool2D):
    pool_size: int | tuple = 2
    strides: int | tuple | None = None
    padding: str | int | tuple = "valid"
    ceil_mode: bool = False
    count_include_pad: bool | None = None    # None: False with 'same' (Keras's), else True
    kind: ClassVar[str] = "avg_pool2d"

    def counts_padding(self):
        """Whether the divisor counts the zero padding: as given, else each framework's own rule for
        the padding it has: Keras's 'same' divides by the real cells alone (the TF backend calls
        tf.nn.avg_pool 'SAME', keras/src/backend/tensorflow/nn.py:278; Keras's own reference
        backend writes the rule out, keras/src/backend/numpy/nn.py:329-349, `pooled /
        window_counts`, the counts pooled from ones; measured in tests/test_cnn_options.py),
        torch's AvgPool2d by the window, its padding included (count_include_pad=True,
        torch/nn/modules/pooling.py AvgPool2d)."""
        if self.count_include_pad is None:
            return self.padding != "same"
        if self.count_include_pad not in (True, False):
            raise InputError(f"count_include_pad is True, False or None, "
                             f"got {self.count_include_pad!r}")
        return self.count_include_pad

    def scratch(self, ctx):
        kernel, strides, padding, ceil_mode = self.scratch_args(ctx)
        return scratch_images.AvgPool2D(ctx.n_in, kernel, strides, padding, self.counts_padding(),
                                        ctx.convention, ceil_mode)


@layer_kind
@dataclass(frozen=True)
class GlobalAvgPool2D(Layer):
    """The mean of each channel over H and W: an image (C, H, W) -> C units (torch
    AdaptiveAvgPool2d(1) and Flatten, Keras GlobalAveragePooling2D); no Flatten after it."""
    kind: ClassVar[str] = "global_avg_pool2d"
    role: ClassVar[str] = "P"
    grads: ClassVar[tuple] = ("dP",)
    images: ClassVar[bool] = True
    follows_activation: ClassVar[bool] = True

    def out_shape(self, shape):
        return (shape[0],)

    def scratch(self, ctx):
        return scratch_images.GlobalAvgPool2D(ctx.n_in)

    def torch(self, ctx):
        from reference.torch_mlp import global_avg_pool2d
        return global_avg_pool2d(self, ctx)

    def keras(self, ctx):
        from reference.keras_mlp import global_avg_pool2d
        return global_avg_pool2d(self, ctx)

    def jax(self, ctx):
        from reference.jax_layers import global_avg_pool2d
        return global_avg_pool2d(self, ctx)


@layer_kind
@dataclass(frozen=True)
class Flatten(Layer):
    """An image's C H W numbers as units (scratch: nothing to do; convert.py orders the frameworks')."""
    kind: ClassVar[str] = "flatten"
    role: ClassVar[str | None] = None
    images: ClassVar[bool] = True

    def out_shape(self, shape):
        return (math.prod(shape),)

    def scratch(self, ctx):
        return scratch_images.Flatten()

    def torch(self, ctx):
        from reference.torch_mlp import flatten
        return flatten(self, ctx)

    def keras(self, ctx):
        from reference.keras_mlp import flatten
        return flatten(self, ctx)

    def jax(self, ctx):
        from reference.jax_layers import flatten
        return flatten(self, ctx)


@layer_kind
@dataclass(frozen=True)
class SpatialDropout2D(Dropout):
    """Whole channels dropped: one mask value per (channel, example), the harness's mask (C, m)
    (compare/engine/masks.py), kept channels scaled by 1 / (1 - rate) (torch Dropout2d, Keras
    SpatialDropout2D: both draw the mask of shape (m, C, 1, 1) / (m, 1, 1, C) and scale as their
    elementwise dropout does)."""
    kind: ClassVar[str] = "spatial_dropout2d"
    images: ClassVar[bool] = True

    def mask_rows(self, n):
        return n[0]

    def scratch(self, ctx):
        return scratch_images.SpatialDropout2D(ctx.n_in, self.rate, ctx.block, ctx.convention)
