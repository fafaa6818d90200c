"""A multilayer perceptron in plain NumPy: forward, loss, backward and update, written out.

Shapes (one example per COLUMN, as in the classic derivation):
    X = A0 : (n_0, m)          m examples of n_0 features
    W_l    : (n_l, n_{l-1})    same layout as torch's nn.Linear.weight; a Keras kernel is W_l.T
    b_l    : (n_l, 1)          broadcast over the m columns
    Z_l, A_l, dZ_l : (n_l, m)

Forward, for l = 1..L:            Backward, for l = L..1:
    Z_l = W_l A_{l-1} + b_l           dZ_L = from the loss (see scratch/losses.py)
    A_l = g_l(Z_l)                    dW_l = dZ_l A_{l-1}^T
                                      db_l = sum of dZ_l over the m columns
                                      dZ_{l-1} = (W_l^T dZ_l) * g'_{l-1}(Z_{l-1})
The batch mean (the 1/m) is inside dZ_L, so dW and db need no further division.

L2 / L1 regularisation (Keras's kernel_regularizer semantics; the weights only, unless
spec.regularize_biases: then the biases too, as Keras's bias_regularizer):
    loss += l2 sum(W_l^2) + l1 sum|W_l|       dW_l += 2 l2 W_l + l1 sign(W_l)
    (biases too)  + l2 sum(b_l^2) + l1 sum|b_l|     db_l += 2 l2 b_l + l1 sign(b_l)
The dW returned includes the penalty; clipping and weight decay are the optimizer's
(scratch/optimizers.py) and never change the gradients returned here.

A learning-rate schedule (scratch/schedules.py) sets the optimizer's lr after every step, or
at the end of every epoch (`end_epoch`, called by the harness with the epoch's mean loss).

Dropout and normalization (scratch/layers.py), hidden layers only, as the spec asks:
    Z_l = W_l A_{l-1} (+ b_l)    N_l = norm(Z_l)    A_l = dropout(g_l(N_l))
    backward: dA_l through the dropout mask, g'_l(N_l), then the norm's backward to dZ_l
A batch-normed layer has no bias (its mean is subtracted right away; beta is the shift), as
torch users write nn.Linear(bias=False) before nn.BatchNorm1d. The dropout masks come from the
harness (`masks`, set before each step); `training=False` (predict) uses no dropout and batch
norm's running statistics.

Left out: any layer other than dense, dropout, batch norm and layer norm. No autograd.
"""
import numpy as np

from . import layers
from .activations import activation_table, softmax_backward
from .losses import loss_divisor, loss_functions
from .optimizers import as_keras_casts, make_optimizer
from .schedules import make_schedule


