"""compare.functions: a learner's blog-style NumPy functions, checked unchanged.

    mine = compare.functions(forward_prop, backward_prop, update_params, init_params)

    init_params()                                   -> W1, b1, W2, b2
    forward_prop(W1, b1, W2, b2, X)                 -> Z1, A1, Z2, A2
    backward_prop(Z1, A1, Z2, A2, W1, W2, X, Y)     -> dW1, db1, dW2, db2   (dZ's too, if returned)
    update_params(W1, b1, W2, b2, dW1, db1, dW2, db2, alpha) -> W1, b1, W2, b2

Arguments and results are positional, in the user's own order. Which tensor each position is:
read from the argument names (inspect.signature) and from the names in the function's
`return a, b, c` (ast), case-insensitively, in the usual spellings (W1/w1, X/A0, Y/one_hot_Y,
alpha/lr/learning_rate/eta, m, dZ1/dz1, ...); or declared in a few words, e.g.
forward_returns="Z1 A1 Z2 A2". Three words stand for a dict the user keeps (keys read the
same way): `params` (W1, b1, ...), `cache` (Z1, A1, ...), `grads` (dW1, db1, ...); `_` is a
result that is not compared. What cannot be mapped is an InputError naming the function.

Conventions (compare/adapters/base.py): `layout` (compare.Layout: examples columns/rows,
weights out_in/in_out, bias column/flat/row, labels one_hot/integer); batch_mean 'in_dW' (dZ_L =
A_L - Y, the 1/m in dW and db: every dZ is divided by m before it is compared) or 'in_dZ';
update_kind 'own' (the user's update runs) or 'spec' (the spec's optimizer on the user's
gradients). Layout changes go through compare/engine/convert.py. The user's tensors are
handed over as they are: a wrong shape is reported (with what it looks like), never fixed here.

Left out: init functions that take arguments other than `init_args`; more than one batch
per call (a user's training loop); regularisation terms.
"""
import ast
import dataclasses
import difflib
import inspect
import re
import textwrap

import numpy as np

from ..engine import convert
from ..engine.errors import InputError
from ..engine.spec import Spec
from . import values
from .base import UserImplementation
from .boundary import UserCodeFailed, function_place

# the user's spellings (lower case) -> our name; layer-numbered names are read by _NUMBERED
SPELLINGS = {
    "x": "X", "a0": "X", "inputs": "X", "input": "X",
    "y": "Y", "one_hot_y": "Y", "y_onehot": "Y", "y_one_hot": "Y", "onehot_y": "Y", "one_hot": "Y",
    "labels": "Y", "targets": "Y", "y_true": "Y", "t": "Y",
    "alpha": "lr", "lr": "lr", "learning_rate": "lr", "eta": "lr",
    "m": "m", "params": "params", "parameters": "params", "cache": "cache", "caches": "cache",
    "grads": "grads", "gradients": "grads", "_": "_", "loss": "loss", "cost": "loss",
}
_NUMBERED = re.compile(r"^(dz|dw|db|z|a|w|b)(\d+)$")
_TENSOR = re.compile(r"^(dZ|dW|db|Z|A|W|b)\d+$|^loss$")      # our names of compared tensors
KINDS = {"dz": "dZ", "dw": "dW", "db": "db", "z": "Z", "a": "A", "w": "W", "b": "b"}
DICTS = ("params", "cache", "grads")
EXAMPLE = {"forward_returns": "Z1 A1 Z2 A2", "backward_returns": "dW1 db1 dW2 db2", "update_returns": "W1 b1 W2 b2",
           "init_returns": "W1 b1 W2 b2", "loss_returns": "loss"}


def canonical(word):
    """A user's name -> ours ('w1' -> 'W1', 'one_hot_Y' -> 'Y', 'alpha' -> 'lr', 'A0' -> 'X'), or None."""
    low = str(word).strip().lower()
    if low in SPELLINGS:
        return SPELLINGS[low]
    match = _NUMBERED.match(low)
    if match is None or int(match[2]) == 0 and match[1] != "a":
        return None
    kind, layer = KINDS[match[1]], int(match[2])
    return "X" if (kind, layer) == ("A", 0) else f"{kind}{layer}"


