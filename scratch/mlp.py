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

The network is a list of layers (spec.network, compare/engine/layers.py), each one object of
scratch/layers.py with its forward beside its backward; each Dense opens block l:
    forward:   out = layer.forward(out) for each layer in order; Z_l from the Dense, N_l from a
               norm, A_l from the activation or the dropout after it (what block l hands on)
    backward:  dZ_L from the loss (and g'_L), then d = layer.backward(d) in reverse order, each
               Dense adding dW_l, db_l, each norm dgamma_l, dbeta_l
The shorthand sizes + activations (+ dropout, norm) is the list Dense, norm, g, dropout per block:
    Z_l = W_l A_{l-1} (+ b_l)    N_l = norm(Z_l)    A_l = dropout(g_l(N_l))
A batch-normed Dense of the shorthand has no bias (its mean is subtracted right away; beta is the
shift), as torch users write nn.Linear(bias=False) before nn.BatchNorm1d; a list may keep it. The
dropout masks come from the harness (`masks`, by block, set before each step); `training=False`
(predict) uses no dropout and batch norm's running statistics. Parameters named in `frozen` get
no gradient and no update. The parameters are kept in one dict: every Dense's W, b, then the other
layers' (the order a global clipping norm sums in).

Left out: layers that change the rank (convolution, pooling, flatten); branches. No autograd.
"""
from types import SimpleNamespace

import numpy as np

from .conventions import as_convention
from .losses import loss_divisor, loss_functions
from .optimizers import as_keras_casts, make_optimizer
from .schedules import make_schedule


class Cache(dict):
    """forward's tensors by name ({'A0': X, 'Z1': .., 'A1': .., ...}), and in `kept` what each layer
    keeps for its backward (its input, its statistics, its mask), in the layers' order."""

    def __init__(self, **tensors):
        super().__init__(**tensors)
        self.kept = []


class MLP:
    """The network of a spec (compare.spec.Spec: its layer list `spec.network`, loss, reduction,
    optimizer and its hyperparameters), starting from `params` = [(W1, b1), ...] (one pair per
    Dense layer, in the layout above), following the conventions of 'torch' or 'keras'.

    The layer list (compare/engine/layers.py) numbers its layers into blocks: each Dense opens
    block l, and what follows it (norm, activation, dropout) is block l's. Each entry becomes one
    object of scratch/layers.py (the entry's `scratch(ctx)` says which); this class runs them in
    order forward, in reverse backward, and owns the loss, the penalty and the optimizer."""

    def __init__(self, spec, params, convention="torch"):
        network = spec.network
        dense = iter(params)
        self.params, self.frozen, self.layers, self.masks, self.training = {}, set(), [], {}, True
        later = {}                                          # the other layers' parameters, after every W, b
        for placed in network.placed:
            ctx = SimpleNamespace(convention=convention, spec=spec, n_in=placed.n_in, n_out=placed.n_out,
                                  block=placed.block, dtype=np.dtype(spec.dtype))
            self.layers.append((placed, placed.layer.scratch(ctx)))
            shapes = placed.layer.params(placed.n_in)
            if placed.layer.opens_block:                    # a Dense or a Conv2D: the harness's (W, b)
                W, b = next(dense)
                own = {"W": W.copy(), "b": b.copy()}
                self.params.update({placed.name(role): own[role] for role in shapes})
            else:
                later.update({placed.name(role): value for role, value in placed.layer.initial(placed.n_in, ctx.dtype).items()})
            self.frozen.update(placed.name(role) for role in getattr(placed.layer, "frozen", ()))
        self.params.update(later)
        self.L = network.placed[-1].block
        self.names = list(spec.activations)
        self.loss_name, self.reduction, self.convention = spec.loss, spec.reduction, convention
        self.loss_fn = loss_functions(spec, convention)     # (loss, grad, reads, gives, targets)
        self.optimizer = make_optimizer(spec.optimizer, spec.hyper(convention), convention)
        self.schedule = make_schedule(spec.hyper(convention), convention)
        if self.schedule:
            self.optimizer.lr = self.schedule.lr                       # Keras's float32 lr0, when it casts
        # Keras's L1/L2 keep float(l), which its TF backend rounds through float32
        cast = as_keras_casts if as_convention(convention).float32_regularizers else float
        self.l1, self.l2 = cast(spec.l1), cast(spec.l2)
        self.penalized = ("W", "b") if spec.regularize_biases else ("W",)   # Keras's bias_regularizer: the same L1/L2

    def own(self, placed):
        """A layer's parameters {role: array} (its block's W, b, gamma, ...)."""
        return {role: self.params[placed.name(role)] for role in placed.layer.params(placed.n_in)}

    @property
    def running(self):
        """{block: (mean, var)} of the batch norms' running statistics."""
        return {placed.block: layer.running for placed, layer in self.layers if hasattr(layer, "running")}

    def state(self):
        """{'mean1': .., 'var1': ..}: what the layers keep but do not train, named as the harness names it."""
        return {placed.name(role): value for placed, layer in self.layers if hasattr(layer, "state")
                for role, value in layer.state().items()}

    def load_state(self, tensors):
        """Take back what `state` gave (a resync, or a step undone by the worker)."""
        for placed, layer in self.layers:
            if hasattr(layer, "load"):
                layer.load({role: tensors[placed.name(role)] for role in placed.layer.state(placed.n_in)})

    def forward(self, X):
        """X (n_0, m) -> cache {'A0': X, 'Z1': .., 'A1': .., ..., 'ZL': .., 'AL': ..}: every layer's
        output under its name (Z from a Dense, N from a norm, A from an activation or a dropout)."""
        cache = Cache(A0=X)
        run = SimpleNamespace(training=self.training, masks=self.masks)
        out = X
        for placed, layer in self.layers:
            out, kept = layer.forward(self.own(placed), out, run)
            cache.kept.append(kept)
            if placed.layer.role:                                  # a Flatten has no tensor of its own
                cache[placed.name(placed.layer.role)] = out
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
        spec.regularize_biases) (0 if unset); a frozen parameter is not trained, and not penalized."""
        total = 0.0
        for l in range(1, self.L + 1):
            for kind in self.penalized:
                if f"{kind}{l}" not in self.params or f"{kind}{l}" in self.frozen:   # a Dense without bias
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
        d = loss_grad(cache[f"A{self.L}"], targets(Y), self.divisor(Y))
        if gives == "dZ":
            return d
        placed, activation = self.layers[-1]                            # the output activation g_L
        return activation.backward({}, cache.kept[-1], d, True)[0]

    def backward(self, cache, Y):
        """-> grads {'dZl': (n_l, m), 'dWl': (n_l, n_{l-1}), 'dbl': (n_l, 1), 'dNl', 'dgammal', ...}:
        the output's dZ_L from the loss, then every layer's backward in reverse order."""
        grads = {}
        d = self.output_dZ(cache, Y)
        inner = list(zip(self.layers, cache.kept))[:-1]               # the output activation is output_dZ's
        for (placed, layer), kept in reversed(inner):
            if placed.layer.role and "d" + placed.layer.role in placed.layer.grads:
                grads["d" + placed.name(placed.layer.role)] = d        # dZ_l, dN_l: what reaches the layer's output
            d, own = layer.backward(self.own(placed), kept, d, placed.index > 0)
            for role, g in own.items():
                if placed.layer.opens_block and role in self.penalized:      # the penalty's gradient
                    P = self.params[placed.name(role)]
                    g = g + 2 * self.l2 * P + self.l1 * np.sign(P)
                grads["d" + placed.name(role)] = g
        for name in self.frozen:                                       # not trained: no gradient
            grads.pop("d" + name, None)
        return grads

    def step(self, grads, loss=None):
        """Update every trained parameter with the optimizer (the optimizer keeps its own state),
        then move a per-step schedule (the plateau schedule watches the loss)."""
        if self.frozen:
            trained = {name: p for name, p in self.params.items() if name not in self.frozen}
            self.params = {**self.params, **self.optimizer.step(trained, grads)}
        else:
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