class MLP:
    """The network of a spec (compare.spec.Spec: sizes, activations, loss, reduction,
    optimizer and its hyperparameters), starting from `params` = [(W1, b1), ...] in the
    layout above, following the conventions of 'torch' or 'keras'."""

    def __init__(self, spec, params, convention="torch"):
        self.L = len(params)
        self.params = {}
        for l, (W, b) in enumerate(params, start=1):
            self.params[f"W{l}"], self.params[f"b{l}"] = W.copy(), b.copy()
        table = activation_table(convention, spec.slope)            # leaky_relu: the spec's slope or the default
        self.names = list(spec.activations)
        self.g = [None] + [table[name][0] for name in spec.activations]       # g[l] for layer l
        self.g_grad = [None] + [table[name][1] for name in spec.activations]
        self.loss_name, self.reduction, self.convention = spec.loss, spec.reduction, convention
        self.loss_fn = loss_functions(spec, convention)     # (loss, grad, reads, gives, targets)
        self.optimizer = make_optimizer(spec.optimizer, spec.hyper(convention), convention)
        self.schedule = make_schedule(spec.hyper(convention), convention)
        if self.schedule:
            self.optimizer.lr = self.schedule.lr                       # Keras's float32 lr0, when it casts
        cast = as_keras_casts if convention == "keras" else float  # Keras's L1/L2 keep float(l): its TF
        self.l1, self.l2 = cast(spec.l1), cast(spec.l2)            # backend rounds that through float32
        self.penalized = ("W", "b") if spec.regularize_biases else ("W",)   # Keras's bias_regularizer: the same L1/L2
        self.init_layers(spec, convention)

    def init_layers(self, spec, convention):
        """Dropout rates, the normalization's gamma = 1, beta = 0 (and running mean 0, variance 1)."""
        self.dropouts = {l: p for l, p in enumerate(spec.dropout_rates, start=1) if p}   # hidden layer -> rate
        self.masks = {}                                                 # l -> (n_l, m), set by the harness
        self.norms = set(range(1, self.L)) if spec.norm else set()      # the normalized hidden layers
        self.norm, self.norm_set, self.running, self.norm_cache = spec.norm, spec.norm_settings(convention), {}, {}
        self.training = True
        self.axis = layers.BATCH if spec.norm == "batch" else layers.LAYER
        for l in sorted(self.norms):
            n = self.params[f"W{l}"].shape[0]
            dtype = self.params[f"W{l}"].dtype
            self.params[f"gamma{l}"], self.params[f"beta{l}"] = np.ones((n, 1), dtype), np.zeros((n, 1), dtype)
            if spec.norm == "batch":
                del self.params[f"b{l}"]                                # no bias before batch norm
                self.running[l] = (np.zeros((n, 1), dtype), np.ones((n, 1), dtype))

    def normalize(self, l, Z):
        """N_l = gamma Zhat + beta: batch norm with the batch's statistics in training (moving the
        running ones), the running ones in evaluation; layer norm with each example's."""
        gamma, beta, eps = self.params[f"gamma{l}"], self.params[f"beta{l}"], self.norm_set["eps"]
        if self.norm == "batch" and not self.training:
            return layers.norm_inference(Z, gamma, beta, eps, *self.running[l])
        N, self.norm_cache[l] = layers.norm_forward(Z, gamma, beta, eps, self.axis)
        if self.norm == "batch":
            self.running[l] = layers.running_update(*self.running[l], self.norm_cache[l], self.norm_set["momentum"],
                                                    self.convention)
        return N

    def hidden_backward(self, l, dA, cache, grads):
        """dA_l -> dZ_l: back through dropout, g_l, and the norm (filling dN, dgamma, dbeta)."""
        if l in self.dropouts:
            dA = layers.dropout_backward(dA, self.masks[l], self.dropouts[l])
        N = cache.get(f"N{l}", cache[f"Z{l}"])
        dN = dA * self.g_grad[l](N, self.g[l](N))                       # g_l(N_l) again: A_l is after dropout
        if l not in self.norms:
            return dN
        grads[f"dN{l}"] = dN
        dZ, grads[f"dgamma{l}"], grads[f"dbeta{l}"] = layers.norm_backward(dN, self.norm_cache[l], self.axis)
        return dZ

    def forward(self, X):
        """X (n_0, m) -> cache {'A0': X, 'Z1': .., 'A1': .., ..., 'ZL': .., 'AL': ..}"""
        cache = {"A0": X}
        A = X
        for l in range(1, self.L + 1):
            W, b = self.params[f"W{l}"], self.params.get(f"b{l}", 0)         # no bias before batch norm: 0
            Z = W @ A + b                                                    # (n_l, m)
            N = self.normalize(l, Z) if l in self.norms else Z              # batch or layer norm
            A = self.g[l](N)
            if l in self.dropouts and self.training:
                A = layers.dropout_forward(A, self.masks[l], self.dropouts[l])
            cache[f"Z{l}"], cache[f"A{l}"] = Z, A
            if l in self.norms:
                cache[f"N{l}"] = N
        return cache

    def divisor(self, Y):
        """What the summed loss is divided by for targets Y (n_L, m)."""
        n, m = Y.shape
        return loss_divisor(self.loss_name, self.reduction, self.convention, n, m)

    def loss(self, cache, Y):
        """The loss of the batch, a scalar. Fused cross-entropies read the logits ZL, the others AL;
        targets(Y) gives what the loss compares with (smoothed targets, integer labels, -1/1)."""
        loss, _, reads, _, targets = self.loss_fn
        return loss(cache[f"{reads}{self.L}"], targets(Y), self.divisor(Y)) + self.penalty()

    def penalty(self):
        """The regularisation term: l2 sum(W^2) + l1 sum|W| over every layer's weights (and biases, with
        spec.regularize_biases) (0 if unset)."""
        total = 0.0
        for l in range(1, self.L + 1):
            for kind in self.penalized:
                if f"{kind}{l}" not in self.params:                           # a batch-normed layer's bias
                    continue
                W = self.params[f"{kind}{l}"]
                if self.l2:
                    total = total + self.l2 * np.sum(np.square(W))
                if self.l1:
                    total = total + self.l1 * np.sum(np.abs(W))
        return total

    def output_dZ(self, cache, Y):
        """dZ_L: straight from a fused cross-entropy, or dA_L through g'_L for the others."""
        _, loss_grad, _, gives, targets = self.loss_fn
        Z, A = cache[f"Z{self.L}"], cache[f"A{self.L}"]
        d = loss_grad(A, targets(Y), self.divisor(Y))
        if gives == "dZ":
            return d
        if self.names[-1] == "softmax":
            return softmax_backward(d, A)
        return d * self.g_grad[self.L](Z, A)

    def backward(self, cache, Y):
        """-> grads {'dZl': (n_l, m), 'dWl': (n_l, n_{l-1}), 'dbl': (n_l, 1)} for every layer l."""
        grads = {}
        dZ = self.output_dZ(cache, Y)
        for l in range(self.L, 0, -1):
            A_prev = cache[f"A{l - 1}"]
            grads[f"dZ{l}"] = dZ
            grads[f"dW{l}"] = dZ @ A_prev.T                                  # (n_l, n_{l-1})
            grads[f"dW{l}"] = grads[f"dW{l}"] + 2 * self.l2 * self.params[f"W{l}"] + self.l1 * np.sign(self.params[f"W{l}"])  # the penalty's gradient
            if f"b{l}" in self.params:
                grads[f"db{l}"] = dZ.sum(axis=1, keepdims=True)              # (n_l, 1)
            if "b" in self.penalized and f"b{l}" in self.params:                                        # the biases' penalty, as for W
                b = self.params[f"b{l}"]
                grads[f"db{l}"] = grads[f"db{l}"] + 2 * self.l2 * b + self.l1 * np.sign(b)
            if l > 1:
                dA_prev = self.params[f"W{l}"].T @ dZ                        # (n_{l-1}, m)
                dZ = self.hidden_backward(l - 1, dA_prev, cache, grads)
        return grads

    def step(self, grads, loss=None):
        """Update every parameter with the optimizer (the optimizer keeps its own state), then move
        a per-step schedule (the plateau schedule watches the loss)."""
        self.params = self.optimizer.step(self.params, grads)
        if self.schedule and self.schedule.every == "step":
            self.optimizer.lr = self.schedule.step(loss)

    def end_epoch(self, mean_loss):
        """At the end of an epoch: move a per-epoch schedule (the plateau schedule watches the mean loss)."""
        if self.schedule and self.schedule.every == "epoch":
            self.optimizer.lr = self.schedule.step(mean_loss)

    def train_step(self, X, Y):
        """One step on a batch: forward, loss, backward, update. -> (cache, loss, grads)"""
        cache = self.forward(X)
        loss = self.loss(cache, Y)
        grads = self.backward(cache, Y)
        self.step(grads, loss)
        return cache, loss, grads

    def predict(self, X):
        """A_L for inputs X (n_0, m), with the current parameters, in evaluation mode (no dropout;
        batch norm with its running statistics)."""
        self.training = False
        try:
            return self.forward(X)[f"A{self.L}"]
        finally:
            self.training = True
