"""What the two JAX adapters share (flax_module.py, jax_functions.py): JAX imported with one line
naming the extra when it is missing, float64 only inside the run, the activation between two layers
told by its values, the user's Optax loss and optimizer read into Spec fields.

The optimizer's settings are read from the Optax object (`read_optimizer`). optax 0.2.8 builds its
aliases as chains of transformations whose update functions close over their parameters by
optax's own names (optax/_src/alias.py sgd, rmsprop, adam; optax/_src/transform.py):
    scale_by_rms(decay, eps, initial_scale, eps_in_sqrt, bias_correction)   rmsprop's first part
    scale_by_adam(b1, b2, eps, eps_root, nesterov)                          adam's (nadam: nesterov)
    trace(decay, nesterov)                                                  sgd's momentum
    scale(step_size)                                   scale_by_learning_rate(lr) is scale(-lr)
so walking the closures (inspect.getclosurevars) of tx.update finds them. inject_hyperparams
(optax/schedules/_inject.py) keeps its factory (`inner_factory`) and the hyperparameters: they are
read from its state (tx.init(...).hyperparams) and the factory's optimizer read in turn.

Left out: schedules, weight decay (add_decayed_weights), clipping, every other transformation (one
line naming it and asking for the settings explicitly).
"""
import contextlib
import inspect

import numpy as np

from ..engine.errors import InputError

EXTRA = "pip install -e '.[jax]'"


def import_jax(flax=False):
    """(jax, jax.numpy, flax.nnx or None, optax), or InputError naming the extra."""
    try:
        import jax
        import jax.numpy as jnp
        import optax
        nnx = None
        if flax:
            from flax import nnx
    except ImportError as error:
        raise InputError(f"checking a JAX model needs jax, flax and optax ({error.name} is not "
                         f"installed): install the extra, {EXTRA}") from None
    return jax, jnp, nnx, optax


jax, jnp, _, optax = import_jax()


@contextlib.contextmanager
def x64(on=True):
    """float64 inside (jax_enable_x64 on) and matmuls at full precision (on an accelerator JAX's
    default rounds through bfloat16 passes; reference/jax_mlp.py precise does the same), the
    caller's settings given back after."""
    with jax.enable_x64(bool(on)), jax.default_matmul_precision("highest"):
        yield


# jax.nn's activations by the name the layer list uses (scratch/activations.py); leaky_relu's slope
# is jax.nn.leaky_relu's default 0.01 (jax/_src/nn/functions.py leaky_relu(x, negative_slope=1e-2))
ACTIVATIONS = {
    "relu": jax.nn.relu, "sigmoid": jax.nn.sigmoid, "tanh": jnp.tanh, "softplus": jax.nn.softplus,
    "softmax": lambda z: jax.nn.softmax(z, axis=-1), "leaky_relu": jax.nn.leaky_relu,
    "elu": jax.nn.elu, "selu": jax.nn.selu, "gelu": lambda z: jax.nn.gelu(z, approximate=False),
    "gelu_tanh": lambda z: jax.nn.gelu(z, approximate=True),    # jax.nn.gelu's default
    "silu": jax.nn.silu, "softsign": jax.nn.soft_sign, "relu6": jax.nn.relu6,
    "log_sigmoid": jax.nn.log_sigmoid, "hard_tanh": jax.nn.hard_tanh,
}
SLOPES = {"leaky_relu": 0.01}


def between(before, after, before_words, after_words):
    """The activation that maps `before` (a layer's output, a grid in [-8, 8] on the probe) to
    `after` (what the next layer was given): None when it is the same, else (name, slope).
    Raises InputError naming both layers when no activation of jax.nn gives it."""
    b, a = np.asarray(before, np.float64), np.asarray(after, np.float64)
    if a.shape == b.shape and np.array_equal(a, b):
        return None
    if a.shape == b.shape:
        with x64():
            for name, function in ACTIVATIONS.items():
                want = np.asarray(function(jnp.asarray(b)), np.float64)
                if np.allclose(a, want, rtol=1e-12, atol=1e-12):
                    return name, SLOPES.get(name)
    raise InputError(f"between {before_words} and {after_words} your code computes something "
                     f"that is not one of jax.nn's activations the tool mirrors "
                     f"({', '.join(ACTIVATIONS)}): layers one after another, an activation "
                     f"between them, are mirrored")


# --- the loss --------------------------------------------------------------------------------
OPTAX_LOSSES = {optax.softmax_cross_entropy: ("categorical_crossentropy", "softmax"),
                optax.safe_softmax_cross_entropy: ("categorical_crossentropy", "softmax"),
                optax.sigmoid_binary_cross_entropy: ("binary_crossentropy", "sigmoid"),
                optax.squared_error: ("mse", None)}


