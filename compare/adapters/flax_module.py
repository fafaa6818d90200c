"""Your own Flax model (nnx), Optax optimizer and loss, checked in lockstep without editing them.

    flaxnet = compare.flax_module(model, optimizer, loss)

model      an nnx.Module whose __call__ runs nnx.Linear (bias or not), nnx.BatchNorm (over the last
           axis, with scale and bias), nnx.LayerNorm (over the last axis, with scale and bias) and
           nnx.Dropout one after another, with the activations of jax.nn (ACTIVATIONS: relu,
           sigmoid, tanh, gelu (either form), ...) applied between them; nnx.Sequential too
optimizer  an optax.GradientTransformation made by optax.sgd (momentum, nesterov), optax.rmsprop or
           optax.adam (or an optax.chain of their parts, or optax.inject_hyperparams of one of
           them), or an nnx.Optimizer holding one (its .tx)
loss       optax.softmax_cross_entropy, optax.sigmoid_binary_cross_entropy or optax.squared_error
           (optax losses come back per example or per element: the adapter takes their mean, as
           your training loop's .mean() does), or your own function loss(output, targets) -> a
           number (its formula is told by its values on a probe: mean or sum of one of those)

What the adapter reads. The layer list (compare/engine/layers.py) in the order the modules RUN:
a copy of the model is called once with each Flax layer's class swapped for a subclass that
records what it was given and what it returned (`tapped`); every layer's output is replaced by a
grid of numbers from -8 to 8, so what arrives at the next layer is the function your __call__
applies in between, told apart from jax.nn's activations by its values (`between`: nothing is
linear; anything else is one line naming the two layers). Each setting as you wrote it: a
BatchNorm's momentum 0.9 stays Flax's 0.9 (`written_in='jax'`: the old average's weight, Keras's
meaning). The optimizer's settings are read from the Optax object itself (`read_optimizer`): the
closure variables of each transformation in the chain, whose names are optax's own parameter names
(optax/_src/transform.py: scale_by_rms(decay, eps, initial_scale, eps_in_sqrt, bias_correction),
scale_by_adam(b1, b2, eps, eps_root, nesterov), trace(decay, nesterov), scale(step_size) which
scale_by_learning_rate(lr) makes as scale(-lr); optax/_src/alias.py builds sgd, rmsprop, adam from
them), or, with inject_hyperparams, its hyperparameters rebuilt through its own factory.
What cannot be read is one line asking for the settings explicitly (settings=dict(...)).

Running. JAX computes in float32 unless jax_enable_x64 is on: each build and step runs inside
`jax.enable_x64(True)` and gives the caller's setting back after. Your model is never modified: a
copy (nnx.clone) with the tapping classes is split into (graphdef, params, rest); every float is
cast to the run's dtype and the harness's initial values are put in (kernels (in, out) from the
scratch W (out, in) through compare/engine/convert.py, the Convention JAX); scale 1, bias 0, mean 0,
var 1. The step is YOUR code: jax.value_and_grad of your loss of nnx.merge(graphdef, params,
rest)(x), then your optimizer's tx.update and optax.apply_updates, under jax.jit. The gradients
of the intermediates (dZ, dN) are those of zero tensors added to each layer's output. Each
nnx.Dropout applies the harness's mask by Flax's own rule (flax/nnx/nn/stochastic.py
Dropout.__call__: jnp.where(mask, x / keep_prob, 0)). predict runs the model in eval mode
(running averages, no dropout).

Left out (each refused in one line): other Flax layers (convolutions, pooling, embeddings, ...),
layers used twice, code other than an activation between layers, a float32 layer dtype in a float64
run (dtype=jnp.float32 fixes the computation), weight decay, clipping, schedules, rmsprop with
momentum, centered or initial_scale, nadam, eps_root, optax.l2_loss (half the squared error: use
optax.squared_error), integer labels.
"""
import inspect
import threading
from functools import partial

import numpy as np

from ..engine import convert
from ..engine.errors import InputError
from ..engine.layers import Activation, BatchNorm, Dense, Dropout, LayerNorm
from .base import (UserImplementation, batch_norm_notes, block_names, dense_params, initial_norm,
                   read_network)
from .jax_common import (ACTIVATIONS, between, import_jax, loss_value, make_tx, read_loss,
                         read_optimizer, slot_trees, x64)

jax, jnp, nnx, optax = import_jax(flax=True)

