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
    MaxPool2D   P = max of each window   the gradient to the convention's chosen maximum; padding
                                         per side (-inf), torch's ceil_mode (a last partial window)
    AvgPool2D   P = mean of each window  (count_include_pad: the convention's or the layer's)
    GlobalAvgPool2D  P = each channel's mean: (C H W, m) -> (C, m), units from then on
    BatchNorm2D N = batch norm per channel (statistics over examples and positions), gamma (C, 1)
    SpatialDropout2D  A = X * mask / (1 - rate), the harness's mask (C, m): one per channel
    Flatten     nothing: (C H W, m) stays (C H W, m)
(Dropout on images, one mask value per number, is scratch/layers.py's Dropout on the columns.)
"""
import numpy as np

from . import conv, pool
from .conventions import TORCH


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

    def __init__(self, shape, kernel, stride, padding, convention, ceil_mode=False):
        self.shape, self.kernel, self.stride, self.padding, self.convention = shape, kernel, stride, padding, convention
        self.ceil_mode = ceil_mode

    def forward(self, P, X, run):
        out, cache = pool.max_pool2d_forward(images(X, self.shape), self.kernel, self.stride, self.padding,
                                             self.ceil_mode, convention=self.convention)
        return columns(out), (cache, out.shape)

    def backward(self, P, kept, dP, need_dX):
        cache, shape = kept
        return columns(pool.max_pool2d_backward(dP.T.reshape(shape), cache)), {}


class AvgPool2D:
    """P = the mean of each window (its count by count_include_pad); dX: dP / count to every cell."""

    def __init__(self, shape, kernel, stride, padding, count_include_pad, convention,
                 ceil_mode=False):
        self.shape, self.kernel, self.stride, self.padding = shape, kernel, stride, padding
        self.count_include_pad, self.convention = count_include_pad, convention
        self.ceil_mode = ceil_mode

    def forward(self, P, X, run):
        out, cache = pool.avg_pool2d_forward(images(X, self.shape), self.kernel, self.stride,
                                             self.padding, self.ceil_mode, self.count_include_pad,
                                             self.convention)
        return columns(out), (cache, out.shape)

    def backward(self, P, kept, dP, need_dX):
        cache, shape = kept
        return columns(pool.avg_pool2d_backward(dP.T.reshape(shape), cache)), {}


class GlobalAvgPool2D:
    """P = each channel's mean over H, W: (C H W, m) -> (C, m) units; dX = dP / (H W) everywhere."""

    def __init__(self, shape):
        self.shape = shape

    def forward(self, P, X, run):
        out, shape = pool.global_avg_pool2d_forward(images(X, self.shape))      # (m, C, 1, 1)
        return columns(out), shape

    def backward(self, P, shape, dP, need_dX):
        return columns(pool.global_avg_pool2d_backward(dP.T.reshape(shape[0], -1, 1, 1), shape)), {}


class BatchNorm2D:
    """N = gamma (Z - mu_c) / sqrt(var_c + eps) + beta, statistics per channel over the batch and
    every position (training, moving the running ones by the convention's rule), or the running
    ones (evaluation). gamma, beta, mean, var (C, 1)."""

    def __init__(self, shape, eps, momentum, convention, dtype):
        self.shape, self.eps, self.momentum, self.convention = shape, eps, momentum, convention
        C = shape[0]
        self.running = (np.zeros((C, 1), dtype), np.ones((C, 1), dtype))      # mean 0, variance 1

    def forward(self, P, Z, run):
        gamma, beta, x = P["gamma"][:, 0], P["beta"][:, 0], images(Z, self.shape)
        if not run.training:
            mean, var = (r[:, 0] for r in self.running)
            return columns(conv.batchnorm2d_inference(x, gamma, beta, self.eps, mean, var)), None
        N, cache = conv.batchnorm2d_forward(x, gamma, beta, self.eps, self.convention)
        mean, var = conv.batchnorm2d_running_update(self.running[0][:, 0], self.running[1][:, 0],
                                                    cache, self.momentum, self.convention)
        self.running = (mean[:, None], var[:, None])
        return columns(N), (cache, N.shape)

    def backward(self, P, kept, dN, need_dZ):
        cache, shape = kept
        dZ, dgamma, dbeta = conv.batchnorm2d_backward(dN.T.reshape(shape), cache)
        return columns(dZ), {"gamma": dgamma[:, None], "beta": dbeta[:, None]}

    def state(self):
        return {"mean": self.running[0], "var": self.running[1]}

    def load(self, state):
        self.running = (state["mean"], state["var"])


class SpatialDropout2D:
    """Training: whole channels dropped, X * mask / (1 - rate) with the harness's mask (C, m) for
    this block, one value per channel and example; evaluation: X."""

    def __init__(self, shape, rate, block, convention=TORCH):
        self.shape, self.rate, self.block, self.convention = shape, rate, block, convention

    def forward(self, P, X, run):
        if not run.training:
            return X, None
        mask = run.masks[self.block].T                                        # (m, C)
        return columns(conv.spatial_dropout_forward(images(X, self.shape), mask, self.rate,
                                                        self.convention)), mask

    def backward(self, P, mask, dY, need_dX):
        dY = dY.T.reshape(-1, *self.shape)
        return columns(conv.spatial_dropout_backward(dY, mask, self.rate, self.convention)), {}


class Flatten:
    """Nothing to compute: the columns are already each image's C.H.W numbers."""

    def forward(self, P, X, run):
        return X, None

    def backward(self, P, kept, dY, need_dX):
        return dY, {}
