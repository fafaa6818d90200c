"""A zoo of classic from-scratch mistakes, to prove the checker can fail and says where.

    python -m compare bugs                          the list: each mistake, its recipe, where it shows
    python -m compare RECIPE --inject-bug NAME      run with that one mistake in the scratch code

Each mistake is the correct scratch function or method with one line changed (marked BUG),
put in place by `inject(name)`, a context manager built on unittest.mock.patch, so the
teaching code in scratch/ stays clean. Both scratch runners (torch and Keras conventions)
carry the mistake, so both pairs (scratch vs torch, scratch@keras vs keras) catch it.

`expected` says where the harness must localise each mistake: the step, layer and tensor
of summary.first_divergence, or, for a mistake that raises, summary.error at that step;
`diagnosis` the words the verdict line must use to say what the difference looks like
(compare/engine/diagnose.py); tests/test_bugs.py checks every entry. `NEEDS` says when a
mistake's code cannot change a number of a run (--inject-bug then refuses, exit 2).

Left out: mistakes in the reference implementations; several mistakes at once.
"""
import contextlib
from types import SimpleNamespace
from dataclasses import asdict, dataclass, field
from unittest import mock

import numpy as np

import scratch.activations as act
import scratch.image_layers as image_layers
import scratch.pool as pool
import scratch.layers as scratch_layers
import scratch.optimizers as opt
from scratch.losses import LOSSES
from scratch.mlp import MLP, Cache

from ..engine.errors import InputError


# --- the mistakes, each beside the line it gets wrong ----------------------------------------

def conv_forward_kernel_flipped(self, P, X, run):
    """scratch/image_layers.Conv2D.forward with the kernel rotated by 180 degrees. BUG: the textbook
    convolution (kernel flipped), not the cross-correlation torch and Keras compute."""
    return CONV_FORWARD(self, {**P, "W": P["W"][:, :, ::-1, ::-1]}, X, run)      # BUG: W[:, :, ::-1, ::-1]


CONV_FORWARD = image_layers.Conv2D.forward            # the correct one, before any patch


def conv_backward_bias_mean_positions(self, P, kept, dZ, need_dX):
    """scratch/image_layers.Conv2D.backward. BUG: db averaged over the positions of the output map
    instead of summed (each position's output adds b once, so each adds its dZ to db)."""
    dX, grads = CONV_BACKWARD(self, P, kept, dZ, need_dX)
    cache, shape = kept
    grads["b"] = dZ.T.reshape(shape).sum(axis=0).mean(axis=(1, 2))[:, None]    # BUG: mean, not sum, of positions
    return dX, grads


CONV_BACKWARD = image_layers.Conv2D.backward


def maxpool_backward_whole_window(self, P, kept, dP, need_dX):
    """scratch/image_layers.MaxPool2D.backward. BUG: every cell of a window gets its dP, as average
    pooling would (times the window size), not the maximum alone."""
    cache, shape = kept
    x_shape, which, kernel, stride, full = cache
    dout = dP.T.reshape(shape)
    dwin = np.repeat(dout[:, :, None], kernel[0] * kernel[1], axis=2)  # BUG: no mask of the chosen maximum
    padded = (*x_shape[:2], x_shape[2] + full[0] + full[1], x_shape[3] + full[2] + full[3])
    return image_layers.columns(pool.crop(pool.unwindows(dwin, padded, kernel, stride, (1, 1)), full)), {}


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
    cache = Cache(A0=X)
    run = SimpleNamespace(training=self.training, masks=self.masks)
    out = X
    for placed, layer in self.layers:
        result, kept = layer.forward(self.own(placed), out, run)
        cache.kept.append(kept)
        cache[placed.name(placed.layer.role)] = result
        if placed.layer.kind != "activation":
            out = result                                         # BUG: an activation's A is not passed on
    return cache


def dense_rows_times_weights(self, P, A, run):
    """scratch.layers.Dense.forward with the row convention's A W in the column layout: a shape error."""
    Z = A @ P["W"]                                               # BUG: should be W @ A
    return (Z + P["b"] if "b" in P else Z), A


def dense_bias_grad_all_units(self, P, A, dZ, need_dA):
    """scratch.layers.Dense.backward, but db summed over every unit and example."""
    grads = {"W": dZ @ A.T}
    if "b" in P:
        grads["b"] = dZ.sum()                                    # BUG: a scalar; should sum over columns only
    return (P["W"].T @ dZ if need_dA else None), grads