LAYERS = {nnx.Linear: "Linear", nnx.BatchNorm: "BatchNorm", nnx.LayerNorm: "LayerNorm",
          nnx.Dropout: "Dropout"}
KINDS_WORDS = ("the adapter mirrors nnx.Linear, nnx.BatchNorm, nnx.LayerNorm and nnx.Dropout, with "
               "jax.nn's activations between them: " + ", ".join(ACTIVATIONS))
WORDS = {"W": "kernel", "b": "bias", "gamma": "scale", "beta": "bias", "mean": "mean", "var": "var"}
GRID = 8.0                      # on the probe a layer's output is numbers in [-GRID, GRID]

_NOW = threading.local()        # the recorder the tapped layers report to while a copy runs


def kind_of(module):
    return next((base for base in LAYERS if isinstance(module, base)), None)


_TAPPED = {}


def tapped(cls):
    """A subclass of a Flax layer class whose __call__ reports to the recorder in _NOW (if any):
    what it was given, what it returned (plus the recorder's zero perturbation); a Dropout applies
    the recorder's mask."""
    if cls in _TAPPED or cls in _TAPPED.values():
        return _TAPPED.get(cls, cls)
    own = cls.__call__

    def __call__(self, x, *args, **kwargs):
        recorder = getattr(_NOW, "recorder", None)
        if recorder is None:
            return own(self, x, *args, **kwargs)
        return recorder.call(self, own, x, args, kwargs)

    _TAPPED[cls] = type(cls.__name__, (cls,), {"__call__": __call__, "__module__": cls.__module__})
    return _TAPPED[cls]


class Recorder:
    """One call of the model: each tapped layer's (input, output) in call order. mode 'probe':
    outputs replaced by a grid, dropout the identity; 'step': outputs plus taps[i], dropout by
    mask."""

    def __init__(self, mode, taps=None, masks=None, keep=None):
        self.mode, self.taps, self.masks, self.keep = mode, taps, masks or {}, keep or {}
        self.calls = []                                   # [(module, input, output)]

    def __enter__(self):
        _NOW.recorder = self
        return self

    def __exit__(self, *exc):
        _NOW.recorder = None

    def call(self, module, own, x, args, kwargs):
        i = len(self.calls)
        if isinstance(module, nnx.Dropout):
            if self.mode == "probe" or i not in self.masks:
                out = x
            else:                # flax/nnx/nn/stochastic.py: where(mask, x / keep_prob, 0)
                out = jnp.where(self.masks[i], x / self.keep[i], jnp.zeros_like(x))
        else:
            out = own(module, x, *args, **kwargs)
        if self.mode == "probe":
            out = jnp.linspace(-GRID, GRID, out.size, dtype=out.dtype).reshape(out.shape)
        elif self.taps is not None and i < len(self.taps) and self.taps[i] is not None:
            out = out + self.taps[i]
        self.calls.append((module, x, out))
        return out


def paths(model):
    """{id(layer): 'l1' or 'layers.0'} for every Flax layer in the model."""
    return {id(m): ".".join(map(str, p)) or type(m).__name__ for p, m in nnx.iter_graph(model)
            if isinstance(m, nnx.Module)}


def tap_copy(model):
    """A copy of the model (nnx.clone), each Flax layer's class swapped for its tapped subclass."""
    twin = nnx.clone(model)
    for _, module in nnx.iter_graph(twin):
        if isinstance(module, nnx.Module) and kind_of(module) is not None:
            module.__class__ = tapped(type(module))
    return twin


def as_layer(where, module, width):
    """One Flax layer -> its Layer, settings as written. InputError for what is not mirrored."""
    kind = kind_of(module)
    if kind is nnx.Linear:
        if module.in_features != width:
            raise InputError(f"{where} takes {module.in_features} features, the layer before "
                             f"gives {width}")
        return Dense(int(module.out_features), bias=bool(module.use_bias))
    if kind is nnx.Dropout:
        if tuple(module.broadcast_dims) or not 0 <= module.rate < 1:
            raise InputError(f"{where} rate={module.rate}, broadcast_dims="
                             f"{tuple(module.broadcast_dims)}: a rate in [0, 1) without "
                             f"broadcast_dims is mirrored")
        return Dropout(float(module.rate))
    if not (module.use_scale and module.use_bias) or module.num_features != width:
        raise InputError(f"{where} over {module.num_features} features with use_scale="
                         f"{module.use_scale}, use_bias={module.use_bias}: a norm over the {width} "
                         f"features before it, with its scale and bias, is mirrored")
    if kind is nnx.LayerNorm:
        axes = (np.atleast_1d(module.reduction_axes), np.atleast_1d(module.feature_axes))
        if tuple(map(tuple, axes)) != ((-1,), (-1,)):
            raise InputError(f"{where} reduction_axes={module.reduction_axes}: over the last axis "
                             f"is mirrored")
        return LayerNorm(eps=float(module.epsilon), written_in="jax")
    if module.axis not in (-1, 1) or module.axis_name is not None:
        raise InputError(f"{where} axis={module.axis}, axis_name={module.axis_name}: over the last "
                         f"axis is mirrored")
    return BatchNorm(momentum=float(module.momentum), eps=float(module.epsilon), written_in="jax")


