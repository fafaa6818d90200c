"""The network spec: one dataclass that drives the scratch, torch and Keras networks alike.

`Spec.validate()` turns every impossible request into an InputError with a one-line message,
so the CLI can exit 2 before any framework is imported.

Left out: per-layer optimizers; normalization of the output layer; dropout of the input.
"""
import numbers
from dataclasses import asdict, dataclass, field, fields, replace

import numpy as np

from scratch.activations import ACTIVATIONS
from scratch.conventions import as_convention
from scratch.initializers import BIAS_INITIALIZERS, INITIALIZERS, Init
from scratch.losses import FUSED_ACTIVATION, LOSSES, NEEDS_ACTIVATION, SMOOTHABLE
from scratch.schedules import EVERY, SCHEDULES

from .errors import InputError
from . import image_layers  # noqa: F401 - registers Conv2D, MaxPool2D, AvgPool2D, Flatten
from .layers import Activation, BatchNorm, Dense, Dropout, Network, Norm, shorthand

SEED_LIMIT = 2**32                  # NumPy's seeds: whole numbers in [0, 2**32)
OPTIMIZERS = ("sgd", "rmsprop", "adam", "adamw", "nadam", "adamax", "adagrad", "adadelta", "lion")
DTYPES = ("float64", "float32")
REDUCTIONS = ("mean", "sum", "batchmean")   # batchmean: kld only (torch KLDivLoss)
DECAYS = ("coupled", "decoupled")
CLIPS = ("clip_norm", "clip_norm_per_tensor", "clip_value")