def mean_of(function):
    """An optax loss (per example or per element) as your training loop uses it: its mean."""
    def loss(output, targets):
        return jnp.mean(function(output, targets))
    loss.__name__ = f"mean of optax.{function.__name__}"
    return loss


def candidates(output_activation):
    """{(loss, reduction, fused): (formula(out, y), how to make y)} a loss function of the user's is
    told apart by (`read_loss`): of logits (fused) or of the model's own output."""
    def ce(z, y):
        return -jnp.sum(y * jax.nn.log_softmax(z, axis=-1), axis=-1)

    def bce(z, y):
        return optax.sigmoid_binary_cross_entropy(z, y)

    cce = "categorical_crossentropy"
    out = {(cce, "mean", "softmax"): (lambda z, y: jnp.mean(ce(z, y)), "onehot"),
           (cce, "sum", "softmax"): (lambda z, y: jnp.sum(ce(z, y)), "onehot"),
           ("binary_crossentropy", "mean", "sigmoid"): (lambda z, y: jnp.mean(bce(z, y)), "unit"),
           ("binary_crossentropy", "sum", "sigmoid"): (lambda z, y: jnp.sum(bce(z, y)), "unit"),
           ("mse", "mean", None): (lambda z, y: jnp.mean((z - y) ** 2), "unit"),
           ("mse", "sum", None): (lambda z, y: jnp.sum((z - y) ** 2), "unit")}
    if output_activation == "softmax":
        out[(cce, "mean", None)] = (lambda p, y: -jnp.mean(jnp.sum(y * jnp.log(p), -1)), "onehot")
        out[(cce, "sum", None)] = (lambda p, y: -jnp.sum(y * jnp.log(p)), "onehot")
    if output_activation == "sigmoid":
        def bce_p(p, y):
            return -(y * jnp.log(p) + (1 - y) * jnp.log(1 - p))
        out[("binary_crossentropy", "mean", None)] = (lambda p, y: jnp.mean(bce_p(p, y)), "unit")
        out[("binary_crossentropy", "sum", None)] = (lambda p, y: jnp.sum(bce_p(p, y)), "unit")
    return out


def read_loss(loss, model_output=None, width=None):
    """-> (the loss as a function (output, targets) -> number, {'loss', 'reduction'}, fused
    activation or None). An optax loss is known by itself; a function of the user's is told by its
    values (`candidates`) once the model's output (model_output: its last activation, width: its
    units) is known: before that it comes back with no fields."""
    if loss is None:
        return None, {}, None
    if not callable(loss):
        raise InputError(f"the loss must be a function (an optax loss, or yours), got "
                         f"{type(loss).__name__}")
    if loss in OPTAX_LOSSES:
        name, fused = OPTAX_LOSSES[loss]
        return mean_of(loss), {"loss": name, "reduction": "mean"}, fused
    if loss is optax.l2_loss:
        raise InputError("optax.l2_loss is HALF the squared error, 0.5 (y - p)^2 (optax/_src/"
                         "loss.py l2_loss): the tool's mse is the mean squared error: use "
                         "optax.squared_error")
    if getattr(loss, "__module__", "").startswith("optax"):
        raise InputError(f"optax.{getattr(loss, '__name__', loss)} is not mirrored: use "
                         f"optax.softmax_cross_entropy (one-hot labels), "
                         f"optax.sigmoid_binary_cross_entropy or optax.squared_error")
    if model_output is None:
        return loss, {}, None
    with x64():
        return told_by_values(loss, model_output, width)


def told_by_values(loss, model_output, width):
    """read_loss for a function of the user's: the candidate whose values it gives on a probe."""
    rng = np.random.default_rng(0)
    z = rng.normal(size=(6, width)) * 2
    for (name, reduction, fused), (formula, targets) in candidates(model_output).items():
        if fused or model_output == "linear":
            given = z
        else:
            given = np.asarray(ACTIVATIONS[model_output](jnp.asarray(z)))
        if targets == "onehot":
            y = np.eye(width)[rng.integers(0, width, 6)]
        else:
            y = rng.uniform(0.1, 0.9, (6, width))
        try:
            value = np.asarray(loss(jnp.asarray(given), jnp.asarray(y)))
        except Exception as error:             # noqa: BLE001 - the user's function, on a probe
            raise InputError(f"your loss {getattr(loss, '__name__', '')}(output, targets) failed "
                             f"on a probe batch: {type(error).__name__}: {error}") from None
        if value.shape != ():
            raise InputError(f"your loss {getattr(loss, '__name__', '')} returns shape "
                             f"{value.shape}, not one number: reduce it (optax losses come back "
                             f"per example: take their .mean())")
        want = np.asarray(formula(jnp.asarray(given), jnp.asarray(y)))
        if np.allclose(value, want, rtol=1e-10, atol=0):
            return loss, {"loss": name, "reduction": reduction}, fused
    raise InputError(f"your loss {getattr(loss, '__name__', '')} is none of the losses the tool "
                     f"mirrors (the mean or sum of softmax cross-entropy, sigmoid binary "
                     f"cross-entropy or the squared error): give optax.softmax_cross_entropy, "
                     f"optax.sigmoid_binary_cross_entropy or optax.squared_error")


