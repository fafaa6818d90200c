"""The layers an MLP puts between Dense and the next Dense: dropout, batch norm, layer norm.
Each forward beside its backward, in the shape convention of the rest of scratch/:

    Z, N, A, dZ, dN : (n, m)     n units, m examples (one per COLUMN)
    gamma, beta     : (n, 1)     one scale and one shift per unit
    mask            : (n, m)     1.0 where a unit is kept, 0.0 where it is dropped

Where it sits (scratch/mlp.py): Z = W A_prev (+ b); N = norm(Z); A = dropout(g(N)).

Dropout (inverted: the kept units are scaled up in training, nothing happens at evaluation):
    A = a * mask / (1 - p)          dA_in = dA * mask / (1 - p)
torch computes mask / (1 - p) first and multiplies the input by it (torch.nn.functional.dropout
-> aten _dropout_impl: noise.bernoulli_(1 - p).div_(1 - p); input * noise); Keras multiplies the
input by the Python float 1 / (1 - rate) and zeroes the dropped ones (keras/src/backend/tensorflow/
random.py: dropout -> tensorflow/python/ops/nn_ops.py: _dropout, scale = 1 / keep_prob;
where(keep_mask, x * scale, 0)). In float64 both give x * fl(1 / (1 - p)) on every kept unit.
Flax divides instead (Convention.dropout_divides, the rule dropout-divides): flax/nnx/nn/
stochastic.py Dropout.__call__, keep_prob = 1.0 - rate; lax.select(mask, inputs / keep_prob, 0):
    A = fl(a / (1 - p)) where kept        dA_in = fl(dA / (1 - p)) where kept (div's derivative)
which differs from a * fl(1 / (1 - p)) in the last bit on some units.

Batch norm (over the m examples, per unit), training mode:
    mu = mean(Z, examples)   var = mean((Z - mu)^2, examples)     (biased, in both frameworks)
    Flax (Convention.fast_variance, the rule norm-fast-variance; flax/nnx/nn/normalization.py
    _compute_stats with use_fast_variance=True, BatchNorm's and LayerNorm's default):
                             var = max(0, mean(Z^2) - mu^2)    (one pass; loses digits when the
                             mean is large against the spread)
    Zhat = (Z - mu) / sqrt(var + eps)        N = gamma Zhat + beta
  backward (the classic one: three paths from Z to the loss, through Zhat, mu and var):
    dbeta = sum(dN)   dgamma = sum(dN Zhat)   dZhat = dN gamma
    dZ = 1/(m sqrt(var + eps)) (m dZhat - sum(dZhat) - Zhat sum(dZhat Zhat))
  running statistics (evaluation mode normalizes with these instead):
    torch: running = (1 - momentum) running + momentum batch, the variance UNBIASED (m / (m - 1))
    Keras: moving = momentum moving + (1 - momentum) batch, the variance biased
Layer norm: the same formulas over the n units of each example (axis 0) instead of over the
examples, gamma and beta still per unit; no running statistics (training = evaluation).

Left out: dropout masks (the harness draws them), batch renormalization, group norm, RMS norm.
"""
import numpy as np

from .activations import softmax_backward
from .conventions import TORCH, as_convention

# --- dropout -----------------------------------------------------------------------------------


def dropout_forward(A, mask, rate, convention=TORCH):
    """A * mask / (1 - rate): the mask (n, m) is 1.0 or 0.0, drawn by the harness. torch and Keras
    multiply by the factor mask / (1 - rate); Flax divides the kept ones by 1 - rate."""
    if as_convention(convention).dropout_divides:
        return np.where(mask > 0, A / (1 - rate), 0.0)
    return A * (mask / (1 - rate))


def dropout_backward(dA, mask, rate, convention=TORCH):
    """d/dA of A * mask / (1 - rate): the same factor (Flax: dA / (1 - rate) where kept)."""
    if as_convention(convention).dropout_divides:
        return np.where(mask > 0, dA / (1 - rate), 0.0)
    return dA * (mask / (1 - rate))


# --- batch norm and layer norm: one pair of functions, the axis says which -------------------------
BATCH, LAYER = 1, 0        # normalize over the examples (axis 1) or over the units (axis 0)


def norm_forward(Z, gamma, beta, eps, axis, convention=TORCH):
    """Z (n, m) -> (N, cache). axis BATCH: batch norm's statistics per unit; LAYER: layer norm's
    per example; the variance two-pass, or one-pass where the convention takes it so (Flax).
    cache = (Zhat, inv, mu, var, gamma)."""
    mu = Z.mean(axis=axis, keepdims=True)                               # (n, 1) or (1, m)
    if as_convention(convention).fast_variance:                         # E[Z^2] - E[Z]^2, >= 0
        var = np.maximum(0.0, np.square(Z).mean(axis=axis, keepdims=True) - np.square(mu))
    else:
        var = np.square(Z - mu).mean(axis=axis, keepdims=True)          # biased
    inv = 1 / np.sqrt(var + eps)
    Zhat = (Z - mu) * inv                                               # (n, m)
    return gamma * Zhat + beta, (Zhat, inv, mu, var, gamma)


def norm_backward(dN, cache, axis):
    """dN (n, m) -> (dZ, dgamma, dbeta), dgamma and dbeta (n, 1) summed over the examples."""
    Zhat, inv, _, _, gamma = cache
    dbeta = dN.sum(axis=1, keepdims=True)
    dgamma = (dN * Zhat).sum(axis=1, keepdims=True)
    dZhat = dN * gamma
    k = dN.shape[axis]                                                  # how many values share a mean
    dZ = inv / k * (k * dZhat - dZhat.sum(axis=axis, keepdims=True)
                    - Zhat * (dZhat * Zhat).sum(axis=axis, keepdims=True))
    return dZ, dgamma, dbeta


