"""The scratch MLP again, in PyTorch: nn.Linear layers, torch's own losses and optimizers, autograd.

Read it beside scratch/mlp.py: same class shape, same method order, one line per line of math.
Shapes (torch keeps one example per ROW):
    X = A0 : (m, n_0)
    weight_l : (n_l, n_{l-1})    (nn.Linear.weight, the scratch W_l as it is)
    bias_l   : (n_l,)
    Z_l, A_l : (m, n_l)
Backward is autograd's: dZ_l is read from Z_l.grad (kept with retain_grad), dW_l and db_l from
weight.grad and bias.grad. Nothing here re-implements a framework formula.

Training rules as torch users write them: weight decay is the optimizer's own weight_decay
(coupled); L2/L1 regularisation is added to the loss over the weights (the biases too with
spec.regularize_biases); gradient
clipping is torch.nn.utils' clip_grad_norm_ (all parameters, or each alone) or clip_grad_value_,
between backward and optimizer.step. The dW/db recorded are backward's, before any clipping.
A learning-rate schedule is torch.optim.lr_scheduler's own, stepped after optimizer.step (every
step) or at the end of an epoch (`end_epoch`); ReduceLROnPlateau is given the loss.

Dropout and normalization, hidden layers only: nn.BatchNorm1d / nn.LayerNorm after the Linear
(a batch-normed Linear has bias=False), before the activation; dropout after it through
SharedMaskDropout, which applies the harness's mask by torch's own rule (see there), since
torch's generator cannot draw the masks Keras draws. predict() puts the norms in eval() mode.

Left out: modules other than Linear, BatchNorm1d, LayerNorm and dropout; mixed precision, devices
other than the one given.
"""
import warnings

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

ACTIVATIONS = {
    "linear": nn.Identity,
    "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "softplus": nn.Softplus,           # beta=1, threshold=20: linear above z = 20
    "softmax": lambda: nn.Softmax(dim=1),
}
# The other modules torch ships (torch/nn/modules/activation.py), each at its defaults.
ACTIVATIONS.update({
    "leaky_relu": nn.LeakyReLU,        # negative_slope 0.01 unless the spec gives a slope (make_activation)
    "elu": nn.ELU,
    "selu": nn.SELU,
    "celu": nn.CELU,
    "gelu": nn.GELU,                   # approximate='none': the erf form
    "gelu_tanh": lambda: nn.GELU(approximate="tanh"),
    "silu": nn.SiLU,
    "softsign": nn.Softsign,
    "hard_sigmoid": nn.Hardsigmoid,
    "hard_silu": nn.Hardswish,
    "relu6": nn.ReLU6,
    "mish": nn.Mish,
    "log_sigmoid": nn.LogSigmoid,
    "hard_tanh": nn.Hardtanh,          # min_val -1, max_val 1
})


def make_activation(name, spec):
    """torch's module for an activation name; leaky_relu with the spec's slope when it gives one."""
    if name == "leaky_relu" and spec.slope is not None:
        return nn.LeakyReLU(negative_slope=spec.slope)
    return ACTIVATIONS[name]()

# The three classic losses by class, for the adapters of a user's module (compare/adapters); the
# reference's own loss, every loss of the spec, is make_loss below. The cross-entropies read the
# logits Z_L (torch fuses log-softmax / log-sigmoid into them), MSE the output A_L.
LOSSES = {
    "mse": (nn.MSELoss, "A"),
    "binary_crossentropy": (nn.BCEWithLogitsLoss, "Z"),
    "categorical_crossentropy": (nn.CrossEntropyLoss, "Z"),   # targets: one-hot rows
}



