"""A zoo of classic from-scratch mistakes, to prove the checker can fail and says where.

    python -m compare bugs                          the list: each mistake, its recipe, where it shows
    python -m compare RECIPE --inject-bug NAME      run with that one mistake in the scratch code

Each mistake is the correct scratch function or method with one line changed (marked BUG),
put in place by `inject(name)`, a context manager built on unittest.mock.patch, so the
teaching code in scratch/ stays clean. Both scratch runners (torch and Keras conventions)
carry the mistake, so both pairs (scratch vs torch, scratch@keras vs keras) catch it.

`expected` says where the harness must localise each mistake: the step, layer and tensor
of summary.first_divergence, or, for a mistake that raises, summary.error at that step
(tests/test_bugs.py checks every entry).

Left out: mistakes in the reference implementations; several mistakes at once.
"""
import contextlib
import json
from dataclasses import asdict, dataclass, field
from unittest import mock

import numpy as np

import scratch.activations as act
import scratch.optimizers as opt
from scratch.initializers import Init
from scratch.losses import LOSSES
from scratch.mlp import MLP

from .errors import EXIT_OK, InputError
from .recipes import Data, Recipe, register
from .spec import Spec


# --- the mistakes, each beside the line it gets wrong ----------------------------------------

def softmax_whole_batch(Z):
    """BUG: normalised over the whole (units, m) matrix, not per column (example)."""
    E = np.exp(Z - Z.max())
    return E / E.sum()


def softmax_unstable(Z):
    """BUG: e^z without subtracting the max: overflows to inf (and inf / inf = NaN) once z > 709."""
    E = np.exp(Z)
    return E / E.sum(axis=0, keepdims=True)


def sigmoid_wrong_sign(Z):
    """BUG: 1 / (1 - e^-z) instead of 1 / (1 + e^-z)."""
    return 1 / (1 - np.exp(-Z))


def sigmoid_grad_of_input(Z, A):
    """BUG: s(z) (1 - z) instead of s(z) (1 - s(z))."""
    return A * (1 - Z)


def forward_skipping_activation(self, X):
    """MLP.forward, but a hidden layer's activation is computed and the pre-activation passed on."""
    cache = {"A0": X}
    A = X
    for l in range(1, self.L + 1):
        W, b = self.params[f"W{l}"], self.params[f"b{l}"]
        Z = W @ A + b
        cache[f"Z{l}"], cache[f"A{l}"] = Z, self.g[l](Z)
        A = Z                                                    # BUG: should be A = g(Z)
    return cache


def forward_rows_times_weights(self, X):
    """MLP.forward with the row convention's A W in the column layout: a shape error."""
    cache = {"A0": X}
    A = X
    for l in range(1, self.L + 1):
        W, b = self.params[f"W{l}"], self.params[f"b{l}"]
        Z = A @ W + b                                            # BUG: should be W @ A + b
        A = self.g[l](Z)
        cache[f"Z{l}"], cache[f"A{l}"] = Z, A
    return cache


def backward_with(dW_from, db_from):
    """MLP.backward with dW_l = dW_from(dZ_l, cache, l) and db_l = db_from(dZ_l)."""
    def backward(self, cache, Y):
        grads = {}
        dZ = self.output_dZ(cache, Y)
        for l in range(self.L, 0, -1):
            A_prev = cache[f"A{l - 1}"]
            grads[f"dZ{l}"] = dZ
            grads[f"dW{l}"] = dW_from(dZ, cache, l)
            grads[f"db{l}"] = db_from(dZ)
            if l > 1:
                dA_prev = self.params[f"W{l}"].T @ dZ
                dZ = dA_prev * self.g_grad[l - 1](cache[f"Z{l - 1}"], A_prev)
        return grads
    return backward


def dW_right(dZ, cache, l):
    return dZ @ cache[f"A{l - 1}"].T


def dW_with_own_activation(dZ, cache, l):
    return dZ @ cache[f"A{l}"].T                                 # BUG: should be A_{l-1}


def db_right(dZ):
    return dZ.sum(axis=1, keepdims=True)


def db_summed_over_everything(dZ):
    return dZ.sum()                                              # BUG: a scalar; should sum over columns only


