"""Check a user's implementation: the Python API behind `python -m compare check FILE.py`.

    report = compare.check(mine, spec, data, against=("torch", "keras"), steps=20)
    compare.assert_equivalent(mine, spec, data, steps=20)      # in a pytest suite

`mine` is a UserImplementation (compare.functions, compare.network_class, compare.torch_module,
compare.keras_model), or a list of them (a torch model and its Keras port: each is checked
against the references and against the other). The network is `spec`'s, else the one the file
declares or the adapter reads in the user's code, else the recipe's; a recipe brings its data and
the training settings the file does not declare, never a network other than the file's (one
line). The data: `data` (a compare.Data, or a recipe's name: its data alone, data='mnist'), else
the recipe's, else random data with enough examples for the batch and the steps
(compare/engine/data.py). A loss given nowhere is the one the output layer means (default_loss).
The rules are written out in docs/data-and-defaults.md. One set of initial weights (the spec's,
or the user's own with weights='mine') is copied into every implementation.

Left out: printing (compare/cli/check.py).
"""
import dataclasses
import importlib.util
import io
import os
import re
import sys
import tokenize
import types

import numpy as np

from ..engine import caller_state, registry
from ..engine.errors import InputError
from ..engine import run as engine_run
from ..engine.data import EVAL_EXAMPLES, Data, random_data
from ..engine.run import check_spec, raise_unless_passed, run_lockstep
from ..engine.spec import Spec
from .base import UserImplementation
from .boundary import Boundary, UserCodeFailed, mark, place, user_frames

DEFAULT_AGAINST = ("torch", "keras")
DEFAULT_STEPS = 20


def as_list(implementation):
    items = list(implementation) if isinstance(implementation, (list, tuple)) else [implementation]
    if not items:
        raise InputError("nothing to check: give at least one implementation")
    for item in items:
        if not isinstance(item, UserImplementation):
            raise InputError(f"check needs an implementation made by compare.functions, compare.network_class, "
                             f"compare.torch_module, compare.keras_model, compare.flax_module or "
                             f"compare.jax_model, got {type(item).__name__}")
    names = [item.name for item in items]
    for name in names:                              # runner keys never collide (registry.RESERVED)
        if name is not None and registry.name_problem(name):
            raise InputError(registry.name_problem(name))
    if len(set(names)) != len(names):
        raise InputError(f"two implementations are both called {max(names, key=names.count)!r}: give each a name=")
    return items


def resolve_against(against):
    if isinstance(against, str):
        against = tuple(s.strip() for s in against.split(",") if s.strip())
    if not isinstance(against, (list, tuple)) or not all(isinstance(a, str) for a in against):
        raise InputError(f"against must be framework names ('torch,keras' or a list of them: "
                         f"{', '.join(registry.BUILTIN_NAMES)}), got {type(against).__name__} {against!r}"[:300])
    against = tuple(against)
    if not against:
        raise InputError(f"--against needs at least one of: {', '.join(registry.BUILTIN_NAMES)}")
    for name in against:
        if name not in registry.BUILTIN_NAMES:
            raise InputError(f"--against {name!r}: choose from {', '.join(registry.BUILTIN_NAMES)}")
    if len(set(against)) != len(against):
        raise InputError(f"--against names a framework twice: {','.join(against)}")
    return [registry.require(name) for name in against]


NETWORK_FIELDS = ("sizes", "activations", "dropout", "norm", "norm_momentum", "norm_eps", "slope", "layers")


