"""Your own JAX model as plain functions: a params pytree and apply(params, x), with your Optax
optimizer and loss, checked in lockstep without editing them.

    jaxnet = compare.jax_model(params, apply, optimizer, loss)

params     a pytree of arrays: [(W1, b1), (W2, b2), ...], [{'w': .., 'b': ..}, ...],
           {'dense1': {'kernel': .., 'bias': ..}, ...}, ... (a weight (in, out), used as x @ W, or
           (out, in), used as x @ W.T: the jaxpr says which); a bias (out,) or (1, out), or none
apply      apply(params, x) -> the output, x (m, n) one example per row: dense layers (dot_general
           of the running activation with a weight leaf, plus a bias leaf) with an activation of
           jax.nn between them (ACTIVATIONS of jax_common.py)
optimizer  as compare.flax_module takes it (jax_common.read_optimizer)
loss       as compare.flax_module takes it (jax_common.read_loss)

What the adapter reads (`read_layers`): jax.make_jaxpr(apply)(params, x), traced in float64 (x64
on: a float32 trace would bake jax.nn.gelu's constants in as float32), is walked equation by
equation. A `dot_general` of the running activation with a weight leaf opens a block; an `add` of
its result with (a broadcast of) a bias leaf is its Z, else the product is; what reaches the next
block's dot_general (or the output) is A, and the function between Z and A is told by its values
(jax_common.between: the trace evaluated with Z replaced by a grid of numbers in [-8, 8]). The
widths come from the leaves' shapes. Anything else between (a norm, a residual, a second input) is
one line naming the block.

Running: YOUR apply, as its jaxpr, evaluated by `evaluate` (each equation bound as jax.core's
eval_jaxpr binds it) with a zero tensor added to each Z: jax.value_and_grad of your loss gives
dW, db and dZ; your optimizer's tx.update and optax.apply_updates step the pytree, under jax.jit
and x64 (the caller's setting given back after). The harness's initial weights go into your
pytree's leaves in your layout (compare/engine/convert.py: (in, out) is the Convention JAX's,
(out, in) torch's).

Left out: norms and dropout (use compare.flax_module), a layer used twice, convolutions, apply
functions that take more than (params, x) or return more than the output, jax.jit inside apply
hiding the dense layers in one call (the trace shows it whole: leave the jit to the caller).
"""
import inspect

import numpy as np

from ..engine import convert
from ..engine.errors import InputError
from ..engine.layers import Activation, Dense
from .base import UserImplementation, dense_params, read_network
from .jax_common import (between, import_jax, loss_value, make_tx, read_loss, read_optimizer,
                         slot_trees, x64)

jax, jnp, _, optax = import_jax()
from jax.extend import core as jax_core  # noqa: E402

GRID = 8.0
WORDS = {"W": "weight", "b": "bias"}


def leaf_names(params):
    """['[0][0]', "['dense1']['kernel']", ...] for the pytree's leaves, in flatten order."""
    flat, _ = jax.tree_util.tree_flatten_with_path(params)
    return [jax.tree_util.keystr(path) for path, _ in flat]


def evaluate(jaxpr, consts, args, taps=None, replace=None):
    """Evaluate a jaxpr as jax's eval_jaxpr does, each equation bound in turn; taps {var: t}
    are added to a var's value, replace {var: v} replaces it (the probe's grid).
    -> (outputs, env)"""
    env = {}

    def read(v):
        return v.val if isinstance(v, jax_core.Literal) else env[v]

    def write(v, value):
        if replace and v in replace:
            value = replace[v]
        if taps and v in taps:
            value = value + taps[v]
        env[v] = value

    for v, value in zip(jaxpr.constvars, consts):
        write(v, value)
    for v, value in zip(jaxpr.invars, args):
        write(v, value)
    for eqn in jaxpr.eqns:             # jax/_src/core.py eval_jaxpr (jax 0.10.2), with the hooks
        params = eqn.primitive.get_bind_params(eqn.params)
        with eqn.ctx.manager:
            out = eqn.primitive.bind(*map(read, eqn.invars), **params)
        for v, value in zip(eqn.outvars, out if eqn.primitive.multiple_results else [out]):
            write(v, value)
    return [read(v) for v in jaxpr.outvars], env


class Block:
    """One dense block found in the trace: its weight and bias leaves, the vars of Z and of its
    input."""

    def __init__(self, weight, transposed, given, z, bias=None):
        self.weight, self.transposed, self.bias = weight, transposed, bias      # leaf indices
        self.given, self.z = given, z                                           # jaxpr vars
        self.a = None                              # the var the next block reads, or the output