def declared_words(text, function, keyword):
    """'Z1 A1 Z2 A2' (or a list) -> ['Z1', 'A1', 'Z2', 'A2'], each a name we know."""
    if not isinstance(text, (str, list, tuple)) or not all(isinstance(w, str) for w in text):
        raise InputError(f"{keyword} must be a string of names (e.g. {keyword}='{EXAMPLE.get(keyword, 'Z1 A1 Z2 A2')}') "
                         f"or a list of them, got {type(text).__name__} {text!r}"[:300])
    words = text.replace(",", " ").split() if isinstance(text, str) else list(text)
    out = []
    for word in words:
        name = canonical(word)
        if name is None:
            raise InputError(f"{keyword}={text!r}: {word!r} is not a name of the network (Z1 A1 dZ1 dW1 db1 W1 b1, "
                             f"X, Y, lr, m, params, cache, grads, or _ for a result not compared)")
        out.append(name)
    return out


def argument_names(function, keyword, declared=None):
    """The names of a function's arguments, ours, in its order. -> [name or None (has a default: left out)]"""
    if declared is not None:
        return declared_words(declared, function, keyword)
    out = []
    for parameter in inspect.signature(function).parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise InputError(f"{function.__name__} takes *{parameter.name}: give {keyword}='...' naming its arguments")
        name = canonical(parameter.name)
        if name is None:
            if parameter.default is not parameter.empty:
                out.append(None)
                continue
            raise InputError(f"{function.__name__}: cannot tell what its argument {parameter.name!r} is: give "
                             f"{keyword}='...' (e.g. {keyword}='W1 b1 W2 b2 X')")
        out.append(name)
    return out


def return_names(function, keyword, declared=None):
    """The names of a function's results, ours, read from its `return a, b, c`. -> [name]"""
    if declared is not None:
        return declared_words(declared, function, keyword)
    label = getattr(function, "__name__", "the function")
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (OSError, TypeError, SyntaxError):
        raise InputError(f"{label}: its source cannot be read to find what it returns: give {keyword}='...'") from None
    body = tree.body[0]
    returns = [node for node in walk_own(body) if isinstance(node, ast.Return)]
    shapes = set()
    for node in returns:
        value = node.value
        items = value.elts if isinstance(value, (ast.Tuple, ast.List)) else [value]
        if value is None or not all(isinstance(item, ast.Name) for item in items):
            raise InputError(f"{label} returns `{ast.unparse(value) if value is not None else 'None'}`, not a tuple "
                             f"of plain names: give {keyword}='...' (e.g. {keyword}='{EXAMPLE[keyword]}')")
        shapes.add(tuple(item.id for item in items))
    if len(shapes) != 1:
        raise InputError(f"{label} has {'no' if not shapes else 'different'} return statements: give {keyword}='...'")
    words = shapes.pop()
    out = []
    for word in words:
        name = canonical(word)
        if name is None:
            raise InputError(f"{label} returns {word!r}, which is not a name of the network: give "
                             f"{keyword}='...' (use _ for a result not compared)")
        out.append(name)
    return out


def return_line(function):
    """The line (in its file) of a function's first return statement, or None."""
    code = getattr(function, "__code__", None)
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (OSError, TypeError, SyntaxError):
        return None
    returns = sorted(node.lineno for node in walk_own(tree.body[0]) if isinstance(node, ast.Return))
    return code.co_firstlineno + returns[0] - 1 if returns and code is not None else None


def walk_own(node):
    """ast.walk without descending into nested functions, lambdas or classes."""
    todo = list(ast.iter_child_nodes(node))
    while todo:
        child = todo.pop()
        yield child
        if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            todo.extend(ast.iter_child_nodes(child))