@dataclass
class Spec:
    sizes: list = None              # layer widths [n_in, hidden..., n_out]
    activations: list = None        # one per layer after the input: linear relu sigmoid tanh softplus softmax
                                    # (and leaky_relu elu selu celu gelu gelu_tanh silu softsign hard_sigmoid
                                    # hard_silu relu6 mish log_sigmoid hard_tanh: scratch/more_activations.py)
    loss: str = "mse"               # mse | mae | huber | smooth_l1 | binary_crossentropy | categorical_crossentropy |
                                    # sparse_categorical_crossentropy | kld | poisson | hinge | squared_hinge |
                                    # cosine_similarity (scratch/losses.py LOSSES)
    reduction: str = "mean"         # 'mean' over the batch (both frameworks' default), 'sum', or 'batchmean' (kld)
    optimizer: str = "sgd"          # sgd | rmsprop | adam | adamw | nadam | adamax | adagrad | adadelta | lion
    lr: float = 0.01                # learning rate
    momentum: float = 0.0           # sgd, rmsprop: momentum mu (0 = plain gradient descent)
    nesterov: bool = False          # sgd: Nesterov momentum
    dampening: float = 0.0          # sgd: torch's dampening (Keras has none: its pairs are not run when > 0)
    centered: bool = False          # rmsprop: centered (divide by the running variance)
    amsgrad: bool = False           # adam, adamw: keep the running maximum of v
    weight_decay: float | None = None  # decay each parameter by this factor; how: `decay` (sgd, rmsprop, adam);
                                       # adamw: decoupled (None: each framework's default; 0 elsewhere)
    rho: float | None = None        # rmsprop: decay of the square average (None: each framework's default)
    beta1: float | None = None      # adam-like, lion: first-moment decay (None: default 0.9)
    beta2: float | None = None      # adam-like, lion: second-moment decay (None: default 0.999; lion 0.99)
    eps: float | None = None        # epsilon (None: each framework's default)
    keras_float32_casts: bool = False  # hand Keras its hyperparameters as Python floats, which its TF backend
                                       # rounds through float32 (momentum, Adam's betas); False: as float64
                                       # scalars, exact (see scratch/optimizers.py)
    decay: str = "coupled"          # 'coupled': g += wd p (torch's weight_decay); 'decoupled': p -= lr wd p
                                    # (Keras's weight_decay). Each framework ships one form only
    l1: float = 0.0                 # loss += l1 sum|W| over the weights (Keras's L1 kernel_regularizer)
    l2: float = 0.0                 # loss += l2 sum(W^2) over the weights (Keras's L2 kernel_regularizer)
    clip_norm: float | None = None  # clip the global gradient norm (torch clip_grad_norm_, Keras global_clipnorm)
    clip_norm_per_tensor: float | None = None  # clip each gradient's norm (Keras clipnorm)
    clip_value: float | None = None  # clip each gradient element to [-c, c] (clip_grad_value_, Keras clipvalue)
    schedule: str | None = None     # learning-rate schedule: exponential | step | cosine | plateau (None: constant)
    schedule_every: str = "step"    # move the schedule after every optimizer 'step' or every 'epoch'
    gamma: float | None = None      # exponential: lr *= gamma; step: at each milestone (default 0.1);
                                    # plateau: the reduction factor (default 0.1)
    milestones: list | None = None  # step: schedule steps m at which lr *= gamma (torch's MultiStepLR
                                    # meaning: the m-th optimizer step or epoch, counted from 0, is decayed)
    t_max: int | None = None        # cosine: the half period in schedule steps (None: the run's length)
    eta_min: float = 0.0            # cosine: the lowest learning rate
    patience: int = 10              # plateau: bad steps tolerated (torch's meaning: reduce at patience + 1)
    threshold: float = 1e-4         # plateau: an improvement beats the best by more than this (absolute)
    cooldown: int = 0               # plateau: schedule steps after a reduction in which bad ones do not count
    min_lr: float = 0.0             # plateau: the lowest learning rate
    label_smoothing: float = 0.0    # cross-entropies: targets y (1 - e) + e / n (categorical), y (1 - e) + e / 2 (binary)
    delta: float = 1.0              # huber: Keras's delta / torch HuberLoss's delta; smooth_l1: torch's beta
    probabilities: bool = False     # cross-entropies read the output probabilities A_L (each framework's clipping)
                                    # instead of the logits Z_L
    weight_init: Init = field(default_factory=lambda: Init("kaiming_uniform"))  # how W is drawn
    bias_init: Init = field(default_factory=lambda: Init("kaiming_uniform"))    # how b is drawn
    fixed_params: list | None = None  # [(W (out, in), b (out,)), ...] for 'fixed' inits
    batch_size: int | None = None   # examples per step; None = the whole training set
    shuffle: bool = False           # reshuffle the training set every epoch (the harness owns the order)
    epochs: int | None = 1          # passes over the training set (ignored when steps is set)
    steps: int | None = None        # stop after this many steps instead of counting epochs
    seed: int = 0                   # seeds the initial weights and the shuffling
    dtype: str = "float64"          # float64 (equivalence mode) or float32
    slope: float | None = None      # leaky_relu's negative slope (None: each framework's default, torch
                                    # nn.LeakyReLU 0.01, keras.activations.leaky_relu 0.2)
    resync: bool | None = None      # restart torch and Keras from scratch's state after every step, so each
                                    # step is judged on its own rounding; None: only in float32 (see check.py)
    # Settings a port between torch and Keras needs (compare/engine/translate.py):
    momentum_decay: float | None = None    # nadam: torch's momentum_decay psi (None: 0.004); Keras's schedule is fixed
    initial_accumulator: float | None = None  # adagrad: where the accumulator starts (None: torch 0, Keras 0.1)
    regularize_biases: bool = False        # l1/l2 cover the biases too (Keras's bias_regularizer; torch's weight_decay
                                           # decays biases as well as weights)
    # Layers between the Dense layers (scratch/layers.py), hidden layers only:
    dropout: float | list = 0.0     # drop rate after each hidden layer's activation, or one rate per hidden layer
                                    # (masks drawn by the harness, the same for every implementation)
    norm: str | None = None         # 'batch' | 'layer': normalize each hidden Dense's output before its activation
                                    # (a batch-normed Dense has no bias: beta plays its part)
    norm_momentum: float | None = None  # batch: torch's meaning, the new batch's weight (Keras gets 1 - it);
                                        # None: each framework's default (torch 0.1, Keras 0.99 in its meaning)
    norm_eps: float | None = None   # added to the variance (None: each framework's default, torch 1e-5, Keras 1e-3)
    # The network as a layer list (compare/engine/layers.py): a layers.Network, or a list of layers
    # with sizes=[n_in]. None: the list sizes + activations (+ dropout, norm) stand for (`network`).
    layers: object = None
    input_shape: tuple | None = None   # (channels, height, width): the inputs are images, each row of data
                                       # their C H W numbers channels-first (a layer list with Conv2D)

    def __post_init__(self):
        """A layer list given: sizes and activations are read from it (the shorthand's readers keep
        working); the shorthand's own dropout and norm fields must then stay unset."""
        if self.layers is None:
            if self.input_shape is not None:
                raise InputError("input_shape (images) goes with a layer list: layers=[Conv2D(...), ...]")
            return
        if not isinstance(self.layers, Network):
            if not isinstance(self.layers, (list, tuple)):
                raise InputError(f"layers must be a list of layers (compare.Dense, ...), got {short(self.layers)}")
            if self.sizes is None and isinstance(self.input_shape, (list, tuple)) and \
                    all(is_whole(d) for d in self.input_shape):
                self.sizes = [int(np.prod(self.input_shape))]     # images: the input width is C H W
            if not isinstance(self.sizes, (list, tuple)) or len(self.sizes) < 1 or not is_whole(self.sizes[0]):
                raise InputError("a layer list needs the input width: sizes=[n_in] (or a compare.Network)")
            self.layers = Network(int(self.sizes[0]), tuple(self.layers),
                                  tuple(self.input_shape) if self.input_shape is not None else None)
        if self.layers.layers and isinstance(self.layers.layers[-1], Dense):     # a last Dense's output is A_L too
            self.layers = replace(self.layers, layers=(*self.layers.layers, Activation("linear")))
        self.layers.validate()
        sizes, activations = self.layers.sizes, self.layers.activations
        if self.sizes is not None and list(self.sizes) not in ([sizes[0]], sizes):
            raise InputError(f"sizes {list(self.sizes)} disagree with the layer list's widths {sizes}")
        if self.activations is not None and list(self.activations) != activations:
            raise InputError(f"activations {list(self.activations)} disagree with the layer list's {activations}")
        if self.dropout or self.norm is not None or self.norm_momentum is not None or self.norm_eps is not None:
            raise InputError("give dropout and normalization as layers of the list (Dropout, BatchNorm, LayerNorm), "
                             "not as the dropout/norm fields, with a layer list")
        self.sizes, self.activations = sizes, activations

    @property
    def network(self):
        """The network as a layer list (compare/engine/layers.py): the one given, or the shorthand's."""
        if self.layers is not None:
            return self.layers
        return shorthand(self.sizes, self.activations, self.dropout_rates, self.norm, self.norm_momentum,
                         self.norm_eps, self.slope)

    @property
    def resync_each_step(self):
        return self.dtype == "float32" if self.resync is None else self.resync

    @property
    def n_layers(self):
        return len(self.sizes) - 1

    def hyper(self, convention):
        """Optimizer hyperparameters as `convention` (scratch/conventions.py TORCH | KERAS, or its
        name) resolves the unset ones."""
        convention = as_convention(convention)
        defaults = convention.optimizer_defaults.get(self.optimizer, {})
        chosen = {"lr": self.lr, "momentum": self.momentum, "nesterov": self.nesterov,
                  "rho": self.rho, "beta1": self.beta1, "beta2": self.beta2, "eps": self.eps,
                  "dampening": self.dampening, "centered": self.centered, "amsgrad": self.amsgrad,
                  "weight_decay": self.weight_decay}
        hyper = dict(defaults)
        hyper.update({k: (defaults.get(k) if v is None else v) for k, v in chosen.items()})
        hyper["weight_decay"] = hyper.get("weight_decay") or 0.0
        hyper.update(decay=self.decay, clip_norm=self.clip_norm, clip_norm_per_tensor=self.clip_norm_per_tensor,
                     clip_value=self.clip_value)
        hyper["float32_casts"] = convention.float32_hyperparameters and self.keras_float32_casts
        hyper.update(self.schedule_hyper())
        # the port settings (translate): None is each framework's default
        if self.optimizer == "adagrad" and self.initial_accumulator is not None:
            hyper["initial_accumulator"] = self.initial_accumulator
        if self.optimizer == "nadam" and convention.nadam_momentum_decay is not None:   # torch's psi
            psi = self.momentum_decay
            hyper["momentum_decay"] = convention.nadam_momentum_decay if psi is None else psi
        return hyper

    def schedule_hyper(self):
        """The learning-rate schedule's settings, defaults resolved ({'schedule': None} without one)."""
        if self.schedule is None:
            return {"schedule": None}
        gamma = self.gamma if self.gamma is not None else 0.1
        return {"schedule": self.schedule, "schedule_every": self.schedule_every, "gamma": gamma,
                "milestones": list(self.milestones or ()), "t_max": self.schedule_length(),
                "eta_min": self.eta_min, "patience": self.patience, "threshold": self.threshold,
                "cooldown": self.cooldown, "min_lr": self.min_lr}

    def schedule_length(self):
        """cosine's T_max: as given, else the run's length in schedule steps when the spec fixes it."""
        if self.t_max is not None or self.schedule != "cosine":
            return self.t_max
        if self.schedule_every == "step" and self.steps is not None:
            return self.steps
        if self.schedule_every == "epoch" and self.steps is None:
            return self.epochs
        return None

    def replace(self, **changes):
        """A copy with some fields changed (None values are ignored), validated. A name that is no
        field of Spec is the caller's InputError (API overrides=, a recipe's changes), naming it."""
        unknown = sorted(set(changes) - {f.name for f in fields(self)})
        if unknown:
            raise InputError(f"{', '.join(map(repr, unknown))} {'is' if len(unknown) == 1 else 'are'} not a Spec field; "
                             f"the fields are listed in compare/engine/spec.py (e.g. lr, optimizer, batch_size)")
        changes = {k: v for k, v in changes.items() if v is not None}
        if "layers" in changes:     # a new list: the old network's widths, activations, dropout and norm go
            n_in = changes.get("sizes", self.sizes)[:1]
            changes = {"activations": None, "dropout": 0.0, "norm": None, "norm_momentum": None, "norm_eps": None,
                       **changes, "sizes": changes.get("sizes", n_in)}
        return replace(self, **changes).validate()

    def to_dict(self):
        d = asdict(replace(self, layers=None, input_shape=None))
        d.pop("input_shape")                     # images: config.layers.input_shape says it
        if self.fixed_params is not None:
            d["fixed_params"] = [[np.asarray(W).tolist(), np.asarray(b).tolist()] for W, b in self.fixed_params]
        d["layers"] = self.network.to_dict()
        return d

    def validate(self):
        """Raise InputError (one line) for anything the three frameworks cannot all build. -> self"""
        check_choice("dtype", self.dtype, DTYPES)
        check_choice("loss", self.loss, tuple(LOSSES))
        check_choice("reduction", self.reduction, REDUCTIONS)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        if not isinstance(self.sizes, (list, tuple)):
            raise InputError(f"sizes must be a list of layer widths, e.g. [784, 30, 10], got {short(self.sizes)}")
        if len(self.sizes) < 2:
            raise InputError(f"sizes needs an input and at least one layer, got {self.sizes}")
        for width in self.sizes:
            if not is_whole(width) or width <= 0:
                raise InputError(f"every layer width must be a positive integer, got {width!r} in {self.sizes}")
        if not isinstance(self.activations, (list, tuple)):
            raise InputError(f"activations must be a list of names, got {short(self.activations)}")
        if len(self.activations) != self.n_layers:
            raise InputError(f"{self.n_layers} layers need {self.n_layers} activations, got {len(self.activations)}")
        for name in self.activations:
            check_choice("activation", name, tuple(ACTIVATIONS))
        if "softmax" in self.activations[:-1]:
            raise InputError("softmax is supported on the output layer only")
        fused = FUSED_ACTIVATION.get(self.loss)
        if fused and self.activations[-1] != fused:
            raise InputError(f"{self.loss} needs a {fused} output layer, got {self.activations[-1]}")
        if self.loss == "categorical_crossentropy" and self.sizes[-1] < 2:
            raise InputError("categorical_crossentropy needs at least 2 output units")
        if self.activations[-1] == "softmax" and self.sizes[-1] < 2:
            raise InputError("a softmax output needs at least 2 units")
        self.validate_numbers()
        self.validate_inits()
        self.validate_activation_options()
        self.validate_loss()
        self.validate_port_fields()
        self.validate_layers()
        return self

    # --- dropout and normalization (issue 11) ---------------------------------------------------
    @property
    def dropout_rates(self):
        """One drop rate per hidden layer (layers 1 .. L-1); a layer list's from its Dropout layers."""
        if self.layers is not None:
            rates = self.network.dropouts()
            return [rates.get(l, 0.0) for l in range(1, self.n_layers)]
        if isinstance(self.dropout, (list, tuple)):
            return [float(p) for p in self.dropout]
        return [float(self.dropout)] * (self.n_layers - 1)

    def norm_settings(self, convention):
        """{'momentum', 'eps'} of the spec's normalization in `convention`'s own meaning (Keras's
        momentum = 1 - torch's), the unset ones at that framework's default; {} without a norm."""
        if self.norm is None:
            return {}
        convention = as_convention(convention)
        out = dict(convention.norm_defaults[self.norm])
        if self.norm_eps is not None:
            out["eps"] = float(self.norm_eps)
        if self.norm == "batch" and self.norm_momentum is not None:
            out["momentum"] = convention.norm_momentum(self.norm_momentum)     # given in torch's meaning
        return out

    def validate_layers(self):
        """dropout rates in [0, 1), norm 'batch' or 'layer', their settings only where they apply."""
        if self.layers is not None:
            return self.validate_layer_list()
        hidden = self.n_layers - 1
        shape = "-".join(map(str, self.sizes))
        rates = self.dropout if isinstance(self.dropout, (list, tuple)) else [self.dropout]
        for p in rates:
            if not is_finite_number(p) or not 0 <= p < 1:
                raise InputError(f"dropout must be a rate in [0, 1), got {short(p)}")
        if isinstance(self.dropout, (list, tuple)) and len(self.dropout) != hidden:
            raise InputError(f"dropout lists one rate per hidden layer: {hidden} for {shape}, got {len(self.dropout)}")
        if any(rates) and hidden < 1:
            raise InputError(f"dropout applies after a hidden layer's activation, and this network ({shape}) has none")
        if self.norm is not None:
            check_choice("norm", self.norm, ("batch", "layer"))
            if hidden < 1:
                raise InputError(f"norm {self.norm} normalizes a hidden Dense layer's output, and this network "
                                 f"({shape}) has none")
            if self.norm == "batch" and self.batch_size == 1:
                raise InputError("batch norm needs batches of 2 or more: the variance of one example is 0 "
                                 "(torch refuses it: 'Expected more than 1 value per channel when training')")
        if self.norm_momentum is not None:
            if self.norm != "batch":
                raise InputError("norm momentum is batch norm's (--norm batch): layer norm keeps no running statistics")
            if not is_finite_number(self.norm_momentum) or not 0 <= self.norm_momentum <= 1:
                raise InputError(f"norm momentum must be in [0, 1] (torch's meaning), got {short(self.norm_momentum)}")
        if self.norm_eps is not None:
            if self.norm is None:
                raise InputError("norm eps belongs to a normalization (--norm batch or --norm layer)")
            if not is_finite_number(self.norm_eps) or self.norm_eps <= 0:
                raise InputError(f"norm eps must be a finite number > 0, got {short(self.norm_eps)}")

    def validate_layer_list(self):
        """A given layer list's settings: the same rules as the shorthand's, per layer."""
        for p in self.layers.placed:
            layer, where = p.layer, f"layer {p.index + 1} ({p.layer.describe()})"
            if isinstance(layer, Dropout) and (not is_finite_number(layer.rate) or not 0 <= layer.rate < 1):
                raise InputError(f"{where}: a dropout rate is in [0, 1), got {short(layer.rate)}")
            if isinstance(layer, Norm):
                if layer.written_in not in (None, "torch", "keras", "jax"):
                    raise InputError(f"{where}: written_in is 'torch', 'keras' or 'jax', got {short(layer.written_in)}")
                if layer.eps is not None and (not is_finite_number(layer.eps) or layer.eps <= 0):
                    raise InputError(f"{where}: eps must be a finite number > 0, got {short(layer.eps)}")
            if isinstance(layer, BatchNorm):
                if layer.momentum is not None and (not is_finite_number(layer.momentum) or not 0 <= layer.momentum <= 1):
                    raise InputError(f"{where}: momentum must be in [0, 1], got {short(layer.momentum)}")
                if self.batch_size == 1:
                    raise InputError("batch norm needs batches of 2 or more: the variance of one example is 0 "
                                     "(torch refuses it: 'Expected more than 1 value per channel when training')")
            if isinstance(layer, Dense) and (not is_whole(layer.units) or layer.units <= 0):
                raise InputError(f"{where}: units must be a positive integer, got {short(layer.units)}")
            frozen = getattr(layer, "frozen", ())
            if isinstance(frozen, str) or not isinstance(frozen, (set, frozenset, list, tuple)):
                raise InputError(f"{where}: frozen is a set of its parameter roles, e.g. frozen={{'W'}}, "
                                 f"got {short(frozen)}")
            unknown = set(frozen) - set(layer.param_roles)
            if unknown:
                raise InputError(f"{where}: frozen names {', '.join(sorted(unknown))}, which it does not have "
                                 f"(its parameters: {', '.join(layer.param_roles) or 'none'})")

    def validate_activation_options(self):
        """slope: a finite number, and only where a leaky_relu layer reads it."""
        if self.slope is None:
            return
        if not is_finite_number(self.slope):
            raise InputError(f"slope must be a finite number, got {short(self.slope)}")
        if "leaky_relu" not in self.activations:
            raise InputError(f"slope {self.slope} is leaky_relu's negative slope, and no layer is leaky_relu "
                             f"(activations: {', '.join(self.activations)})")

    def validate_loss(self):
        """The loss's own settings and the output layer it needs."""
        if not is_finite_number(self.label_smoothing) or not 0 <= self.label_smoothing <= 1:
            raise InputError(f"label smoothing must be a number in [0, 1], got {short(self.label_smoothing)}")
        if self.label_smoothing and self.loss not in SMOOTHABLE:
            raise InputError(f"label smoothing applies to {', '.join(SMOOTHABLE)}, not {self.loss}")
        if not is_finite_number(self.delta) or self.delta <= 0:
            raise InputError(f"delta must be a finite number > 0, got {short(self.delta)}")
        if self.delta != 1.0 and self.loss not in ("huber", "smooth_l1"):
            raise InputError(f"delta applies to huber and smooth_l1 (its beta), not {self.loss}")
        if not isinstance(self.probabilities, (bool, np.bool_)):
            raise InputError(f"probabilities must be True or False, got {self.probabilities!r}")
        if self.probabilities and self.loss not in SMOOTHABLE:
            raise InputError(f"probabilities applies to the cross-entropies ({', '.join(SMOOTHABLE)}), not {self.loss}: "
                             "the others read the output A already")
        if self.reduction == "batchmean" and self.loss != "kld":
            raise InputError(f"reduction batchmean is torch KLDivLoss's, for kld only, not {self.loss}")
        needs = NEEDS_ACTIVATION.get(self.loss)
        needs = (needs,) if isinstance(needs, str) else needs
        if needs and self.activations[-1] not in needs:
            raise InputError(f"{self.loss} needs a {' or '.join(needs)} output layer (it reads probabilities or "
                             f"positive rates), got {self.activations[-1]}")
        if self.loss in ("sparse_categorical_crossentropy", "kld", "cosine_similarity") and self.sizes[-1] < 2:
            why = ("the cosine of one-unit vectors is +-1 whatever the weights, so its gradient is 0"
                   if self.loss == "cosine_similarity" else "it needs one unit per class")
            raise InputError(f"{self.loss} needs at least 2 output units: {why}")

    def validate_port_fields(self):
        """momentum_decay (nadam), initial_accumulator (adagrad): finite numbers >= 0; regularize_biases a bool."""
        for name, optimizer in (("momentum_decay", "nadam"), ("initial_accumulator", "adagrad")):
            value = getattr(self, name)
            if value is None:
                continue
            if not is_finite_number(value) or value < 0:
                raise InputError(f"{name.replace('_', ' ')} must be a finite number >= 0, got {short(value)}")
            if self.optimizer != optimizer:
                raise InputError(f"{name.replace('_', ' ')} applies to {optimizer} only, not {self.optimizer}")
        if not isinstance(self.regularize_biases, (bool, np.bool_)):
            raise InputError(f"regularize_biases must be True or False, got {self.regularize_biases!r}")

    def validate_numbers(self):
        for name in ("lr", "momentum", "rho", "beta1", "beta2", "eps", "dampening", "weight_decay"):
            value = getattr(self, name)
            if value is None and name in ("lr", "momentum", "dampening"):
                raise InputError(f"{name} must be a number, got None")
            if value is not None and not is_finite_number(value):
                raise InputError(f"{name} must be a finite number, got {short(value)}")
        for name in ("nesterov", "shuffle", "keras_float32_casts", "centered", "amsgrad"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise InputError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if not is_whole(self.seed) or not 0 <= self.seed < SEED_LIMIT:
            raise InputError(f"seed must be a whole number in [0, 2**32), got {short(self.seed)}")
        if self.lr < 0:
            raise InputError(f"learning rate must be >= 0, got {self.lr}")
        if not 0 <= self.momentum < 1:
            raise InputError(f"momentum must be in [0, 1), got {self.momentum}")
        if self.nesterov and self.momentum == 0:
            raise InputError("nesterov needs momentum > 0")
        if self.momentum and self.optimizer not in ("sgd", "rmsprop"):
            raise InputError(f"momentum applies to sgd and rmsprop only, not {self.optimizer}")
        if self.nesterov and self.optimizer != "sgd":
            raise InputError(f"nesterov applies to sgd only, not {self.optimizer}")
        if not 0 <= self.dampening < 1:
            raise InputError(f"dampening must be in [0, 1), got {self.dampening}")
        if self.dampening and (self.optimizer != "sgd" or self.momentum == 0 or self.nesterov):
            raise InputError("dampening applies to sgd with momentum > 0 and without nesterov")
        if self.centered and self.optimizer != "rmsprop":
            raise InputError(f"centered applies to rmsprop only, not {self.optimizer}")
        if self.amsgrad and self.optimizer not in ("adam", "adamw"):
            raise InputError(f"amsgrad applies to adam and adamw only, not {self.optimizer}")
        if self.weight_decay is not None:
            if self.weight_decay < 0:
                raise InputError(f"weight_decay must be >= 0, got {self.weight_decay}")
            if self.weight_decay and self.optimizer not in ("sgd", "rmsprop", "adam", "adamw"):
                raise InputError(f"weight decay is mirrored for sgd, rmsprop, adam and adamw, not {self.optimizer}")
        for name in ("rho", "beta1", "beta2"):
            value = getattr(self, name)
            if value is not None and not 0 <= value < 1:
                raise InputError(f"{name} must be in [0, 1), got {value}")
        if self.eps is not None and self.eps < 0:
            raise InputError(f"eps must be >= 0, got {self.eps}")
        for name in ("batch_size", "epochs", "steps"):
            value = getattr(self, name)
            if value is not None and (not is_whole(value) or value <= 0):
                raise InputError(f"{name.replace('_', ' ')} must be a positive integer, got {value}")
        if self.epochs is None and self.steps is None:
            raise InputError("give a number of epochs or of steps")
        self.validate_rules()
        self.validate_schedule()

    def validate_schedule(self):
        """The schedule's name and its settings; a setting of another schedule is a mistake."""
        if self.schedule is not None:
            check_choice("schedule", self.schedule, SCHEDULES)
        check_choice("schedule every", self.schedule_every, EVERY)
        uses = {"gamma": ("exponential", "step", "plateau"), "milestones": ("step",), "t_max": ("cosine",),
                "eta_min": ("cosine",), "patience": ("plateau",), "threshold": ("plateau",), "cooldown": ("plateau",),
                "min_lr": ("plateau",)}
        unset = {"gamma": None, "milestones": None, "t_max": None, "eta_min": 0.0, "patience": 10, "threshold": 1e-4,
                 "cooldown": 0, "min_lr": 0.0}
        for name, schedules in uses.items():
            value = getattr(self, name)
            if value is not None and not isinstance(value, (list, tuple)) and not is_finite_number(value):
                raise InputError(f"{name.replace('_', ' ')} must be a finite number, got {short(value)}")
            if self.schedule not in schedules and (value != unset[name] if name != "milestones" else value):
                raise InputError(f"{name.replace('_', ' ')} belongs to the {' or '.join(schedules)} schedule "
                                 f"(--schedule {schedules[0]}), not to {self.schedule or 'a constant learning rate'}")
        if self.schedule is None:
            if self.schedule_every != "step":
                raise InputError("schedule every epoch needs a schedule (--schedule)")
            return
        if self.schedule == "exponential" and self.gamma is None:
            raise InputError("the exponential schedule needs its factor gamma (--gamma), lr *= gamma each time")
        if self.gamma is not None and not self.gamma > 0:
            raise InputError(f"gamma must be > 0, got {self.gamma}")
        if self.schedule == "plateau" and self.gamma is not None and not self.gamma < 1:
            raise InputError(f"the plateau schedule's factor gamma must be < 1 (both frameworks refuse more), got {self.gamma}")
        if self.schedule == "step":
            self.validate_milestones()
        if self.schedule == "cosine":
            t_max = self.schedule_length()
            if t_max is None:
                raise InputError("the cosine schedule needs its length --t-max (in schedule steps) when the run's "
                                 "length in those steps is not fixed")
            if not is_whole(t_max) or t_max <= 0:
                raise InputError(f"t max must be a positive integer, got {short(t_max)}")
            if self.keras_float32_casts:
                raise InputError("the cosine schedule with keras float32 casts cannot be mirrored: Keras then computes "
                                 "CosineDecay in float32 with TensorFlow's own cos, which differs from NumPy's in the "
                                 "last float32 bit (72 of 1172 rates measured); leave the casts off")
            if self.eta_min < 0 or (self.eta_min and self.lr <= 0):
                raise InputError(f"eta min must be >= 0 with a learning rate > 0 (Keras's alpha is eta_min / lr), "
                                 f"got {self.eta_min} with lr {self.lr}")
        for name in ("patience", "cooldown"):
            value = getattr(self, name)
            if not is_whole(value) or value < 0:
                raise InputError(f"{name} must be a whole number >= 0, got {short(value)}")
        for name in ("threshold", "min_lr"):
            if getattr(self, name) < 0:
                raise InputError(f"{name.replace('_', ' ')} must be >= 0, got {getattr(self, name)}")

    def validate_milestones(self):
        if not self.milestones:
            raise InputError("the step schedule needs its milestones (--milestones 30,60): lr *= gamma at each")
        if not isinstance(self.milestones, (list, tuple)) or not all(is_whole(m) and m > 0 for m in self.milestones):
            raise InputError(f"milestones must be positive whole numbers, got {short(self.milestones)}")
        if list(self.milestones) != sorted(set(self.milestones)):
            raise InputError(f"milestones must increase, got {list(self.milestones)}")

    def validate_rules(self):
        """Weight decay, L1/L2 and clipping: finite numbers >= 0 (clip thresholds > 0), one clipping kind."""
        check_choice("decay", self.decay, DECAYS)
        for name in ("weight_decay", "l1", "l2", *CLIPS):
            value = getattr(self, name)
            if value is None and name in (*CLIPS, "weight_decay"):
                continue
            if not is_finite_number(value) or value < 0:
                raise InputError(f"{name.replace('_', ' ')} must be a finite number >= 0, got {short(value)}")
        clips = [name for name in CLIPS if getattr(self, name) is not None]
        if len(clips) > 1:
            raise InputError(f"one gradient clipping at a time, got {', '.join(clips)}")
        for name in clips:
            if getattr(self, name) <= 0:
                raise InputError(f"{name.replace('_', ' ')} must be > 0, got {getattr(self, name)}")

    def validate_inits(self):
        for name in ("weight_init", "bias_init"):
            if not isinstance(getattr(self, name), Init):
                raise InputError(f"{name} must be a compare.Init, got {short(getattr(self, name))}")
        check_choice("weight initializer", self.weight_init.kind, INITIALIZERS)
        check_choice("bias initializer", self.bias_init.kind, BIAS_INITIALIZERS)
        if "fixed" in (self.weight_init.kind, self.bias_init.kind) or self.fixed_params is not None:
            # given, they are checked even when no init reads them (a recipe's spec with another init
            # keeps them): the report writes them out
            pairs = self.fixed_params
            if not isinstance(pairs, (list, tuple)) or len(pairs) != self.n_layers or not all(
                    isinstance(pair, (list, tuple)) and len(pair) == 2 for pair in pairs):
                raise InputError(f"'fixed' initial values need one (W, b) pair per layer ({self.n_layers}), "
                                 f"got {short(pairs)}")
            for l, (W, b) in enumerate(pairs, start=1):
                for what, value in ((f"W{l}", W), (f"b{l}", b)):
                    kind = np.asarray(value).dtype.kind
                    if kind not in "biuf" or not np.isfinite(np.asarray(value, dtype=float)).all():
                        raise InputError(f"fixed {what} must hold finite real numbers, got {short(value)}")
                want_W, want_b = (self.sizes[l], self.sizes[l - 1]), (self.sizes[l],)
                if np.shape(W) != want_W or np.size(b) != want_b[0]:
                    raise InputError(f"fixed W{l} must be {want_W} and b{l} {want_b}, "
                                     f"got {np.shape(W)} and {np.shape(b)}")
        if self.weight_init.kind == "uniform" and not self.weight_init.low < self.weight_init.high:
            raise InputError("uniform initializer needs low < high")


def is_whole(value):
    """An int (Python or NumPy), not a bool (True is not a width, a step count or a seed)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_finite_number(value):
    """A real number (not a bool, a string or a complex) that converts to a finite float."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        return False
    try:
        return bool(np.isfinite(float(value)))
    except OverflowError:                               # 10**400: a Python int beyond any float
        return False


def short(value):
    """repr, cut to one short line (10**400 has 401 digits)."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:20]}...({len(text)} characters)"


def check_choice(what, value, choices):
    if not isinstance(value, str) or value not in choices:
        raise InputError(f"unknown {what} {value!r}; choose one of: {', '.join(choices)}")
