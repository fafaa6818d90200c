"""Where torch and Keras quietly differ, as data.

The scratch network follows either framework on request (`convention='torch'|'keras'`).
This table says what each convention means, so the harness can explain a torch-vs-Keras
difference by naming the rule behind it instead of hiding it under a loose tolerance.
Each fact was checked against torch 2.13 and Keras 3.15 (docs/conventions.md, tests/test_conventions.py).

The conventions themselves are values (`Convention`, at the end): TORCH and KERAS each know
their defaults, their layouts and their rules as named attributes (`convention.running_var_unbiased`),
and a `ConventionPair(a, b)` knows which of the DIFFERENCES below its two conventions disagree on.
Every public function of scratch/ takes a Convention or its name ('torch' | 'keras'):
`as_convention` turns a name into the value once, where the function starts.

Left out: anything the spec cannot select (initializer defaults are not used: weights are
always generated once and copied).
"""
from dataclasses import dataclass, field

# Default hyperparameters, used where the spec leaves one as None.
DEFAULTS = {
    "torch": {
        "sgd": {"momentum": 0.0, "nesterov": False},
        "rmsprop": {"rho": 0.99, "eps": 1e-8},             # torch calls rho `alpha`
        "adam": {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "amsgrad": False},
        "adamw": {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.01, "amsgrad": False},
        "nadam": {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8},       # and momentum_decay 0.004
        "adamax": {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
        "adagrad": {"eps": 1e-10, "initial_accumulator": 0.0},      # lr default 0.01; lr_decay 0
        "adadelta": {"rho": 0.9, "eps": 1e-6},                      # lr default 1.0
    },
    "keras": {
        "sgd": {"momentum": 0.0, "nesterov": False},
        "rmsprop": {"rho": 0.9, "eps": 1e-7},
        "adam": {"beta1": 0.9, "beta2": 0.999, "eps": 1e-7, "amsgrad": False},
        "adamw": {"beta1": 0.9, "beta2": 0.999, "eps": 1e-7, "weight_decay": 0.004, "amsgrad": False},
        "nadam": {"beta1": 0.9, "beta2": 0.999, "eps": 1e-7},
        "adamax": {"beta1": 0.9, "beta2": 0.999, "eps": 1e-7},
        "adagrad": {"eps": 1e-7, "initial_accumulator": 0.1},       # lr default 0.001
        "adadelta": {"rho": 0.95, "eps": 1e-7},                     # lr default 0.001
        "lion": {"beta1": 0.9, "beta2": 0.99},                      # lr default 0.001; not in torch
    },
    # optax 0.2.8 (optax/_src/alias.py): every optimizer's own defaults; learning_rate has none
    "jax": {
        "sgd": {"momentum": 0.0, "nesterov": False},
        "rmsprop": {"rho": 0.9, "eps": 1e-8},              # optax calls rho `decay`; eps inside the root
        "adam": {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "amsgrad": False},
        "adamw": {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 1e-4, "amsgrad": False},
        "nadam": {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
        "adamax": {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
        "adagrad": {"eps": 1e-7, "initial_accumulator": 0.1},
        "adadelta": {"rho": 0.9, "eps": 1e-6},
        "lion": {"beta1": 0.9, "beta2": 0.99, "weight_decay": 1e-3},
    },
}

# Rules a framework cannot express at all: its pairs are not run (reported, never a failure).
# framework -> (when, why)
UNAVAILABLE = {
    "torch": ("optimizer lion", "torch ships no Lion optimizer (torch.optim has none)"),
    "keras": ("optimizer sgd with dampening > 0", "Keras's SGD has no dampening"),
}

# Rules that make torch and Keras compute different numbers from the same spec.
# key -> (when it applies, what differs)
DIFFERENCES = {
    "sgd-momentum-form": (
        "optimizer sgd with momentum > 0",
        "torch keeps v = mu v + g and steps p -= lr v; Keras keeps v = mu v - lr g and steps "
        "p += v: the same math for a constant lr, but the state differs by a factor -lr and "
        "the rounding differs",
    ),
    "keras-float32-hyperparameters": (
        "optimizer sgd with momentum > 0, adam, adamw, nadam, adamax, adagrad or lion, or weight decay, with hyperparameters "
        "handed to Keras as Python floats",
        "Keras's TF backend casts the momentum, the betas of Adam/AdamW/Adamax (in the bias correction), "
        "of NAdam and Lion (everywhere), the optimizers' weight_decay and Adagrad's initial accumulator "
        "through float32, even in a float64 run: momentum 0.9 acts as 0.8999999761581421",
    ),
    "keras-float32-regularizer": (
        "l1 or l2 not exact in float32",
        "Keras's L1/L2 regularizers store float(l) whatever they are given, and the TF backend casts "
        "it through float32 even in a float64 run: l2 0.01 acts as 0.009999999776482582 (a relative "
        "2.2e-8 in the penalty)",
    ),
    "rmsprop-eps-placement": (
        "optimizer rmsprop",
        "torch divides by sqrt(s) + eps, Keras by sqrt(s + eps)",
    ),
    "adam-eps-placement": (
        "optimizer adam",
        "torch adds eps to sqrt(v_hat), Keras adds it to sqrt(v): Keras's eps acts as "
        "torch's eps * sqrt(1 - beta2^t)",
    ),
    "rmsprop-momentum-form": (
        "optimizer rmsprop with momentum > 0",
        "torch keeps lr outside the momentum buffer (buf = mu buf + g / avg; p -= lr buf), Keras "
        "inside (buf = mu buf + lr g / avg; p -= buf): the state differs by a factor lr",
    ),
    "adamw-decay-form": (
        "optimizer adamw",
        "torch shrinks p *= 1 - lr wd, Keras subtracts p wd lr (before the Adam step in both): "
        "the same math, rounded differently; the Adam step's eps placement differs as for adam",
    ),
    "nadam-momentum-schedule": (
        "optimizer nadam",
        "torch's mu_t = b1 (1 - 0.5 * 0.96^(0.004 t)) (momentum_decay), Keras's mu_t = b1 (1 - 0.5 * "
        "0.96^t) with 0.96 rounded to float32 in the step; torch keeps the product of the mu_t in float32",
    ),
    "adamax-eps-placement": (
        "optimizer adamax",
        "torch adds eps to |g| inside u = max(b2 u, |g| + eps), Keras adds it to u in the denominator",
    ),
    "adagrad-eps-placement": (
        "optimizer adagrad",
        "torch divides by sqrt(s) + eps, Keras by sqrt(s + eps)",
    ),
    "adagrad-initial-accumulator": (
        "optimizer adagrad",
        "torch's sum starts at 0 (initial_accumulator_value), Keras's accumulator at 0.1",
    ),
    "default-hyperparameters": (
        "a hyperparameter left unset (None) whose defaults differ",
        "rmsprop rho 0.99 (torch) vs 0.9 (Keras), eps 1e-8 vs 1e-7; adam, adamw, nadam, adamax eps 1e-8 "
        "vs 1e-7; adamw weight_decay 0.01 vs 0.004; adagrad eps 1e-10 vs 1e-7; adadelta rho 0.9 vs 0.95, "
        "eps 1e-6 vs 1e-7",
    ),
    "clip-norm-eps": (
        "gradient clipping by norm (clip_norm or clip_norm_per_tensor)",
        "torch's clip_grad_norm_ scales by min(c / (norm + 1e-6), 1); Keras's global_clipnorm by "
        "c min(1/norm, 1/c) and its clipnorm by c / max(norm, c), without the 1e-6: a clipped "
        "step differs by about 1e-6 / norm",
    ),
    "weight-decay-form": (
        "weight decay > 0",
        "torch's SGD/RMSprop/Adam weight_decay is coupled (g += wd p, inside the adaptive "
        "scaling); Keras's optimizers' weight_decay is decoupled (p -= lr wd p before the update): "
        "each framework runs only the form it ships",
    ),
    "softplus-threshold": (
        "a softplus layer",
        "torch's nn.Softplus returns z itself for z > 20; Keras computes log(1 + e^z) exactly "
        "(a relative difference below 2e-9 in the output, and the derivative 1 vs sigmoid(z))",
    ),
    "schedule-step-boundary": (
        "the step schedule",
        "torch's MultiStepLR decays from milestone m on (the m-th step, counted from 0, uses lr gamma); "
        "Keras's PiecewiseConstantDecay switches after its boundary b (step > b): the references use "
        "boundaries = [m - 1], the same schedule",
    ),
    "schedule-every-epoch": (
        "a schedule moved every epoch",
        "torch users call scheduler.step() at the end of an epoch; Keras reads a schedule at "
        "optimizer.iterations (every batch), so an epoch schedule is the LearningRateScheduler callback "
        "evaluating it at the epoch index: the same rates",
    ),
    "schedule-recursive-form": (
        "the exponential, step or cosine schedule",
        "torch's schedulers multiply the current lr (chainable form), Keras's schedules recompute it "
        "from lr0 (closed form): the same rates, rounded differently (a few units in the last place)",
    ),
    "plateau-counts": (
        "the plateau schedule",
        "torch's ReduceLROnPlateau reduces when the bad count exceeds patience and counts its cooldown "
        "down after looking; Keras's callback reduces when its wait reaches patience and counts down "
        "before: Keras's patience and cooldown are torch's + 1 (a cooldown of 0 stays 0). torch "
        "compares relatively by default (threshold_mode='rel') and skips reductions below eps 1e-8; "
        "Keras compares absolutely (min_delta), without a cutoff: the torch reference uses "
        "threshold_mode='abs', eps=0",
    ),
    "plateau-float32-comparison": (
        "the plateau schedule",
        "Keras compares the loss with the best as float32 tensors (ops.less on Python floats), torch in "
        "float64: an improvement within float32 rounding of the threshold counts in torch only (not "
        "seen in the runs here)",
    ),
    "momentum-lr-schedule": (
        "a schedule with SGD or RMSprop momentum",
        "torch multiplies the whole momentum buffer by the current lr at each step (p -= lr v), Keras "
        "multiplies each gradient by the lr of its own step as it enters the buffer (v = mu v - lr g): "
        "the same only while lr is constant",
    ),
    "cosine-after-t-max": (
        "the cosine schedule with a run longer than t_max schedule steps",
        "torch's CosineAnnealingLR rises again after T_max (period 2 T_max); Keras's CosineDecay stays "
        "at alpha lr0 = eta_min",
    ),
    "keras-float32-schedule": (
        "a schedule with hyperparameters handed to Keras as Python floats",
        "tf.convert_to_tensor makes a Python float a float32 tensor: ExponentialDecay's lr0 and "
        "decay_rate, PiecewiseConstantDecay's values and CosineDecay's lr0 are rounded through float32 "
        "even in a float64 run (np.float64 values stay exact)",
    ),
    "mse-sum-reduction": (
        "loss mse, mae, huber, smooth_l1, poisson, hinge, squared_hinge or binary_crossentropy with "
        "reduction 'sum' and more than one output unit",
        "torch sums every element; Keras averages over the units and sums over the batch",
    ),
    # --- losses (scratch/losses.py, scratch/pointwise_losses.py) ---
    "kld-mean-reduction": (
        "loss kld with reduction 'mean'",
        "torch's KLDivLoss 'mean' divides the sum by every element (n m), Keras's KLDivergence by the "
        "batch (m): torch's loss and gradients are n times smaller; torch's 'batchmean' is Keras's mean",
    ),
    "kld-target-clip": (
        "loss kld",
        "Keras clips the target to [1e-7, 1] too, so a 0 in y adds 1e-7 log(1e-7 / p) to the loss and "
        "-1e-7 / p to dA; torch's KLDivLoss counts 0 log 0 as 0 (one-hot targets: a relative ~1e-6)",
    ),
    "poisson-eps": (
        "loss poisson",
        "torch's PoissonNLLLoss(log_input=False) takes log(a + 1e-8), Keras's Poisson log(a + 1e-7)",
    ),
    "probabilities-clipping": (
        "a cross-entropy on probabilities (probabilities=True)",
        "torch's BCELoss clamps each log at -100 (its gradient divides by max(a (1 - a), 1e-12)) and "
        "NLLLoss(log p) has no guard; Keras clips p to [1e-7, 1 - 1e-7] with gradient 0 outside and "
        "renormalises a categorical output first: equal while every p is inside the clip range, "
        "loss 100 against 16.1 per saturated element once one is not",
    ),
}

# Loss settings a framework cannot express: framework -> (when, why)
UNAVAILABLE_LOSSES = {
    "keras": ("loss sparse_categorical_crossentropy with label smoothing",
              "Keras 3.15's SparseCategoricalCrossentropy has no label_smoothing (keras/src/losses/losses.py); "
              "give categorical_crossentropy, which takes the same labels one-hot"),
    "torch": ("a categorical cross-entropy on probabilities with label smoothing",
              "torch's cross-entropy on probabilities is NLLLoss(log p), which has no label_smoothing"),
}

# --- activations (issue 11): verified in torch/nn/modules/activation.py and the measured autograd
# of torch 2.13; keras/src/activations/activations.py, keras/src/backend/tensorflow/nn.py and
# tensorflow/python/ops/nn_ops.py (gelu) of Keras 3.15 / TF 2.21. Checked by tests/test_activations.py.
DIFFERENCES.update({
    "leaky-relu-default-slope": (
        "a leaky_relu layer without a slope",
        "torch's nn.LeakyReLU slope is 0.01; keras.activations.leaky_relu's (what Dense(activation="
        "'leaky_relu') uses, and the reference) is 0.2 (the layer keras.layers.LeakyReLU: 0.3)",
    ),
    "keras-float32-leaky-slope": (
        "a leaky_relu layer whose Keras slope is not exact in float32",
        "tf.nn.leaky_relu keeps its slope as a float32 attribute, even in a float64 run: 0.01 acts as "
        "0.009999999776482582 (2.2e-8 relative in the negative branch)",
    ),
    "gelu-float32-constant": (
        "a gelu layer",
        "Keras's tf.nn.gelu computes z/2 erfc(-z c) with c = 1/sqrt(2) cast through float32 "
        "(0.7071067690849304), even in a float64 run; torch's nn.GELU uses the exact constant and 1 + erf",
    ),
    "gelu-tanh-float32-constant": (
        "a gelu_tanh layer",
        "Keras's tf.nn.gelu(approximate=True) casts 0.044715 through float32 (0.044714998453855515), "
        "even in a float64 run; torch's nn.GELU('tanh') uses it exactly",
    ),
    "hard-sigmoid-float32-slope": (
        "a hard_sigmoid layer",
        "torch's Hardsigmoid backward multiplies by float32 1/6 (0.1666666716337204) even in float64; "
        "Keras's derivative is relu6'(z + 3) / 6, exact (3e-8 relative in the gradient)",
    ),
    "selu-kink": (
        "a selu layer (an input exactly 0)",
        "SELU'(0): torch takes the left branch, scale*alpha = 1.7580993408473766; Keras's SeluGrad "
        "the right, scale = 1.0507009873554805",
    ),
    "celu-kink": (
        "a celu layer (an input exactly 0)",
        "CELU'(0): torch 1; Keras computes max(z, 0) + expm1(min(z, 0)) and both max and min pass "
        "the gradient on a tie: 2",
    ),
    "hard-tanh-kink": (
        "a hard_tanh layer (an input exactly -1 or 1)",
        "hardtanh'(-1) and hardtanh'(1): torch 0 (open interval), Keras 1 (tf.clip_by_value's "
        "gradient passes on [-1, 1] closed)",
    ),
})

# --- dropout and normalization (issue 11): verified in torch/nn/modules/batchnorm.py (_BatchNorm:
# momentum 0.1, eps 1e-5), torch/nn/modules/normalization.py (LayerNorm: eps 1e-5), torch/nn/functional.py
# (batch_norm, layer_norm, dropout); keras/src/layers/normalization/batch_normalization.py
# (BatchNormalization: momentum 0.99, epsilon 1e-3, moving = momentum moving + (1 - momentum) batch),
# keras/src/layers/normalization/layer_normalization.py (epsilon 1e-3), keras/src/ops/nn.py
# (_layer_normalization), tensorflow/python/ops/nn_impl.py (moments: biased variance). Checked by
# tests/test_layers.py. Momentum in each framework's own meaning: torch's weights the new batch,
# Keras's the old average, so momentum_keras = 1 - momentum_torch.
NORM_DEFAULTS = {
    "torch": {"batch": {"momentum": 0.1, "eps": 1e-5}, "layer": {"eps": 1e-5}},
    "keras": {"batch": {"momentum": 0.99, "eps": 1e-3}, "layer": {"eps": 1e-3}},
    # flax/nnx/nn/normalization.py (Flax 0.12.8): BatchNorm momentum 0.99 in Keras's meaning, epsilon
    # 1e-5; LayerNorm epsilon 1e-6
    "jax": {"batch": {"momentum": 0.99, "eps": 1e-5}, "layer": {"eps": 1e-6}},
}

DIFFERENCES.update({
    "batchnorm-default-momentum": (
        "norm batch without --norm-momentum",
        "torch's BatchNorm1d momentum 0.1 weights the new batch (running = 0.9 running + 0.1 batch); "
        "Keras's BatchNormalization momentum 0.99 weights the old average (moving = 0.99 moving + 0.01 "
        "batch): the running statistics, and every evaluation output, differ (give --norm-momentum: "
        "Keras then gets 1 - it)",
    ),
    "norm-default-eps": (
        "norm batch or layer without --norm-eps",
        "torch's BatchNorm1d and LayerNorm add eps 1e-5 to the variance, Keras's BatchNormalization "
        "and LayerNormalization 1e-3: every normalized value differs (most on low-variance units or rows)",
    ),
    "batchnorm-running-variance": (
        "norm batch",
        "torch stores the UNBIASED batch variance in running_var (times m / (m - 1)), Keras the biased "
        "one in moving_variance, whatever the settings: the running variance cannot be made equal, and "
        "the evaluation outputs that read it differ with it; training-mode tensors agree",
    ),
})


# --- convolutions and pooling (issue 20): verified in torch/nn/modules/conv.py, pooling.py and
# torch/_meta_registrations.py (pooling_output_shape_pad_lr: ceil_mode's last window starts inside the
# input or the left padding); keras/src/backend/tensorflow/nn.py (conv, max_pool, average_pool) of
# Keras 3.15 / TF 2.21; measured by tests/test_conv_scratch.py. No spec has conv layers yet:
# compare/engine/conventions.py gets their `applies` entries with the layer kinds.
# Max pooling's tie rule is the same in both (the gradient to the first maximum in scan order,
# Convention.maxpool_grad_to_first_max): an attribute, not a difference.
DIFFERENCES.update({
    "same-padding-strided": (
        "a convolution or pooling with padding 'same' and stride > 1",
        "Keras pads by TensorFlow's rule (total (ceil(n/s) - 1) s + (k - 1) d + 1 - n, the odd one at the "
        "bottom/right); torch's padding='same' refuses stride > 1, so a port pads by hand (often "
        "symmetrically, shifting the output by one pixel)",
    ),
    "flatten-order": (
        "a Flatten after a convolution or pooling, before a Dense",
        "torch flattens NCHW as C.H.W, Keras NHWC as H.W.C: the next Dense's input rows are permuted, "
        "so weights copied between them must be permuted too",
    ),
    "avgpool-padding-count": (
        "average pooling with padding",
        "torch's AvgPool2d divides by the whole window, its zero padding included (count_include_pad="
        "True); Keras's 'same' average by the real elements only: the border averages differ",
    ),
    "pool-ceil-mode": (
        "pooling with ceil_mode",
        "torch's ceil_mode adds a last, partial window (starting inside the input or the left padding); "
        "Keras has no ceil_mode ('valid' or 'same' only)",
    ),
})


# --- JAX (issue 23): verified in jax 0.10.2, flax 0.12.8 and optax 0.2.8 (docs/conventions.md cites
# the lines); tests/test_jax_conventions.py measures each.
DIFFERENCES.update({
    "nadam-nesterov-adam": (
        "optimizer nadam",
        "optax.nadam is Adam with Nesterov's look-ahead, m_hat = b1 m / (1 - b1^(t+1)) + (1 - b1) g / "
        "(1 - b1^t), without torch's or Keras's momentum schedule mu_t",
    ),
    "dropout-divides": (
        "a dropout layer",
        "Flax's Dropout keeps x / (1 - p); torch and Keras multiply by fl(1 / (1 - p)): the kept units "
        "differ in the last bit",
    ),
    "norm-fast-variance": (
        "norm batch or layer",
        "Flax's BatchNorm and LayerNorm take the variance as E[x^2] - E[x]^2 (use_fast_variance=True), "
        "torch and Keras as E[(x - mean)^2]: the last bits differ, and a unit whose mean is large "
        "against its spread loses digits",
    ),
})


# --- the conventions as values ----------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Convention:
    """One framework's conventions: its defaults, its layouts and its rules, each a named attribute
    that scratch/ reads where the math forks (`if convention.running_var_unbiased:`). The values
    are the framework's own (each one verified as the tables above say); a rule's docstring-comment
    says what the True (or the value) means. Compare two with `ConventionPair(a, b)`."""
    name: str                            # 'torch' | 'keras': what options, reports and tables call it
    framework: str                       # the framework's name in prose ('PyTorch', 'Keras')
    optimizer_defaults: dict = field(repr=False)   # optimizer -> {hyperparameter: default} (DEFAULTS)
    norm_defaults: dict = field(repr=False)        # 'batch' | 'layer' -> {'momentum', 'eps'} (NORM_DEFAULTS),
                                                   # momentum in this convention's own meaning
    # --- layouts: how the framework holds a batch and a Dense layer's weight (scratch: one
    # example per COLUMN, W (out, in); compare/engine/convert.py converts)
    examples_per_row: bool               # a batch is (m, n): one example per row
    dense_weight: str                    # the Dense weight's name: torch 'weight', Keras 'kernel'
    dense_weight_in_out: bool            # True: the weight is (in, out), the transpose of scratch's W
    channels_last: bool                  # images are (m, H, W, C), a conv kernel (kh, kw, in, out) and Flatten
                                         # orders H*W*C (Keras's default data_format); False: (m, C, H, W),
                                         # (out, in, kh, kw), C*H*W (torch's NCHW, as scratch's)
    # --- optimizers (scratch/optimizers.py)
    float32_hyperparameters: bool        # Python-float hyperparameters pass through float32 (the TF backend's
                                         # ops.cast), with Spec.keras_float32_casts; schedules' lr0, rates too
    float32_regularizers: bool           # L1/L2 factors pass through float32 in every run (Keras stores float(l))
    clip_norm_eps: float | None          # clipping by norm: g *= min(c / (norm + eps), 1) (torch's 1e-6); None:
                                         # Keras's forms without eps, c min(1/norm, 1/c) and c / max(norm, c)
    weight_decay_coupled: bool | None    # an optimizer's weight_decay adds wd p to g (torch); False: p -= lr wd p;
                                         # None: both forms (optax: add_decayed_weights before or after the scaling)
    sgd_dampening: bool                  # SGD has dampening (torch)
    sgd_lr_in_momentum: bool             # v = mu v - lr g, p += v, v starts at 0 (Keras); False: v = mu v + g,
                                         # p -= lr v, v starts as g (torch)
    rmsprop_eps_in_root: bool            # p -= lr g / sqrt(s + eps) (Keras); False: lr g / (sqrt(s) + eps)
    rmsprop_lr_in_momentum: bool         # buf = mu buf + lr g / avg, p -= buf (Keras); False: p -= lr buf (torch)
    adam_eps_hat: bool                   # eps added to sqrt(v), the step size corrected (Keras, the Adam paper's
                                         # epsilon-hat); False: eps added to sqrt(v_hat) (torch)
    adamw_decay_multiplies: bool         # AdamW shrinks p *= 1 - lr wd (torch); False: p -= p wd lr (Keras)
    nadam_momentum_decay: float | None   # NAdam's mu_t = b1 (1 - 0.5 * 0.96^(t psi)) with this psi (torch 0.004);
                                         # None: mu_t = b1 (1 - 0.5 * 0.96^t), 0.96 through float32 (Keras)
    adamax_eps_in_max: bool              # u = max(b2 u, |g| + eps) (torch); False: eps added to u when dividing
    adagrad_eps_in_root: bool            # p -= lr g / sqrt(s + eps) (Keras); False: lr g / (sqrt(s) + eps)
    adadelta_ratio_first: bool           # delta = sqrt(d + eps) / sqrt(s + eps) * g (torch's order); False:
                                         # -(sqrt(d + eps) g) / sqrt(s + eps), p += lr delta (Keras's)
    # --- learning-rate schedules (scratch/schedules.py)
    schedule_recursive: bool             # each rate from the one before, moved by scheduler.step() (torch);
                                         # False: recomputed from lr0 at the step count (Keras)
    schedule_milestone_inclusive: bool   # the step schedule decays at its milestone m (torch); False: after
                                         # its boundary b (Keras: step > b)
    schedule_read_every_step: bool       # a schedule is read at every optimizer step; per epoch through a
                                         # callback (Keras); False: the user steps it (torch)
    plateau_counts_exceed: bool          # plateau reduces when the bad count exceeds patience, cooldown counted
                                         # after looking (torch); False: when the wait reaches it, before (Keras)
    plateau_float32_comparison: bool     # plateau compares losses as float32 tensors (Keras)
    cosine_restarts: bool                # the cosine schedule rises again after t_max (torch); False: stays
    # --- losses (scratch/losses.py, scratch/pointwise_losses.py)
    sum_reduction_averages_units: bool   # reduction 'sum' averages over the units first (Keras); False: sums all
    kld_mean_per_element: bool           # kld 'mean' divides by n m (torch); False: by the batch m (Keras)
    kld_clips: bool                      # kld clips target and output to [1e-7, 1] (Keras); False: takes the
                                         # log-softmax of the logits, 0 log 0 = 0 (torch)
    clips_probabilities: bool            # a cross-entropy on probabilities clips them to [1e-7, 1 - 1e-7] (Keras);
                                         # False: torch's BCELoss log floor -100, NLLLoss(log p)
    poisson_eps: float                   # poisson's log(a + eps)
    cosine_eps: float                    # cosine similarity's smallest norm
    # --- activations (scratch/activations.py, scratch/more_activations.py)
    leaky_relu_slope: float              # leaky_relu's slope when none is given
    float32_activation_constants: bool   # the leaky slope and GELU's constants pass through float32 (TF)
    softplus_threshold: float | None     # softplus is z itself above this (torch 20); None: exact everywhere
    elu_grad_from_output: bool           # ELU and SELU compute e^z - 1 and the derivative from the output a
                                         # (TF's kernels: SELU'(0) = scale); False: expm1, from z (torch: scale alpha)
    celu_max_plus_min: bool              # CELU = max(z, 0) + expm1(min(z, 0)), both pass a tie: CELU'(0) = 2 (TF)
    hard_sigmoid_float32_slope: bool     # hard sigmoid's backward multiplies by float32 1/6 (torch)
    hard_silu_own_backward: bool         # hard SiLU has its own backward (torch's Hardswish); False: the product
                                         # rule of z hard_sigmoid(z) (Keras)
    hard_tanh_grad_closed: bool          # hard tanh passes the gradient on [-1, 1] closed (tf.clip_by_value)
    # --- normalization (scratch/layers.py)
    norm_momentum_weights_new: bool      # batch norm's momentum is the new batch's weight (torch); False: the
                                         # old average's (Keras)
    running_var_unbiased: bool           # the running variance stores the unbiased batch variance (torch)
    # --- convolutions and pooling (scratch/conv.py, scratch/pool.py); defaults so that older
    # constructors keep working, each set explicitly in TORCH and KERAS below
    same_padding_strided: bool = True    # 'same' padding allowed with stride > 1 (Keras: TensorFlow's rule, the odd
                                         # extra at the bottom/right); False: refused (torch's Conv2d)
    avgpool_counts_padding: bool = True  # average pooling divides by the window including its zero padding (torch's
                                         # count_include_pad=True default); False: by the real elements (Keras 'same')
    pool_ceil_mode_available: bool = True    # pooling has ceil_mode (torch); False: 'valid'/'same' only (Keras)
    maxpool_grad_to_first_max: bool = True   # max pooling's gradient goes to the FIRST maximum of a window in scan
                                             # order (row by row), one element per window, added up where windows
                                             # overlap; False: to the last. Both frameworks: the first (measured)
    # --- JAX (issue 23): rules torch and Keras share and JAX does not; the defaults are theirs
    nadam_nesterov_adam: bool = False    # NAdam is Adam with Nesterov's look-ahead and no momentum schedule:
                                         # m_hat = b1 m / (1 - b1^(t+1)) + (1 - b1) g / (1 - b1^t) (optax.nadam)
    dropout_divides: bool = False        # dropout keeps x / (1 - p) (flax's nnx.Dropout); False: x * fl(1 / (1 - p))
    fast_variance: bool = False          # normalization's variance is E[x^2] - E[x]^2 (flax use_fast_variance=True);
                                         # False: E[(x - mean)^2]
    gelu_approximate_by_default: bool = False   # the framework's gelu() is the tanh form unless told otherwise
                                                # (jax.nn.gelu approximate=True): a port writes gelu_tanh
    x64_opt_in: bool = False             # float64 only after jax_enable_x64; without it float64 is silently float32
    # --- optax's forms (issue 23: scratch/optimizers.py, scratch/schedules.py; reference/jax_optim.py)
    chain_rounding: bool = False         # an optimizer is a chain of gradient transformations (optax): a direction d,
                                         # u = -lr d, p = p + u, moments as (1 - b) g^k + b m; clipping by norm
                                         # (g / norm) c; rates as lr0 times a factor: the last bits only, no rule
    decay_in_update: bool = False        # decoupled decay (AdamW's, Lion's, add_decayed_weights after the scaling)
                                         # joins the direction: p += -lr (d + wd p); False: p shrinks before the step
    rmsprop_momentum_traces_update: bool = False   # RMSprop's buffer traces the update after the lr scaling:
                                                   # buf = mu buf - lr g / avg, p += buf (optax.trace); False: +lr
    amsgrad_max_of_corrected: bool = False   # AMSGrad keeps max(v_max, v / (1 - b2^t)) and divides by its root
                                             # (optax.scale_by_amsgrad); False: max of the raw v, corrected at t
    exponential_float32_count: bool = False  # the per-step exponential rate is float32 even in float64 runs
                                             # (optax.exponential_decay: int32 count / transition_steps)

    def __str__(self):
        return self.name

    def __repr__(self):
        return f"Convention({self.name!r})"

    @property
    def adagrad_initial_accumulator(self):
        """Where Adagrad's accumulator starts (torch 0, Keras 0.1)."""
        return self.optimizer_defaults["adagrad"]["initial_accumulator"]

    @property
    def default_new_batch_weight(self):
        """Batch norm's default momentum as the new batch's weight (torch's meaning): torch 0.1, Keras 0.01."""
        momentum = self.norm_defaults["batch"]["momentum"]
        return momentum if self.norm_momentum_weights_new else 1.0 - momentum

    @property
    def norm_eps_defaults(self):
        """(batch norm's, layer norm's) default eps."""
        return self.norm_defaults["batch"]["eps"], self.norm_defaults["layer"]["eps"]

    def norm_momentum(self, new_batch_weight):
        """Batch norm's momentum in this convention's meaning for a running update that gives the new
        batch `new_batch_weight` (torch's meaning, the spec's): torch keeps it, Keras takes 1 - it."""
        return float(new_batch_weight) if self.norm_momentum_weights_new else 1.0 - float(new_batch_weight)

    def differences(self, other):
        """The pair (self, other): which rules differ (ConventionPair)."""
        return ConventionPair(self, other)


TORCH = Convention(
    name="torch", framework="PyTorch", optimizer_defaults=DEFAULTS["torch"], norm_defaults=NORM_DEFAULTS["torch"],
    examples_per_row=True, dense_weight="weight", dense_weight_in_out=False, channels_last=False,
    float32_hyperparameters=False, float32_regularizers=False, clip_norm_eps=1e-6, weight_decay_coupled=True,
    sgd_dampening=True, sgd_lr_in_momentum=False, rmsprop_eps_in_root=False, rmsprop_lr_in_momentum=False,
    adam_eps_hat=False, adamw_decay_multiplies=True, nadam_momentum_decay=0.004, adamax_eps_in_max=True,
    adagrad_eps_in_root=False, adadelta_ratio_first=True,
    schedule_recursive=True, schedule_milestone_inclusive=True, schedule_read_every_step=False,
    plateau_counts_exceed=True, plateau_float32_comparison=False, cosine_restarts=True,
    sum_reduction_averages_units=False, kld_mean_per_element=True, kld_clips=False, clips_probabilities=False,
    poisson_eps=1e-8, cosine_eps=1e-8,             # PoissonNLLLoss(log_input=False) eps; F.cosine_similarity eps
    leaky_relu_slope=0.01, float32_activation_constants=False, softplus_threshold=20.0,   # nn.LeakyReLU, nn.Softplus
    elu_grad_from_output=False, celu_max_plus_min=False, hard_sigmoid_float32_slope=True,
    hard_silu_own_backward=True, hard_tanh_grad_closed=False,
    norm_momentum_weights_new=True, running_var_unbiased=True,
    # torch/nn/modules/conv.py _ConvNd.__init__ ("padding='same' is not supported for strided convolutions");
    # nn.Flatten of NCHW; nn/modules/pooling.py AvgPool2d(ceil_mode=False, count_include_pad=True); max pooling's
    # first maximum: aten's CPU kernels are compiled, so measured (both memory formats); the Python forms agree:
    # torch/_decomp/decompositions.py _max_pool_nd_with_indices (the window's max(dim=-1) index) and
    # torch/_inductor/lowering.py _max_pool_with_offsets (reduction "argmax"); max_pool2d_with_indices_backward
    # (decompositions.py) scatter_adds dout to that index, so overlapping windows add up
    same_padding_strided=False, avgpool_counts_padding=True,
    pool_ceil_mode_available=True, maxpool_grad_to_first_max=True,
)

KERAS = Convention(
    name="keras", framework="Keras", optimizer_defaults=DEFAULTS["keras"], norm_defaults=NORM_DEFAULTS["keras"],
    examples_per_row=True, dense_weight="kernel", dense_weight_in_out=True, channels_last=True,
    float32_hyperparameters=True, float32_regularizers=True, clip_norm_eps=None, weight_decay_coupled=False,
    sgd_dampening=False, sgd_lr_in_momentum=True, rmsprop_eps_in_root=True, rmsprop_lr_in_momentum=True,
    adam_eps_hat=True, adamw_decay_multiplies=False, nadam_momentum_decay=None, adamax_eps_in_max=False,
    adagrad_eps_in_root=True, adadelta_ratio_first=False,
    schedule_recursive=False, schedule_milestone_inclusive=False, schedule_read_every_step=True,
    plateau_counts_exceed=False, plateau_float32_comparison=True, cosine_restarts=False,
    sum_reduction_averages_units=True, kld_mean_per_element=False, kld_clips=True, clips_probabilities=True,
    poisson_eps=1e-7, cosine_eps=1e-7,             # keras.config.epsilon() in Poisson and ops.nn._normalize
    leaky_relu_slope=0.2, float32_activation_constants=True, softplus_threshold=None,    # activations.leaky_relu
    elu_grad_from_output=True, celu_max_plus_min=True, hard_sigmoid_float32_slope=False,
    hard_silu_own_backward=False, hard_tanh_grad_closed=True,
    norm_momentum_weights_new=False, running_var_unbiased=False,
    # keras/src/backend/tensorflow/nn.py conv, max_pool, average_pool -> tf.nn.convolution / max_pool /
    # avg_pool with 'SAME' (any stride); keras/src/layers/pooling/base_pooling.py: no ceil_mode; TF's 'SAME'
    # average divides by the real elements; Flatten of NHWC; max pooling's gradient: tensorflow/python/ops/
    # nn_grad.py _MaxPoolGrad -> gen_nn_ops.max_pool_grad (op MaxPoolGrad, compiled: the first maximum, measured)
    same_padding_strided=True, avgpool_counts_padding=False,
    pool_ceil_mode_available=False, maxpool_grad_to_first_max=True,
)

# JAX 0.10.2 with Flax 0.12.8 (nnx) and Optax 0.2.8: the values the `jax` reference follows
# (reference/jax_mlp.py); each one's source line is cited in docs/conventions.md.
JAX = Convention(
    name="jax", framework="JAX", optimizer_defaults=DEFAULTS["jax"], norm_defaults=NORM_DEFAULTS["jax"],
    examples_per_row=True, dense_weight="kernel", dense_weight_in_out=True, channels_last=True,
    float32_hyperparameters=False, float32_regularizers=False, clip_norm_eps=None, weight_decay_coupled=None,
    sgd_dampening=False, sgd_lr_in_momentum=False, rmsprop_eps_in_root=True, rmsprop_lr_in_momentum=True,
    adam_eps_hat=False, adamw_decay_multiplies=True, nadam_momentum_decay=None, adamax_eps_in_max=True,
    adagrad_eps_in_root=True, adadelta_ratio_first=True,
    schedule_recursive=False, schedule_milestone_inclusive=True, schedule_read_every_step=True,
    plateau_counts_exceed=False, plateau_float32_comparison=False, cosine_restarts=False,
    sum_reduction_averages_units=False, kld_mean_per_element=False, kld_clips=False, clips_probabilities=False,
    poisson_eps=1e-8, cosine_eps=1e-8,
    leaky_relu_slope=0.01, float32_activation_constants=False, softplus_threshold=None,
    elu_grad_from_output=False, celu_max_plus_min=False, hard_sigmoid_float32_slope=False,
    hard_silu_own_backward=False, hard_tanh_grad_closed=True,
    norm_momentum_weights_new=False, running_var_unbiased=False,
    same_padding_strided=True, avgpool_counts_padding=True,
    pool_ceil_mode_available=False, maxpool_grad_to_first_max=True,
    nadam_nesterov_adam=True, dropout_divides=True, fast_variance=True, gelu_approximate_by_default=True,
    x64_opt_in=True,
    chain_rounding=True, decay_in_update=True, rmsprop_momentum_traces_update=True, amsgrad_max_of_corrected=True,
    exponential_float32_count=True,
)

CONVENTIONS = {c.name: c for c in (TORCH, KERAS, JAX)}


def as_convention(convention, default=None):
    """A Convention, or its name ('torch' | 'keras'), as the Convention. Another name: `default`
    when one is given (an implementation of its own, which follows torch where it must choose),
    else a ValueError naming the conventions there are."""
    if isinstance(convention, Convention):
        return convention
    found = CONVENTIONS.get(convention) if isinstance(convention, str) else None
    if found is not None:
        return found
    if default is not None:
        return as_convention(default)
    raise ValueError(f"unknown convention {convention!r}: one of {', '.join(map(repr, CONVENTIONS))}")


# DIFFERENCES key -> the Convention attributes that decide it: a pair of conventions differs by a
# rule when it holds any of these differently.
RULE_ATTRIBUTES = {
    "sgd-momentum-form": ("sgd_lr_in_momentum",),
    "keras-float32-hyperparameters": ("float32_hyperparameters",),
    "keras-float32-regularizer": ("float32_regularizers",),
    "rmsprop-eps-placement": ("rmsprop_eps_in_root",),
    "adam-eps-placement": ("adam_eps_hat",),
    "rmsprop-momentum-form": ("rmsprop_lr_in_momentum",),
    "adamw-decay-form": ("adamw_decay_multiplies", "adam_eps_hat"),
    "nadam-momentum-schedule": ("nadam_momentum_decay",),
    "adamax-eps-placement": ("adamax_eps_in_max",),
    "adagrad-eps-placement": ("adagrad_eps_in_root",),
    "adagrad-initial-accumulator": ("adagrad_initial_accumulator",),
    "default-hyperparameters": ("optimizer_defaults",),
    "clip-norm-eps": ("clip_norm_eps",),
    "weight-decay-form": ("weight_decay_coupled",),
    "softplus-threshold": ("softplus_threshold",),
    "schedule-step-boundary": ("schedule_milestone_inclusive",),
    "schedule-every-epoch": ("schedule_read_every_step",),
    "schedule-recursive-form": ("schedule_recursive",),
    "plateau-counts": ("plateau_counts_exceed",),
    "plateau-float32-comparison": ("plateau_float32_comparison",),
    "momentum-lr-schedule": ("sgd_lr_in_momentum", "rmsprop_lr_in_momentum"),
    "cosine-after-t-max": ("cosine_restarts",),
    "keras-float32-schedule": ("float32_hyperparameters",),
    "mse-sum-reduction": ("sum_reduction_averages_units",),
    "kld-mean-reduction": ("kld_mean_per_element",),
    "kld-target-clip": ("kld_clips",),
    "poisson-eps": ("poisson_eps",),
    "probabilities-clipping": ("clips_probabilities",),
    "leaky-relu-default-slope": ("leaky_relu_slope",),
    "keras-float32-leaky-slope": ("float32_activation_constants",),
    "gelu-float32-constant": ("float32_activation_constants",),
    "gelu-tanh-float32-constant": ("float32_activation_constants",),
    "hard-sigmoid-float32-slope": ("hard_sigmoid_float32_slope",),
    "selu-kink": ("elu_grad_from_output",),
    "celu-kink": ("celu_max_plus_min",),
    "hard-tanh-kink": ("hard_tanh_grad_closed",),
    "batchnorm-default-momentum": ("default_new_batch_weight",),
    "norm-default-eps": ("norm_eps_defaults",),
    "batchnorm-running-variance": ("running_var_unbiased",),
    "same-padding-strided": ("same_padding_strided",),
    "flatten-order": ("channels_last",),
    "avgpool-padding-count": ("avgpool_counts_padding",),
    "pool-ceil-mode": ("pool_ceil_mode_available",),
    "nadam-nesterov-adam": ("nadam_nesterov_adam",),
    "dropout-divides": ("dropout_divides",),
    "norm-fast-variance": ("fast_variance",),
}

# --- optax's forms (issue 23; optax 0.2.8, each cited in scratch/optimizers.py and scratch/schedules.py;
# tests/test_jax_optim.py measures each)
DIFFERENCES.update({
    "decay-in-update": (
        "optimizer adamw or lion (decay > 0), or decoupled weight decay",
        "optax adds wd p to the optimizer's direction before the learning-rate scaling (optax.adamw, optax.lion, "
        "add_decayed_weights before scale_by_learning_rate): p += -lr (d + wd p); torch shrinks p *= 1 - lr wd, "
        "Keras subtracts p wd lr, before the step: the same math, rounded differently, except where a momentum "
        "trace follows the scaling (rmsprop with momentum: the decay enters the buffer)",
    ),
    "rmsprop-momentum-sign": (
        "optimizer rmsprop with momentum > 0",
        "optax.rmsprop traces the update after the learning-rate scaling (buf = mu buf - lr g / avg, p += buf); "
        "Keras keeps buf = mu buf + lr g / avg and subtracts it: the momentum state differs by a factor -1",
    ),
    "amsgrad-corrected-max": (
        "optimizer adam or adamw with amsgrad",
        "optax.scale_by_amsgrad keeps the maximum of the bias-corrected v / (1 - b2^t) and divides by its root; "
        "torch and Keras keep the maximum of the raw v and correct it by the current step's 1 - b2^t: the steps "
        "differ once v falls, and v_max means something else",
    ),
    "exponential-float32-count": (
        "the exponential schedule moved every step",
        "optax.exponential_decay divides its int32 step count by transition_steps, which JAX makes float32 even "
        "with jax_enable_x64: every per-step rate, the first included, is lr0 gamma^t in float32 (a relative ~3e-8)",
    ),
})
RULE_ATTRIBUTES.update({
    "decay-in-update": ("decay_in_update",),
    "rmsprop-momentum-sign": ("rmsprop_momentum_traces_update",),
    "amsgrad-corrected-max": ("amsgrad_max_of_corrected",),
    "exponential-float32-count": ("exponential_float32_count",),
})


@dataclass(frozen=True)
class ConventionPair:
    """Two conventions side by side (`ConventionPair(TORCH, KERAS)`, or `TORCH.differences(KERAS)`):
    `rules` are the DIFFERENCES keys on which they disagree, in the table's order;
    compare/engine/conventions.py `differences(spec, pair)` says which of those a spec meets."""
    a: Convention
    b: Convention

    def __post_init__(self):
        object.__setattr__(self, "a", as_convention(self.a))
        object.__setattr__(self, "b", as_convention(self.b))

    def differ(self, attribute):
        """Whether the two hold `attribute` differently."""
        return getattr(self.a, attribute) != getattr(self.b, attribute)

    @property
    def rules(self):
        """The DIFFERENCES keys whose attributes (RULE_ATTRIBUTES) the two hold differently."""
        return tuple(key for key in DIFFERENCES if any(map(self.differ, RULE_ATTRIBUTES[key])))

    def __str__(self):
        return f"{self.a.name}~{self.b.name}"
