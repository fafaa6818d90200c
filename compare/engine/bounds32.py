"""Float32 bounds for the tensors of convolution and pooling layers, from their accumulation lengths.

The rule (Higham, Accuracy and Stability of Numerical Algorithms, 2nd ed., Lemma 3.1 and eq. 3.5):
a sum of n rounded terms, added in ANY order and any tree (a blocked GEMM, a SIMD reduction, a
naive loop, with or without FMA), is within gamma_n = n u / (1 - n u) of the exact sum, relative to
the sum of the terms' magnitudes:

    |fl(sum_k a_k b_k) - sum_k a_k b_k|  <=  gamma_n  sum_k |a_k| |b_k|,     u = 2^-24 (float32)

Two implementations that each obey it differ by at most twice that. A tensor also carries the
errors of its inputs, so the bound is carried through the step, first order, as e(t), an
elementwise bound on |fl(t) - t| in units of u (the parameters and the batch start the step equal
on both sides: float32 runs resync, compare/engine/harness.py):

    layer / tensor     n (the accumulation length)           e (units of u)
    Conv2D  Z          C kh kw (+1 with a bias)               n (|W| * |X| + |b|) + |W| * e(X)
    Dense   Z          n_in (+1 with a bias)                  n (|W| |X| + |b|) + |W| e(X)
    ReLU, linear A     0                                      [Z > 0] e(Z)   (a kink flip: not judged)
    other g  A         0                                      |g'(Z)| e(Z) + 4 |A|
    MaxPool2D P        0 (a selection rounds nothing)         the window's largest e
    AvgPool2D P        kh kw                                  mean e + kh kw mean |X|
    softmax + CE dZ_L  n_L + 8 (exp, the sum, log, divisions) ((n_L + 8 + 3 max|Z_L|) |A_L|
                                                               + 2 |A_L| max e(Z_L) + 3 (|A_L| + |Y|)) / divisor
    Dense  dX          n_l units                              n |W|^T |dZ| + |W|^T e(dZ)
    Conv2D dX (col2im) F taps, taps <= ceil(kh/sh) ceil(kw/sw) n col2im(|W|^T |dZ|) + col2im(|W|^T e(dZ))
    Conv2D dW          m Ho Wo                                n |dZ| * |X| + e(dZ) * |X| + |dZ| * e(X)
    Conv2D db          m Ho Wo                                n sum |dZ| + sum e(dZ)
    MaxPool2D dX       overlapping windows (stride < kernel)   e(dP) routed + (overlaps - 1) |dP| routed
    AvgPool2D dX       overlaps                                (e(dP) + overlaps |dP|) / count spread

(* a convolution, computed here in float64 on magnitudes by scratch/conv.py itself.) A tensor of a
block that holds a convolution or a pooling is then judged by

    max_i |ours_i - theirs_i|  <=  B = 2 u max_i e_i(t)      (2: both sides round)

reduced to its largest element as the float64 rule reduces P (bounds.py): the judgement stays
tensor-level. Second-order terms (n u)^2 are left out: n u < 1e-2 for every sum here.

Left out (those tensors keep check.py's plain float32 rule, 3e-4 of their scale): the parameters
after the update and the optimizer states (a few roundings each, no accumulation), dropout and
normalization layers (what is computed through them too), output losses other than softmax with
categorical cross-entropy (then the backward pass), and the ReLU kinks and max-pool ties that
judge.py already reports instead of judging.
"""
import math

import numpy as np

from scratch import conv, pool
from scratch.activations import activation_table
from scratch.losses import loss_divisor

U = 2.0 ** -24                       # float32's unit roundoff
IMAGE_KINDS = ("conv2d", "max_pool2d", "avg_pool2d")
SECOND_ORDER = 1.05                  # (1 + the (n u)^2 terms left out): sum of n u over a step < 0.05
ELEMENTWISE_ROUNDING = 4.0           # an activation function's own error, in ulps of its value (TF's
                                     # vectorised tanh, sigmoid and exp are within 1-2 ulps)