def float32_layer(model):
    """The first Flax layer whose dtype= fixes its computation to less than float64, or None."""
    for p, m in nnx.iter_graph(model):
        layer = isinstance(m, nnx.Module) and kind_of(m) is not None
        dtype = getattr(m, "dtype", None) if layer else None
        if dtype is not None and np.dtype(dtype) != np.float64:
            return f"{'.'.join(map(str, p))} ({type(m).__name__}, dtype={np.dtype(dtype).name})"
    return None


def read_layers(model, fused):
    """-> (network, traced [(path, kind name, index of its Layer)]) in the order the layers run,
    the activations between them told by their values (module docstring). fused: the activation
    the loss applies itself (softmax, sigmoid) or None."""
    if not isinstance(model, nnx.Module):
        raise InputError(f"flax_module needs a Flax nnx.Module, got {type(model).__name__}"
                         + (" (a Linen module: use the nnx API, flax.nnx)" if hasattr(model, "init")
                            and hasattr(model, "apply") else ""))
    linears = [m for _, m in nnx.iter_graph(model) if isinstance(m, nnx.Linear)]
    if not linears:
        odd = next((m for _, m in nnx.iter_graph(model) if isinstance(m, nnx.Module)
                    and m is not model and kind_of(m) is None and not list(m.iter_children())),
                   None)
        if odd is not None:
            raise InputError(f"{type(odd).__name__} cannot be mirrored: {KINDS_WORDS}")
        raise InputError("the model has no nnx.Linear layer")
    names = paths(model)
    with x64():
        twin = tap_copy(model)
        graphdef, state = nnx.split(twin)
        twin = nnx.merge(graphdef, jax.tree.map(partial(as_dtype, dtype=jnp.float64), state))
        pairs = zip(nnx.iter_graph(twin), nnx.iter_graph(model))        # the same graph, in order
        names = {id(m): names.get(id(o)) for (_, m), (_, o) in pairs}
        width = probe_width(twin, linears)
        x = jnp.linspace(-GRID, GRID, 16 * width, dtype=jnp.float64).reshape(16, width)
        with Recorder("probe") as recorder:
            out = twin(x)
    read, traced, seen, previous = [], [], set(), x
    for i, (module, given, made) in enumerate(recorder.calls):
        where = f"{names.get(id(module))} ({LAYERS[kind_of(module)]})"
        if id(module) in seen:
            raise InputError(f"{where} runs twice in __call__ (one layer used twice: shared "
                             f"weights): give the second use its own layer")
        seen.add(id(module))
        before = where_words(recorder.calls, i - 1, names) if i else "the input"
        name = between(previous, given, before, where)
        if i == 0 and name is not None:
            raise InputError(f"{where} is given something computed from the input: a network "
                             f"starts with a Linear")
        if name is not None:
            read.append((f"{before} (its activation)", Activation(*name)))
        layer = as_layer(where, module, width)
        if not read and not isinstance(layer, Dense):
            raise InputError(f"{where} runs before the first Linear: a network starts with one")
        traced.append((names.get(id(module)), LAYERS[kind_of(module)], len(read)))
        read.append((where, layer))
        width = layer.out_shape((width,))[0]
        previous = made
    last = where_words(recorder.calls, len(recorder.calls) - 1, names)
    if not hasattr(out, "shape") or out.shape != previous.shape:
        raise InputError(f"the model's output is not its last layer's output: __call__ computes "
                         f"something after {last}")
    name = between(previous, out, last, "the model's output")
    if name is not None:
        read.append((f"{last} (its activation)", Activation(*name)))
    if fused:
        if not isinstance(read[-1][1], Dense):
            raise InputError(f"{read[-1][0]} comes after the last Linear, but the loss applies "
                             f"{fused} itself (it takes logits): the output would go through "
                             f"{fused} twice")
        read.append((f"the loss ({fused})", Activation(fused)))
    return read_network(int(recorder.calls[0][1].shape[-1]), read), traced


