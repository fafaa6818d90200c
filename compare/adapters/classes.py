"""compare.network_class: a network kept in a class, in one of two well-known styles, checked unchanged.

style='nielsen' (Michael Nielsen's network.py):
    net.sizes, net.weights [(n_l, n_{l-1})], net.biases [(n_l, 1)], sigmoid everywhere;
    net.feedforward(a) for one example (n_0, 1); net.backprop(x, y) -> (nabla_b, nabla_w) for ONE
    example; net.update_mini_batch(mini_batch, eta): w - (eta / len(mini_batch)) * sum of nabla_w.
    What it mirrors: Nielsen's quadratic cost C = 1/(2m) sum_x ||y - a||^2, whose gradient is the
    mean over the batch of nabla = (a - y) * sigmoid'(z) ...  The references compute the spec's
    'mse' with reduction 'mean', L = 1/(n_L m) sum_x ||y - a||^2, whose gradient is 2/n_L times
    Nielsen's. So, exactly (no factor is hidden):
        dW_l, db_l compared = (2 / n_L) * mean over the batch of nabla_w[l-1], nabla_b[l-1]
                              (stated in notes['dW'], notes['db'])
        eta handed to update_mini_batch = 2 * lr / n_L, which makes Nielsen's step
              w - eta * mean(nabla_w) = w - lr * (2 / n_L) mean(nabla_w) = the references' w - lr * dW
    (checked: examples/nielsen_network.py agrees to ~1e-15 with torch and Keras.) The class fixes
    plain SGD and this cost: `settings` applies optimizer sgd, no momentum, loss mse, reduction
    mean to the references. Forward intermediates: backprop keeps zs and activations to itself,
    so only A_L (feedforward, per example) is compared; Z, the hidden A, dZ and the loss are listed
    as not given.

style='cs231n' (the cs231n assignments' TwoLayerNet / FullyConnectedNet):
    net.params {'W1': (n_0, n_1), 'b1': (n_1,), ...} (one example per row, W (in, out), flat b);
    net.loss(X) -> scores (Z_L, rows); net.loss(X, y) -> (loss, grads) with integer labels y (m,),
    softmax cross-entropy averaged over the batch. The update is the spec's optimizer on grads
    (scratch/optimizers.py), unless update=f(net, grads, lr) is given. Regularisation: reg = 0
    only (net.reg is set to 0.0 and reg=0.0 is passed when loss takes it).

Layouts go through compare/engine/convert.py. Left out: other class styles, Nielsen's
cross-entropy cost (network2.py), dropout, batch norm.
"""
import copy
import inspect

import numpy as np

from ..engine import convert, guard
from ..engine.errors import InputError
from . import values
from .base import UserImplementation
from .boundary import UserCodeFailed
from .functions import network_fields
from .layer_functions import opener, scratch_tensor, user_block

NIELSEN_LAYOUT = convert.Layout()
CS231N_LAYOUT = convert.Layout(examples="rows", weights="in_out", bias="flat", labels="integer")


def need(obj, attributes, style):
    missing = [a for a in attributes if not hasattr(obj, a)]
    if missing:
        raise InputError(f"{type(obj).__name__} has no {', '.join(missing)}: a {style}-style class needs "
                         f"{', '.join(attributes)}")