def norm_inference(Z, gamma, beta, eps, mean, var):
    """Evaluation mode of batch norm: the running statistics (n, 1) instead of the batch's."""
    return gamma * ((Z - mean) / np.sqrt(var + eps)) + beta


def running_update(running_mean, running_var, cache, momentum, convention):
    """BatchNorm's running statistics after a training step, by the convention's two rules
    (scratch/conventions.py): norm_momentum_weights_new (torch: momentum is the new batch's weight,
    default 0.1; Keras: the old average's, default 0.99) and running_var_unbiased (torch stores the
    batch variance times m / (m - 1)). -> (mean, var), each (n, 1)."""
    convention = as_convention(convention)
    _, _, mu, var, _ = cache
    m = cache[0].shape[1]
    if convention.running_var_unbiased:         # torch: aten batch_norm_cpu_update_stats
        var = var * m / (m - 1)
    if convention.norm_momentum_weights_new:    # torch/nn/functional.py batch_norm
        return ((1 - momentum) * running_mean + momentum * mu,
                (1 - momentum) * running_var + momentum * var)
    # keras/src/layers/normalization/batch_normalization.py BatchNormalization.call
    return (running_mean * momentum + mu * (1 - momentum),
            running_var * momentum + var * (1 - momentum))


# --- the layers as objects: what scratch/mlp.py runs, one per entry of the network's layer list ----
# Each object computes one layer, forward beside backward, in the shapes above:
#     forward(P, X, run)        -> (Y, cache)      P: this layer's parameters {role: array}
#     backward(P, cache, dY, need_dX) -> (dX, {role: gradient})   dX None when need_dX is False
# run.training says training or evaluation; run.masks holds this step's dropout masks by block.
# Which object a layer-list entry becomes is the entry's `scratch(ctx)` (compare/engine/layers.py).

class Dense:
    """Z = W A + b     (W (n_out, n_in), b (n_out, 1), A (n_in, m), Z (n_out, m))
    dW = dZ A^T    db = sum of dZ over the m columns    dA = W^T dZ"""

    def forward(self, P, A, run):
        Z = P["W"] @ A
        return (Z + P["b"] if "b" in P else Z), A

    def backward(self, P, A, dZ, need_dA):
        grads = {"W": dZ @ A.T}
        if "b" in P:
            grads["b"] = dZ.sum(axis=1, keepdims=True)
        return (P["W"].T @ dZ if need_dA else None), grads


class Activation:
    """A = g(Z) elementwise    dZ = dA * g'(Z, A); softmax (the output's only) through its Jacobian."""

    def __init__(self, name, g, g_grad):
        self.name, self.g, self.g_grad = name, g, g_grad

    def forward(self, P, Z, run):
        A = self.g(Z)
        return A, (Z, A)

    def backward(self, P, cache, dA, need_dZ):
        Z, A = cache
        if self.name == "softmax":
            return softmax_backward(dA, A), {}
        return dA * self.g_grad(Z, A), {}


class Dropout:
    """Training: A * mask / (1 - rate) with the harness's mask for this block; evaluation: A."""

    def __init__(self, rate, block, convention=TORCH):
        self.rate, self.block, self.convention = rate, block, convention

    def forward(self, P, A, run):
        if not run.training:
            return A, None
        mask = run.masks[self.block]
        return dropout_forward(A, mask, self.rate, self.convention), mask

    def backward(self, P, mask, dA, need_dX):
        return dropout_backward(dA, mask, self.rate, self.convention), {}


class BatchNorm:
    """N = gamma (Z - mu) / sqrt(var + eps) + beta with the batch's statistics per unit (training,
    moving the running ones by the convention's rule) or the running ones (evaluation)."""

    def __init__(self, n, eps, momentum, convention, dtype):
        self.eps, self.momentum, self.convention = eps, momentum, convention
        self.running = (np.zeros((n, 1), dtype), np.ones((n, 1), dtype))      # mean 0, variance 1

    def forward(self, P, Z, run):
        if not run.training:
            return norm_inference(Z, P["gamma"], P["beta"], self.eps, *self.running), None
        N, cache = norm_forward(Z, P["gamma"], P["beta"], self.eps, BATCH, self.convention)
        self.running = running_update(*self.running, cache, self.momentum, self.convention)
        return N, cache

    def backward(self, P, cache, dN, need_dZ):
        dZ, dgamma, dbeta = norm_backward(dN, cache, BATCH)
        return dZ, {"gamma": dgamma, "beta": dbeta}

    def state(self):
        return {"mean": self.running[0], "var": self.running[1]}

    def load(self, state):
        self.running = (state["mean"], state["var"])


class LayerNorm:
    """N = gamma (Z - mu) / sqrt(var + eps) + beta with each example's statistics over its units."""

    def __init__(self, eps, convention=TORCH):
        self.eps, self.convention = eps, convention

    def forward(self, P, Z, run):
        return norm_forward(Z, P["gamma"], P["beta"], self.eps, LAYER, self.convention)

    def backward(self, P, cache, dN, need_dZ):
        dZ, dgamma, dbeta = norm_backward(dN, cache, LAYER)
        return dZ, {"gamma": dgamma, "beta": dbeta}