def where_words(calls, i, names):
    module = calls[i][0]
    return f"{names.get(id(module))} ({LAYERS[kind_of(module)]})"


def probe_width(twin, linears):
    """The input width: the in_features of the Linear called first (a dry run that stops there)."""
    class First(Exception):
        pass

    class Stop(Recorder):
        def call(self, module, own, x, args, kwargs):
            raise First(module)
    try:
        with Stop("probe"):
            twin(jnp.zeros((2, linears[0].in_features), jnp.float64))
    except First as found:
        if isinstance(found.args[0], nnx.Linear):
            return int(found.args[0].in_features)
    return int(linears[0].in_features)


class FlaxModule(UserImplementation):
    convention = "jax"
    holds_weights = True

    def __init__(self, model, optimizer, loss, name, origin, settings=None):
        self.model, self.name, self.origin = model, name, origin
        self.tx = optimizer.tx if isinstance(optimizer, nnx.Optimizer) else optimizer
        self.loss, self.loss_fields, self.fused = read_loss(loss, model_output=None)
        self.float32 = float32_layer(model)
        self.layers, self.traced = read_layers(model, self.fused)
        if loss is not None and not self.loss_fields:     # a function of the user's: by its values
            self.loss, self.loss_fields, self.fused = read_loss(
                loss, model_output=self.layers.activations[-1], width=self.layers.sizes[-1])
            if self.fused:
                self.layers, self.traced = read_layers(model, self.fused)
        fields, self.convention = read_optimizer(self.tx, settings, self.layers)
        self.settings = {**fields, "sizes": [self.layers.n_in], "layers": self.layers}
        where, shown = self.user_names()
        self.vocabulary = block_names(self.layers, where, WORDS, shown)
        self.notes = batch_norm_notes(self.layers, [f"{w}.var" for w in where],
                                      "is Flax's moving average of the biased batch variance")

    def user_names(self):
        """(the user's path of each layer of the list, how a message names it), in list order; an
        activation is named by the layer before it."""
        by_index = {index: (path, f"{path} ({kind})") for path, kind, index in self.traced}
        where, shown, current = [], [], ("", "")
        for i in range(len(self.layers.layers)):
            if i in by_index:
                current = by_index[i]
                where.append(current[0])
                shown.append(current[1])
            else:
                where.append(current[0])
                shown.append(f"{current[1]} (its activation)")
        return where, shown

    @property
    def sizes(self):
        return self.layers.sizes

    def network(self):
        return {**self.loss_fields, **self.settings}

    def build(self, spec, params, convention):
        return FlaxRun(self, spec, params)

    def initial_params(self, spec):
        """Your model's own weights, [(W, b)] per block in the scratch layout (convert.py)."""
        out, modules = [], {".".join(map(str, p)): m for p, m in nnx.iter_graph(self.model)
                            if isinstance(m, nnx.Module)}
        placed = self.layers.placed
        for path, kind, index in self.traced:
            if kind != "Linear":
                continue
            module = modules[path]
            kernel = np.asarray(module.kernel.get_value(), np.float64)
            W = convert.to_scratch("jax", placed[index].name("W"), kernel, self.layers)
            if module.use_bias:
                b = np.asarray(module.bias.get_value(), np.float64).reshape(-1, 1)
            else:
                b = np.zeros((W.shape[0], 1))
            out.append((np.array(W), b))
        return out


