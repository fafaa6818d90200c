"""Where torch and Keras quietly differ, as data.

The scratch network follows either framework on request (`convention='torch'|'keras'`).
This table says what each convention means, so the harness can explain a torch-vs-Keras
difference by naming the rule behind it instead of hiding it under a loose tolerance.
Each fact was checked against torch 2.13 and Keras 3.15 (docs/conventions.md, tests/test_conventions.py).

Left out: anything the spec cannot select (initializer defaults are not used: weights are
always generated once and copied).
"""

# Default hyperparameters, used where the spec leaves one as None.
DEFAULTS = {
    "torch": {
        "sgd": {"momentum": 0.0, "nesterov": False},
        "rmsprop": {"rho": 0.99, "eps": 1e-8},             # torch calls rho `alpha`
        "adam": {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
    },
    "keras": {
        "sgd": {"momentum": 0.0, "nesterov": False},
        "rmsprop": {"rho": 0.9, "eps": 1e-7},
        "adam": {"beta1": 0.9, "beta2": 0.999, "eps": 1e-7},
    },
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
        "optimizer sgd with momentum > 0, or adam, or weight decay, with hyperparameters handed to "
        "Keras as Python floats",
        "Keras's TF backend casts the momentum, Adam's betas (in the bias correction) and the "
        "optimizer's weight_decay through float32, even in a float64 run: momentum 0.9 acts as "
        "0.8999999761581421",
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
    "default-hyperparameters": (
        "a hyperparameter left unset (None) whose defaults differ",
        "rmsprop rho 0.99 (torch) vs 0.9 (Keras), eps 1e-8 vs 1e-7; adam eps 1e-8 vs 1e-7",
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
    "mse-sum-reduction": (
        "loss mse or binary_crossentropy with reduction 'sum' and more than one output unit",
        "torch sums every element; Keras averages over the units and sums over the batch",
    ),
}