def read_dict(value, where):
    """A user's dict ({'W1': .., 'b1': ..} or {'Z1': .., 'A1': ..}) -> {our name: array}; keys we
    cannot read are left out."""
    out = {}
    if isinstance(value, dict):
        for key, array in value.items():
            name = canonical(key)
            if name is not None and name not in DICTS and name != "_":
                out[name] = array
                where.setdefault(name, f"[{key!r}]")
    return out


class Call:
    """One of the user's functions with the names of its arguments and results."""

    def __init__(self, function, role, args_keyword, returns_keyword, args=None, returns=None):
        if not callable(function):
            raise InputError(f"{role}: expected a function, got {type(function).__name__}")
        self.function, self.role = function, role
        self.label = getattr(function, "__name__", role)
        self.args = argument_names(function, args_keyword, args)
        self.returns = return_names(function, returns_keyword, returns)
        self.line = return_line(function)        # where a bad value it returns is reported
        self.vocabulary = {}          # our name -> the user's ('dW1' -> "grads['dW1']")

    def __call__(self, env, door):
        """Call through the door with the values of `env` (our names); the results are checked
        (values.py) and put back in env by name."""
        given = []
        for name in self.args:
            if name is None:
                continue
            if name not in env:
                raise InputError(f"{self.label} takes {name}, which nothing before it gives (the forward "
                                 f"pass gives Z and A, backward dZ, dW and db): declare its arguments")
            given.append(env[name])
        with door.calling(self.label):
            result = self.function(*given)
        if len(self.returns) == 1:
            result = (result,)
        elif not isinstance(result, (tuple, list)) or len(result) != len(self.returns):
            got = f"{len(result)} values" if isinstance(result, (tuple, list)) else values_text(result)
            at = f" at {function_place(self.function)}" if function_place(self.function) else ""
            raise UserCodeFailed(f"your {self.label} returned {got}, but {len(self.returns)} were named "
                                 f"({' '.join(self.returns)}){at}", "TypeError", values.function_frames(self.function, self.line))
        for name, value in zip(self.returns, result):
            if name == "_":
                continue
            if _TENSOR.match(name):
                values.check_tensor(name, value, self.label, self.function, self.line)
            env[name] = value
            if name in DICTS:
                if not isinstance(value, dict):
                    values.check_dict(name, value, self.label, self.function, self.line)
                where = {}
                found = read_dict(value, where)
                for ours, array in found.items():
                    if _TENSOR.match(ours):
                        values.check_tensor(f"{name}{where[ours]}", array, self.label, self.function, self.line)
                env.update(found)
                for ours, key in where.items():
                    self.vocabulary.setdefault(ours, f"{name}{key}")
        return env


def values_text(result):
    return "None" if result is None else f"a {type(result).__name__}"