def spec_loss(spec):
    """The spec's loss on the model's own output, for a model given without one."""
    def loss(p, y):
        if spec.loss == "mse":
            value = (p - y) ** 2
        elif spec.loss == "categorical_crossentropy":
            value = -jnp.sum(y * jnp.log(p), axis=-1)
        elif spec.loss == "binary_crossentropy":
            value = -(y * jnp.log(p) + (1 - y) * jnp.log(1 - p))
        else:
            raise InputError(f"loss {spec.loss} is not mirrored for a JAX model given without "
                             f"one: give your loss")
        return jnp.mean(value) if spec.reduction == "mean" else jnp.sum(value)
    return loss


# --- the optimizer ----------------------------------------------------------------------------
KNOWN = ("scale_by_rms", "scale_by_adam", "trace", "scale", "identity")


def is_update(x):
    """An optax update function made inside a transformation's factory (not init_fn, not a
    helper)."""
    return inspect.isfunction(x) and "<locals>" in x.__qualname__ and "update" in x.__name__


def parts(function, out, seen):
    """[(transformation name, {closure variable: value})] of an optax update function, in chain
    order."""
    if id(function) in seen or not inspect.isfunction(function):
        return out
    seen.add(id(function))
    inner, plain = [], {}
    for key, value in inspect.getclosurevars(function).nonlocals.items():
        transformation = hasattr(value, "update") and hasattr(value, "init")   # a NamedTuple
        items = value if isinstance(value, (list, tuple)) and not transformation else [value]
        found = [x.update if hasattr(x, "update") and not inspect.isfunction(x) else x
                 for x in items if is_update(x) or (hasattr(x, "update") and hasattr(x, "init"))]
        if found and len(found) == len(items):
            inner.extend(found)
        elif not callable(value):
            plain[key] = value
    owner = function.__qualname__.split(".<locals>")[0]
    if owner not in ("chain", "with_extra_args_support", "GradientTransformationExtraArgs"):
        out.append((owner, plain))
    for x in inner:
        parts(x, out, seen)
    return out


def explicit(what):
    return InputError(f"{what}: give the optimizer's settings explicitly, settings=dict("
                      f"optimizer='sgd' | 'rmsprop' | 'adam', lr=..., momentum=..., rho=..., "
                      f"eps=..., beta1=..., beta2=...)")


def as_float(value):
    return float(np.asarray(value))


def read_optimizer(tx, settings=None, network=None):
    """-> (Spec fields, the convention the update follows) of the user's Optax optimizer. settings:
    the fields given explicitly (they win). The convention is JAX's, except an optax.rmsprop with
    eps_in_sqrt=False: torch's placement of eps (then torch's convention, on a network without
    the norms and dropout whose rules differ between them)."""
    if settings is not None:
        if not isinstance(settings, dict) or "optimizer" not in settings:
            raise InputError("settings= is a dict of Spec fields with at least optimizer= (e.g. "
                             "dict(optimizer='sgd', lr=0.1))")
        return dict(settings), "jax"
    if tx is None:
        return {}, "jax"
    if not (hasattr(tx, "init") and hasattr(tx, "update") and callable(tx.update)):
        raise InputError(f"the optimizer is a {type(tx).__name__}, not an Optax "
                         f"GradientTransformation (optax.sgd, optax.rmsprop, optax.adam) or an "
                         f"nnx.Optimizer holding one")
    found = parts(tx.update, [], set())
    names = [name for name, _ in found]
    if names and names[0] == "inject_hyperparams":
        return injected(tx, inspect.getclosurevars(tx.update).nonlocals, network)
    unknown = [name for name in names if name not in KNOWN]
    if unknown:
        raise explicit(f"optax's {unknown[0]} is not mirrored (the adapter reads sgd, rmsprop and "
                       f"adam: {', '.join(KNOWN[:3])} and the learning rate's scale)")
    got = dict(found)
    if "scale" not in got:
        raise explicit("the optimizer's learning rate could not be read (a schedule is not "
                       "mirrored)")
    fields = {"lr": -as_float(got["scale"]["step_size"])}
    convention = "jax"
    if "scale_by_rms" in got:
        rms = got["scale_by_rms"]
        if as_float(rms.get("initial_scale", 0.0)) or rms.get("bias_correction"):
            raise InputError(f"optax.rmsprop(initial_scale={rms.get('initial_scale')}, "
                             f"bias_correction={rms.get('bias_correction')}) is not mirrored: "
                             f"initial_scale=0 (torch's and Keras's start)")
        if "trace" in got:
            raise InputError("optax.rmsprop(momentum=...) is not mirrored (torch and Keras keep lr "
                             "on either side of the buffer; optax's trace comes after the learning "
                             "rate)")
        fields.update(optimizer="rmsprop", rho=as_float(rms["decay"]), eps=as_float(rms["eps"]),
                      momentum=0.0, nesterov=False)
        if not rms.get("eps_in_sqrt", True):
            convention = torch_placement(network)
    elif "scale_by_adam" in got:
        adam = got["scale_by_adam"]
        if adam.get("nesterov") or as_float(adam.get("eps_root", 0.0)):
            raise InputError(f"optax.adam(nesterov={adam.get('nesterov')}, eps_root="
                             f"{adam.get('eps_root')}) is not mirrored here (nadam, eps_root): "
                             f"optax.adam with eps_root=0")
        fields.update(optimizer="adam", beta1=as_float(adam["b1"]), beta2=as_float(adam["b2"]),
                      eps=as_float(adam["eps"]), momentum=0.0, nesterov=False)
    else:
        trace = got.get("trace")
        fields.update(optimizer="sgd", momentum=as_float(trace["decay"]) if trace else 0.0,
                      nesterov=bool(trace["nesterov"]) if trace else False)
    return fields, convention