def make_loss(spec):
    """The spec's loss as a torch user writes it -> loss(Z_L, A_L, Y one-hot rows) -> 0-d tensor.
    torch's own loss modules wherever torch ships one (torch/nn/modules/loss.py); where it does
    not, the lines a torch user writes from torch ops, marked USER-WRITTEN (BCE label smoothing,
    hinge, squared hinge, cosine similarity as a loss)."""
    name, r, e, probs = spec.loss, spec.reduction, spec.label_smoothing, spec.probabilities
    reduce = (lambda t: t.sum()) if r == "sum" else (lambda t: t.mean())       # for the user-written ones
    labels = lambda Y: Y.argmax(dim=1)                                          # noqa: E731 - class indices
    if name == "binary_crossentropy":
        fn = nn.BCELoss(reduction=r) if probs else nn.BCEWithLogitsLoss(reduction=r)
        smooth = (lambda Y: Y * (1 - e) + 0.5 * e) if e else (lambda Y: Y)     # USER-WRITTEN: no smoothing in torch's BCE
        return lambda Z, A, Y: fn(A if probs else Z, smooth(Y))
    if name in ("categorical_crossentropy", "sparse_categorical_crossentropy"):
        if probs:                                                               # CE on probabilities: NLLLoss of log p
            nll = nn.NLLLoss(reduction=r)
            return lambda Z, A, Y: nll(torch.log(A), labels(Y))
        ce = nn.CrossEntropyLoss(reduction=r, label_smoothing=e)
        if name == "sparse_categorical_crossentropy":
            return lambda Z, A, Y: ce(Z, labels(Y))                             # integer targets
        return lambda Z, A, Y: ce(Z, Y)                                         # one-hot rows as probabilities
    if name == "kld":                                                           # KLDivLoss takes log-probabilities
        kl = nn.KLDivLoss(reduction=r)

        def kld(Z, A, Y):
            with warnings.catch_warnings():                                     # 'mean' warns on every call
                warnings.simplefilter("ignore", UserWarning)
                return kl(F.log_softmax(Z, dim=1), Y)
        return kld
    if name in ("hinge", "squared_hinge"):                                      # USER-WRITTEN: torch has no such loss
        power = 1 if name == "hinge" else 2

        def hinge(Z, A, Y):
            T = 2 * Y - 1 if bool(((Y == 0) | (Y == 1)).all()) else Y          # 0/1 labels -> -1/1, as Keras does
            return reduce(torch.clamp(1 - T * A, min=0) ** power)
        return hinge
    if name == "cosine_similarity":                                             # USER-WRITTEN around F.cosine_similarity
        return lambda Z, A, Y: reduce(-F.cosine_similarity(A, Y, dim=1))
    modules = {"mse": lambda: nn.MSELoss(reduction=r), "mae": lambda: nn.L1Loss(reduction=r),
               "huber": lambda: nn.HuberLoss(reduction=r, delta=spec.delta),
               "smooth_l1": lambda: nn.SmoothL1Loss(reduction=r, beta=spec.delta),
               "poisson": lambda: nn.PoissonNLLLoss(log_input=False, reduction=r)}
    fn = modules[name]()
    return lambda Z, A, Y: fn(A, Y)


STATE_NAMES = {"momentum_buffer": "momentum", "square_avg": "square_avg", "exp_avg": "m", "exp_avg_sq": "v",
               "max_exp_avg_sq": "v_max", "grad_avg": "grad_avg", "exp_inf": "u", "sum": "accumulator",
               "acc_delta": "acc_delta"}