class FlaxRun:
    """One run of a copy of the user's model with their optimizer. step(X, Y) -> record in the
    scratch layout."""

    def __init__(self, user, spec, params):
        if spec.network.layers != user.layers.layers:
            raise InputError(f"{user.label} is {user.layers.describe()}, the spec asks for "
                             f"{spec.network.describe()}")
        if spec.dtype == "float64" and user.float32:
            raise InputError(f"{user.float32} computes in that dtype whatever it is given: the "
                             f"check runs in float64 (--dtype float32, or dtype=None on the layer)")
        fields = user.loss_fields
        if fields and (fields["loss"], fields["reduction"]) != (spec.loss, spec.reduction):
            raise InputError(f"{user.label}'s loss is {fields}, the spec asks for {spec.loss} "
                             f"({spec.reduction})")
        self.user, self.spec, self.L = user, spec, spec.n_layers
        self.dtype = jnp.float64 if spec.dtype == "float64" else jnp.float32
        self.masks = {}
        with x64(spec.dtype == "float64"):
            self.setup(user, spec, params)

    def setup(self, user, spec, params):
        twin = tap_copy(user.model)
        modules = {".".join(map(str, p)): m for p, m in nnx.iter_graph(twin)
                   if isinstance(m, nnx.Module)}
        placed = spec.network.placed
        self.calls = []                     # [(placed, kind, path)] of the tapped layers, in order
        for path, kind, index in user.traced:
            p, module = placed[index], modules[path]
            self.calls.append((p, kind, path))
            if kind == "Linear":
                W, b = dense_params(params, p.block)
                kernel = convert.from_scratch("jax", p.name("W"), np.asarray(W), spec.network)
                module.kernel.set_value(jnp.asarray(kernel, self.dtype))
                if module.use_bias:
                    module.bias.set_value(jnp.asarray(np.asarray(b).reshape(-1), self.dtype))
            elif kind in ("BatchNorm", "LayerNorm"):
                gamma, beta = initial_norm(params, p)
                module.scale.set_value(jnp.asarray(gamma, self.dtype))
                module.bias.set_value(jnp.asarray(beta, self.dtype))
                if kind == "BatchNorm":
                    module.mean.set_value(jnp.zeros(module.num_features, self.dtype))
                    module.var.set_value(jnp.ones(module.num_features, self.dtype))
        twin.train()
        self.graphdef, self.params, self.rest = nnx.split(twin, nnx.Param, ...)
        cast = partial(as_dtype, dtype=self.dtype)
        self.params, self.rest = jax.tree.map(cast, self.params), jax.tree.map(cast, self.rest)
        self.tx = user.tx if user.tx is not None else make_tx(spec)
        self.opt_state = self.tx.init(self.params)
        self.paths = {path: index for path, _, index in user.traced}
        self.jitted = jax.jit(self.traced_step)
        eval_twin = nnx.merge(self.graphdef, self.params, self.rest)
        eval_twin.eval()
        self.eval_graphdef = nnx.graphdef(eval_twin)
        self.predict_jit = jax.jit(self.traced_predict)

    def forward(self, params, rest, taps, x, masks):
        model = nnx.merge(self.graphdef, params, rest, copy=True)   # Variables of this trace level
        keep = {i: 1.0 - p.layer.rate for i, (p, kind, _) in enumerate(self.calls)
                if kind == "Dropout"}
        with Recorder("step", taps, masks, keep) as recorder:
            out = model(x)
        rest = nnx.state(model, nnx.Not(nnx.Param))
        return out, recorder.calls, rest

    def traced_step(self, params, rest, opt_state, x, y, masks):
        m = x.shape[0]
        taps = [jnp.zeros((m, p.n_out), x.dtype) if kind != "Dropout" else None
                for p, kind, _ in self.calls]

        def objective(params, taps):
            out, calls, new_rest = self.forward(params, rest, taps, x, masks)
            loss = loss_value(self.user, self.spec, out, y)
            return loss, (out, [(given, made) for _, given, made in calls], new_rest)

        (loss, (out, calls, new_rest)), (grads, dtaps) = jax.value_and_grad(
            objective, argnums=(0, 1), has_aux=True)(params, taps)
        updates, opt_state = self.tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        return params, new_rest, opt_state, loss, out, calls, grads, dtaps

    def set_masks(self, masks):
        """This step's dropout masks {l: (n_l, m)} (scratch layout) -> {call index: (m, n_l)
        booleans}."""
        network = self.spec.network
        self.masks = {i: np.asarray(convert.mask_to_framework("jax", network, p.block,
                                                              masks[p.block])) != 0
                      for i, (p, kind, _) in enumerate(self.calls)
                      if kind == "Dropout" and p.block in masks}

    def step(self, X, Y):
        with x64(self.spec.dtype == "float64"):
            x, y = jnp.asarray(X, self.dtype), jnp.asarray(Y, self.dtype)
            params, rest, self.opt_state, loss, out, calls, grads, dtaps = self.jitted(
                self.params, self.rest, self.opt_state, x, y,
                {i: jnp.asarray(m) for i, m in self.masks.items()})
            self.params, self.rest = params, rest
            return self.record(X, loss, out, calls, grads, dtaps)

    def record(self, X, loss, out, calls, grads, dtaps):
        """The step's tensors in JAX's layout -> the scratch layout. calls: each tapped layer's
        (input, output); an activation's output is the next layer's input (or the model's
        output)."""
        record, network = {"loss": np.asarray(loss)}, self.spec.network
        placed = network.placed
        runs = [self.paths[path] for _, _, path in self.calls]          # placed index of each call
        values = {}
        for i, (p, kind, _) in enumerate(self.calls):
            values[runs[i]] = calls[i][1]
            if dtaps[i] is not None:
                record[f"d{p.name(p.layer.role)}"] = np.asarray(dtaps[i])
        for k in range(len(placed)):
            if k in values:
                continue
            later = [i for i, index in enumerate(runs) if index > k]
            if later:
                values[k] = calls[later[0]][0]
            elif self.user.fused and k == len(placed) - 1:
                values[k] = fused_output(self.user.fused, out)
            else:
                values[k] = out
        for k in sorted(values):
            p = placed[k]
            if p.layer.role in ("Z", "N"):
                record[p.name(p.layer.role)] = np.asarray(values[k])
            record[p.name("A")] = np.asarray(values[k])
        self.params_record(record, grads)
        return convert.record_to_scratch("jax", record, network, X.shape[0])

    def params_record(self, record, grads):
        """Each parameter after the step, its gradient, the running statistics and the optimizer's
        state ('W1.momentum', 'W1.m', ...), in JAX's layout, by the user's paths."""
        params, rest = nnx.to_pure_dict(self.params), nnx.to_pure_dict(self.rest)
        placed = self.spec.network.placed
        grads = nnx.to_pure_dict(grads)
        slots = [(name, nnx.to_pure_dict(tree) if isinstance(tree, nnx.State) else tree)
                 for name, tree in slot_trees(self.opt_state)]
        for path, kind, index in self.user.traced:
            p = placed[index]
            norm = {"gamma": "scale", "beta": "bias"}
            roles = {"Linear": {"W": "kernel", "b": "bias"}, "BatchNorm": norm,
                     "LayerNorm": norm}.get(kind, {})
            for role, key in roles.items():
                value = dig(params, path, key)
                if value is None:
                    continue
                record[p.name(role)] = np.asarray(value)
                record[f"d{p.name(role)}"] = np.asarray(dig(grads, path, key))
                for slot, tree in slots:
                    found = dig(tree, path, key) if isinstance(tree, dict) else None
                    if found is not None:
                        record[f"{p.name(role)}.{slot}"] = np.asarray(found)
            if kind == "BatchNorm":
                record[p.name("mean")] = np.asarray(dig(rest, path, "mean"))
                record[p.name("var")] = np.asarray(dig(rest, path, "var"))

    def traced_predict(self, params, rest, x):
        return nnx.merge(self.eval_graphdef, params, rest)(x)

    def predict(self, X):
        with x64(self.spec.dtype == "float64"):
            out = self.predict_jit(self.params, self.rest, jnp.asarray(X, self.dtype))
            return convert.rows_to_batch(np.asarray(fused_output(self.user.fused, out)))