def resolve_spec(items, spec, recipe, steps, overrides):
    """The spec of the check (docs/data-and-defaults.md). A spec given is the spec. Otherwise each
    field comes from the first of: the options (`overrides`: the CLI's flags, the API's
    overrides=; None = not given); what the file declares (its network=dict(...) and what the
    adapter reads in its code: the network, the loss and the optimizer the code fixes); the
    recipe's training settings (never its network: a declared network that differs from the
    recipe's is an InputError naming both); the defaults (DEFAULT_STEPS steps, one batch of all
    the examples, the loss the output layer calls for: default_loss). `steps` fixes the length."""
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    full_batch = given.pop("full_batch", False)
    if spec is None:
        spec = declared_spec(items, recipe, given)
    spec = check_spec(spec)
    if steps is not None:
        given.update(steps=steps, epochs=None)
    if given:
        spec = spec.replace(**given)
    if "epochs" in given and "steps" not in given:          # --epochs N: the run is counted in epochs
        spec = dataclasses.replace(spec, steps=None).validate()
    if full_batch:
        spec = dataclasses.replace(spec, batch_size=None).validate()
    return spec


def declared_spec(items, recipe, given):
    """resolve_spec's spec when none is given: the file's network and settings, the recipe's
    training settings where the file declares none, the options' network fields."""
    declared = items[0].network()
    if recipe is None:
        fields = {**declared, **given}
        if not fields.get("layers") and not (fields.get("sizes") and fields.get("activations")):
            at = f"{items[0].origin}: " if items[0].origin else ""        # the declaration's file and line
            raise InputError(f"{at}the network of {items[0].label} cannot be read from its code: give a spec "
                             f"(compare.Spec), a recipe (--recipe), or --sizes and --activations")
        fields = {"epochs": None, "steps": DEFAULT_STEPS, "batch_size": None, **fields}
    else:
        for item in items:
            same_network(item, recipe, given)
        ours = {f.name: getattr(recipe.spec, f.name) for f in dataclasses.fields(Spec)}
        if declares_network(declared):                       # the file's network, whole: none of the recipe's
            ours = {k: v for k, v in ours.items() if k not in NETWORK_FIELDS}
        fields = {**ours, **declared, **given}
    if "loss" not in fields:
        network = Spec(**{k: v for k, v in fields.items() if k in NETWORK_FIELDS}).validate().network
        fields["loss"] = default_loss(network, items[0].label)
    return Spec(**fields)


def declares_network(fields):
    """Whether Spec fields read from a file say what its network is (its widths or its layers)."""
    return bool(fields.get("sizes") or fields.get("layers"))


def same_network(item, recipe, given):
    """A recipe given to a check brings its data and training settings, never its network: the
    file's network (as declared, with the options' network fields applied) must have the recipe's
    layers (kinds, widths, activations, dropout rates; the file's normalization settings are its
    own), else InputError naming both."""
    declared = {k: v for k, v in item.network().items() if k in NETWORK_FIELDS}
    if not declared:
        return
    options = {k: v for k, v in given.items() if k in NETWORK_FIELDS}
    theirs = {k: v for k in NETWORK_FIELDS if (v := getattr(recipe.spec, k)) is not None}
    mine = declared if declares_network(declared) else {**theirs, **declared}    # a part declared: the rest is the recipe's
    try:
        mine_net = Spec(**{**mine, **options}).network
        theirs_net = Spec(**{**theirs, **options}).network
    except (InputError, TypeError, ValueError):
        return                                               # the spec's own validation names what is wrong
    if layer_keys(mine_net) == layer_keys(theirs_net):
        return
    at = f"{item.origin}: " if item.origin else ""
    raise InputError(f"{at}{item.label}'s network is {network_words(mine_net)}, recipe {recipe.name}'s is "
                     f"{network_words(theirs_net)}: a recipe gives a check its data and training settings, never "
                     f"its network; for {recipe.name}'s data alone give --data {recipe.name} (data={recipe.name!r})")


def layer_keys(network):
    """What two layer lists must share to be the same network: each layer's kind, and a Dense's
    width, an activation's name (and slope), a dropout's rate."""
    keys = [(network.n_in,)]
    for layer in network.layers:
        detail = {"dense": ("units",), "activation": ("name", "slope"), "dropout": ("rate",)}.get(layer.kind, ())
        keys.append((layer.kind, *(getattr(layer, name) for name in detail)))
    return keys


