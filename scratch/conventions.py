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
    # optax 0.2.8 (optax/_src/alias.py, each function's signature; learning_rate has no default,
    # and adadelta's None means no scaling at all, not even the sign flip:
    # scale_by_learning_rate(None) is base.identity(), so optax.adadelta() without a rate climbs
    # the gradient). Checked by
    # tests/test_jax_conventions.py::test_optimizer_defaults_are_optaxs (inspect.signature).
    "jax": {
        "sgd": {"momentum": 0.0, "nesterov": False},    # sgd(momentum=None: no trace, nesterov)
        # rmsprop(decay=0.9, eps=1e-8, eps_in_sqrt=True, initial_scale=0.0): optax's `decay` is rho
        "rmsprop": {"rho": 0.9, "eps": 1e-8},
        # adam(b1, b2, eps, eps_root=0); AMSGrad is its own optax.amsgrad
        "adam": {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "amsgrad": False},
        # adamw(weight_decay=1e-4, mask=None: every leaf)
        "adamw": {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 1e-4, "amsgrad": False},
        "nadam": {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8},   # partial(adam, nesterov=True)
        "adamax": {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8},  # adamax(b1, b2, eps)
        # adagrad(initial_accumulator_value=0.1, eps=1e-7)
        "adagrad": {"eps": 1e-7, "initial_accumulator": 0.1},
        "adadelta": {"rho": 0.9, "eps": 1e-6},       # adadelta(learning_rate=None, rho, eps)
        "lion": {"beta1": 0.9, "beta2": 0.99, "weight_decay": 1e-3},   # lion(b1, b2, weight_decay)
    },
}

# Rules a framework cannot express at all: its pairs are not run (reported, never a failure).
# framework -> (when, why)
UNAVAILABLE = {
    "torch": ("optimizer lion", "torch ships no Lion optimizer (torch.optim has none)"),
    "keras": ("optimizer sgd with dampening > 0", "Keras's SGD has no dampening"),
    # optax/_src/alias.py sgd: chain(trace(decay=momentum, nesterov), scale_by_learning_rate); and
    # the plateau schedule with threshold 0: optax/contrib/_reduce_on_plateau.py raises "At least
    # one of rtol or atol must be positive" (compare/engine/conventions.py unavailable writes both
    # lines, as reference/jax_optim.py does)
    "jax": ("optimizer sgd with dampening > 0",
            "optax.sgd has no dampening (its trace is v = g + mu v)"),
}