def backward_dW_with_own_activation(self, cache, Y):
    """MLP.backward, but a Dense's dW is taken with its own block's activation A_l, not its input."""
    grads = {}
    d = self.output_dZ(cache, Y)
    inner = list(zip(self.layers, cache.kept))[:-1]
    for (placed, layer), kept in reversed(inner):
        if "d" + placed.layer.role in placed.layer.grads:
            grads["d" + placed.name(placed.layer.role)] = d
        if placed.layer.kind == "dense":
            kept = cache[f"A{placed.block}"]                     # BUG: should be A_{l-1}, the Dense's input
        d, own = layer.backward(self.own(placed), kept, d, placed.index > 0)
        grads.update({"d" + placed.name(role): g for role, g in own.items()})
    return grads


def output_dZ_no_batch_mean(self, cache, Y):
    """MLP.output_dZ, but the gradient is not divided by the batch size m."""
    _, loss_grad, _, gives = LOSSES[self.loss_name]
    d = loss_grad(cache[f"A{self.L}"], Y, self.divisor(Y) / Y.shape[1])   # BUG: the 1/m of the mean left out
    if gives == "dZ":
        return d
    placed, activation = self.layers[-1]                          # the output activation g_L
    return activation.backward({}, cache.kept[-1], d, True)[0]


def step_weights_only(self, grads, loss=None):
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
    diagnosis: str              # words the verdict line must contain: what the difference looks like
    patches: callable = field(repr=False, default=None)   # () -> [unittest.mock patchers]

    def listing(self):
        return {k: v for k, v in asdict(self).items() if k != "patches"}


BUGS = {bug.name: bug for bug in [
    Bug("softmax-whole-batch", "softmax normalised over the whole batch matrix instead of per example",
        "toy3", {"step": 1, "layer": 2, "tensor": "A2"},
        "softmax normalised over the whole batch",
        lambda: activation("softmax", g=softmax_whole_batch)),
    Bug("skipped-activation", "a hidden layer's activation computed but the pre-activation passed on",
        "toy3", {"step": 1, "layer": 2, "tensor": "Z2"},
        "layer 2 was fed Z1 instead of A1",
        lambda: [mock.patch.object(MLP, "forward", forward_skipping_activation)]),
    Bug("bias-grad-all-units", "bias gradient summed over every unit and example (a scalar), not per unit",
        "toy3", {"step": 1, "layer": 2, "tensor": "db2"},
        "a lost axis: scratch's db2 is (), summed over units and examples to a scalar",
        lambda: [mock.patch.object(scratch_layers.Dense, "backward", dense_bias_grad_all_units)]),
    Bug("sigmoid-sign", "sigmoid written as 1 / (1 - e^-z)",
        "parity", {"step": 1, "layer": 1, "tensor": "A1"},
        "the activation sigmoid itself is computed differently",
        lambda: activation("sigmoid", g=sigmoid_wrong_sign)),
    Bug("sigmoid-grad-of-input", "sigmoid derivative computed as s(z) (1 - z) instead of s(z) (1 - s(z))",
        "parity", {"step": 1, "layer": 3, "tensor": "dZ3"},
        "the derivative of the loss or of the output activation (sigmoid) is wrong",
        lambda: activation("sigmoid", g_grad=sigmoid_grad_of_input)),
    Bug("no-batch-mean", "gradients summed over the batch but not divided by its size",
        "toy3", {"step": 1, "layer": 2, "tensor": "dZ2"},
        "a factor of m = 4, the batch size",
        lambda: [mock.patch.object(MLP, "output_dZ", output_dZ_no_batch_mean)]),
    Bug("unstable-softmax", "softmax without subtracting the max: overflows on large logits (NaN)",
        "toy3-large-logits", {"step": 1, "layer": 1, "tensor": "A1"},
        "first non-finite value: step 1, scratch, layer 1, A1",
        lambda: activation("softmax", g=softmax_unstable)),
    Bug("bias-not-updated", "the optimizer updates the weights only",
        "toy3", {"step": 1, "layer": 1, "tensor": "b1"},
        "scratch did not update b1",
        lambda: [mock.patch.object(MLP, "step", step_weights_only)]),
    Bug("wrong-activation-in-dW", "dW computed with this layer's activation instead of the previous one's",
        "toy3", {"step": 1, "layer": 2, "tensor": "dW2"},
        "dW2 = dZ2 · A2ᵀ, where A1 (the input of layer 2) belongs",
        lambda: [mock.patch.object(MLP, "backward", backward_dW_with_own_activation)]),
    Bug("ascent", "the update added instead of subtracted (gradient ascent)",
        "toy3", {"step": 1, "layer": 1, "tensor": "W1"},
        "the update is added, not subtracted",
        lambda: [mock.patch.object(opt.SGD, "update", sgd_ascent)]),
    Bug("conv-kernel-flipped", "a convolution with the kernel flipped (rotated by 180°) instead of the "
        "cross-correlation the frameworks compute",
        "mnist-cnn-small", {"step": 1, "layer": 1, "tensor": "Z1"},
        "the input convolved with W1 rotated by 180°",
        lambda: [mock.patch.object(image_layers.Conv2D, "forward", conv_forward_kernel_flipped)]),
    Bug("conv-bias-grad-mean-positions", "a conv layer's bias gradient averaged over the positions of its "
        "output instead of summed",
        "mnist-cnn-small", {"step": 1, "layer": 2, "tensor": "db2"},
        "a mean over the positions where their sum belongs",
        lambda: [mock.patch.object(image_layers.Conv2D, "backward", conv_backward_bias_mean_positions)]),
    Bug("maxpool-grad-whole-window", "max pooling's gradient sent to every cell of the window, not to its "
        "maximum alone",
        "mnist-cnn-small", {"step": 1, "layer": 2, "tensor": "dZ2"},
        "routed back through the pooling: each window's dP to its maximum alone",
        lambda: [mock.patch.object(image_layers.MaxPool2D, "backward", maxpool_backward_whole_window)]),
    Bug("rows-times-weights", "Z = A W + b (the row convention) in column-layout code: a shape error",
        "toy3", {"step": 1, "layer": 1, "tensor": "Z1", "raises": "ValueError"},
        "ValueError: matmul",
        lambda: [mock.patch.object(scratch_layers.Dense, "forward", dense_rows_times_weights)]),
]}