def network_words(network):
    """'784-30-10 (sigmoid, sigmoid)'; with other layers than Dense and Activation, the layer list."""
    if all(layer.kind in ("dense", "activation") for layer in network.layers):
        return f"{'-'.join(map(str, network.sizes))} ({', '.join(network.activations)})"
    return network.describe()


def default_loss(network, label="mine"):
    """The loss a network gets when neither its file nor the options name one: the one its output
    layer means. softmax: categorical_crossentropy; sigmoid with one unit: binary_crossentropy;
    linear: mse. Any other output (tanh, relu, sigmoid over several units, ...) could mean more
    than one: InputError asking for --loss. Never mse under a softmax."""
    out, units = network.activations[-1], network.sizes[-1]
    if out == "softmax":
        return "categorical_crossentropy"
    if out == "sigmoid" and units == 1:
        return "binary_crossentropy"
    if out == "linear":
        return "mse"
    from scratch.losses import LOSSES

    raise InputError(f"{label}'s loss is not given and its output layer ({out}, {units} unit{'s' * (units != 1)}) "
                     f"does not decide it: give --loss NAME (compare.check: overrides=dict(loss=NAME)), one of "
                     f"{', '.join(LOSSES)}")


def recipe_data(name, spec, label="mine", data_dir=None, offline=False, allow_other_data=False):
    """A recipe's data alone, for a check whose network is the file's (--data NAME, data='NAME').
    Its inputs and targets must fit the network: InputError naming both otherwise. -> Data"""
    from ..data import recipes

    if not isinstance(name, str):
        raise InputError(f"data must be a compare.Data or a recipe's name (e.g. 'mnist'), got {type(name).__name__}")
    recipe = recipes.get(name)
    data = recipe.load(data_dir=data_dir, offline=offline, allow_other_data=allow_other_data)
    n_in, n_out = spec.sizes[0], spec.sizes[-1]
    if data.X.shape[1:] != (n_in,) or data.Y.shape[1:] != (n_out,):
        raise InputError(f"the data of {name} has {data.X.shape[1]} input{'s' * (data.X.shape[1] != 1)} and "
                         f"{data.Y.shape[1]} target{'s' * (data.Y.shape[1] != 1)} per example; {label}'s network "
                         f"({'-'.join(map(str, spec.sizes))}) takes {n_in} and gives {n_out}")
    data.info = {"recipe": name, **data.info}
    return data


@caller_state.kept
def check(*models, spec=None, data=None, against=DEFAULT_AGAINST, steps=None, recipe=None,
          weights=None, data_dir=None, offline=False, on_step=None, keep_step=None, overrides=None,
          allow_other_data=False, keep_going=False):
    """Run the user's implementation(s) in lockstep against `against`. -> Report
    models: UserImplementations, or the objects the adapters take, passed as they are (a torch
    nn.Module, a Keras model, a Nielsen or cs231n network class or instance, a module of blog-style
    functions: as_implementation); compare.check(mine, spec, data) is still read as before.
    data: a compare.Data, a recipe's name, or arrays (X, Y) with one example per row.
    (allow_other_data: the CLI's --allow-other-data, for a recipe's data files that are not the
    canonical ones; the report's config['data'] then says so). The run ends after the step of the
    first divergence, whose verdict is then known (report.summary['stopped']), unless keep_going=True."""
    from ..data import recipes

    arrays = isinstance(data, (list, tuple))               # data=(X, Y): the Data is made here
    implementation, spec, data = split_models(models, spec, data)
    steps, keep_step = check_arguments(spec=spec, steps=steps, recipe=recipe, on_step=on_step, keep_step=keep_step,
                                       overrides=overrides)
    if not isinstance(keep_going, (bool, np.bool_)):
        raise InputError(f"keep_going must be True or False, got {type(keep_going).__name__} {keep_going!r}"[:300])
    items = as_list(named(implementation))
    recipe = recipes.get(recipe) if isinstance(recipe, str) else recipe
    spec = resolve_spec(items, spec, recipe, steps, overrides)
    weights = initial_weights(items, weights)
    if not isinstance(weights, str) or weights not in ("spec", "mine"):
        raise InputError(f"weights must be 'spec' (the spec's initializer) or 'mine' (your init_params), got {weights!r}")
    references = [registry.get(a) for a in against] if isinstance(against, (list, tuple)) and against and \
        all(isinstance(a, registry.Entry) for a in against) else resolve_against(against)
    made = data is None or isinstance(data, str) or arrays  # made or loaded here: in the report
    data = check_data_source(data, spec, recipe, items[0].label, data_dir, offline, allow_other_data)
    entries = [item.entry() for item in items]
    params = None
    copies = {}
    if weights == "mine":
        params, entries[0] = own_initial_params(items[0], entries[0], spec)
        copies = port_weights(items, entries, params)
    if weights == "spec":
        copied_unchecked(items)
    notes = "; ".join(f"{item.label}: {item.origin}" for item in items if item.origin)
    report = run_lockstep(spec, data, entries, references,
                          recipe=recipe.name if recipe is not None else "check", on_step=on_step,
                          notes=notes, keep_step=keep_step, cross=False, params=params, weights=weights,
                          stop_at_divergence=not keep_going)
    copied_words(report, copies)
    if made and data.info:
        report.config["data"] = dict(data.info)          # where the data came from (a recipe's: whether canonical)
    events = [f"{item.label}: {event}" for item in items for event in item.events]
    if events:
        report.notes = "; ".join(filter(None, [report.notes, *events]))
    return report