def trace(apply, params, width):
    """-> (closed jaxpr of apply(params, x) in float64, [Block]) (module docstring)."""
    x = jnp.zeros((16, width), jnp.float64)               # the probe batch of read_layers
    try:
        closed = jax.make_jaxpr(apply)(params, x)
    except Exception as error:                         # noqa: BLE001 - the user's function
        raise InputError(f"your apply(params, x) failed on a batch x of shape (16, {width}): "
                         f"{type(error).__name__}: {error}") from None
    n = len(jax.tree_util.tree_leaves(params))
    if len(closed.jaxpr.outvars) != 1:
        raise InputError(f"apply returns {len(closed.jaxpr.outvars)} arrays: return the output "
                         f"alone")
    blocks = walk(closed, n)
    if blocks[0].given is not closed.jaxpr.invars[n]:
        raise InputError("apply computes something from x before its first dense layer: a network "
                         "starts with x @ W (+ b)")
    used = [b.weight for b in blocks]
    if len(set(used)) != len(used):
        raise InputError("apply uses one weight in two layers (shared weights): each layer's own "
                         "are mirrored")
    return closed, blocks


def read_layers(apply, params, fused):
    """-> (network, closed jaxpr, [Block]): the widths from the leaves, the activations by their
    values."""
    leaves = [np.asarray(leaf) for leaf in jax.tree_util.tree_leaves(params)]
    names = leaf_names(params)
    matrices = [leaf for leaf in leaves if leaf.ndim == 2]
    if not matrices:
        raise InputError("params has no 2-D leaf (a dense weight)")
    with x64():
        params64 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), params)
        # the first weight used decides the width; try both layouts of the first matrix
        closed = blocks = None
        for width in dict.fromkeys(matrices[0].shape):
            try:
                closed, blocks = trace(apply, params64, width)
                break
            except InputError as error:
                failure = error
        if closed is None:
            raise failure
        read, width = [], None
        for l, block in enumerate(blocks, start=1):
            shape = leaves[block.weight].shape
            n_in, n_out = shape[::-1] if block.transposed else shape
            where = f"block {l} ({names[block.weight]})"
            if width is not None and n_in != width:
                raise InputError(f"{where} takes {n_in} features, the layer before gives {width}")
            if block.bias is not None and leaves[block.bias].size != n_out:
                raise InputError(f"{where}: its bias {names[block.bias]} has "
                                 f"{leaves[block.bias].size} numbers, the layer {n_out} units")
            read.append((where, Dense(int(n_out), bias=block.bias is not None)))
            width = n_out
            grid = jnp.linspace(-GRID, GRID, 16 * n_out, dtype=jnp.float64).reshape(16, n_out)
            x = jnp.zeros((16, blocks[0].given.aval.shape[1]), jnp.float64)
            args = [*jax.tree_util.tree_leaves(params64), x]
            _, env = evaluate(closed.jaxpr, closed.consts, args, replace={block.z: grid})
            after = env[block.a]
            nxt = f"block {l + 1}" if l < len(blocks) else "the output"
            name = between(grid, after, f"{where}'s Z", nxt)
            if name is not None:
                read.append((f"{where} (its activation)", Activation(*name)))
    if fused:
        if not isinstance(read[-1][1], Dense):
            raise InputError(f"{read[-1][0]} comes after the last dense layer, but the loss "
                             f"applies {fused} itself (it takes logits): the output would go "
                             f"through {fused} twice")
        read.append((f"the loss ({fused})", Activation(fused)))
    first = leaves[blocks[0].weight].shape
    n_in = first[1] if blocks[0].transposed else first[0]
    return read_network(int(n_in), read), closed, blocks