class NetworkClass(UserImplementation):
    """A class in Nielsen's or cs231n's style (module docstring)."""

    def __init__(self, obj_or_class, style, name=None, network=None, update=None, args=None, origin=None):
        if style not in ("nielsen", "cs231n"):
            raise InputError(f"style {style!r}: choose 'nielsen' (network.py) or 'cs231n' (params dict, loss(X, y))")
        self.target, self.style, self.name, self.origin = obj_or_class, style, name, origin
        self.args, self.update = args, update
        self.fields = network_fields(network)
        if args is not None and not isinstance(args, (list, tuple)):
            raise InputError(f"args must be a tuple of arguments for the class, got {type(args).__name__}")
        if update is not None and not callable(update):
            raise InputError(f"update: expected a function f(net, grads, lr), got {type(update).__name__}")
        if style == "nielsen":
            self.layout = NIELSEN_LAYOUT
            self.settings = {"optimizer": "sgd", "momentum": 0.0, "nesterov": False, "loss": "mse", "reduction": "mean"}
            self.vocabulary = {"dW1": "nabla_w[0]", "db1": "nabla_b[0]", "W1": "weights[0]", "b1": "biases[0]",
                               "A_L": "feedforward(x)"}
            self.notes = {"dW": "(2 / n_L) x the mean over the batch of backprop's nabla_w: Nielsen's cost "
                                "1/(2m) sum ||y - a||^2 vs mse's 1/(n_L m) sum ||y - a||^2",
                          "db": "(2 / n_L) x the mean of nabla_b (as dW)",
                          "params": "update_mini_batch is called with eta = 2 lr / n_L (the same step as lr on mse)"}
            if not isinstance(obj_or_class, type):
                need(obj_or_class, ("sizes", "weights", "biases", "backprop", "update_mini_batch", "feedforward"),
                     style)
        else:
            self.layout = CS231N_LAYOUT
            self.settings = {"loss": "categorical_crossentropy", "reduction": "mean"}
            self.vocabulary = {"dW1": "grads['W1']", "db1": "grads['b1']", "W1": "params['W1']", "b1": "params['b1']"}
            self.notes = {"Z_L": "net.loss(X) (the scores)", "reg": "reg = 0 only"}
            if update is None:
                self.notes["params"] = "grads are applied by the spec's optimizer (scratch/optimizers.py)"
            if not isinstance(obj_or_class, type):
                need(obj_or_class, ("params", "loss"), style)

    def entry(self):
        """cs231n without update=: the spec's optimizer runs in each reference's conventions."""
        entry = super().entry()
        entry.name = entry.name or "mine"           # declared in a file, it is named by its variable
        if self.style == "cs231n" and self.update is None:
            entry.conventions = ("torch", "keras")
        return entry

    def instance(self, sizes, door):
        """A fresh object, made through the door: the class built (with args, else the sizes), or a
        copy of the instance."""
        if isinstance(self.target, type):
            with door.calling(f"{self.target.__name__}(...)"):
                return self.target(*self.args) if self.args is not None else self.target(list(sizes))
        with door.calling(f"a copy of {type(self.target).__name__}"):
            return copy.deepcopy(self.target)

    def network(self):
        fields = {}
        sizes = getattr(self.target, "sizes", None) if not isinstance(self.target, type) else None
        if sizes is None and self.style == "cs231n" and not isinstance(self.target, type) and \
                not self.fields.get("layers"):             # a declared layer list (a CNN): its own widths
            params = self.target.params
            try:
                L = sum(1 for k in params if str(k).startswith("W"))
                sizes = [np.shape(params["W1"])[0]] + [np.shape(params[f"W{l}"])[1] for l in range(1, L + 1)]
            except (KeyError, IndexError, TypeError, ValueError):
                raise InputError(f"{type(self.target).__name__}.params must be a dict of 2-d arrays 'W1', 'b1', "
                                 f"'W2', ... (cs231n style)") from None
        if sizes is not None:
            if isinstance(sizes, (str, bytes)) or not isinstance(sizes, (list, tuple, np.ndarray)) or \
                    not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n > 0 for n in sizes) \
                    or len(sizes) < 2:
                raise InputError(f"{type(self.target).__name__}.sizes must be a list of positive whole numbers, "
                                 f"e.g. [784, 30, 10], got {sizes!r}"[:300])
            sizes = [int(n) for n in sizes]
            last = "sigmoid" if self.style == "nielsen" else "softmax"
            hidden = "sigmoid" if self.style == "nielsen" else "relu"
            fields = {"sizes": sizes, "activations": [hidden] * (len(sizes) - 2) + [last]}
        fields.update(self.settings)
        fields.update(self.fields)
        return fields

    def user_params(self, net, L):
        if self.style == "nielsen":
            return list(zip(net.weights, net.biases))
        return [(net.params[f"W{l}"], net.params[f"b{l}"]) for l in range(1, L + 1)]

    def initial_params(self, spec):
        """The weights of a fresh object (made with the generators seeded from the spec's seed),
        each checked (values.initial) and converted to the scratch layout."""
        net = self.instance(spec.sizes, self.door(spec.seed))
        if images(spec) and self.style == "cs231n":
            return cs231n_image_params(net, spec)
        label = f"{type(net).__name__}'s {'weights and biases' if self.style == 'nielsen' else 'params'}"
        frames = values.function_frames(type(net).__init__)
        try:
            pairs = self.user_params(net, spec.n_layers)
        except (AttributeError, KeyError, TypeError) as error:
            raise UserCodeFailed(f"your {label} cannot be read: {type(error).__name__}: {error}", "TypeError",
                                 frames) from None
        zeros = [(np.zeros((n_out, n_in)), np.zeros((n_out, 1))) for n_in, n_out in zip(spec.sizes, spec.sizes[1:])]
        expected = [(W.shape, b.shape) for W, b in convert.params_to_layout(zeros, self.layout)]
        if len(pairs) != spec.n_layers:
            raise UserCodeFailed(f"your {label} hold {len(pairs)} layers; the network "
                                 f"{'-'.join(map(str, spec.sizes))} has {spec.n_layers}", "ValueError", frames)
        values.initial(pairs, spec.sizes, self.layout, label, type(net).__init__, expected)
        return convert.params_from_layout(pairs, spec.sizes, self.layout)

    def build(self, spec, params, convention):
        door = self.door(spec.seed)
        net = self.instance(spec.sizes, door)
        mine = convert.params_to_layout(params, self.layout) if not images(spec) else None
        if self.style == "nielsen":
            net.weights = [W for W, b in mine]
            net.biases = [b for W, b in mine]
            return NielsenRun(net, spec, door)
        if images(spec):                                   # a CNN: block by block (layer_functions.py)
            for p in spec.network.placed:
                if p.layer.opens_block:
                    net.params.update(user_block(spec.network, p, *params[p.block - 1]))
        for l, (W, b) in enumerate([] if images(spec) else mine, start=1):
            net.params[f"W{l}"], net.params[f"b{l}"] = W, b
        if hasattr(net, "reg"):
            net.reg = 0.0
        return Cs231nRun(net, spec, convention, self.update, door)


