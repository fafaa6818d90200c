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

The network is the spec's layer list (`spec.network`, compare/engine/layers.py), built in its
order: each layer kind builds its own module through `layer.torch(ctx)` (the builders below:
`dense`, `batch_norm`, `layer_norm`, `activation`, `dropout`), which returns a `Part`: the module,
its parameters and state by role ('W', 'b', 'gamma', 'beta'; 'mean', 'var'). So a norm may sit
before or after the activation, a Linear may or may not have a bias, and a new kind defined
elsewhere runs here unchanged. Each layer's output is recorded under its role and block (Z2, N2,
A2); A_l is the block's output after its activation and dropout, in whichever order they come.
Dropout goes through SharedMaskDropout, which applies the harness's mask (keyed by block) by
torch's own rule (see there), since torch's generator cannot draw the masks Keras draws.
predict() puts every module in eval() mode (BatchNorm1d's running statistics; no dropout).

Frozen roles (`layer.frozen`): requires_grad=False, kept out of the optimizer and out of the L1/L2
penalty (as Keras leaves a non-trainable variable out of layer.losses); no gradient is recorded for
them, their value is (unchanged).

Left out: modules other than Linear, BatchNorm1d, LayerNorm, dropout and the activations (a new
kind brings its own `torch(ctx)`); mixed precision, devices other than the one given.
"""
import math
import warnings
from dataclasses import dataclass, field

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


# --- the layers: each kind's builder (called by its `torch(ctx)`, compare/engine/layers.py) ---------

@dataclass
class Context:
    """What a layer's builder gets: its place (block, input and output widths), the run's dtype and
    device, the spec (loss, regularization, ...), and its initial parameters {role: numpy array in
    torch's layout} (compare/engine/convert.py; {} when the caller gave none: torch's own init)."""
    n_in: int
    n_out: int
    block: int
    dtype: torch.dtype
    device: torch.device
    spec: object
    initial: dict = field(default_factory=dict)


class Part:
    """A layer as torch built it: `module`, its trainable parameters {role: nn.Parameter} and state
    {role: tensor} (running statistics), and the roles the L1/L2 penalty covers, in the order the
    penalty sums them. Calling it applies the layer: part(A, masks, training) -> output."""

    def __init__(self, module, params=None, state=None, penalized=()):
        self.module, self.params, self.state, self.penalized = module, dict(params or {}), dict(state or {}), penalized

    def __call__(self, A, masks, training):
        return self.module(A)


class DropoutPart(Part):
    """SharedMaskDropout with its block's mask in training; nothing at evaluation (or at rate 0)."""

    def __init__(self, p, block):
        super().__init__(SharedMaskDropout(p))
        self.block = block

    def __call__(self, A, masks, training):
        if not training or not self.module.p:
            return A
        return self.module(A, masks[self.block])


def load(params, initial):
    """Copy the initial values {role: numpy} into the parameters {role: nn.Parameter} they name."""
    with torch.no_grad():
        for role, p in params.items():
            if role in initial:
                p.copy_(torch.from_numpy(initial[role]))


def dense(layer, ctx):
    """nn.Linear (bias=False when the layer has none), from the harness's W and b."""
    linear = nn.Linear(ctx.n_in, ctx.n_out, bias=layer.bias, dtype=ctx.dtype, device=ctx.device)
    params = {"W": linear.weight, "b": linear.bias} if layer.bias else {"W": linear.weight}
    load(params, ctx.initial)
    return Part(linear, params, penalized=("W", "b") if ctx.spec.regularize_biases else ("W",))


def batch_norm(layer, ctx):
    """nn.BatchNorm1d with the layer's settings in torch's meaning (momentum: the new batch's
    weight); on images (C, H, W), nn.BatchNorm2d(C): per channel, statistics over N, H and W."""
    s = layer.settings("torch")
    image = isinstance(ctx.n_in, tuple)
    kind, n = (nn.BatchNorm2d, ctx.n_in[0]) if image else (nn.BatchNorm1d, ctx.n_in)
    norm = kind(n, eps=s["eps"], momentum=s["momentum"], dtype=ctx.dtype, device=ctx.device)
    params = {"gamma": norm.weight, "beta": norm.bias}
    load(params, ctx.initial)
    return Part(norm, params, state={"mean": norm.running_mean, "var": norm.running_var})


def layer_norm(layer, ctx):
    """nn.LayerNorm over the units, with the layer's eps (torch's default 1e-5 when unset)."""
    norm = nn.LayerNorm(ctx.n_in, eps=layer.settings("torch")["eps"], dtype=ctx.dtype, device=ctx.device)
    params = {"gamma": norm.weight, "beta": norm.bias}
    load(params, ctx.initial)
    return Part(norm, params)


def conv2d(layer, ctx):
    """nn.Conv2d from the harness's W (F, C, kh, kw) and b; its padding when it is the same on both
    sides, else nn.ZeroPad2d (left, right, top, bottom) before it: torch's padding='same' refuses
    stride > 1, so a 'same' port pads by hand, with TensorFlow's extra row and column after."""
    kernel, strides, dilation, (top, bottom, left, right) = layer.geometry(ctx.n_in)
    symmetric = top == bottom and left == right
    conv = nn.Conv2d(ctx.n_in[0], layer.filters, kernel, stride=strides, padding=(top, left) if symmetric else 0,
                     dilation=dilation, bias=layer.bias, dtype=ctx.dtype, device=ctx.device)
    module = conv if symmetric else nn.Sequential(nn.ZeroPad2d((left, right, top, bottom)), conv)
    params = {"W": conv.weight, "b": conv.bias} if layer.bias else {"W": conv.weight}
    load(params, ctx.initial)
    return Part(module, params, penalized=("W", "b") if ctx.spec.regularize_biases else ("W",))


class RealCellsAvgPool2d(nn.Module):
    """The mean of each window's real cells, zero padding (left, right, top, bottom) one more on one
    side than the other (a 'same' port): AvgPool2d's count_include_pad=False takes symmetric
    padding only, so a port sums the padded windows (divisor_override=1) and divides by the count
    of real cells each holds. USER-WRITTEN: torch has no asymmetric padding in AvgPool2d."""

    def __init__(self, kernel, strides, pads):
        super().__init__()
        self.kernel, self.strides, self.pads = kernel, strides, pads

    def forward(self, A):
        sums = F.avg_pool2d(F.pad(A, self.pads), self.kernel, self.strides, divisor_override=1)
        ones = F.pad(torch.ones_like(A[:1, :1]), self.pads)
        count = F.avg_pool2d(ones, self.kernel, self.strides, divisor_override=1)
        return sums / count


def pool2d(layer, ctx):
    """nn.MaxPool2d / nn.AvgPool2d with the layer's window, strides, padding, ceil_mode (and
    count_include_pad); padding one more on one side ('same', TensorFlow's rule) is padded by hand,
    -inf before a max (nn.ConstantPad2d), zeros before an average that counts them."""
    kernel, strides, (top, bottom, left, right) = layer.geometry(ctx.n_in)
    symmetric, pads = top == bottom and left == right, (left, right, top, bottom)
    if layer.kind == "max_pool2d":
        if symmetric:
            return Part(nn.MaxPool2d(kernel, strides, padding=(top, left),
                                     ceil_mode=layer.ceil_mode))
        return Part(nn.Sequential(nn.ConstantPad2d(pads, -math.inf), nn.MaxPool2d(kernel, strides)))
    counts = layer.counts_padding()
    if symmetric:
        return Part(nn.AvgPool2d(kernel, strides, padding=(top, left), ceil_mode=layer.ceil_mode,
                                 count_include_pad=counts))
    if counts:
        return Part(nn.Sequential(nn.ZeroPad2d(pads), nn.AvgPool2d(kernel, strides)))
    return Part(RealCellsAvgPool2d(kernel, strides, pads))


def global_avg_pool2d(layer, ctx):
    """nn.AdaptiveAvgPool2d(1), then nn.Flatten: (m, C, H, W) -> (m, C), each channel's mean."""
    return Part(nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()))