class JaxModel(UserImplementation):
    convention = "jax"
    holds_weights = True

    def __init__(self, params, apply, optimizer, loss, name, origin, settings=None):
        if not callable(apply):
            raise InputError(f"apply must be a function apply(params, x), got "
                             f"{type(apply).__name__}")
        leaves = jax.tree_util.tree_leaves(params)
        floats = all(hasattr(leaf, "shape") and np.asarray(leaf).dtype.kind == "f"
                     for leaf in leaves)
        if not leaves or not floats:
            raise InputError("params must be a pytree of float arrays (lists, tuples, dicts of "
                             "jnp / np arrays)")
        self.params, self.apply, self.name, self.origin = params, apply, name, origin
        self.tx = optimizer
        self.loss, self.loss_fields, self.fused = read_loss(loss, model_output=None)
        self.layers, self.closed, self.blocks = read_layers(apply, params, self.fused)
        if loss is not None and not self.loss_fields:
            self.loss, self.loss_fields, self.fused = read_loss(
                loss, model_output=self.layers.activations[-1], width=self.layers.sizes[-1])
            if self.fused:
                self.layers, self.closed, self.blocks = read_layers(apply, params, self.fused)
        fields, self.convention = read_optimizer(optimizer, settings, self.layers)
        self.settings = {**fields, "sizes": [self.layers.n_in], "layers": self.layers}
        names = leaf_names(params)
        self.vocabulary = {}
        for l, block in enumerate(self.blocks, start=1):
            self.vocabulary[f"W{l}"] = f"params{names[block.weight]}"
            if block.bias is not None:
                self.vocabulary[f"b{l}"] = f"params{names[block.bias]}"

    def layout(self, block):
        """The convention whose layout a weight leaf is in: (in, out) JAX's, (out, in) torch's."""
        return "torch" if block.transposed else "jax"

    @property
    def sizes(self):
        return self.layers.sizes

    def network(self):
        return {**self.loss_fields, **self.settings}

    def build(self, spec, params, convention):
        return JaxRun(self, spec, params)

    def initial_params(self, spec):
        """Your pytree's own weights, [(W, b)] per block in the scratch layout (convert.py)."""
        leaves = [np.asarray(leaf, np.float64) for leaf in jax.tree_util.tree_leaves(self.params)]
        out = []
        for l, block in enumerate(self.blocks, start=1):
            W = convert.to_scratch(self.layout(block), f"W{l}", leaves[block.weight], self.layers)
            if block.bias is not None:
                b = leaves[block.bias].reshape(-1, 1)
            else:
                b = np.zeros((W.shape[0], 1))
            out.append((np.array(W), b))
        return out


class JaxRun:
    """One run of the user's apply (as its jaxpr) and optimizer. step(X, Y) -> record in the
    scratch layout."""

    def __init__(self, user, spec, params):
        if spec.network.layers != user.layers.layers:
            raise InputError(f"{user.label} is {user.layers.describe()}, the spec asks for "
                             f"{spec.network.describe()}")
        fields = user.loss_fields
        if fields and (fields["loss"], fields["reduction"]) != (spec.loss, spec.reduction):
            raise InputError(f"{user.label}'s loss is {fields}, the spec asks for {spec.loss} "
                             f"({spec.reduction})")
        self.user, self.spec = user, spec
        self.on = spec.dtype == "float64"
        self.dtype = jnp.float64 if self.on else jnp.float32
        with x64(self.on):
            leaves, self.treedef = jax.tree_util.tree_flatten(user.params)
            leaves = [jnp.asarray(leaf, self.dtype) for leaf in leaves]
            for l, block in enumerate(user.blocks, start=1):
                W, b = dense_params(params, l)
                weight = convert.from_scratch(user.layout(block), f"W{l}", np.asarray(W),
                                              spec.network)
                leaves[block.weight] = jnp.asarray(weight, self.dtype)
                if block.bias is not None:
                    bias = np.asarray(b).reshape(leaves[block.bias].shape)
                    leaves[block.bias] = jnp.asarray(bias, self.dtype)
            self.params = jax.tree_util.tree_unflatten(self.treedef, leaves)
            self.tx = user.tx if user.tx is not None else make_tx(spec)
            self.opt_state = self.tx.init(self.params)
            self.jitted = jax.jit(self.traced_step)
            self.predict_jit = jax.jit(self.traced_predict)

    def forward(self, params, x, taps=None):
        """apply(params, x) as its jaxpr, retraced for x's batch; -> (output, env of the vars)."""
        closed = jax.make_jaxpr(self.user.apply)(params, x)
        blocks = walk(closed, len(jax.tree_util.tree_leaves(params)))
        taps = {blocks[l].z: t for l, t in enumerate(taps)} if taps is not None else None
        args = [*jax.tree_util.tree_leaves(params), x]
        outs, env = evaluate(closed.jaxpr, closed.consts, args, taps=taps)
        return outs[0], {f"Z{l}": env[b.z] for l, b in enumerate(blocks, start=1)} | \
            {f"A{l}": env[b.a] for l, b in enumerate(blocks, start=1)}

    def traced_step(self, params, opt_state, x, y):
        taps = [jnp.zeros((x.shape[0], n), x.dtype) for n in self.spec.sizes[1:]]

        def objective(params, taps):
            out, values = self.forward(params, x, taps)
            return loss_value(self.user, self.spec, out, y), (out, values)

        gradient = jax.value_and_grad(objective, argnums=(0, 1), has_aux=True)
        (loss, (out, values)), (grads, dtaps) = gradient(params, taps)
        updates, opt_state = self.tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss, out, values, grads, dtaps

    def step(self, X, Y):
        with x64(self.on):
            params, self.opt_state, loss, out, values, grads, dtaps = self.jitted(
                self.params, self.opt_state, jnp.asarray(X, self.dtype), jnp.asarray(Y, self.dtype))
            self.params = params
            record = {"loss": np.asarray(loss)}
            L = len(self.user.blocks)
            for l in range(1, L + 1):
                record[f"Z{l}"] = np.asarray(values[f"Z{l}"])
                record[f"A{l}"] = np.asarray(values[f"A{l}"])
                record[f"dZ{l}"] = np.asarray(dtaps[l - 1])
            if self.user.fused:
                record[f"A{L}"] = np.asarray(fused_output(self.user.fused, out))
            leaves = jax.tree_util.tree_leaves(params)
            grad_leaves = jax.tree_util.tree_leaves(grads)
            scratch = {}
            for l, block in enumerate(self.user.blocks, start=1):
                convention = self.user.layout(block)
                for role, index in (("W", block.weight), ("b", block.bias)):
                    if index is None:
                        continue
                    slots = [(f"{role}{l}.{slot}", jax.tree_util.tree_leaves(tree)[index])
                             for slot, tree in slot_trees(self.opt_state)]
                    tensors = ((f"{role}{l}", leaves[index]), (f"d{role}{l}", grad_leaves[index]),
                               *slots)
                    for name, value in tensors:
                        value = np.asarray(value)
                        if role == "b":                  # a bias (or its state): (out,) or (1, out)
                            scratch[name] = value.reshape(-1, 1)
                        else:
                            scratch[name] = convert.to_scratch(convention, name, value,
                                                               self.spec.network)
            out = convert.record_to_scratch("jax", record, self.spec.network, X.shape[0])
            out.update(scratch)
            return out

    def traced_predict(self, params, x):
        return fused_output(self.user.fused, self.forward(params, x)[0])

    def predict(self, X):
        with x64(self.on):
            out = self.predict_jit(self.params, jnp.asarray(X, self.dtype))
            return convert.rows_to_batch(np.asarray(out))


