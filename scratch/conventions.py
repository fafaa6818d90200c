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
        "optimizer sgd with momentum > 0, or adam, with hyperparameters handed to Keras as Python floats",
        "Keras's TF backend casts the momentum and Adam's betas (in the bias correction) "
        "through float32, even in a float64 run: momentum 0.9 acts as 0.8999999761581421",
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