# Rules that make torch and Keras (and JAX) compute different numbers from the same spec.
# key -> (when it applies, what differs). A text that names torch and Keras says which side JAX
# is on ("JAX as torch"), since a jax~torch or jax~keras pair reports the same text.
DIFFERENCES = {
    "sgd-momentum-form": (
        "optimizer sgd with momentum > 0",
        "torch keeps v = mu v + g and steps p -= lr v; Keras keeps v = mu v - lr g and steps "
        "p += v: the same math for a constant lr, but the state differs by a factor -lr and "
        "the rounding differs; JAX as torch (optax.sgd: trace v = g + mu v, then -lr)",
    ),
    "keras-float32-hyperparameters": (
        "optimizer sgd with momentum > 0, adam, adamw, nadam, adamax, adagrad or lion, or weight decay, with hyperparameters "
        "handed to Keras as Python floats",
        "Keras's TF backend casts the momentum, the betas of Adam/AdamW/Adamax (in the bias correction), "
        "of NAdam and Lion (everywhere), the optimizers' weight_decay and Adagrad's initial accumulator "
        "through float32, even in a float64 run: momentum 0.9 acts as 0.8999999761581421; torch "
        "and JAX (optax under "
        "jax_enable_x64) keep them float64",
    ),
    "keras-float32-regularizer": (
        "l1 or l2 not exact in float32",
        "Keras's L1/L2 regularizers store float(l) whatever they are given, and the TF backend casts "
        "it through float32 even in a float64 run: l2 0.01 acts as 0.009999999776482582 (a relative "
        "2.2e-8 in the penalty); torch and JAX users add the term to the loss as written",
    ),
    "rmsprop-eps-placement": (
        "optimizer rmsprop",
        "torch divides by sqrt(s) + eps, Keras by sqrt(s + eps); JAX as Keras (optax.rmsprop "
        "eps_in_sqrt=True: rsqrt(s + eps))",
    ),
    "adam-eps-placement": (
        "optimizer adam",
        "torch adds eps to sqrt(v_hat), Keras adds it to sqrt(v): Keras's eps acts as "
        "torch's eps * sqrt(1 - beta2^t); JAX as torch (optax.scale_by_adam: m_hat / (sqrt(v_hat "
        "+ eps_root) + eps))",
    ),
    "rmsprop-momentum-form": (
        "optimizer rmsprop with momentum > 0",
        "torch keeps lr outside the momentum buffer (buf = mu buf + g / avg; p -= lr buf), Keras "
        "inside (buf = mu buf + lr g / avg; p -= buf): the state differs by a factor lr; JAX as "
        "Keras "
        "(optax.rmsprop chains the momentum trace after scale_by_learning_rate)",
    ),
    "adamw-decay-form": (
        "optimizer adamw",
        "torch shrinks p *= 1 - lr wd, Keras subtracts p wd lr (before the Adam step in both): "
        "the same math, rounded differently; the Adam step's eps placement differs as for adam; "
        "JAX as torch "
        "(optax.adamw: p - lr (adam step + wd p), torch's math, its eps placement)",
    ),
    "nadam-momentum-schedule": (
        "optimizer nadam",
        "torch's mu_t = b1 (1 - 0.5 * 0.96^(0.004 t)) (momentum_decay), Keras's mu_t = b1 (1 - 0.5 * "
        "0.96^t) with 0.96 rounded to float32 in the step; torch keeps the product of the mu_t in "
        "float32; "
        "JAX has no schedule at all (nadam-nesterov-adam)",
    ),
    "adamax-eps-placement": (
        "optimizer adamax",
        "torch adds eps to |g| inside u = max(b2 u, |g| + eps), Keras adds it to u in the "
        "denominator; JAX as "
        "torch (optax tree_update_infinity_moment: max(|g| + eps, b2 u))",
    ),
    "adagrad-eps-placement": (
        "optimizer adagrad",
        "torch divides by sqrt(s) + eps, Keras by sqrt(s + eps); JAX as Keras (optax.scale_by_rss: "
        "rsqrt(s + eps))",
    ),
    "adagrad-initial-accumulator": (
        "optimizer adagrad",
        "torch's sum starts at 0 (initial_accumulator_value), Keras's accumulator at 0.1; JAX's "
        "at 0.1 as Keras's",
    ),
    "default-hyperparameters": (
        "a hyperparameter left unset (None) whose defaults differ",
        "rmsprop rho 0.99 (torch) vs 0.9 (Keras), eps 1e-8 vs 1e-7; adam, adamw, nadam, adamax eps 1e-8 "
        "vs 1e-7; adamw weight_decay 0.01 vs 0.004; adagrad eps 1e-10 vs 1e-7; adadelta rho 0.9 vs 0.95, "
        "eps 1e-6 vs 1e-7. JAX (optax): rmsprop rho 0.9 (Keras's), eps 1e-8 (torch's); adam, "
        "adamw, nadam, "
        "adamax eps 1e-8 (torch's); adamw weight_decay 1e-4 (neither's); adagrad eps 1e-7 "
        "(Keras's); "
        "adadelta rho 0.9, eps 1e-6 (torch's); lion weight_decay 1e-3 (Keras's 0)",
    ),
    "clip-norm-eps": (
        "gradient clipping by norm (clip_norm or clip_norm_per_tensor)",
        "torch's clip_grad_norm_ scales by min(c / (norm + 1e-6), 1); Keras's global_clipnorm by "
        "c min(1/norm, 1/c) and its clipnorm by c / max(norm, c), without the 1e-6: a clipped "
        "step differs by about 1e-6 / norm; JAX as Keras (optax.clip_by_global_norm: t / norm * "
        "c, no eps)",
    ),
    "weight-decay-form": (
        "weight decay > 0",
        "torch's SGD/RMSprop/Adam weight_decay is coupled (g += wd p, inside the adaptive "
        "scaling); Keras's optimizers' weight_decay is decoupled (p -= lr wd p before the update): "
        "each framework runs only the form it ships; JAX writes both (optax.add_decayed_weights "
        "chained "
        "before the scaling: coupled; after it, before the learning rate: decoupled) and follows "
        "the spec",
    ),
    "softplus-threshold": (
        "a softplus layer",
        "torch's nn.Softplus returns z itself for z > 20; Keras computes log(1 + e^z) exactly "
        "(a relative difference below 2e-9 in the output, and the derivative 1 vs sigmoid(z)); "
        "JAX as "
        "Keras (jax.nn.softplus: logaddexp(z, 0))",
    ),
    "schedule-step-boundary": (
        "the step schedule",
        "torch's MultiStepLR decays from milestone m on (the m-th step, counted from 0, uses lr gamma); "
        "Keras's PiecewiseConstantDecay switches after its boundary b (step > b): the references use "
        "boundaries = [m - 1], the same schedule; JAX as torch (optax.piecewise_constant_schedule "
        "scales "
        "from count >= b, count 0 at the first step)",
    ),
    "schedule-every-epoch": (
        "a schedule moved every epoch",
        "torch users call scheduler.step() at the end of an epoch; Keras reads a schedule at "
        "optimizer.iterations (every batch), so an epoch schedule is the LearningRateScheduler callback "
        "evaluating it at the epoch index: the same rates; JAX as Keras (an optax schedule is "
        "read at the "
        "update count)",
    ),
    "schedule-recursive-form": (
        "the exponential, step or cosine schedule",
        "torch's schedulers multiply the current lr (chainable form), Keras's schedules recompute it "
        "from lr0 (closed form): the same rates, rounded differently (a few units in the last "
        "place); JAX "
        "as Keras (optax's schedules are closed forms of the count)",
    ),
    "plateau-counts": (
        "the plateau schedule",
        "torch's ReduceLROnPlateau reduces when the bad count exceeds patience and counts its cooldown "
        "down after looking; Keras's callback reduces when its wait reaches patience and counts down "
        "before: Keras's patience and cooldown are torch's + 1 (a cooldown of 0 stays 0). torch "
        "compares relatively by default (threshold_mode='rel') and skips reductions below eps 1e-8; "
        "Keras compares absolutely (min_delta), without a cutoff: the torch reference uses "
        "threshold_mode='abs', eps=0; JAX (optax.contrib.reduce_on_plateau) as Keras: reduces "
        "when the "
        "count reaches patience, cooldown looked at first, rtol 1e-4 relative by default",
    ),
    "plateau-float32-comparison": (
        "the plateau schedule",
        "Keras compares the loss with the best as float32 tensors (ops.less on Python floats), torch in "
        "float64: an improvement within float32 rounding of the threshold counts in torch only (not "
        "seen in the runs here); JAX as torch (optax's best value keeps the params' dtype)",
    ),
    "momentum-lr-schedule": (
        "a schedule with SGD or RMSprop momentum",
        "torch multiplies the whole momentum buffer by the current lr at each step (p -= lr v), Keras "
        "multiplies each gradient by the lr of its own step as it enters the buffer (v = mu v - lr g): "
        "the same only while lr is constant; JAX's SGD as torch's (trace, then the schedule's "
        "lr), its "
        "RMSprop as Keras's (the lr before the trace)",
    ),
    "cosine-after-t-max": (
        "the cosine schedule with a run longer than t_max schedule steps",
        "torch's CosineAnnealingLR rises again after T_max (period 2 T_max); Keras's CosineDecay stays "
        "at alpha lr0 = eta_min; JAX as Keras (optax.cosine_decay_schedule: count = min(count, "
        "decay_steps))",
    ),
    "keras-float32-schedule": (
        "a schedule with hyperparameters handed to Keras as Python floats",
        "tf.convert_to_tensor makes a Python float a float32 tensor: ExponentialDecay's lr0 and "
        "decay_rate, PiecewiseConstantDecay's values and CosineDecay's lr0 are rounded through float32 "
        "even in a float64 run (np.float64 values stay exact); torch and JAX (optax's schedules "
        "under "
        "jax_enable_x64) keep them float64",
    ),
    "mse-sum-reduction": (
        "loss mse, mae, huber, smooth_l1, poisson, hinge, squared_hinge or binary_crossentropy with "
        "reduction 'sum' and more than one output unit",
        "torch sums every element; Keras averages over the units and sums over the batch; JAX as "
        "torch "
        "(optax's losses come back per element: the user's .sum())",
    ),
    # --- losses (scratch/losses.py, scratch/pointwise_losses.py) ---
    "kld-mean-reduction": (
        "loss kld with reduction 'mean'",
        "torch's KLDivLoss 'mean' divides the sum by every element (n m), Keras's KLDivergence by the "
        "batch (m): torch's loss and gradients are n times smaller; torch's 'batchmean' is "
        "Keras's mean; JAX "
        "as Keras (optax.kl_divergence sums over the classes: one value per example, then .mean())",
    ),
    "kld-target-clip": (
        "loss kld",
        "Keras clips the target to [1e-7, 1] too, so a 0 in y adds 1e-7 log(1e-7 / p) to the loss and "
        "-1e-7 / p to dA; torch's KLDivLoss counts 0 log 0 as 0 (one-hot targets: a relative "
        "~1e-6); JAX "
        "as torch (optax.kl_divergence: where(y == 0, 0, log y), no clipping)",
    ),
    "poisson-eps": (
        "loss poisson",
        "torch's PoissonNLLLoss(log_input=False) takes log(a + 1e-8), Keras's Poisson log(a + "
        "1e-7); optax "
        "ships no Poisson loss: JAX users write torch's log(a + 1e-8)",
    ),
    "probabilities-clipping": (
        "a cross-entropy on probabilities (probabilities=True)",
        "torch's BCELoss clamps each log at -100 (its gradient divides by max(a (1 - a), 1e-12)) and "
        "NLLLoss(log p) has no guard; Keras clips p to [1e-7, 1 - 1e-7] with gradient 0 outside and "
        "renormalises a categorical output first: equal while every p is inside the clip range, "
        "loss 100 against 16.1 per saturated element once one is not; optax's cross-entropies "
        "take logits: "
        "JAX users write -y log p unguarded (torch's numbers while log p > -100)",
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
        "'leaky_relu') uses, and the reference) is 0.2 (the layer keras.layers.LeakyReLU: 0.3); "
        "JAX's "
        "jax.nn.leaky_relu 0.01 as torch's",
    ),
    "keras-float32-leaky-slope": (
        "a leaky_relu layer whose Keras slope is not exact in float32",
        "tf.nn.leaky_relu keeps its slope as a float32 attribute, even in a float64 run: 0.01 acts as "
        "0.009999999776482582 (2.2e-8 relative in the negative branch); torch and JAX keep it "
        "float64",
    ),
    "gelu-float32-constant": (
        "a gelu layer",
        "Keras's tf.nn.gelu computes z/2 erfc(-z c) with c = 1/sqrt(2) cast through float32 "
        "(0.7071067690849304), even in a float64 run; torch's nn.GELU uses the exact constant and "
        "1 + erf; "
        "JAX as torch (jax.nn.gelu(approximate=False): z/2 erfc(-z sqrt(1/2)) in the input's "
        "dtype)",
    ),
    "gelu-tanh-float32-constant": (
        "a gelu_tanh layer",
        "Keras's tf.nn.gelu(approximate=True) casts 0.044715 through float32 (0.044714998453855515), "
        "even in a float64 run; torch's nn.GELU('tanh') and JAX's jax.nn.gelu (approximate=True, "
        "its "
        "default) use it exactly",
    ),
    "hard-sigmoid-float32-slope": (
        "a hard_sigmoid layer",
        "torch's Hardsigmoid backward multiplies by float32 1/6 (0.1666666716337204) even in float64; "
        "Keras's derivative is relu6'(z + 3) / 6, exact (3e-8 relative in the gradient); JAX as "
        "Keras "
        "(jax.nn.hard_sigmoid = relu6(z + 3) / 6 under jax.grad)",
    ),
    "selu-kink": (
        "a selu layer (an input exactly 0)",
        "SELU'(0): torch takes the left branch, scale*alpha = 1.7580993408473766; Keras's SeluGrad "
        "the right, scale = 1.0507009873554805; JAX as torch (jax.nn.elu: where(z > 0, z, "
        "expm1(z)) under jax.grad)",
    ),
    "celu-kink": (
        "a celu layer (an input exactly 0)",
        "CELU'(0): torch 1; Keras computes max(z, 0) + expm1(min(z, 0)) and both max and min pass "
        "the gradient on a tie: 2; JAX as torch, 1 (jax.nn.celu is Keras's max + min, but "
        "jax.grad splits a tie of max and min in halves: 1/2 + 1/2)",
    ),
    "hard-tanh-kink": (
        "a hard_tanh layer (an input exactly -1 or 1)",
        "hardtanh'(-1) and hardtanh'(1): torch 0 (open interval), Keras 1 (tf.clip_by_value's "
        "gradient passes on [-1, 1] closed); JAX as Keras (jax.nn.hard_tanh: where(z > 1, 1, "
        "where(z < -1, -1, z)))",
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
    # flax/nnx/nn/normalization.py (Flax 0.12.8): BatchNorm.__init__(momentum=0.99, epsilon=1e-5),
    # the momentum in Keras's meaning (__call__: mean = momentum mean + (1 - momentum) batch);
    # LayerNorm.__init__ (epsilon=1e-6); both use_fast_variance=True (_compute_stats). Measured by
    # tests/test_jax_conventions.py
    "jax": {"batch": {"momentum": 0.99, "eps": 1e-5}, "layer": {"eps": 1e-6}},
}

DIFFERENCES.update({
    "batchnorm-default-momentum": (
        "norm batch without --norm-momentum",
        "torch's BatchNorm1d momentum 0.1 weights the new batch (running = 0.9 running + 0.1 batch); "
        "Keras's BatchNormalization momentum 0.99 weights the old average (moving = 0.99 moving + 0.01 "
        "batch): the running statistics, and every evaluation output, differ (give --norm-momentum: "
        "Keras then gets 1 - it); JAX's nnx.BatchNorm as Keras's (momentum 0.99, the old "
        "average's weight)",
    ),
    "norm-default-eps": (
        "norm batch or layer without --norm-eps",
        "torch's BatchNorm1d and LayerNorm add eps 1e-5 to the variance, Keras's BatchNormalization "
        "and LayerNormalization 1e-3: every normalized value differs (most on low-variance units "
        "or rows); "
        "JAX's nnx.BatchNorm 1e-5 (torch's), nnx.LayerNorm 1e-6 (neither's)",
    ),
    "batchnorm-running-variance": (
        "norm batch",
        "torch stores the UNBIASED batch variance in running_var (times m / (m - 1)), Keras the biased "
        "one in moving_variance, whatever the settings: the running variance cannot be made equal, and "
        "the evaluation outputs that read it differ with it; training-mode tensors agree; JAX as "
        "Keras "
        "(nnx.BatchNorm stores the biased one)",
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
        "symmetrically, shifting the output by one pixel); JAX as Keras (lax.padtype_to_pads "
        "'SAME')",
    ),
    "flatten-order": (
        "a Flatten after a convolution or pooling, before a Dense",
        "torch flattens NCHW as C.H.W, Keras NHWC as H.W.C: the next Dense's input rows are permuted, "
        "so weights copied between them must be permuted too; JAX as Keras (a reshape of NHWC)",
    ),
    "avgpool-padding-count": (
        "average pooling with padding",
        "torch's AvgPool2d divides by the whole window, its zero padding included (count_include_pad="
        "True); Keras's 'same' average by the real elements only: the border averages differ; JAX "
        "as "
        "torch (flax avg_pool count_include_pad=True)",
    ),
    "pool-ceil-mode": (
        "pooling with ceil_mode",
        "torch's ceil_mode adds a last, partial window (starting inside the input or the left padding); "
        "Keras and JAX (flax's pools) have no ceil_mode ('valid' or 'same', or explicit pads)",
    ),
})


# --- JAX (issue 23): rules on which torch and Keras agree and JAX does not (a third form). Verified
# in jax 0.10.2, flax 0.12.8 and optax 0.2.8 (docs/conventions.md cites the lines);
# tests/test_jax_conventions.py measures each.
DIFFERENCES.update({
    "nadam-nesterov-adam": (
        "optimizer nadam",
        "optax.nadam is Adam with Nesterov's look-ahead (optax/_src/alias.py nadam = partial(adam, "
        "nesterov=True); transform.py scale_by_adam), m_hat = b1 m / (1 - b1^(t+1)) + (1 - b1) g / "
        "(1 - b1^t), without torch's or Keras's momentum schedule mu_t",
    ),
    "dropout-divides": (
        "a dropout layer",
        "a framework that keeps x / (1 - p) against torch's and Keras's x * fl(1 / (1 - p)): the "
        "kept "
        "units differ in the last bit. Flax writes the division (flax/nnx/nn/stochastic.py "
        "Dropout.__call__: inputs / keep_prob), but XLA on the CPU divides by that constant "
        "through "
        "its reciprocal: JAX computes the product (measured), so no pair of torch, Keras, JAX "
        "has it",
    ),
    "norm-fast-variance": (
        "norm batch or layer",
        "Flax's BatchNorm and LayerNorm take the variance as max(0, E[x^2] - E[x]^2) (flax/nnx/nn/"
        "normalization.py _compute_stats, use_fast_variance=True by default), torch and Keras as "
        "E[(x - mean)^2]: the last bits differ, and a unit whose mean is large against its spread "
        "loses digits (mean 1e4, spread 1: about 1e-9 relative in the variance)",
    ),
    "batchnorm-float32-running-stats": (
        "norm batch",
        "Flax's nnx.BatchNorm creates its running mean and var as float32 whatever param_dtype "
        "(flax/nnx/nn/normalization.py BatchNorm.__init__: jnp.zeros(shape, jnp.float32)) and "
        "stores "
        "each update back rounded: in a float64 run the running statistics, and every evaluation "
        "output, are about 1e-8 relative from torch's and Keras's float64 ones",
    ),
    "leaky-relu-kink": (
        "a leaky_relu layer (an input exactly 0)",
        "leaky_relu'(0): torch and Keras the slope (z > 0 picks 1); JAX 1 (jax.nn.leaky_relu is "
        "where(z >= 0, z, slope z), so jax.grad takes the z branch at 0)",
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
    weight_decay_coupled: bool | None    # an optimizer's weight_decay adds wd p to g (torch);
                                         # False: p -= lr wd p (Keras); None: both forms (JAX:
                                         # optax chains add_decayed_weights before or after the
                                         # scaling)
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
    dropout_divides: bool = False        # dropout keeps x / (1 - p); False: x * fl(1 / (1 - p))
                                         # (all three: Flax writes the division, XLA multiplies)
    fast_variance: bool = False          # normalization's variance is E[x^2] - E[x]^2 (flax use_fast_variance=True);
                                         # False: E[(x - mean)^2]
    gelu_approximate_by_default: bool = False   # the framework's gelu() is the tanh form unless told otherwise
                                                # (jax.nn.gelu approximate=True): a port writes gelu_tanh
    x64_opt_in: bool = False             # float64 only after jax_enable_x64; without it float64 is silently float32
    leaky_relu_grad_one_at_zero: bool = False   # leaky_relu'(0) = 1 (jax.nn.leaky_relu: z >= 0
                                                # takes z); False: the slope (torch, Keras)
    float32_running_stats: bool = False  # batch norm's running mean and var are float32 even in a
                                         # float64 run (Flax's nnx.BatchNorm); False: the run's
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
# (reference/jax_mlp.py), each read in the installed source (site-packages/{jax,flax,optax}) and
# measured in float64 by tests/test_jax_conventions.py; docs/conventions.md has the table.
JAX = Convention(
    name="jax", framework="JAX", optimizer_defaults=DEFAULTS["jax"], norm_defaults=NORM_DEFAULTS["jax"],
    # flax/nnx/nn/linear.py Linear.__init__: kernel (in_features, out_features), y = x @ kernel +
    # bias, default_kernel_init = lecun_normal(), bias zeros_init(); Conv: kernel kernel_size + (in
    # // groups, out), NHWC inputs; a Flatten is a reshape of NHWC (H.W.C)
    examples_per_row=True, dense_weight="kernel", dense_weight_in_out=True, channels_last=True,
    # optax under jax_enable_x64 keeps Python-float hyperparameters float64 (weak types); L1/L2
    # are the user's own terms in the loss
    float32_hyperparameters=False, float32_regularizers=False,
    # optax/transforms/_clipping.py clip_by_global_norm: select(norm < c, t, t / norm * c), no eps
    clip_norm_eps=None,
    # optax/transforms/_adding.py add_decayed_weights, chained before the scaling (coupled, as
    # optax.adadelta does) or after it, before the learning rate (decoupled, as adamw and lion do)
    weight_decay_coupled=None,
    # optax/_src/alias.py sgd: chain(trace(decay=momentum, nesterov), scale_by_learning_rate);
    # transforms/_accumulation.py trace: v = g + mu v from 0 (the first v is g), Nesterov g + mu v;
    # no dampening
    sgd_dampening=False, sgd_lr_in_momentum=False,
    # alias.py rmsprop: chain(scale_by_rms(eps_in_sqrt=True), scale_by_learning_rate,
    # trace(momentum)); transform.py scale_by_rms: rsqrt(nu + eps), nu from initial_scale 0
    rmsprop_eps_in_root=True, rmsprop_lr_in_momentum=True,
    # transform.py scale_by_adam: m_hat / (sqrt(v_hat + eps_root) + eps), torch's placement
    adam_eps_hat=False,
    # alias.py adamw: chain(scale_by_adam, add_decayed_weights(weight_decay, mask),
    # scale_by_learning_rate): p - lr (adam step + wd p), the decay times the learning rate
    adamw_decay_multiplies=True,
    # alias.py nadam = partial(adam, nesterov=True): no mu_t schedule (nadam-nesterov-adam)
    nadam_momentum_decay=None,
    # optax/tree_utils/_tree_math.py tree_update_infinity_moment: u = max(|g| + eps, b2 u),
    # torch's form; transform.py scale_by_adamax: m_hat / u
    adamax_eps_in_max=True,
    # transform.py scale_by_rss: s from initial_accumulator_value 0.1, g * where(s > 0,
    # rsqrt(s + eps), 0)
    adagrad_eps_in_root=True,
    # transform.py scale_by_adadelta: sqrt(e_x + eps) / sqrt(e_g + eps) * g, torch's order
    adadelta_ratio_first=True,
    # optax/schedules/_schedule.py: closed forms of the update count (exponential_decay: lr0
    # rate^(count / steps)); piecewise_constant_schedule: max(0, sign(b - count)) keeps the rate
    # while count < b, so step b (count 0 at the first step: transform.py scale_by_schedule)
    # already has it, torch's milestone; cosine_decay_schedule: count = min(count, decay_steps)
    schedule_recursive=False, schedule_milestone_inclusive=True, schedule_read_every_step=True,
    # optax/contrib/_reduce_on_plateau.py _update_scale: reduce when the count == patience
    # (Keras's), best_value kept in the params' dtype
    plateau_counts_exceed=False, plateau_float32_comparison=False, cosine_restarts=False,
    # optax/losses: per element (squared_error, huber_loss, hinge_loss,
    # sigmoid_binary_cross_entropy) or per example (softmax_cross_entropy, kl_divergence: summed
    # over the classes), reduced by the user: 'sum' sums everything (torch's), kl's mean divides by
    # the batch (Keras's); _classification.py kl_divergence: y (where(y == 0, 0, log y) - log q), no
    # clipping; the cross-entropies take logits
    sum_reduction_averages_units=False, kld_mean_per_element=False, kld_clips=False, clips_probabilities=False,
    # optax ships no Poisson loss (the reference writes torch's log(a + 1e-8)); _regression.py
    # cosine_similarity(epsilon=0.0) clips the SQUARED norms at epsilon: no floor by default
    poisson_eps=1e-8, cosine_eps=0.0,
    # jax/_src/nn/functions.py: leaky_relu(negative_slope=1e-2) = where(x >= 0, x, slope x);
    # softplus = logaddexp(x, 0), exact; elu = where(x > 0, x, alpha expm1(...)): ELU'(0) = 1,
    # SELU'(0) = scale alpha; celu = max(x, 0) + alpha expm1(min(x, 0) / alpha), a tie split in
    # halves by jax.grad: CELU'(0) = 1; hard_sigmoid = relu6(x + 3) / 6 (relu6's jvp: 0 < x < 6),
    # exact 1/6; hard_silu = x hard_sigmoid(x), the product rule; hard_tanh = where(x > 1, 1,
    # where(x < -1, -1, x)): 1 at -1 and 1
    leaky_relu_slope=0.01, float32_activation_constants=False, softplus_threshold=None,
    elu_grad_from_output=False, celu_max_plus_min=False, hard_sigmoid_float32_slope=False,
    hard_silu_own_backward=False, hard_tanh_grad_closed=True, leaky_relu_grad_one_at_zero=True,
    # flax/nnx/nn/normalization.py BatchNorm: mean = momentum mean + (1 - momentum) batch (Keras's
    # meaning), var the biased batch variance (_compute_stats); both created float32 in __init__
    # (float32_running_stats)
    norm_momentum_weights_new=False, running_var_unbiased=False, float32_running_stats=True,
    # jax/_src/lax/convolution.py padtype_to_pads 'SAME' at any stride, the odd pad after;
    # flax/linen/pooling.py avg_pool(padding='VALID', count_include_pad=True), max_pool: no
    # ceil_mode; max pooling's gradient (lax.reduce_window max, select_and_scatter_add): the first
    # maximum in scan order (measured)
    same_padding_strided=True, avgpool_counts_padding=True,
    pool_ceil_mode_available=False, maxpool_grad_to_first_max=True,
    # nadam above; stochastic.py Dropout writes inputs / keep_prob, but XLA on the CPU divides by
    # the constant through its reciprocal: x * fl(1 / keep), torch's and Keras's numbers (measured,
    # bit for bit); normalization.py use_fast_variance=True; jax/_src/nn/functions.py
    # gelu(approximate=True); jax/_src/config.py enable_x64 default False
    nadam_nesterov_adam=True, dropout_divides=False, fast_variance=True,
    gelu_approximate_by_default=True,
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
    "leaky-relu-kink": ("leaky_relu_grad_one_at_zero",),
    "batchnorm-float32-running-stats": ("float32_running_stats",),
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