def images(spec):
    """Whether the spec's network takes images (a CNN: its layouts go block by block)."""
    return bool(spec.network.input_shape)


def cs231n_image_params(net, spec):
    """A cs231n CNN's initial params {'W1': (F, C, HH, WW), 'b1': (F,), 'W2': (D, M), ...} -> [(W, b)]
    in the scratch layout, each shape asserted (an InputError naming the one that is not)."""
    out = []
    for p in spec.network.placed:
        if not p.layer.opens_block:
            continue
        user = user_block(spec.network, p, *[np.zeros(s) for s in p.layer.params(p.n_in).values()])
        pair = []
        for name, want in user.items():
            value = np.asarray(net.params.get(name), np.float64) if name in net.params else None
            if value is None or value.shape != want.shape:
                raise InputError(f"{type(net).__name__}.params[{name!r}] has shape "
                                 f"{None if value is None else value.shape}; the layer list's "
                                 f"{p.layer.describe()} needs {want.shape} (cs231n's layout)")
            pair.append(scratch_tensor(spec.network, p, name, value, None))
        out.append(tuple(pair))
    return out


def gradient_lists(result, L, role, method):
    """backprop's (nabla_b, nabla_w): two lists of L arrays of numbers, else UserCodeFailed."""
    if not isinstance(result, (tuple, list)) or len(result) != 2 or \
            not all(isinstance(part, (tuple, list)) and len(part) == L for part in result):
        raise UserCodeFailed(f"your {role} returned {values.container_words(result)}, not (nabla_b, nabla_w): two "
                             f"lists of {L} arrays", "TypeError", values.function_frames(method))
    for kind, part in zip(("nabla_b", "nabla_w"), result):
        for l, value in enumerate(part):
            values.check_tensor(f"{kind}[{l}]", value, role, method)
    return result