def output_dZ_no_batch_mean(self, cache, Y):
    """MLP.output_dZ, but the gradient is not divided by the batch size m."""
    _, loss_grad, _, gives = LOSSES[self.loss_name]
    Z, A = cache[f"Z{self.L}"], cache[f"A{self.L}"]
    d = loss_grad(A, Y, self.divisor(Y) / Y.shape[1])            # BUG: the 1/m of the mean left out
    if gives == "dZ":
        return d
    if self.names[-1] == "softmax":
        return act.softmax_backward(d, A)
    return d * self.g_grad[self.L](Z, A)


def step_weights_only(self, grads):
    """MLP.step, but only the weights reach the optimizer."""
    weights = {name: p for name, p in self.params.items() if name.startswith("W")}  # BUG: biases left out
    self.params = {**self.params, **self.optimizer.step(weights, grads)}


def sgd_ascent(self, name, p, g):
    """SGD.update without momentum, but the step is added."""
    return p + self.lr * g                                       # BUG: should be p - lr g


def activation(name, g=None, g_grad=None):
    """Patches that replace one activation (or its derivative) in both conventions' tables."""
    patches = []
    for table in (act.ACTIVATIONS, act.TORCH_ACTIVATIONS):
        old_g, old_grad = table[name]
        patches.append(mock.patch.dict(table, {name: (g or old_g, g_grad or old_grad)}))
    return patches


# --- the zoo -------------------------------------------------------------------------------

@dataclass
class Bug:
    name: str
    what: str                   # the mistake, one line
    recipe: str                 # the recipe it is demonstrated on
    expected: dict              # where it shows: {step, layer, tensor}, plus 'raises' for an exception
    patches: callable = field(repr=False, default=None)   # () -> [unittest.mock patchers]

    def listing(self):
        return {k: v for k, v in asdict(self).items() if k != "patches"}


BUGS = {bug.name: bug for bug in [
    Bug("softmax-whole-batch", "softmax normalised over the whole batch matrix instead of per example",
        "toy3", {"step": 1, "layer": 2, "tensor": "A2"},
        lambda: activation("softmax", g=softmax_whole_batch)),
    Bug("skipped-activation", "a hidden layer's activation computed but the pre-activation passed on",
        "toy3", {"step": 1, "layer": 2, "tensor": "Z2"},
        lambda: [mock.patch.object(MLP, "forward", forward_skipping_activation)]),
    Bug("bias-grad-all-units", "bias gradient summed over every unit and example (a scalar), not per unit",
        "toy3", {"step": 1, "layer": 2, "tensor": "db2"},
        lambda: [mock.patch.object(MLP, "backward", backward_with(dW_right, db_summed_over_everything))]),
    Bug("sigmoid-sign", "sigmoid written as 1 / (1 - e^-z)",
        "parity", {"step": 1, "layer": 1, "tensor": "A1"},
        lambda: activation("sigmoid", g=sigmoid_wrong_sign)),
    Bug("sigmoid-grad-of-input", "sigmoid derivative computed as s(z) (1 - z) instead of s(z) (1 - s(z))",
        "parity", {"step": 1, "layer": 3, "tensor": "dZ3"},
        lambda: activation("sigmoid", g_grad=sigmoid_grad_of_input)),
    Bug("no-batch-mean", "gradients summed over the batch but not divided by its size",
        "toy3", {"step": 1, "layer": 2, "tensor": "dZ2"},
        lambda: [mock.patch.object(MLP, "output_dZ", output_dZ_no_batch_mean)]),
    Bug("unstable-softmax", "softmax without subtracting the max: overflows on large logits (NaN)",
        "toy3-large-logits", {"step": 1, "layer": 1, "tensor": "A1"},
        lambda: activation("softmax", g=softmax_unstable)),
    Bug("bias-not-updated", "the optimizer updates the weights only",
        "toy3", {"step": 1, "layer": 1, "tensor": "b1"},
        lambda: [mock.patch.object(MLP, "step", step_weights_only)]),
    Bug("wrong-activation-in-dW", "dW computed with this layer's activation instead of the previous one's",
        "toy3", {"step": 1, "layer": 2, "tensor": "dW2"},
        lambda: [mock.patch.object(MLP, "backward", backward_with(dW_with_own_activation, db_right))]),
    Bug("ascent", "the update added instead of subtracted (gradient ascent)",
        "toy3", {"step": 1, "layer": 1, "tensor": "W1"},
        lambda: [mock.patch.object(opt.SGD, "update", sgd_ascent)]),
    Bug("rows-times-weights", "Z = A W + b (the row convention) in column-layout code: a shape error",
        "toy3", {"step": 1, "layer": 1, "tensor": "Z1", "raises": "ValueError"},
        lambda: [mock.patch.object(MLP, "forward", forward_rows_times_weights)]),
]}


