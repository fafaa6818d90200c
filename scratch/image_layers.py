"""The image layers as objects that scratch/mlp.py runs (the protocol of scratch/layers.py:
forward(P, X, run) -> (Y, cache), backward(P, cache, dY, need_dX) -> (dX, {role: gradient})).

Between layers scratch keeps ONE EXAMPLE PER COLUMN, images included: a batch of m images
(C, H, W) travels as the columns (C H W, m), each column the image's numbers in channels-first
order (torch's NCHW flattened). Each image layer turns its columns into cs231n's (m, C, H, W),
computes with scratch/conv.py or scratch/pool.py, and hands on columns again:

    images(X, shape)   (C H W, m) -> (m, C, H, W)        columns(Y)   (m, C, H, W) -> (C H W, m)

so a Flatten is no computation at all here (its columns are already C.H.W); the frameworks'
Flatten orders are a layout, converted in compare/engine/convert.py.

    Conv2D      Z = conv(X, W) + b     W (F, C, kh, kw), b (F, 1); padding per side (top, bottom,
                                       left, right), resolved from 'valid'/'same' by the layer kind
    MaxPool2D   P = max of each window   the gradient to the convention's chosen maximum
    AvgPool2D   P = mean of each window  (count_include_pad: the convention's or the layer's)
    Flatten     nothing: (C H W, m) stays (C H W, m)
"""
from . import conv, pool


def images(X, shape):
    """Columns (C H W, m) -> images (m, C, H, W)."""
    return X.T.reshape(X.shape[1], *shape)


def columns(Y):
    """Images (m, C, H, W) -> columns (C H W, m)."""
    return Y.reshape(Y.shape[0], -1).T


class Conv2D:
    """Z = W * X + b (a cross-correlation, scratch/conv.py)    dW, db over examples and positions."""

    def __init__(self, shape, stride, padding, dilation):
        self.shape, self.stride, self.padding, self.dilation = shape, stride, padding, dilation

    def forward(self, P, X, run):
        b = P["b"][:, 0] if "b" in P else None
        Z, cache = conv.conv2d_forward(images(X, self.shape), P["W"], b, self.stride, self.padding, self.dilation)
        return columns(Z), (cache, Z.shape)

    def backward(self, P, kept, dZ, need_dX):
        cache, shape = kept
        dX, dW, db = conv.conv2d_backward(dZ.T.reshape(shape), cache, need_dX)
        grads = {"W": dW}
        if "b" in P:
            grads["b"] = db[:, None]
        return (columns(dX) if need_dX else None), grads


class MaxPool2D:
    """P = the maximum of each window; dX: each window's dP to the one maximum the convention picks."""

    def __init__(self, shape, kernel, stride, padding, convention):
        self.shape, self.kernel, self.stride, self.padding, self.convention = shape, kernel, stride, padding, convention

    def forward(self, P, X, run):
        out, cache = pool.max_pool2d_forward(images(X, self.shape), self.kernel, self.stride, self.padding,
                                             convention=self.convention)
        return columns(out), (cache, out.shape)

    def backward(self, P, kept, dP, need_dX):
        cache, shape = kept
        return columns(pool.max_pool2d_backward(dP.T.reshape(shape), cache)), {}


class AvgPool2D:
    """P = the mean of each window (its count by count_include_pad); dX: dP / count to every cell."""

    def __init__(self, shape, kernel, stride, padding, count_include_pad, convention):
        self.shape, self.kernel, self.stride, self.padding = shape, kernel, stride, padding
        self.count_include_pad, self.convention = count_include_pad, convention

    def forward(self, P, X, run):
        out, cache = pool.avg_pool2d_forward(images(X, self.shape), self.kernel, self.stride, self.padding,
                                             count_include_pad=self.count_include_pad, convention=self.convention)
        return columns(out), (cache, out.shape)

    def backward(self, P, kept, dP, need_dX):
        cache, shape = kept
        return columns(pool.avg_pool2d_backward(dP.T.reshape(shape), cache)), {}


class Flatten:
    """Nothing to compute: the columns are already each image's C.H.W numbers."""

    def forward(self, P, X, run):
        return X, None

    def backward(self, P, kept, dY, need_dX):
        return dY, {}