class Functions(UserImplementation):
    """A user's init_params / forward_prop / backward_prop / update_params (module docstring)."""

    def __init__(self, forward, backward, update=None, init_params=None, *, name=None, forward_args=None,
                 forward_returns=None, backward_args=None, backward_returns=None, update_args=None,
                 update_returns=None, init_returns=None, init_args=(), layout=None, batch_mean="in_dW",
                 update_kind=None, network=None, loss=None, loss_args=None, origin=None):
        self.name = name
        if layout is not None and not isinstance(layout, convert.Layout):
            raise InputError(f"layout must be a compare.Layout (e.g. compare.Layout(examples='rows')), "
                             f"got {type(layout).__name__} {layout!r}"[:300])
        self.layout = (layout or convert.Layout()).validate()
        if batch_mean not in ("in_dW", "in_dZ"):
            raise InputError(f"batch_mean {batch_mean!r}: choose 'in_dW' (dZ_L = A_L - Y, 1/m in dW and db) or "
                             f"'in_dZ' (dZ_L = (A_L - Y) / m)")
        update_kind = update_kind or ("own" if update is not None else "spec")
        if update_kind not in ("own", "spec"):
            raise InputError(f"update_kind {update_kind!r}: choose 'own' (your update runs) or 'spec' (the spec's optimizer)")
        if update_kind == "own" and update is None:
            raise InputError("update_kind='own' needs update= (your update_params)")
        self.batch_mean, self.update_kind = batch_mean, update_kind
        self.forward = Call(forward, "forward", "forward_args", "forward_returns", forward_args, forward_returns)
        self.backward = Call(backward, "backward", "backward_args", "backward_returns", backward_args, backward_returns)
        self.update = Call(update, "update", "update_args", "update_returns", update_args, update_returns) \
            if update_kind == "own" else None
        self.loss = Call(loss, "loss", "loss_args", "loss_returns", loss_args, ["loss"]) if loss is not None else None
        if init_params is not None and not callable(init_params):
            raise InputError(f"init_params: expected a function, got {type(init_params).__name__}")
        if not isinstance(init_args, (list, tuple)):
            raise InputError(f"init_args must be a tuple of arguments for init_params, got {type(init_args).__name__}")
        self.init = init_params
        self.init_args = tuple(init_args)
        self.init_returns = None
        if init_params is not None:
            self.init_returns = return_names(init_params, "init_returns", init_returns)
        self.fields = network_fields(network)
        self.origin = origin
        self.vocabulary = self.read_vocabulary()
        self.notes = {}
        if batch_mean == "in_dW":
            self.notes["dZ"] = ("your dZ is divided by the batch size m before it is compared: your code takes the "
                                "batch mean in dW and db (dZ_L = A_L - Y), the references in dZ_L = (A_L - Y) / m")
        if update_kind == "spec":
            self.notes["params"] = "your gradients are applied by the spec's optimizer (scratch/optimizers.py)"
        if self.layout != convert.Layout():
            self.notes["layout"] = f"your arrays are converted from {self.layout} to the scratch layout"

    def read_vocabulary(self):
        """Our tensor name -> the user's, where the user spells it otherwise ('dW1' -> 'dw1')."""
        vocabulary = {}
        for call in (self.forward, self.backward, self.update):
            if call is None:
                continue
            sig = list(inspect.signature(call.function).parameters) if not isinstance(call.function, type) else []
            for ours, theirs in zip(call.args, sig):
                if ours and ours not in DICTS and ours != theirs:
                    vocabulary.setdefault(ours, theirs)
        return vocabulary

    def network(self):
        return dict(self.fields)

    def entry(self):
        """With update_kind 'spec' the spec's optimizer runs in each reference's conventions
        (torch's and Keras's momentum differ), so the code is run once per convention."""
        entry = super().entry()
        entry.name = entry.name or "mine"           # declared in a file, it is named by its variable
        if self.update_kind == "spec":
            entry.conventions = ("torch", "keras")
        return entry

    def user_params(self, named, sizes):
        """{W1, b1, ...} of the user's init -> [(W, b)] in the user's layout."""
        missing = [f"{k}{l}" for l in range(1, len(sizes)) for k in "Wb" if f"{k}{l}" not in named]
        if missing:
            raise InputError(f"{getattr(self.init, '__name__', 'init_params')} gives no {', '.join(missing)} "
                             f"for a {len(sizes) - 1}-layer network (declare init_returns='W1 b1 ...')")
        return [(named[f"W{l}"], named[f"b{l}"]) for l in range(1, len(sizes))]

    def initial_params(self, spec):
        """The user's init run once through the door (its generators seeded from the spec's seed),
        each array checked (values.initial), converted to the scratch layout."""
        if self.init is None:
            return None
        label = getattr(self.init, "__name__", "init_params")
        result = self.door(spec.seed).call(label, self.init, *self.init_args)
        env = {}
        words = self.init_returns
        if len(words) == 1:
            result = (result,)
        elif not isinstance(result, (tuple, list)) or len(result) != len(words):
            got = f"{len(result)} values" if isinstance(result, (tuple, list)) else values_text(result)
            frames = values.function_frames(self.init, return_line(self.init))
            raise UserCodeFailed(f"your {label} returned {got}, but {len(words)} were named ({' '.join(words)})"
                                 f"{' at ' + frames[-1].filename + ':' + str(frames[-1].lineno) if frames else ''}",
                                 "TypeError", frames)
        for word, value in zip(words, result):
            env[word] = value
            if word in DICTS:
                if not isinstance(value, dict):
                    values.check_dict(word, value, label, self.init, return_line(self.init))
                env.update(read_dict(value, {}))
        pairs = self.user_params(env, spec.sizes)
        zeros = [(np.zeros((n_out, n_in)), np.zeros((n_out, 1))) for n_in, n_out in zip(spec.sizes, spec.sizes[1:])]
        expected = [(W.shape, b.shape) for W, b in convert.params_to_layout(zeros, self.layout)]
        values.initial(pairs, spec.sizes, self.layout, label, self.init, expected, return_line(self.init))
        return convert.params_from_layout(pairs, spec.sizes, self.layout)

    def build(self, spec, params, convention):
        returns = self.forward.returns
        can_predict = f"A{spec.n_layers}" in returns or any(word in DICTS for word in returns)
        return (PredictingRun if can_predict else FunctionsRun)(self, spec, params, convention)