class NielsenRun:
    def __init__(self, net, spec, door):
        self.net, self.spec, self.L, self.door = net, spec, spec.n_layers, door
        self.scale = 2.0 / spec.sizes[-1]          # mse (mean over units and examples) vs Nielsen's 1/(2m)
        self.missing = {"Z": "backprop keeps zs to itself", "A": f"only A{self.L} is given (feedforward)",
                        "dZ": "backprop keeps delta to itself", "loss": "the class computes no cost"}

    def columns(self, X, Y):
        Xc = convert.batch_to_layout(X, NIELSEN_LAYOUT)
        Yc = convert.targets_to_layout(Y, NIELSEN_LAYOUT)
        return [Xc[:, [i]] for i in range(Xc.shape[1])], [Yc[:, [i]] for i in range(Yc.shape[1])]

    def unchanged(self, xs, ys, given, role):
        """The columns x and y handed to the class are the batch's still: one that `role` changed in
        place is the implementation's failure (guard.InputChanged), as a changed X is for any adapter."""
        for name, parts, before in (("x", xs, given[0]), ("y", ys, given[1])):
            if not np.array_equal(np.hstack(parts), before):
                owner = self.door.owner
                raise guard.InputChanged(
                    f"{getattr(owner, 'label', 'mine')}: your {role} changed its input {name} (an example of the "
                    f"batch) in place: compute on a new array ({name} = {name} / 255, not {name} /= 255)",
                    guard.where(getattr(owner, "origin", None)))

    def outputs(self, xs):
        with self.door.calling("feedforward"):            # one door for the batch's examples (cheaper)
            outs = [self.net.feedforward(x) for x in xs]
        return np.hstack([np.asarray(values.check_tensor(f"A{self.L}", a, "feedforward", self.net.feedforward))
                          for a in outs])

    def step(self, X, Y):
        m, sizes = X.shape[0], self.spec.sizes
        xs, ys = self.columns(X, Y)
        given = (np.hstack(xs), np.hstack(ys))
        record = {f"A{self.L}": self.outputs(xs)}
        self.unchanged(xs, ys, given, "feedforward")
        sum_b = sum_w = None
        with self.door.calling("backprop"):
            for x, y in zip(xs, ys):     # each result summed before the next call, as update_mini_batch does:
                result = self.net.backprop(x, y)      # a backprop handing back buffers it fills is right there
                nabla_b, nabla_w = gradient_lists(result, self.L, "backprop", self.net.backprop)
                sum_b = [np.array(n) for n in nabla_b] if sum_b is None else [s + n for s, n in zip(sum_b, nabla_b)]
                sum_w = [np.array(n) for n in nabla_w] if sum_w is None else [s + n for s, n in zip(sum_w, nabla_w)]
        self.unchanged(xs, ys, given, "backprop")
        for l in range(1, self.L + 1):
            record[f"dW{l}"] = np.asarray(sum_w[l - 1]) / m * self.scale
            record[f"db{l}"] = np.asarray(sum_b[l - 1]) / m * self.scale
        with self.door.calling("update_mini_batch"):
            self.net.update_mini_batch(list(zip(xs, ys)), self.spec.lr * self.scale)
        self.unchanged(xs, ys, given, "update_mini_batch")
        for l in range(1, self.L + 1):
            for name, kept in ((f"W{l}", "weights"), (f"b{l}", "biases")):
                held = getattr(self.net, kept, None)
                value = held[l - 1] if isinstance(held, (list, tuple)) and len(held) == self.L else held
                record[name] = np.array(values.check_tensor(f"{kept}[{l - 1}]", value, "update_mini_batch",
                                                            self.net.update_mini_batch))
        return {n: convert.tensor_from_layout(n, v, NIELSEN_LAYOUT, sizes, m) for n, v in record.items()}

    def predict(self, X):
        xs, _ = self.columns(X, np.zeros((len(X), self.spec.sizes[-1])))
        return self.outputs(xs)