def port_weights(items, entries, params):
    """--weights mine with a model and its port (framework models that hold weights): the first's
    weights are the run's; a later model whose own weights are not those numbers in its layout runs
    from its own (entries changed in place), so the copy shows where it is wrong. -> {label: [why]}
    in the users' words (compare/engine/port_words.py)."""
    from ..engine.port_words import copy_words

    found = {}
    if params is None or not getattr(items[0], "holds_weights", False):
        return found
    for i, item in enumerate(items[1:], start=1):
        if not getattr(item, "holds_weights", False):
            continue
        own = item.initial_params(None)
        words = copy_words(items[0], item, params, own, item.layers)
        if words:
            found[item.label] = words
            item.events.append(f"{item.label} starts from its own weights, not a copy of {items[0].label}'s: "
                               f"{'; '.join(words)}")
            entries[i] = dataclasses.replace(entries[i], build=own_build(item, own))
    return found


def holds_copy(items):
    """(original, port) for each later framework model whose weights hold the first model's numbers
    (the same values, in any layout: a port with its weights copied into it)."""
    models = [item for item in items if getattr(item, "holds_weights", False)]
    if len(models) < 2:
        return []
    first = np.concatenate([np.ravel(W) for W, _ in models[0].initial_params(None)])
    found = []
    for item in models[1:]:
        mine = np.concatenate([np.ravel(W) for W, _ in item.initial_params(None)])
        if mine.size == first.size and np.isin(mine, first).all():
            found.append((models[0], item))
    return found


def initial_weights(items, weights):
    """weights=None (the default): 'mine' where a model is a port holding the original's weights
    (the copy is what a port file checks: starting both from the harness's weights would overwrite
    it unchecked), else 'spec'. A note (the item's events) says which and why."""
    if weights is not None:
        return weights
    copies = holds_copy(items)
    for original, port in copies:
        port.events.append(f"{port.label} holds {original.label}'s weights (copied): the copy is checked, "
                           f"{original.label}'s weights are the run's (--weights spec: every model "
                           f"from the harness's weights instead)")
    return "mine" if copies else "spec"


def copied_unchecked(items):
    """A port whose weights hold the original's numbers (copied into it) checked with the harness's
    weights: the copy is overwritten, not checked. A note (the item's events) says so."""
    for original, item in holds_copy(items):
        item.events.append(f"{item.label} holds {original.label}'s weights (copied): each model starts from the "
                           f"harness's weights here (--weights spec), so the copy is not checked: leave "
                           f"--weights out, or give --weights mine (weights='mine'), to check it")