@contextlib.contextmanager
def inject(name):
    """Run the body with the named mistake in the scratch code; everything is restored after."""
    if name not in BUGS:
        raise InputError(f"unknown bug {name!r}; choose one of: {', '.join(BUGS)} (python -m compare bugs)")
    with contextlib.ExitStack() as stack:
        stack.enter_context(np.errstate(all="ignore"))   # the harness reports overflow and NaN itself
        for patcher in BUGS[name].patches():
            stack.enter_context(patcher)
        yield BUGS[name]


# --- recipes the zoo needs -----------------------------------------------------------------

def toy3_data(**options):
    """12 examples, 3 features, 3 classes (the class is the largest feature); seeded."""
    X = np.random.default_rng(3).standard_normal((12, 3))
    return Data(X=X, Y=np.eye(3)[np.argmax(X, axis=1)], X_eval=X[:4])


def large_logits_data(**options):
    """12 examples of 2 features of size ~1000, 3 classes (by the signs of the features); seeded."""
    X = np.random.default_rng(4).standard_normal((12, 2)) * 1000.0
    labels = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0).astype(int)
    return Data(X=X, Y=np.eye(3)[labels], X_eval=X[:4])


register(Recipe(
    name="toy3",
    summary="3-3-3 tanh/softmax, 3-class toy, cross-entropy, batches of 4, SGD lr 0.1, 3 steps (the bug zoo's)",
    spec=Spec(sizes=[3, 3, 3], activations=["tanh", "softmax"], loss="categorical_crossentropy",
              optimizer="sgd", lr=0.1, weight_init=Init("normal"), bias_init=Init("normal"),
              batch_size=4, steps=3, epochs=None, seed=0),
    load=toy3_data,
    notes="Square layers (3 -> 3 -> 3), so a dW built from the wrong activation still has the right shape.",
))

register(Recipe(
    name="toy3-large-logits",
    summary="2-3 softmax on inputs of size ~1000 (logits up to ~2000), cross-entropy, SGD lr 1e-6, 2 steps",
    spec=Spec(sizes=[2, 3], activations=["softmax"], loss="categorical_crossentropy",
              optimizer="sgd", lr=1e-6, weight_init=Init("normal"), bias_init=Init("zeros"),
              batch_size=None, steps=2, epochs=None, seed=0),
    load=large_logits_data,
    notes="Logits far above 709, where e^z overflows float64: a max-subtracted softmax is still exact.",
))


# --- python -m compare bugs ----------------------------------------------------------------

def where_text(expected):
    text = f"step {expected['step']}, layer {expected['layer']}, {expected['tensor']}"
    return text + (f" (raises {expected['raises']})" if "raises" in expected else "")


def list_bugs(argv):
    from tabulate import tabulate

    from .cli import Parser

    p = Parser(prog="python -m compare bugs", description="The classic mistakes --inject-bug can put in.")
    p.add_argument("--json", metavar="PATH", help="write the list as JSON: name, recipe, expected")
    args = p.parse_args(argv)
    if args.json:
        from .report import check_writable, write_atomic

        check_writable(args.json, "json")
        listing = [{"name": b.name, "what": b.what, "recipe": b.recipe, "expected": b.expected} for b in BUGS.values()]
        write_atomic(args.json, lambda f: json.dump(listing, f, indent=1))
    rows = [(b.name, b.recipe, where_text(b.expected), b.what) for b in BUGS.values()]
    print(tabulate(rows, headers=["bug", "recipe", "expected first divergence", "the mistake"], tablefmt="simple"))
    print("\nrun one: python -m compare RECIPE --inject-bug NAME   (exits 1 and names the first divergence)")
    return EXIT_OK


def register_command():
    from .cli import COMMANDS

    COMMANDS.setdefault("bugs", (list_bugs, "list the classic mistakes --inject-bug can put in the scratch code"))


register_command()