def make_optimizer(name, hyper, parameters):
    """torch.optim's own optimizer for the spec's choice (weight_decay of SGD, RMSprop and Adam:
    torch's coupled form; AdamW's: decoupled, its own)."""
    h, lr, one = hyper, hyper["lr"], dict(foreach=False)     # the single-tensor code scratch follows
    wd = h.get("weight_decay") or 0.0
    if wd and name in ("sgd", "rmsprop", "adam") and h.get("decay") != "coupled":
        raise ValueError(f"torch's {name} has no decoupled weight decay")
    if name == "sgd":
        return torch.optim.SGD(parameters, lr=lr, momentum=h["momentum"], nesterov=h["nesterov"],
                               dampening=h.get("dampening", 0.0), weight_decay=wd, **one)
    if name == "rmsprop":
        return torch.optim.RMSprop(parameters, lr=lr, alpha=h["rho"], eps=h["eps"], momentum=h.get("momentum", 0.0),
                                   centered=h.get("centered", False), weight_decay=wd, **one)
    if name == "adam":
        return torch.optim.Adam(parameters, lr=lr, betas=(h["beta1"], h["beta2"]), eps=h["eps"],
                                amsgrad=h.get("amsgrad", False), weight_decay=wd, **one)
    if name == "adamw":
        return torch.optim.AdamW(parameters, lr=lr, betas=(h["beta1"], h["beta2"]), eps=h["eps"],
                                 weight_decay=h["weight_decay"], amsgrad=h.get("amsgrad", False), **one)
    if name == "nadam":
        return torch.optim.NAdam(parameters, lr=lr, betas=(h["beta1"], h["beta2"]), eps=h["eps"],
                                 momentum_decay=h.get("momentum_decay", 4e-3), **one)
    if name == "adamax":
        return torch.optim.Adamax(parameters, lr=lr, betas=(h["beta1"], h["beta2"]), eps=h["eps"], **one)
    if name == "adagrad":
        return torch.optim.Adagrad(parameters, lr=lr, eps=h["eps"], initial_accumulator_value=h["initial_accumulator"],
                                   **one)
    if name == "adadelta":
        return torch.optim.Adadelta(parameters, lr=lr, rho=h["rho"], eps=h["eps"], **one)
    raise ValueError(f"unknown optimizer {name!r}")


def make_scheduler(hyper, optimizer):
    """torch.optim.lr_scheduler's own scheduler for the spec's schedule (None without one).
    ReduceLROnPlateau compares absolutely (threshold_mode='abs') and reduces however small the
    step (eps=0: its default 1e-8 stops near lr 1e-8), as Keras's callback does."""
    h, name = hyper, hyper.get("schedule")
    if name == "exponential":
        return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=h["gamma"])
    if name == "step":
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=h["milestones"], gamma=h["gamma"])
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=h["t_max"], eta_min=h["eta_min"])
    if name == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=h["gamma"], patience=h["patience"], threshold=h["threshold"],
            threshold_mode="abs", cooldown=h["cooldown"], min_lr=h["min_lr"], eps=0.0)
    return None


class SharedMaskDropout(nn.Module):
    """Dropout with a mask given from outside, scaled as F.dropout scales on the CPU: torch.dropout
    (torch/nn/functional.py dropout) -> aten's _dropout_impl, noise = bernoulli(1 - p).div_(1 - p),
    output = input * noise (measured bit for bit against F.dropout in tests/test_layers.py).
    USER-WRITTEN: torch has no dropout taking a mask. Autograd differentiates the product."""

    def __init__(self, p):
        super().__init__()
        self.p = p

    def forward(self, A, keep):
        return A * keep.div(1 - self.p)


def make_norm(kind, n, settings, dtype, device):
    """torch's own normalization module, gamma = 1 and beta = 0 (torch's init, set here as well)."""
    if kind == "batch":
        norm = nn.BatchNorm1d(n, eps=settings["eps"], momentum=settings["momentum"], dtype=dtype, device=device)
    else:
        norm = nn.LayerNorm(n, eps=settings["eps"], dtype=dtype, device=device)
    with torch.no_grad():
        norm.weight.fill_(1.0)
        norm.bias.zero_()
    return norm