def own_build(item, own):
    """An entry's build that starts `item` from its own weights `own`, not the run's."""
    def build(spec, params, convention):
        return item.build(spec, [(np.array(W), np.array(b)) for W, b in own], convention)
    return build


def copied_words(report, copies):
    """The first divergence of a port that runs from its own copied weights says how the copy
    differs from the original (its 'diagnosis' begins with it); a note says it too (port_weights)."""
    if not copies:
        return
    d = report.summary.get("first_divergence")
    for label, words in copies.items():
        if d and any(label in {part for part in re.split(r"[~@/]", side)} for side in (d["ours"], d["theirs"])):
            d["diagnosis"] = "; ".join(filter(None, [f"{'; '.join(words)}", d.get("diagnosis")]))


def check_data_source(data, spec, recipe, label="mine", data_dir=None, offline=False, allow_other_data=False):
    """The check's data: `data` itself (a compare.Data), a recipe's named by `data` (its data alone:
    recipe_data), else the recipe's, else random data sized for the run (compare/engine/data.py). -> Data"""
    if isinstance(data, str):
        return recipe_data(data, spec, label, data_dir, offline, allow_other_data)
    if data is not None:
        return data
    if recipe is not None:
        return recipe.load(data_dir=data_dir, offline=offline, allow_other_data=allow_other_data)
    return random_data(spec, seed=spec.seed)


def named(implementation):
    """Implementations without a name (made through the API) are called 'mine', 'mine2', ...
    (a file's are named by their variable: `declared`)."""
    items = list(implementation) if isinstance(implementation, (list, tuple)) else [implementation]
    taken = {getattr(item, "name", None) for item in items}
    for item in items:
        if isinstance(item, UserImplementation) and item.name is not None and not isinstance(item.name, str):
            raise InputError(f"name must be a string, got {type(item.name).__name__} {item.name!r}"[:200])
    for item in items:
        if isinstance(item, UserImplementation) and not item.name:
            name = next(n for n in ("mine", *(f"mine{i}" for i in range(2, len(items) + 2))) if n not in taken)
            item.name = name
            taken.add(name)
    return items if isinstance(implementation, (list, tuple)) else items[0]


def check_arguments(**given):
    """The API's arguments of the wrong type: an InputError naming the argument (not a TypeError
    from deep inside). NumPy whole numbers (np.int64 from a config array) are whole numbers; bools
    are not. -> (steps, keep_step) as Python ints (or None)"""
    rules = {"spec": (Spec, "a compare.Spec"), "steps": (int, "a whole number of steps"),
             "recipe": ((str, recipes_type()), "a recipe name, e.g. 'toy3'"),
             "on_step": (None, "a function taking a step's result"), "keep_step": (int, "a step number"),
             "overrides": (dict, "a dict of Spec fields")}
    for key, value in given.items():
        if value is None:
            continue
        kind, words = rules[key]
        if kind is int and isinstance(value, np.integer):
            value = given[key] = int(value)
        if kind is int and isinstance(value, int) and not isinstance(value, bool) and value < 1:
            raise InputError(f"{key} must be a positive whole number, got {value}")
        ok = callable(value) if kind is None else isinstance(value, kind) and not isinstance(value, bool)
        if not ok:
            raise InputError(f"{key} must be {words}, got {type(value).__name__} {value!r}"[:300])
    return given.get("steps"), given.get("keep_step")


def recipes_type():
    from ..data.recipes import Recipe
    return Recipe