def taps_per_cell(k, stride, dilation):
    """The most taps u < k of one axis that reach one input cell: u d = r (mod s) for the cell's r."""
    counts = [sum(1 for u in range(k) if (u * dilation) % stride == r) for r in range(stride)]
    return max(counts)


def images(X, shape):
    return X.T.reshape(X.shape[1], *shape)


def columns(Y):
    return Y.reshape(Y.shape[0], -1).T


class Float32Bounds:
    """e(t) and n(t) of every tensor of one pair's step that the walk reaches (see the docstring).

    production: bounds.Production of the step (its records, the parameters the step started from,
    X and Y in columns)."""

    def __init__(self, production):
        self.p, self.spec = production, production.spec
        self.e, self.n = {}, {}
        self.forward_inputs = {}                 # placed index -> (signed input, its e)
        self.complete = False
        if self.same_start():
            self.complete = self.forward()
            if self.complete:
                self.backward()

    def same_start(self):
        """Whether the two sides started the step from the same parameters (a resynced pair): the
        bound counts this step's roundings only, not the drift of two runs (torch~keras)."""
        before = self.p.before
        if len(before) != 2 or not before[0] or before[0].keys() != before[1].keys():
            return False
        return all(np.array_equal(np.asarray(before[0][k]), np.asarray(before[1][k])) for k in before[0])

    def signed(self, name):
        return self.p.records_value(name)

    def param(self, name):
        """The parameter as the step started it (both sides equal after a resync: the larger)."""
        return self.p.started(name)

    def keep(self, name, e, n):
        self.e[name], self.n[name] = e, n

    # --- forward -----------------------------------------------------------------------------

    def forward(self):
        """Walk the layers forward; False where a layer's error is not known here (stops there)."""
        spec, x, ex = self.spec, self.p.X, None
        if x is None:
            return False
        x = np.asarray(self.p.X, dtype=np.float64)              # |X|: X's signs are not needed
        ex = np.zeros_like(x)
        table = activation_table(self.p.convention, spec.slope)
        for placed in spec.network.placed:
            layer, l = placed.layer, placed.block
            self.forward_inputs[placed.index] = (x, ex)
            if layer.kind == "conv2d":
                W, b = self.param(f"W{l}"), self.param(f"b{l}")
                kernel, strides, dilation, padding = layer.geometry(placed.n_in)
                absx = np.abs(images(x, placed.n_in))
                terms, _ = conv.conv2d_forward(absx, W, None if b is None else b[:, 0], strides, padding, dilation)
                carried, _ = conv.conv2d_forward(images(ex, placed.n_in), W, None, strides, padding, dilation)
                n = placed.n_in[0] * kernel[0] * kernel[1] + (b is not None)
                ex, x = columns(n * terms + carried), self.signed(f"Z{l}")
                self.keep(f"Z{l}", ex, n)
            elif layer.kind == "dense":
                W, b = self.param(f"W{l}"), self.param(f"b{l}")
                n = W.shape[1] + (b is not None)
                ex = n * (W @ np.abs(x) + (0.0 if b is None else b)) + W @ ex
                x = self.signed(f"Z{l}")
                self.keep(f"Z{l}", ex, n)
            elif layer.kind == "activation":
                if x is None:
                    return False
                if layer.name == "softmax" and l == spec.n_layers:
                    self.keep(f"A{l}", None, 0)                      # the output: read by the loss below
                    return self.output(x, ex)
                if layer.name in ("relu", "linear"):
                    ex = ex * (x > 0) if layer.name == "relu" else ex
                else:
                    g_grad = table.get(layer.name, (None, None))[1]
                    A = self.signed(f"A{l}")
                    if g_grad is None or A is None:
                        return False
                    ex = np.abs(g_grad(x, A)) * ex + ELEMENTWISE_ROUNDING * np.abs(A)
                x = self.signed(f"A{l}")
                self.keep(f"A{l}", ex, 0)
            elif layer.kind in ("max_pool2d", "avg_pool2d"):
                ex, x = self.pool_forward(placed, x, ex), self.signed(f"P{l}")
            elif layer.kind == "flatten" or (layer.kind == "dropout" and not layer.rate):
                continue
            else:                                                    # a norm, dropout: not covered
                return False
            if x is None:
                return False
        return False                                                 # no softmax output: no backward

    def pool_forward(self, placed, x, ex):
        kernel, strides = placed.layer.window()
        C, H, W = placed.n_in
        out_hw = placed.n_out[1:]
        e_win = conv.windows(images(ex, placed.n_in), kernel, strides, (1, 1), out_hw)
        if placed.layer.kind == "max_pool2d":
            e = e_win.max(axis=2)                                      # a selection: no rounding of its own
            n = 0
        else:
            x_win = conv.windows(np.abs(images(x, placed.n_in)), kernel, strides, (1, 1), out_hw)
            n = kernel[0] * kernel[1]                                  # K - 1 additions and a division
            e = e_win.mean(axis=2) + n * x_win.mean(axis=2)
        self.keep(f"P{placed.block}", columns(e), n)
        return columns(e)

    def output(self, Z, eZ):
        """softmax + categorical cross-entropy: e(dZ_L), dZ_L = (A_L - Y) / divisor."""
        spec, L = self.spec, self.spec.n_layers
        A, Y = self.signed(f"A{L}"), self.p.Y
        if spec.loss != "categorical_crossentropy" or A is None or Y is None or A.shape != Y.shape:
            return False
        A = np.abs(A)
        n_L, m = A.shape
        divisor = loss_divisor(spec.loss, spec.reduction, self.p.convention, n_L, m)
        eA = (n_L + 8 + 3 * np.abs(Z).max(axis=0)) * A + 2 * A * eZ.max(axis=0)
        self.keep(f"dZ{L}", (eA + 3 * (A + Y)) / divisor, n_L + 8)
        return True

    # --- backward ----------------------------------------------------------------------------

    def backward(self):
        """Walk the layers back from dZ_L; stops where a record it needs is missing."""
        spec, L = self.spec, self.spec.n_layers
        g, eg = self.signed(f"dZ{L}"), self.e[f"dZ{L}"]
        placed_list = spec.network.placed
        for placed in reversed(placed_list):
            layer, l = placed.layer, placed.block
            if g is None:
                return
            if layer.kind == "activation":
                if l == L:
                    continue                                          # dZ_L is the loss's (above)
                Z, A = self.signed(f"Z{l}"), self.signed(f"A{l}")
                if Z is None or A is None:
                    return
                if layer.name == "relu":
                    eg = eg * (Z > 0)
                elif layer.name != "linear":
                    g_grad = activation_table(self.p.convention, spec.slope)[layer.name][1]
                    slope = np.abs(g_grad(Z, A))
                    eg = slope * eg + ELEMENTWISE_ROUNDING * slope * np.abs(g)
                g = self.signed(f"dZ{l}")
                self.keep(f"dZ{l}", eg, 0)
            elif layer.kind in ("max_pool2d", "avg_pool2d"):
                g, eg = self.pool_backward(placed, g, eg)
            elif layer.kind == "conv2d":
                g, eg = self.conv_backward(placed, g, eg)
            elif layer.kind == "dense":
                g, eg = self.dense_backward(placed, g, eg)
            elif layer.kind != "flatten":
                return

    def name_before(self, placed):
        """The tensor the layer before `placed` produced (its gradient's name, with a 'd'), or None."""
        for before in reversed(self.spec.network.placed[:placed.index]):
            if before.layer.role is not None:
                return f"{before.layer.role}{before.block}"
        return None

    def dense_backward(self, placed, dZ, edZ):
        """dX = W^T dZ: n_l units summed (the Dense's dW, db are not image tensors: not bounded here)."""
        l = placed.block
        W = self.param(f"W{l}")                                        # |W|
        name = self.name_before(placed)
        if name is None:
            return None, None
        e = W.shape[0] * (W.T @ np.abs(dZ)) + W.T @ edZ
        self.keep(f"d{name}", e, W.shape[0])
        recorded = self.signed(f"d{name}")
        return (recorded if recorded is not None else W.T @ np.abs(dZ)), e      # |dA| <= |W|^T |dZ|

    def conv_backward(self, placed, dZ, edZ):
        l, layer = placed.block, placed.layer
        x, ex = self.forward_inputs[placed.index]
        W, b = self.param(f"W{l}"), self.param(f"b{l}")
        kernel, strides, dilation, padding = layer.geometry(placed.n_in)
        F, Ho, Wo = placed.n_out
        shape = (dZ.shape[1], F, Ho, Wo)
        absdZ, edZ4 = np.abs(dZ).T.reshape(shape), edZ.T.reshape(shape)
        absx, ex4 = np.abs(images(x, placed.n_in)), images(ex, placed.n_in)

        def back(dout, xs, ws):
            _, cache = conv.conv2d_forward(xs, ws, None, strides, padding, dilation)
            return conv.conv2d_backward(dout, cache)

        dx_terms, dw_terms, _ = back(absdZ, absx, W)
        dx_carried, dw_from_dZ, _ = back(edZ4, absx, W)
        _, dw_from_x, _ = back(absdZ, ex4, W)
        n_sum = shape[0] * Ho * Wo
        self.keep(f"dW{l}", n_sum * dw_terms + dw_from_dZ + dw_from_x, n_sum)
        if b is not None:
            self.keep(f"db{l}", (n_sum * absdZ.sum(axis=(0, 2, 3)) + edZ4.sum(axis=(0, 2, 3)))[:, None], n_sum)
        name = self.name_before(placed)
        if name is None:
            return None, None
        taps = taps_per_cell(kernel[0], strides[0], dilation[0]) * taps_per_cell(kernel[1], strides[1], dilation[1])
        n = F * taps
        e = columns(n * dx_terms + dx_carried)
        self.keep(f"d{name}", e, n)
        recorded = self.signed(f"d{name}")
        return (recorded if recorded is not None else columns(dx_terms)), e    # |dX| <= col2im(|W|^T |dZ|)

    def pool_backward(self, placed, dP, edP):
        l, layer = placed.block, placed.layer
        kernel, strides = layer.window()
        x, _ = self.forward_inputs[placed.index]
        shape = (dP.shape[1], *placed.n_out)
        absdP, edP4 = np.abs(dP).T.reshape(shape), edP.T.reshape(shape)
        overlaps = math.ceil(kernel[0] / strides[0]) * math.ceil(kernel[1] / strides[1])
        if layer.kind == "max_pool2d":
            _, cache = pool.max_pool2d_forward(images(x, placed.n_in), kernel, strides, convention=self.p.convention)
            back = lambda d: pool.max_pool2d_backward(d, cache)           # noqa: E731
            e = back(edP4) + (overlaps - 1) * back(absdP)
        else:
            _, cache = pool.avg_pool2d_forward(images(x, placed.n_in), kernel, strides, convention=self.p.convention)
            back = lambda d: pool.avg_pool2d_backward(d, cache)           # noqa: E731
            e = back(edP4 + overlaps * absdP)
        name = self.name_before(placed)
        e, routed = columns(e), columns(back(absdP))
        self.keep(f"d{name}", e, overlaps)
        recorded = self.signed(f"d{name}")
        return (recorded if recorded is not None else routed), e

    # --- the judgement -----------------------------------------------------------------------

    def bound(self, name):
        """B = 2 u max e(name), or None where the walk did not reach it."""
        e = self.e.get(name)
        if e is None or np.size(e) == 0:
            return None
        top = float(np.max(e))
        return SECOND_ORDER * 2.0 * U * top if np.isfinite(top) else None


def image_blocks(spec):
    """The blocks that hold a convolution or a pooling: their tensors are judged by B."""
    return {p.block for p in spec.network.placed if p.layer.kind in IMAGE_KINDS}