class TorchMLP:
    """The network of a spec, starting from `params` = [(weight (out, in), bias (out,)), ...]
    (numpy, from compare.convert.to_torch)."""

    def __init__(self, spec, params, device="cpu"):
        self.L = len(params)
        self.device, self.dtype = torch.device(device), getattr(torch, spec.dtype)
        self.layers = [None]                                                  # layers[l] for layer l
        for l, (weight, bias) in enumerate(params, start=1):
            n_out, n_in = weight.shape
            has_bias = not (spec.norm == "batch" and l < self.L)              # no bias before BatchNorm1d
            layer = nn.Linear(n_in, n_out, bias=has_bias, dtype=self.dtype, device=self.device)
            with torch.no_grad():
                layer.weight.copy_(torch.from_numpy(weight))
                if has_bias:
                    layer.bias.copy_(torch.from_numpy(bias))
            self.layers.append(layer)
        self.norms = {l: make_norm(spec.norm, params[l - 1][0].shape[0], spec.norm_settings("torch"), self.dtype,
                                   self.device) for l in range(1, self.L if spec.norm else 1)}
        self.dropouts = {l: SharedMaskDropout(p) for l, p in enumerate(spec.dropout_rates, start=1) if p}
        self.masks = {}                                                       # l -> (m, n_l) tensor, per step
        self.g = [None] + [make_activation(name, spec) for name in spec.activations]
        self.loss_fn = make_loss(spec)
        self.params = {}
        for l in range(1, self.L + 1):
            self.params[f"W{l}"], self.params[f"b{l}"] = self.layers[l].weight, self.layers[l].bias
            if l in self.norms:
                self.params[f"gamma{l}"], self.params[f"beta{l}"] = self.norms[l].weight, self.norms[l].bias
        self.params = {name: p for name, p in self.params.items() if p is not None}   # a bias-free Linear's
        self.optimizer = make_optimizer(spec.optimizer, spec.hyper("torch"), list(self.params.values()))
        self.scheduler, self.schedule_every = make_scheduler(spec.hyper("torch"), self.optimizer), spec.schedule_every
        self.l1, self.l2 = spec.l1, spec.l2
        self.regularize_biases = spec.regularize_biases
        self.clip_norm, self.clip_norm_per_tensor, self.clip_value = spec.clip_norm, spec.clip_norm_per_tensor, spec.clip_value

    def tensor(self, array):
        return torch.from_numpy(array).to(self.device, self.dtype)

    def forward(self, X):
        """X (m, n_0) -> cache {'A0': X, 'Z1': .., 'A1': .., ..., 'ZL': .., 'AL': ..}"""
        cache = {"A0": X}
        A = X
        for l in range(1, self.L + 1):
            Z = self.layers[l](A)                                             # Z = A W^T + b  (m, n_l)
            N = self.norms[l](Z) if l in self.norms else Z                   # BatchNorm1d / LayerNorm
            A = self.g[l](N)
            if l in self.dropouts:
                A = self.dropouts[l](A, self.masks[l])
            Z.retain_grad()
            cache[f"Z{l}"], cache[f"A{l}"] = Z, A
            if l in self.norms:
                N.retain_grad()
                cache[f"N{l}"] = N
        return cache

    def loss(self, cache, Y):
        """The loss of the batch, a 0-d tensor, from torch's own loss module."""
        loss = self.loss_fn(cache[f"Z{self.L}"], cache[f"A{self.L}"], Y)
        weights = [self.layers[l].weight for l in range(1, self.L + 1)]
        if self.regularize_biases:                                        # Keras's bias_regularizer, as torch users write it
            weights += [self.layers[l].bias for l in range(1, self.L + 1) if self.layers[l].bias is not None]
        if self.l2:
            loss = loss + self.l2 * sum(w.pow(2).sum() for w in weights)
        if self.l1:
            loss = loss + self.l1 * sum(w.abs().sum() for w in weights)
        return loss

    def backward(self, cache, loss):
        """autograd -> grads {'dZl': (m, n_l), 'dWl': (n_l, n_{l-1}), 'dbl': (n_l,)}"""
        self.optimizer.zero_grad()
        loss.backward()
        grads = {}
        for l in range(self.L, 0, -1):
            grads[f"dZ{l}"] = cache[f"Z{l}"].grad
            grads[f"dW{l}"] = self.layers[l].weight.grad.clone()
            if self.layers[l].bias is not None:
                grads[f"db{l}"] = self.layers[l].bias.grad.clone()
            if l in self.norms:
                grads[f"dN{l}"] = cache[f"N{l}"].grad
                grads[f"dgamma{l}"] = self.norms[l].weight.grad.clone()
                grads[f"dbeta{l}"] = self.norms[l].bias.grad.clone()
        return grads

    def step(self, grads, loss=None):
        """Clip the .grad fields that backward filled (if asked), then torch.optim's update, then a
        per-step scheduler's step."""
        parameters = list(self.params.values())
        if self.clip_norm is not None:
            nn.utils.clip_grad_norm_(parameters, self.clip_norm)
        if self.clip_norm_per_tensor is not None:
            for p in parameters:
                nn.utils.clip_grad_norm_(p, self.clip_norm_per_tensor)
        if self.clip_value is not None:
            nn.utils.clip_grad_value_(parameters, self.clip_value)
        self.optimizer.step()
        if self.scheduler is not None and self.schedule_every == "step":
            self.step_scheduler(loss)

    def step_scheduler(self, loss):
        if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            self.scheduler.step(float(loss.detach()) if torch.is_tensor(loss) else float(loss))
        else:
            self.scheduler.step()

    def end_epoch(self, mean_loss):
        """At the end of an epoch: a per-epoch scheduler's step (ReduceLROnPlateau: the mean loss)."""
        if self.scheduler is not None and self.schedule_every == "epoch":
            self.step_scheduler(mean_loss)

    def train_step(self, X, Y):
        """One step on a batch (numpy, rows are examples). -> (cache, loss, grads)"""
        X, Y = self.tensor(X), self.tensor(Y)
        cache = self.forward(X)
        loss = self.loss(cache, Y)
        grads = self.backward(cache, loss)
        self.step(grads, loss)
        return cache, loss, grads

    def set_masks(self, masks):
        """This step's dropout masks {l: (m, n_l) numpy}, 1.0 kept, 0.0 dropped."""
        self.masks = {l: self.tensor(mask) for l, mask in masks.items()}

    def predict(self, X):
        """A_L (m, n_L) for inputs X (m, n_0), as numpy, in evaluation mode (norms in eval(): the
        running statistics; no dropout)."""
        for norm in self.norms.values():
            norm.eval()
        try:
            with torch.no_grad():
                return self.forward_no_grad(self.tensor(X)).cpu().numpy()
        finally:
            for norm in self.norms.values():
                norm.train()

    def forward_no_grad(self, A):
        for l in range(1, self.L + 1):
            Z = self.layers[l](A)
            A = self.g[l](self.norms[l](Z) if l in self.norms else Z)
        return A

    def running_stats(self):
        """{'mean1': running_mean, 'var1': running_var, ...} of every BatchNorm1d (the unbiased variance)."""
        stats = {}
        for l, norm in self.norms.items():
            if isinstance(norm, nn.BatchNorm1d):
                stats[f"mean{l}"], stats[f"var{l}"] = norm.running_mean, norm.running_var
        return stats

    def optimizer_state(self):
        """{'<param>.<state>': tensor}, state named as in scratch (momentum, square_avg, m, v)."""
        state = {}
        for name, p in self.params.items():
            for key, value in self.optimizer.state.get(p, {}).items():
                if key in STATE_NAMES and value is not None:
                    state[f"{name}.{STATE_NAMES[key]}"] = value
        return state

    def load_state(self, tensors):
        """Overwrite parameters and optimizer state: {'W1': weight, 'W1.m': exp_avg, ...} in torch's
        layout (numpy). The harness uses it to restart each float32 step from scratch's state."""
        keys = {v: k for k, v in STATE_NAMES.items()}
        stats = self.running_stats()
        with torch.no_grad():
            for name, value in tensors.items():
                if name in stats:                                             # batch norm's running statistics
                    stats[name].copy_(torch.from_numpy(value))
                    continue
                param, _, state = name.partition(".")
                target = self.optimizer.state[self.params[param]].get(keys[state]) if state else self.params[param]
                if target is not None:
                    target.copy_(torch.from_numpy(value))

    def record(self, cache, loss, grads):
        """Everything the harness compares after a step, as numpy in torch's layout."""
        out = {name: t.detach().cpu().numpy() for name, t in cache.items() if name != "A0"}
        out["loss"] = loss.detach().cpu().numpy()
        out.update({name: t.detach().cpu().numpy() for name, t in grads.items()})
        out.update({name: p.detach().cpu().numpy().copy() for name, p in self.params.items()})
        out.update({name: t.detach().cpu().numpy().copy() for name, t in self.optimizer_state().items()})
        out.update({name: t.detach().cpu().numpy().copy() for name, t in self.running_stats().items()})
        if self.scheduler is not None:
            out["lr"] = np.asarray(float(self.optimizer.param_groups[0]["lr"]))      # the next step's
        return out
