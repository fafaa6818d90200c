"""Float32 bounds for the tensors of convolution and pooling layers, from the lengths of their sums.

The rule (Higham, Accuracy and Stability of Numerical Algorithms, 2nd ed., Lemma 3.1 and eq. 3.5):
a sum of n rounded terms, added in ANY order and any tree (a blocked GEMM, a SIMD reduction, a
naive loop, with or without FMA), is within gamma_n = n u / (1 - n u) of the exact sum, relative to
the sum of the terms' magnitudes:

    |fl(sum_k a_k b_k) - sum_k a_k b_k|  <=  gamma_n  sum_k |a_k| |b_k|,     u = 2^-24 (float32)

Two implementations that each obey it differ by at most twice that. A tensor also carries the
errors of its inputs, so the bound is carried through the step, first order, as e(t), an
elementwise bound on |fl(t) - t| in units of u. The batch and the parameters start the step equal
on both sides: at step 1, and at every step of a resynced pair (a float32 run restarts each
reference from its subject's state: compare/engine/harness.py); other pairs are not held to B.

    tensor             n (the accumulation length)      e (units of u)
    Conv2D  Z          C kh kw (+1 with a bias)         n (|W| * |X| + |b|) + |W| * e(X)
    Dense   Z          n_in (+1 with a bias)            n (|W| |X| + |b|) + |W| e(X)
    ReLU    A          0                                e(Z) where Z > -2 u e(Z) (1-Lipschitz)
    other g A          0                                |g'(Z)| e(Z) + 4 |A|
    MaxPool2D P        0 (a selection rounds nothing)   the window's largest e
    AvgPool2D P        kh kw                            mean e + kh kw mean |X|
    softmax + CE dZ_L  n_L + 8 (exp, sum, log, /)       ((n_L + 8 + 3 max|Z_L|) |A_L|
                                                + 2 |A_L| max e(Z_L) + 3 (|A_L| + |Y|)) / divisor
    Dense  dX          n_l units                        n |W|^T |dZ| + |W|^T e(dZ)
    Conv2D dX (col2im) F taps (taps reaching a cell,    n col2im(|W|^T |dZ|) + col2im(|W|^T e(dZ))
                       <= ceil(kh/sh) ceil(kw/sw))
    Conv2D dW          m Ho Wo                          n |dZ| * |X| + e(dZ) * |X| + |dZ| * e(X)
    Conv2D db          m Ho Wo                          n sum |dZ| + sum e(dZ)
    MaxPool2D dX       windows overlapping on a cell    e(dP) routed + (overlaps - 1) |dP| routed
    AvgPool2D dX       overlaps                         (e(dP) + overlaps |dP|) / count, spread

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

U = 2.0 ** -24                  # float32's unit roundoff
IMAGE_KINDS = ("conv2d", "max_pool2d", "avg_pool2d")
SECOND_ORDER = 1.05             # 1 + the (n u)^2 terms left out: the sum of n u over a step < 0.05
ELEMENTWISE = 4.0               # an activation's own error in ulps of its value (TF's vectorised
                                # tanh, sigmoid, exp: within 1-2 ulps)


def taps_per_cell(k, stride, dilation):
    """The most taps u < k of one axis that reach one input cell (u d = r mod s for its r)."""
    return max(sum(1 for u in range(k) if (u * dilation) % stride == r) for r in range(stride))


def images(X, shape):
    return X.T.reshape(X.shape[1], *shape)


def columns(Y):
    return Y.reshape(Y.shape[0], -1).T


def image_blocks(spec):
    """The blocks that hold a convolution or a pooling: their tensors are held to B."""
    return {p.block for p in spec.network.placed if p.layer.kind in IMAGE_KINDS}


class Float32Bounds:
    """e(t) and n(t) of the tensors of one pair's step that the walk reaches (module docstring).

    production: bounds.Production of the step (its records, the parameters the step started
    from, X and Y in columns, `resynced`)."""

    def __init__(self, production):
        self.p, self.spec = production, production.spec
        self.table = activation_table(production.convention, production.spec.slope)
        self.e, self.n = {}, {}
        self.inputs = {}                    # placed index -> (its input, signed; the input's e)
        self.complete = self.same_start() and self.forward()
        if self.complete:
            self.backward()

    def same_start(self):
        """Whether the two sides started the step from the same parameters: a resynced pair, or
        equal arrays (step 1). B counts one step's roundings, not the drift of two runs."""
        if getattr(self.p, "resynced", False):
            return True
        before = self.p.before
        if len(before) != 2 or not before[0] or before[0].keys() != before[1].keys():
            return False
        return all(np.array_equal(np.asarray(before[0][k]), np.asarray(before[1][k]))
                   for k in before[0])

    def signed(self, name):
        return self.p.records_value(name)

    def keep(self, name, e, n):
        self.e[name], self.n[name] = e, n

    def bound(self, name):
        """B = 1.05 * 2 u max e(name), or None where the walk did not reach it."""
        e = self.e.get(name)
        if e is None or np.size(e) == 0:
            return None
        top = float(np.max(e))
        return SECOND_ORDER * 2.0 * U * top if np.isfinite(top) else None

    # --- forward: e of each layer's output from its input's ------------------------------------

    def forward(self):
        """Walk the layers forward. -> True when it reached a softmax output with cross-entropy
        (then the backward walk can start); it stops at a layer it has no rule for."""
        if self.p.X is None:
            return False
        x = np.asarray(self.p.X, dtype=np.float64)              # |X|: its signs are not needed
        ex = np.zeros_like(x)
        for placed in self.spec.network.placed:
            layer, l = placed.layer, placed.block
            self.inputs[placed.index] = (x, ex)
            if layer.kind == "conv2d":
                ex, x = self.conv_forward(placed, x, ex), self.signed(f"Z{l}")
            elif layer.kind == "dense":
                W, b = self.p.started(f"W{l}"), self.p.started(f"b{l}")    # magnitudes
                n = W.shape[1] + (b is not None)
                ex = n * (W @ np.abs(x) + (0.0 if b is None else b)) + W @ ex
                x = self.signed(f"Z{l}")
                self.keep(f"Z{l}", ex, n)
            elif layer.kind == "activation" and layer.name == "softmax" and l == self.spec.n_layers:
                return self.output(x, ex)
            elif layer.kind == "activation":
                ex = self.activation_forward(layer.name, l, x, ex)
                x = self.signed(f"A{l}")
                self.keep(f"A{l}", ex, 0)
            elif layer.kind in ("max_pool2d", "avg_pool2d"):
                ex, x = self.pool_forward(placed, x, ex), self.signed(f"P{l}")
            elif not (layer.kind == "flatten" or layer.kind == "dropout" and not layer.rate):
                return False                                     # a norm, dropout: no rule here
            if x is None or ex is None:
                return False
        return False                                             # no softmax output: no backward

    def conv_forward(self, placed, x, ex):
        """e(Z) = n (|W| * |X| + |b|) + |W| * e(X) = |W| * (n |X| + e(X)) + n |b|: one conv."""
        l = placed.block
        W, b = self.p.started(f"W{l}"), self.p.started(f"b{l}")
        kernel, strides, dilation, padding = placed.layer.geometry(placed.n_in)
        n = placed.n_in[0] * kernel[0] * kernel[1] + (b is not None)
        xs = images(n * np.abs(x) + ex, placed.n_in)
        nb = None if b is None else n * b[:, 0]
        e = columns(conv.conv2d_forward(xs, W, nb, strides, padding, dilation)[0])
        self.keep(f"Z{l}", e, n)
        return e

    def activation_forward(self, name, l, Z, eZ):
        if Z is None:
            return None
        if name == "relu":
            return eZ * (Z > -2 * SECOND_ORDER * U * eZ)          # 0 only where both sides are
        if name == "linear":
            return eZ
        g_grad, A = self.table.get(name, (None, None))[1], self.signed(f"A{l}")
        if g_grad is None or A is None:
            return None
        return np.abs(g_grad(Z, A)) * eZ + ELEMENTWISE * np.abs(A)

    def pool_forward(self, placed, x, ex):
        kernel, strides = placed.layer.window()
        out_hw = placed.n_out[1:]

        def windows(value):
            return conv.windows(images(value, placed.n_in), kernel, strides, (1, 1), out_hw)

        if placed.layer.kind == "max_pool2d":
            e, n = windows(ex).max(axis=2), 0                    # a selection: no rounding
        else:
            n = kernel[0] * kernel[1]                            # K - 1 additions, a division
            e = windows(ex).mean(axis=2) + n * windows(np.abs(x)).mean(axis=2)
        self.keep(f"P{placed.block}", columns(e), n)
        return columns(e)

    def output(self, Z, eZ):
        """softmax + categorical cross-entropy: e(dZ_L), dZ_L = (A_L - Y) / divisor."""
        spec, L = self.spec, self.spec.n_layers
        A, Y = self.signed(f"A{L}"), self.p.Y
        if (spec.loss != "categorical_crossentropy" or Z is None or A is None or Y is None
                or A.shape != Y.shape):
            return False
        A = np.abs(A)
        n_L, m = A.shape
        divisor = loss_divisor(spec.loss, spec.reduction, self.p.convention, n_L, m)
        eA = (n_L + 8 + 3 * np.abs(Z).max(axis=0)) * A + 2 * A * eZ.max(axis=0)
        self.keep(f"dZ{L}", (eA + 3 * (A + Y)) / divisor, n_L + 8)
        return True

    # --- backward: e of each gradient from the one after it -----------------------------------

    def backward(self):
        """Walk the layers back from dZ_L; stops where a record it needs is missing. g: the
        gradient's magnitude (its record, or a bound on it where none is recorded)."""
        L = self.spec.n_layers
        g, eg = np.abs(self.signed(f"dZ{L}")), self.e[f"dZ{L}"]
        for placed in reversed(self.spec.network.placed):
            layer, l = placed.layer, placed.block
            if layer.kind == "activation" and l == L or layer.kind == "flatten":
                continue                                         # dZ_L is the loss's (above)
            if layer.kind == "activation":
                Z, A = self.signed(f"Z{l}"), self.signed(f"A{l}")
                if Z is None or A is None:
                    return
                slope = (Z > 0) if layer.name == "relu" else np.abs(self.table[layer.name][1](Z, A))
                own = 0 if layer.name in ("relu", "linear") else ELEMENTWISE * slope * g
                eg = slope * eg + own
                g = self.signed(f"dZ{l}")
                self.keep(f"dZ{l}", eg, 0)
            elif layer.kind in ("max_pool2d", "avg_pool2d"):
                g, eg = self.handed_back(placed, *self.pool_backward(placed, g, eg))
            elif layer.kind == "conv2d":
                g, eg = self.handed_back(placed, *self.conv_backward(placed, g, eg))
            elif layer.kind == "dense":
                W = self.p.started(f"W{l}")
                n = W.shape[0]
                g, eg = self.handed_back(placed, W.T @ g, n * (W.T @ g) + W.T @ eg, n)
            else:
                return
            if g is None:
                return
            g = np.abs(g)

    def handed_back(self, placed, bound, e, n):
        """The gradient a layer hands back, kept as d<the tensor before it>: -> (its magnitude,
        the recorded one where there is a record, else `bound`; e), or (None, None) at the input."""
        earlier = reversed(self.spec.network.placed[:placed.index])
        name = next((f"{b.layer.role}{b.block}" for b in earlier if b.layer.role is not None), None)
        if name is None:
            return None, None
        self.keep(f"d{name}", e, n)
        recorded = self.signed(f"d{name}")
        return (bound if recorded is None else recorded), e

    def conv_backward(self, placed, dZ, edZ):
        """dW, db kept; -> (|dX| bound col2im(|W|^T |dZ|), e(dX), its n). By linearity
        e(dW) = (n |dZ| + e(dZ)) * |X| + |dZ| * e(X), e(dX) = col2im(|W|^T (n_dX |dZ| + e(dZ)))."""
        l, (x, ex) = placed.block, self.inputs[placed.index]
        W, b = self.p.started(f"W{l}"), self.p.started(f"b{l}")
        kernel, strides, dilation, padding = placed.layer.geometry(placed.n_in)
        F, Ho, Wo = placed.n_out
        shape = (dZ.shape[1], F, Ho, Wo)
        g, eg = dZ.T.reshape(shape), edZ.T.reshape(shape)

        def back(dout, xs):                   # conv2d_backward with conv2d_forward's cache of xs
            cache = (xs, W, False, strides, padding, dilation, conv.COLUMN_BYTES)
            return conv.conv2d_backward(dout, cache)

        n = shape[0] * Ho * Wo
        rows, cols = (taps_per_cell(k, s, d) for k, s, d in zip(kernel, strides, dilation))
        n_dX = F * rows * cols
        absX = np.abs(images(x, placed.n_in))
        e_dX, e_dW, _ = back(n_dX * g + eg, absX)
        if n != n_dX:
            e_dW = back(n * g + eg, absX)[1]
        if np.any(ex):
            e_dW = e_dW + back(g, images(ex, placed.n_in))[1]
        self.keep(f"dW{l}", e_dW, n)
        if b is not None:
            self.keep(f"db{l}", (n * g.sum(axis=(0, 2, 3)) + eg.sum(axis=(0, 2, 3)))[:, None], n)
        bound = (lambda: columns(back(g, absX)[0])) if self.needs_bound(placed) else (lambda: None)
        return bound(), columns(e_dX), n_dX

    def needs_bound(self, placed):
        """Whether the gradient a layer hands back has no record (then its magnitude is bounded)."""
        earlier = reversed(self.spec.network.placed[:placed.index])
        name = next((f"{b.layer.role}{b.block}" for b in earlier if b.layer.role is not None), None)
        return name is not None and self.signed(f"d{name}") is None

    def pool_backward(self, placed, dP, edP):
        """-> (|dX| bound: |dP| routed, e(dX), its n: the windows overlapping on a cell)."""
        layer, (x, _) = placed.layer, self.inputs[placed.index]
        kernel, strides = layer.window()
        shape = (dP.shape[1], *placed.n_out)
        g, eg = dP.T.reshape(shape), edP.T.reshape(shape)
        overlaps = math.ceil(kernel[0] / strides[0]) * math.ceil(kernel[1] / strides[1])
        maximum = layer.kind == "max_pool2d"
        forward, backward = ((pool.max_pool2d_forward, pool.max_pool2d_backward) if maximum
                             else (pool.avg_pool2d_forward, pool.avg_pool2d_backward))
        _, cache = forward(images(x, placed.n_in), kernel, strides, convention=self.p.convention)
        if maximum:                                          # routed to the convention's maximum
            e = backward(eg, cache) + (overlaps - 1) * backward(g, cache)
        else:
            e = backward(eg + overlaps * g, cache)
        return columns(backward(g, cache)), columns(e), overlaps