def flatten(layer, ctx):
    """nn.Flatten: (m, C, H, W) -> (m, C H W), channels-first."""
    return Part(nn.Flatten())


def activation(layer, ctx):
    """torch's module for the activation (leaky_relu with the layer's slope when it gives one)."""
    return Part(make_activation(layer.name, layer))


def dropout(layer, ctx):
    return DropoutPart(float(layer.rate), ctx.block)


class TorchMLP:
    """The network of a spec (its layer list, `spec.network`), starting from `params`: either
    {name: numpy array in torch's layout} for every parameter ('W1', 'b1', 'gamma1', ...: from
    compare.convert.framework_initial), or [(weight (out, in), bias (out,)), ...] for the Dense
    layers alone (compare.convert.to_torch; the other layers then start from torch's own init)."""

    def __init__(self, spec, params, device="cpu"):
        self.device, self.dtype = torch.device(device), getattr(torch, spec.dtype)
        initial = params if isinstance(params, dict) else {
            name: value for l, (weight, bias) in enumerate(params, start=1) for name, value in ((f"W{l}", weight), (f"b{l}", bias))}
        self.placed = spec.network.placed
        self.L = self.placed[-1].block
        self.parts, self.params, self.trainable = [], {}, {}
        for p in self.placed:
            given = {role: initial[p.name(role)] for role in p.layer.params(p.n_in) if p.name(role) in initial}
            part = p.layer.torch(Context(p.n_in, p.n_out, p.block, self.dtype, self.device, spec, given))
            frozen = getattr(p.layer, "frozen", ())
            for role, param in part.params.items():
                self.params[p.name(role)] = param
                if role in frozen:
                    param.requires_grad_(False)
                else:
                    self.trainable[p.name(role)] = param
            self.parts.append(part)
        self.masks = {}                                                       # block -> (m, n_l) tensor, per step
        self.loss_fn = make_loss(spec)
        self.optimizer = make_optimizer(spec.optimizer, spec.hyper("torch"), list(self.trainable.values()))
        self.scheduler, self.schedule_every = make_scheduler(spec.hyper("torch"), self.optimizer), spec.schedule_every
        self.l1, self.l2 = spec.l1, spec.l2
        self.penalized = self.penalized_params()
        self.clip_norm, self.clip_norm_per_tensor, self.clip_value = spec.clip_norm, spec.clip_norm_per_tensor, spec.clip_value

    def penalized_params(self):
        """The trainable parameters L1/L2 covers: every part's first penalized role (the weights),
        then every part's second (the biases), ..., as a torch user sums them."""
        out, rank = [], 0
        while any(len(part.penalized) > rank for part in self.parts):
            for p, part in zip(self.placed, self.parts):
                if len(part.penalized) > rank and p.name(part.penalized[rank]) in self.trainable:
                    out.append(self.trainable[p.name(part.penalized[rank])])
            rank += 1
        return out

    def tensor(self, array):
        return torch.from_numpy(array).to(self.device, self.dtype)

    def forward(self, X, training=True):
        """X (m, n_0) -> cache {'A0': X, 'Z1': .., ('N1': ..), 'A1': .., ..., 'ZL': .., 'AL': ..}:
        each layer's output under its role and block (A_l: the block's activation's or dropout's,
        whichever comes last)."""
        cache = {"A0": X}
        out = X
        for placed, part in zip(self.placed, self.parts):
            out = part(out, self.masks, training)                             # the layer's module
            if placed.layer.role is None:                                     # a Flatten: no tensor of its own
                continue
            if out.requires_grad and ("d" + placed.layer.role) in placed.layer.grads:
                out.retain_grad()                                             # dZ, dN: read after backward
            cache[placed.name(placed.layer.role)] = out
        return cache

    def loss(self, cache, Y):
        """The loss of the batch, a 0-d tensor, from torch's own loss module."""
        loss = self.loss_fn(cache[f"Z{self.L}"], cache[f"A{self.L}"], Y)
        if self.l2:
            loss = loss + self.l2 * sum(w.pow(2).sum() for w in self.penalized)
        if self.l1:
            loss = loss + self.l1 * sum(w.abs().sum() for w in self.penalized)
        return loss

    def backward(self, cache, loss):
        """autograd -> grads {'dZl': (m, n_l), 'dWl': (n_l, n_{l-1}), 'dbl': (n_l,), 'dNl', 'dgammal', ...}:
        each layer's gradient roles, its output's from .grad (retain_grad) and its trainable
        parameters' (a frozen one has none)."""
        self.optimizer.zero_grad()
        loss.backward()
        grads = {}
        for placed, part in reversed(list(zip(self.placed, self.parts))):
            for g in placed.layer.grads:
                role = g[1:]
                if role == placed.layer.role and cache[placed.name(role)].grad is not None:   # dZ_l, dN_l
                    grads[placed.name(g)] = cache[placed.name(role)].grad
                elif placed.name(role) in self.trainable:                     # dW_l, db_l, dgamma_l, ...
                    grads[placed.name(g)] = self.trainable[placed.name(role)].grad.clone()
        return grads

    def step(self, grads, loss=None):
        """Clip the .grad fields that backward filled (if asked), then torch.optim's update, then a
        per-step scheduler's step."""
        parameters = list(self.trainable.values())
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
        """This step's dropout masks {block: (m, n_l) numpy}, 1.0 kept, 0.0 dropped."""
        self.masks = {l: self.tensor(mask) for l, mask in masks.items()}

    def predict(self, X):
        """A_L (m, n_L) for inputs X (m, n_0), as numpy, in evaluation mode (every module in eval():
        BatchNorm1d's running statistics; no dropout)."""
        for part in self.parts:
            part.module.eval()
        try:
            with torch.no_grad():
                return self.forward(self.tensor(X), training=False)[f"A{self.L}"].cpu().numpy()
        finally:
            for part in self.parts:
                part.module.train()

    def running_stats(self):
        """{'mean1': running_mean, 'var1': running_var, ...}: every layer's state (BatchNorm1d's
        running statistics, the unbiased variance)."""
        return {p.name(role): t for p, part in zip(self.placed, self.parts) for role, t in part.state.items()}

    def optimizer_state(self):
        """{'<param>.<state>': tensor}, state named as in scratch (momentum, square_avg, m, v)."""
        state = {}
        for name, p in self.trainable.items():
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
                if state and param not in self.trainable:                     # a frozen parameter keeps no state
                    continue
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