def hidden(spec, name):
    return name in spec.activations[:-1]


def derivative_used(spec, name):
    """The activation's derivative g' is used: on a hidden layer, or on the output unless fused with cross-entropy."""
    return hidden(spec, name) or (spec.activations[-1] == name and spec.loss == "mse")


def batch_of_one(spec):
    return spec.batch_size == 1


# bug -> spec -> why the bug's code cannot change a number of this run, or None when it can
NEEDS = {
    "softmax-whole-batch": lambda s: ("the network has no softmax layer" if "softmax" not in s.activations
                                      else "batches of 1 example: the whole batch is one column" if batch_of_one(s)
                                      else None),
    "skipped-activation": lambda s: ("the network has no hidden layer" if s.n_layers < 2
                                     else "every hidden layer is linear" if set(s.activations[:-1]) == {"linear"}
                                     else None),
    "sigmoid-sign": lambda s: None if "sigmoid" in s.activations else "the network has no sigmoid layer",
    "sigmoid-grad-of-input": lambda s: (None if derivative_used(s, "sigmoid") else
                                        "no sigmoid derivative is used (no sigmoid layer, or only one fused "
                                        "with cross-entropy)"),
    "no-batch-mean": lambda s: ("batches of 1 example: dividing by m = 1 changes nothing" if batch_of_one(s)
                                else "the loss is summed, not averaged, over the batch" if s.reduction == "sum"
                                else None),
    "unstable-softmax": lambda s: None if "softmax" in s.activations else "the network has no softmax layer",
    "bias-not-updated": lambda s: "the learning rate is 0: nothing is updated" if s.lr == 0 else None,
    "wrong-activation-in-dW": lambda s: "the network has one layer: A0 is the input" if s.n_layers < 2 else None,
    "conv-bias-grad-mean-positions": lambda s: (None if any(l.kind == "conv2d" and l.bias for l in s.network.layers)
                                              else "the network has no Conv2D layer with a bias"),
    "maxpool-grad-whole-window": lambda s: (None if any(l.kind == "max_pool2d" for l in s.network.layers)
                                            else "the network has no MaxPool2D layer"),
    "conv-kernel-flipped": lambda s: (None if any(l.kind == "conv2d" for l in s.network.layers)
                                      else "the network has no Conv2D layer"),
    "ascent": lambda s: ("the optimizer is not plain SGD (the mistake is in SGD's update)"
                         if s.optimizer != "sgd" or s.momentum else
                         "the learning rate is 0: the update never moves a parameter" if s.lr == 0 else None),
}


def check_applies(name, spec, recipe="this recipe"):
    """Raise InputError if `name` is not a bug of the zoo, or if its code cannot change a number of
    a run of `spec` (then the run would pass and prove nothing)."""
    if not name:
        raise InputError(f"--inject-bug needs a bug name: one of {', '.join(BUGS)} (python -m compare bugs)")
    if name not in BUGS:
        raise InputError(f"unknown bug {name!r}; choose one of: {', '.join(BUGS)} (python -m compare bugs)")
    why = NEEDS.get(name, lambda s: None)(spec)
    if why:
        raise InputError(f"--inject-bug {name} cannot show on {recipe}: {why}; it is shown on "
                         f"{BUGS[name].recipe} (python -m compare {BUGS[name].recipe} --inject-bug {name})")


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