def network_fields(network):
    """network=dict(sizes=..., ...): Spec fields, each key one the Spec has. -> dict"""
    if network is None:
        return {}
    if not isinstance(network, dict):
        raise InputError(f"network must be a dict of Spec fields (e.g. network=dict(sizes=[2, 3, 1], "
                         f"activations=['tanh', 'sigmoid'])), got {type(network).__name__}")
    known = {f.name for f in dataclasses.fields(Spec)}
    for key in network:
        if key not in known:
            close = difflib.get_close_matches(str(key), sorted(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else " (see compare.Spec: sizes, activations, loss, lr, ...)"
            raise InputError(f"network={{...}}: {key!r} is not a field of the network's spec{hint}")
    return dict(network)


def copy(value):
    return np.array(value, copy=True) if isinstance(value, np.ndarray) else value


class FunctionsRun:
    """The built implementation: keeps the user's W, b in the user's layout between steps."""

    def __init__(self, declared, spec, params, convention):
        self.d, self.spec, self.L = declared, spec, spec.n_layers
        self.layout = declared.layout
        self.params = {}
        for l, (W, b) in enumerate(convert.params_to_layout(params, self.layout), start=1):
            self.params[f"W{l}"], self.params[f"b{l}"] = W, b
        self.param_dict = None          # the user's own dict of parameters, when it keeps one
        self.optimizer = None
        if declared.update_kind == "spec":
            from scratch.optimizers import make_optimizer
            self.optimizer = make_optimizer(spec.optimizer, spec.hyper(convention), convention)
        self.door = declared.door(spec.seed)   # every call into the user's functions goes through it
        self.missing = {}
        if declared.loss is None:
            self.missing["loss"] = "your code gives no loss (give loss= to compare it)"

    def environment(self, X, Y):
        env = dict(self.params)
        env["params"] = self.param_dict if self.param_dict is not None else dict(self.params)
        env.update(X=X, Y=Y, lr=self.spec.lr, m=X.shape[1] if self.layout.examples == "columns" else X.shape[0])
        return env

    def step(self, X, Y):
        m = X.shape[0]
        env = self.environment(convert.batch_to_layout(X, self.layout), convert.targets_to_layout(Y, self.layout))
        self.d.forward(env, self.door)
        record = {}
        for l in range(1, self.L + 1):
            for kind in "ZA":
                if f"{kind}{l}" in env:
                    record[f"{kind}{l}"] = copy(env[f"{kind}{l}"])
        if self.d.loss is not None:
            self.d.loss(env, self.door)
            record["loss"] = copy(env["loss"])
        self.d.backward(env, self.door)
        for l in range(1, self.L + 1):
            for kind in ("dZ", "dW", "db"):
                name = f"{kind}{l}"
                if name in env:
                    value = copy(env[name])
                    if kind == "dZ" and self.d.batch_mean == "in_dW":
                        value = np.asarray(value) / m            # the 1/m the references keep in dZ
                    record[name] = value
        if "dZ1" not in record:
            self.missing["dZ"] = "your backward pass does not return its dZ's"
        if self.optimizer is not None:
            self.spec_update(env, m)
        else:
            self.d.update(env, self.door)
            if isinstance(env.get("params"), dict) and "params" in self.d.update.returns:
                self.param_dict = env["params"]
            for name in self.params:
                self.params[name] = env.get(name, self.params[name])
        record = {n: convert.tensor_from_layout(n, v, self.layout, self.spec.sizes, m) for n, v in record.items()}
        for name, value in self.params.items():
            record[name] = convert.tensor_from_layout(name, copy(value), self.layout, self.spec.sizes, m)
        return record

    def spec_update(self, env, m):
        """The spec's optimizer on the user's gradients, in the scratch layout; a gradient of the
        wrong shape is not applied (it is reported as the step's first divergence)."""
        sizes = self.spec.sizes
        params, grads = {}, {}
        for name, value in self.params.items():
            params[name] = convert.tensor_from_layout(name, value, self.layout, sizes, m)
            grad = env.get("d" + name)
            grads["d" + name] = None if grad is None else convert.tensor_from_layout("d" + name, np.asarray(grad),
                                                                                      self.layout, sizes, m)
        usable = {n: p for n, p in params.items()
                  if grads["d" + n] is not None and np.shape(grads["d" + n]) == np.shape(p)}
        stepped = self.optimizer.step(usable, grads) if usable else {}
        back = convert.params_to_layout(
            [(stepped.get(f"W{l}", params[f"W{l}"]), stepped.get(f"b{l}", params[f"b{l}"]))
             for l in range(1, self.L + 1)], self.layout)
        for l, (W, b) in enumerate(back, start=1):
            self.params[f"W{l}"], self.params[f"b{l}"] = W, b
        if self.param_dict is not None:
            self.param_dict.update({k: self.params[k] for k in self.params})



class PredictingRun(FunctionsRun):
    """A run whose forward gives A_L (by name, or perhaps in a dict it returns): it can predict."""

    def predict(self, X):
        env = self.environment(convert.batch_to_layout(X, self.layout), None)
        env.pop("Y")
        self.d.forward(env, self.door)
        name = f"A{self.L}"
        if name not in env:
            raise UserCodeFailed(f"your {self.d.forward.label} gives no {name} (its dicts have no key for it): "
                                 f"nothing to predict with", "TypeError", values.function_frames(self.d.forward.function))
        return convert.tensor_from_layout(name, np.asarray(env[name]), self.layout, self.spec.sizes, X.shape[0])


def functions(forward, backward, update=None, init_params=None, *, name=None, forward_args=None, forward_returns=None,
              backward_args=None, backward_returns=None, update_args=None, update_returns=None, init_returns=None,
              init_args=(), layout=None, batch_mean="in_dW", update_kind=None, network=None, loss=None,
              loss_args=None):
    """Your blog-style functions as an implementation compare can check (see the module docstring).
    update_kind: 'own' when update is given (default), else 'spec'."""
    caller = inspect.currentframe().f_back
    origin = f"{caller.f_code.co_filename}:{caller.f_lineno}" if caller else None
    return Functions(forward, backward, update, init_params, name=name, forward_args=forward_args,
                     forward_returns=forward_returns, backward_args=backward_args, backward_returns=backward_returns,
                     update_args=update_args, update_returns=update_returns, init_returns=init_returns,
                     init_args=init_args, layout=layout, batch_mean=batch_mean, update_kind=update_kind,
                     network=network, loss=loss, loss_args=loss_args, origin=origin)