def own_initial_params(item, entry, spec):
    """--weights mine: the user's init, run once. -> (params, entry). A user's init that fails
    (raises, exits, gives a value that is no array or of the wrong shape) is the implementation's
    failure: the run is made with the spec's weights and the implementation's build raises that
    failure, so the report's verdict is 'error' with the user's line, as for a failing step."""
    try:
        params = item.initial_params(spec)
    except InputError:
        raise
    except Exception as error:                               # noqa: BLE001 - the user's init, not the tool
        if not isinstance(error, UserCodeFailed) and not user_frames(error.__traceback__):
            raise                                            # no line of the user's in it: the tool's own bug
        mark(error)
        failure = error

        def fail(*_):
            raise failure
        return None, dataclasses.replace(entry, build=fail)
    if params is None:
        raise InputError(f"weights='mine', but {item.label} has no init of its own (give init_params=)")
    return params, entry


@caller_state.kept
def assert_equivalent(*subjects, data=None, steps=None, frameworks=engine_run.DEFAULT_FRAMEWORKS,
                      **check_options):
    """compare.assert_equivalent: raise NotEquivalent (an AssertionError holding the report) unless
    the verdict is 'pass' (a divergence, a non-finite value, an exception inside an implementation,
    an interrupted run and nothing judged all raise). -> the Report.

        assert_equivalent(spec, steps=10)                          scratch vs torch and Keras
        assert_equivalent(mine, spec=spec, data=data, steps=10)    your implementation (see check)
        assert_equivalent(torchnet, kerasnet, data=(X, Y), steps=5)    your models as they are
    """
    if subjects and isinstance(subjects[0], Spec):     # (spec, data, steps, frameworks), as before
        spec, *rest = subjects
        if len(rest) > 3:
            raise InputError(f"assert_equivalent(spec, data, steps, frameworks) takes 4 arguments, "
                             f"got {len(subjects)}")
        data, steps, frameworks = [*rest, *(data, steps, frameworks)[len(rest):]]
        return engine_run.assert_equivalent(spec, data, steps, frameworks)
    return raise_unless_passed(check(*subjects, data=data, steps=steps, **check_options))


def adapted(model):
    """as_implementation's adapter for a model that is not a UserImplementation, or None."""
    torch, keras = sys.modules.get("torch"), sys.modules.get("keras")
    if torch is not None and isinstance(model, torch.nn.Module):
        from .torch_module import torch_module
        return torch_module(model)
    if keras is not None and isinstance(model, keras.Model):
        from .keras_model import keras_model
        return keras_model(model)
    nnx = sys.modules.get("flax.nnx")
    if nnx is not None and isinstance(model, nnx.Module):          # a Flax model: compare.flax_module
        from .flax_module import flax_module
        return flax_module(model)
    if isinstance(model, types.ModuleType) and callable(getattr(model, "forward_prop", None)):
        from .functions import functions
        return functions(model.forward_prop, model.backward_prop,
                         getattr(model, "update_params", None), getattr(model, "init_params", None))
    if hasattr(model, "backprop") and hasattr(model, "update_mini_batch"):
        from .classes import network_class
        return network_class(model, "nielsen")
    cs231n = isinstance(model, type) or hasattr(model, "params")
    if callable(getattr(model, "loss", None)) and cs231n:
        from .classes import network_class
        return network_class(model, "cs231n")
    return None


def split_models(subjects, spec, data):
    """check's positional arguments -> (implementations, spec, data). The models come first; the
    arguments of the old form check(mine, spec, data) after them are told apart by type (None, a
    compare.Spec, a compare.Data or a recipe's name), never taken for a model. A list of models
    counts as its models. data given as arrays (X, Y) becomes a compare.Data."""
    models = []
    for subject in subjects:
        if subject is None:
            continue
        if isinstance(subject, Spec):
            if spec is not None:
                raise InputError("the spec is given twice: give one compare.Spec")
            spec = subject
        elif isinstance(subject, (Data, str)):
            if data is not None:
                raise InputError("the data are given twice: give data= once")
            data = subject
        elif isinstance(subject, (list, tuple)):
            models.extend(as_implementation(item) for item in subject)
        else:
            models.append(as_implementation(subject))
    taken = [m.name for m in models if m.name]
    for model in models:                            # a model passed as it is: named by its kind
        kind = getattr(model, "kind_name", None)
        if not model.name and kind:
            names = (kind, *(f"{kind}{i}" for i in range(2, 99)))
            model.name = next(n for n in names if n not in taken)
            taken.append(model.name)
    if not models:
        raise InputError("nothing to check: give at least one implementation (a torch or Keras "
                         "model, a network class, or compare.functions(...))")
    return models if len(models) > 1 else models[0], spec, arrays_data(data)


