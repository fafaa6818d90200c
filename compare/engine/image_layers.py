"""The image layer kinds of the layer list: Conv2D, MaxPool2D, AvgPool2D, Flatten (issue 20).

A network takes images when it is given `input_shape` (C, H, W) (Spec(input_shape=...)); its
rows of data are each image's C H W numbers in channels-first order. A Conv2D opens a block as a
Dense does; pooling and the activation follow it in the block; a Flatten hands the image on as
C H W units to the Dense layers after it.

    kind        settings                                   parameters (scratch)         produces
    Conv2D      filters, kernel_size, strides, padding,    W (F, C, kh, kw), b (F, 1)   Z, dZ dW db
                dilation, bias
    MaxPool2D   pool_size, strides                         -                            P, dP
    AvgPool2D   pool_size, strides                         -                            P, dP
    Flatten     -                                          -                            (nothing: a reshape)

padding: 'valid', 'same' (TensorFlow's rule, the odd extra row and column at the bottom and right;
torch's reference pads by hand for stride > 1, which torch's padding='same' refuses), an int p on
every side, (ph, pw), or (top, bottom, left, right). Scratch computes them in scratch/conv.py and
scratch/pool.py (scratch/image_layers.py runs them between the columns scratch keeps); the
layouts (NCHW, NHWC, kernels, the Dense after a Flatten) are compare/engine/convert.py's.

Left out for now: pooling padding and ceil_mode, BatchNorm over channels, dropout on images,
global average pooling (scratch has them; the references and the layer list do not yet).
"""
import math
from dataclasses import dataclass
from typing import ClassVar

from scratch import conv as scratch_conv
from scratch import image_layers as scratch_images
from scratch.conventions import KERAS

from .errors import InputError
from .layers import Layer, layer_kind


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


@dataclass(frozen=True)
class Pool2D(Layer):
    """What max and average pooling share: a window pool_size, moved by strides (pool_size unset)."""
    role: ClassVar[str] = "P"
    grads: ClassVar[tuple] = ("dP",)
    images: ClassVar[bool] = True
    follows_activation: ClassVar[bool] = True          # P comes after A in a block (names.py's order)

    def window(self):
        kernel = pair(self.pool_size, "pool_size")
        return kernel, pair(self.strides, "strides") if self.strides is not None else kernel

    def out_shape(self, shape):
        (kh, kw), (sh, sw) = self.window()
        return shape[0], (shape[1] - kh) // sh + 1, (shape[2] - kw) // sw + 1

    def torch(self, ctx):
        from reference.torch_mlp import pool2d
        return pool2d(self, ctx)

    def keras(self, ctx):
        from reference.keras_mlp import pool2d
        return pool2d(self, ctx)


@layer_kind
@dataclass(frozen=True)
class MaxPool2D(Pool2D):
    pool_size: int | tuple = 2
    strides: int | tuple | None = None
    kind: ClassVar[str] = "max_pool2d"

    def scratch(self, ctx):
        kernel, strides = self.window()
        return scratch_images.MaxPool2D(ctx.n_in, kernel, strides, scratch_conv.VALID, ctx.convention)


@layer_kind
@dataclass(frozen=True)
class AvgPool2D(Pool2D):
    pool_size: int | tuple = 2
    strides: int | tuple | None = None
    kind: ClassVar[str] = "avg_pool2d"

    def scratch(self, ctx):
        kernel, strides = self.window()
        return scratch_images.AvgPool2D(ctx.n_in, kernel, strides, scratch_conv.VALID, True, ctx.convention)


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