def torch_placement(network):
    """rmsprop with eps_in_sqrt=False divides by sqrt(s) + eps: torch's rule (scratch/conventions.py
    rmsprop_eps_in_root False). It runs in torch's convention, which differs from JAX's on batch
    norm's running variance, normalization's variance formula and dropout's scaling: refused
    there."""
    kinds = ("batch_norm", "layer_norm", "dropout")
    if network is not None and any(p.layer.kind in kinds for p in network.placed):
        raise InputError("optax.rmsprop(eps_in_sqrt=False) with a norm or dropout layer is not "
                         "mirrored: the check runs it in torch's conventions, whose norms and "
                         "dropout differ from Flax's")
    return "torch"


def injected(tx, closure, network):
    """optax.inject_hyperparams(factory)(...): its hyperparameters from its state, the factory's
    optimizer read as any other."""
    factory = closure.get("inner_factory") or getattr(tx, "inner_factory", None)
    try:
        with x64():                         # the numbers as written, not their float32 roundings
            state = tx.init({"w": jnp.zeros(1)})
            hyper = {k: as_float(v) for k, v in state.hyperparams.items()}
    except Exception:                                    # noqa: BLE001 - an object we cannot read
        raise explicit("the hyperparameters of optax.inject_hyperparams could not be "
                       "read") from None
    other = dict(closure.get("other_hps") or {})
    if factory is None:
        raise explicit("optax.inject_hyperparams's factory could not be read")
    return read_optimizer(factory(**hyper, **other), None, network)


def make_tx(spec):
    """The spec's optimizer in Optax, for a model given without one."""
    hyper = spec.hyper("jax")
    if spec.optimizer == "sgd":
        return optax.sgd(spec.lr, momentum=hyper["momentum"] or None,
                         nesterov=bool(hyper["nesterov"]))
    if spec.optimizer == "rmsprop":
        return optax.rmsprop(spec.lr, decay=hyper["rho"], eps=hyper["eps"])
    if spec.optimizer == "adam":
        return optax.adam(spec.lr, b1=hyper["beta1"], b2=hyper["beta2"], eps=hyper["eps"])
    raise InputError(f"optimizer {spec.optimizer} for a JAX model given without one: give your "
                     f"Optax optimizer")


def loss_value(user, spec, out, y):
    """The user's loss of the model's output (or the spec's, for a model given without one)."""
    if user.loss is None:
        return spec_loss(spec)(out, y)
    return user.loss(out, y)


# optax's state -> the names the harness compares (torch's: reference/torch_mlp.py STATE_NAMES):
# optax/_src/transform.py TraceState(trace), ScaleByAdamState(count, mu, nu), ScaleByRmsState(nu)
SLOTS = ((optax.TraceState, {"trace": "momentum"}),
         (optax.ScaleByAdamState, {"mu": "m", "nu": "v"}),
         (optax.ScaleByRmsState, {"nu": "square_avg"}))


def slot_trees(opt_state):
    """[(harness name, a tree shaped like the params)] of the optimizer's state."""
    kinds = tuple(kind for kind, _ in SLOTS)
    found = jax.tree_util.tree_leaves(opt_state, is_leaf=lambda x: isinstance(x, kinds))
    out = []
    for state in found:
        for kind, fields in SLOTS:
            if isinstance(state, kind):
                out.extend((name, getattr(state, field)) for field, name in fields.items())
    return out