def arrays_data(data):
    """data=(X, Y) (one example per row; X_test, Y_test may follow) -> a compare.Data; other data
    as given."""
    if not isinstance(data, (list, tuple)):
        return data
    if len(data) not in (2, 4):
        raise InputError(f"data as arrays is (X, Y) or (X, Y, X_test, Y_test), one example per "
                         f"row; got {len(data)} arrays")
    try:
        X, Y, *test = [np.asarray(part, dtype=np.float64) for part in data]
    except (TypeError, ValueError) as error:
        raise InputError(f"data=(X, Y) must be arrays of numbers: {error}") from None
    Y = Y[:, None] if Y.ndim == 1 else Y                   # one target per example
    if X.ndim < 2 or len(X) != len(Y):
        raise InputError(f"data=(X, Y) needs one example per row in both: X {X.shape}, Y {Y.shape}")
    if test:
        test = dict(X_test=test[0], Y_test=test[1][:, None] if test[1].ndim == 1 else test[1])
    info = {"source": "arrays", "examples": int(len(X))}
    return Data(X=X, Y=Y, X_eval=X[:EVAL_EXAMPLES], info=info, **(test or {}))


def as_implementation(model):
    """A model passed as it is -> the UserImplementation its adapter makes (with the model's own
    optimizer and loss where it holds them, else the spec's). A UserImplementation is itself.
    torch and Keras are looked for only when already imported: a model of theirs means they are."""
    if isinstance(model, UserImplementation):
        return model
    made = adapted(model)
    if made is not None:
        kinds = {"TorchModule": "torchnet", "KerasModel": "kerasnet", "FlaxModule": "flaxnet"}
        made.kind_name = kinds.get(type(made).__name__, "mine")
        return made
    raise InputError(f"cannot check a {type(model).__name__}: give a torch nn.Module, a Keras "
                     f"model, a Flax nnx.Module, a network class (Nielsen's backprop/update_mini_batch or cs231n's "
                     f"params/loss), a module with forward_prop and backward_prop, or what "
                     f"compare.functions, compare.network_class, compare.torch_module or "
                     f"compare.keras_model made")


# --- python -m compare check FILE.py: finding what a file declares ----------------------------

def load_file(path, seed=None):
    """Import the user's file as a module, through the door (boundary.py: its generators seeded
    from `seed`, an exit or BaseException at import caught, a replaced sys.stdout put back).

    A file that cannot be read (missing, a directory, no permission, a null byte, bytes that are
    not text in its encoding) or that does not compile is an input error (exit 2, one line naming
    the file, the line and the reason). Code that fails while the file is imported (an exception,
    sys.exit, a BaseException) is the implementation's failure: UserCodeFailed (exit 1), one line
    naming the user's file and line. An InputError raised by compare's own declarations while it is
    imported (compare.functions with a bad argument) is the user's input: exit 2, with the line."""
    source, code = read_source(path)
    name = "user_" + "".join(c if c.isalnum() else "_" for c in os.path.splitext(os.path.basename(path))[0])
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    folder = os.path.dirname(os.path.abspath(path))
    sys.path.insert(0, folder)                           # the user's own helper modules beside it
    owner = types.SimpleNamespace(events=[])
    try:
        with Boundary(seed, owner).calling(f"file {os.path.basename(path)} (while it was imported)"):
            exec(code, module.__dict__)                 # noqa: S102 - running the user's file is the point
    except SyntaxError as error:                        # in a module of theirs that it imports
        raise InputError(f"{error.filename or path}:{error.lineno}: syntax error: {error.msg}") from None
    except InputError as error:
        frames = user_frames(error.__traceback__)
        raise InputError(f"{place(frames[-1]) if frames else path}: {error}") from None
    except UserCodeFailed:
        raise
    except Exception as error:                          # noqa: BLE001 - the user's file, not the tool
        frames = user_frames(error.__traceback__)
        at = place(frames[-1]) if frames else path
        raise UserCodeFailed(f"{at}: importing {path} raised {type(error).__name__}: {error}",
                             type(error).__name__, frames) from None
    finally:
        if sys.path and sys.path[0] == folder:
            sys.path.pop(0)
    module.__dict__.setdefault("__compare_events__", owner.events)
    return module