def dig(tree, path, key):
    """tree['l1']['kernel'] for path 'l1' (or tree['layers'][0]['kernel'] for 'layers.0')."""
    node = tree
    for part in [*path.split("."), key]:
        if isinstance(node, dict):
            node = node.get(part, node.get(int(part)) if part.isdigit() else None)
        elif isinstance(node, (list, tuple)) and part.isdigit():
            node = node[int(part)]
        else:
            return None
        if node is None:
            return None
    return node


def fused_output(fused, out):
    if fused == "softmax":
        return jax.nn.softmax(out, axis=-1)
    if fused == "sigmoid":
        return jax.nn.sigmoid(out)
    return out


def as_dtype(a, dtype):
    floating = hasattr(a, "dtype") and jnp.issubdtype(a.dtype, jnp.floating)
    return jnp.asarray(a, dtype) if floating else a


def flax_module(model, optimizer=None, loss=None, *, name=None, settings=None):
    """Your nnx.Module with your Optax optimizer and loss -> a UserImplementation (the module
    docstring).
    settings: the optimizer's Spec fields given explicitly (optimizer=, lr=, ...) where they cannot
    be read from the Optax object."""
    caller = inspect.currentframe().f_back
    origin = f"{caller.f_code.co_filename}:{caller.f_lineno}" if caller else None
    return FlaxModule(model, optimizer, loss, name, origin, settings)