class Cs231nRun:
    def __init__(self, net, spec, convention, update, door):
        self.net, self.spec, self.L, self.update, self.door = net, spec, spec.n_layers, update, door
        self.takes_reg = "reg" in inspect.signature(net.loss).parameters
        self.optimizer = None
        if update is None:
            from scratch.optimizers import make_optimizer
            self.optimizer = make_optimizer(spec.optimizer, spec.hyper(convention), convention)
        self.missing = {"Z": f"only Z{self.L} is given (the scores of loss(X))", "A": "loss(X, y) keeps them to itself",
                        "dZ": "loss(X, y) keeps them to itself"}

    def loss(self, X, y=None):
        with self.door.calling("loss"):
            return self.net.loss(X, y, reg=0.0) if self.takes_reg else self.net.loss(X, y)

    def tensor(self, name, value, m):
        """One of the class's tensors -> the scratch layout (a CNN's block by block: layer_functions.py)."""
        if images(self.spec) and name != "loss":
            return scratch_tensor(self.spec.network, opener(self.spec.network, name), name, value, m)
        return convert.tensor_from_layout(name, value, CS231N_LAYOUT, self.spec.sizes, m)

    def step(self, X, Y):
        m, sizes, layout = X.shape[0], self.spec.sizes, CS231N_LAYOUT
        Xu, y = convert.batch_to_layout(X, layout), convert.targets_to_layout(Y, layout)
        if images(self.spec):
            Xu = convert.inputs_to_framework("torch", X, self.spec.network)     # (N, C, H, W)
        method = self.net.loss
        labels = np.array(y)                       # y is derived here: the guard cannot see a change to it
        record = {f"Z{self.L}": np.array(values.check_tensor(f"Z{self.L}", self.loss(Xu), "loss(X)", method))}
        result = self.loss(Xu, y)
        if not np.array_equal(y, labels):
            owner = self.door.owner
            raise guard.InputChanged(f"{getattr(owner, 'label', 'mine')}: your loss(X, y) changed its input y (the "
                                     f"labels) in place: compute on a new array (never write into y)",
                                     guard.where(getattr(owner, "origin", None)))
        if not isinstance(result, (tuple, list)) or len(result) != 2 or not isinstance(result[1], dict):
            raise UserCodeFailed(f"your loss(X, y) returned {values.container_words(result)}, not (loss, grads) with "
                                 f"grads a dict", "TypeError", values.function_frames(method))
        loss, grads = result
        record["loss"] = np.asarray(values.check_tensor("loss", loss, "loss(X, y)", method))
        for l in range(1, self.L + 1):
            for kind in "Wb":
                if f"{kind}{l}" in grads:
                    value = values.check_tensor(f"grads[{kind + str(l)!r}]", grads[f"{kind}{l}"], "loss(X, y)", method)
                    record[f"d{kind}{l}"] = np.array(value)
        record = {n: self.tensor(n, v, m) for n, v in record.items()}
        if self.update is not None:
            with self.door.calling(getattr(self.update, "__name__", "update")):
                self.update(self.net, grads, self.spec.lr)
        else:
            params = {n: self.tensor(n, np.asarray(self.net.params[n]), m)
                      for l in range(1, self.L + 1) for n in (f"W{l}", f"b{l}")}
            usable = {n: p for n, p in params.items() if np.shape(record.get("d" + n)) == np.shape(p)}
            stepped = self.optimizer.step(usable, record) if usable else {}
            new = [(stepped.get(f"W{l}", params[f"W{l}"]), stepped.get(f"b{l}", params[f"b{l}"]))
                   for l in range(1, self.L + 1)]
            if images(self.spec):
                for p in self.spec.network.placed:
                    if p.layer.opens_block:
                        self.net.params.update(user_block(self.spec.network, p, *new[p.block - 1]))
            else:
                for l, (W, b) in enumerate(convert.params_to_layout(new, layout), start=1):
                    self.net.params[f"W{l}"], self.net.params[f"b{l}"] = W, b
        for l in range(1, self.L + 1):
            for n in (f"W{l}", f"b{l}"):
                value = values.check_tensor(f"params[{n!r}]", self.net.params.get(n), "update", self.update or method)
                record[n] = self.tensor(n, np.array(value), m)
        return record


def network_class(obj_or_class, style="nielsen", *, name=None, network=None, update=None, args=None):
    """Your network class (an instance, or the class: built with `args`, else with the sizes) as
    an implementation compare can check (see the module docstring)."""
    caller = inspect.currentframe().f_back
    origin = f"{caller.f_code.co_filename}:{caller.f_lineno}" if caller else None
    return NetworkClass(obj_or_class, style, name=name, network=network, update=update, args=args, origin=origin)