def read_source(path):
    """The user's file read and compiled. -> (text, code object). Raises InputError saying why not."""
    if not isinstance(path, (str, os.PathLike)):
        raise InputError(f"give the path of a Python file, got {type(path).__name__}")
    path = os.fspath(path)
    if os.path.isdir(path):
        raise InputError(f"{path}: is a directory, not a Python file")
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file")
    if not path.endswith(".py"):
        raise InputError(f"{path}: give a Python file (.py)")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except PermissionError:
        raise InputError(f"{path}: cannot be read: permission denied") from None
    except OSError as error:
        raise InputError(f"{path}: cannot be read: {error.strerror or error}") from None
    if b"\0" in data:
        line = data[:data.index(b"\0")].count(b"\n") + 1
        raise InputError(f"{path}:{line}: contains a null byte: not a Python text file")
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as error:
        raise InputError(f"{path}: {error.msg if hasattr(error, 'msg') else error}") from None
    try:
        text = data.decode("utf-8-sig" if encoding == "utf-8-sig" else encoding)
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b"\n") + 1
        raise InputError(f"{path}:{line}: is not {encoding} text (byte 0x{data[error.start]:02x}): save the file as "
                         f"UTF-8, or declare its encoding on the first line (# -*- coding: latin-1 -*-)") from None
    except LookupError:
        raise InputError(f"{path}: declares an encoding Python does not know: {encoding}") from None
    try:
        code = compile(text, path, "exec", dont_inherit=True)
    except SyntaxError as error:
        raise InputError(f"{path}:{error.lineno}: syntax error: {error.msg}") from None
    except ValueError as error:                          # what compile refuses besides syntax
        raise InputError(f"{path}: cannot be compiled: {error}") from None
    return text, code


def declared(module, path, entry=None):
    """The UserImplementations a module declares at its top level, named (by their variable when
    not given a name). entry: a comma-separated choice of variable or implementation names."""
    found = {}
    for variable, value in vars(module).items():
        if isinstance(value, UserImplementation) and not variable.startswith("_"):
            if value.name is None:
                value.name = variable
            if value.origin is None:
                value.origin = f"{path}"
            found[variable] = value
    for value in found.values():                  # a name that would break a line: refused before anything prints it
        if isinstance(value.name, str) and not value.name.isprintable():
            raise InputError(f"{value.origin}: {registry.name_problem(value.name)}")
    for value in found.values():                  # what the door put back while the file was imported
        value.events.extend(e for e in vars(module).get("__compare_events__", []) if e not in value.events)
    if not found:
        hint = ""
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                if any("__name__" in line and "__main__" in line for line in f):
                    hint = (" (a declaration inside `if __name__ == \"__main__\":` does not run when the file is "
                            "checked: the file is imported, not run as a script)")
        except OSError:
            pass
        raise InputError(f"{path} declares no implementation: assign one at the top level, e.g. "
                         f"mine = compare.functions(forward=..., backward=..., update=...) (see README, "
                         f"'Check your own network'){hint}")
    if entry:
        chosen = []
        for want in (s.strip() for s in entry.split(",") if s.strip()):
            match = [v for k, v in found.items() if want in (k, v.name)]
            if not match:
                raise InputError(f"--entry {want!r}: {path} declares {', '.join(found)}")
            chosen.append(match[0])
        return chosen
    return list(dict.fromkeys(found.values()))