def walk(closed, n):
    """The dense blocks of a closed jaxpr whose first n invars are the params' leaves, in the order
    they run: a dot_general of the running activation with (a transpose of) a leaf opens one; an
    add of its product with (a broadcast or reshape of) a leaf is its Z and bias."""
    jaxpr = closed.jaxpr
    leaf_of = {v: i for i, v in enumerate(jaxpr.invars[:n])}
    derived = dict(leaf_of)                        # var -> the leaf it is a broadcast / reshape of
    users, blocks = {}, []
    for eqn in jaxpr.eqns:
        for v in eqn.invars:
            if not isinstance(v, jax_core.Literal):
                users.setdefault(v, []).append(eqn)
    same = ("broadcast_in_dim", "reshape", "convert_element_type", "squeeze", "expand_dims")
    for eqn in jaxpr.eqns:         # first every leaf's broadcasts (a bias's come after x @ W)
        name = eqn.primitive.name
        if name in same and eqn.invars[0] in derived:
            derived[eqn.outvars[0]] = derived[eqn.invars[0]]
        if name == "transpose" and eqn.invars[0] in leaf_of:
            derived[eqn.outvars[0]] = ("T", leaf_of[eqn.invars[0]])
    for eqn in jaxpr.eqns:
        if eqn.primitive.name != "dot_general":
            continue
        a, w = eqn.invars
        weight = derived.get(w)
        if weight is None:
            raise InputError(f"apply multiplies by something that is not one of your params' "
                             f"leaves (block {len(blocks) + 1}): dense layers x @ W (+ b) are "
                             f"mirrored")
        (_, contract_w), _ = eqn.params["dimension_numbers"]
        transposed = tuple(contract_w) == (1,)                   # x @ W.T: W is (out, in)
        if isinstance(weight, tuple):                            # W.T first, then x @ it
            weight, transposed = weight[1], not transposed
        z, bias = eqn.outvars[0], None
        for user in users.get(z, []):
            if user.primitive.name == "add":
                other = [v for v in user.invars if v is not z]
                if other and other[0] in derived and not isinstance(derived[other[0]], tuple):
                    z, bias = user.outvars[0], derived[other[0]]
                break
        if blocks:
            blocks[-1].a = a
        blocks.append(Block(weight, transposed, a, z, bias))
    if not blocks:
        raise InputError("apply has no dense layer (x @ W with W one of your params' leaves)")
    blocks[-1].a = jaxpr.outvars[0]
    return blocks


def fused_output(fused, out):
    if fused == "softmax":
        return jax.nn.softmax(out, axis=-1)
    if fused == "sigmoid":
        return jax.nn.sigmoid(out)
    return out


def jax_model(params, apply, optimizer=None, loss=None, *, name=None, settings=None):
    """Your params pytree and apply(params, x), with your Optax optimizer and loss -> a
    UserImplementation (module docstring). settings: the optimizer's Spec fields given
    explicitly."""
    caller = inspect.currentframe().f_back
    origin = f"{caller.f_code.co_filename}:{caller.f_lineno}" if caller else None
    return JaxModel(params, apply, optimizer, loss, name, origin, settings)
