"""Check a user's implementation: the Python API behind `python -m compare check FILE.py`.

    report = compare.check(mine, spec, data, against=("torch", "keras"), steps=20)
    compare.assert_equivalent(mine, spec, data, steps=20)      # in a pytest suite

`mine` is a UserImplementation (compare.functions, compare.network_class, compare.torch_module,
compare.keras_model), or a list of them (a torch model and its Keras port: each is checked
against the references and against the other). The network comes from `spec`, else from a
recipe (`recipe='mnist-deep'`), else from what the adapter reads in the user's code; the data
from `data`, else the recipe's, else random data suited to the loss. One set of initial weights
(the spec's, or the user's own with weights='mine') is copied into every implementation.

Left out: printing (compare/cli/check.py).
"""
import dataclasses
import importlib.util
import os
import sys

from ..engine import caller_state, registry
from ..engine.errors import InputError
from ..engine import run as engine_run
from ..engine.run import check_spec, raise_unless_passed, run_lockstep
from ..engine.spec import Spec
from .base import UserImplementation

DEFAULT_AGAINST = ("torch", "keras")
DEFAULT_STEPS = 20


def as_list(implementation):
    items = list(implementation) if isinstance(implementation, (list, tuple)) else [implementation]
    if not items:
        raise InputError("nothing to check: give at least one implementation")
    for item in items:
        if not isinstance(item, UserImplementation):
            raise InputError(f"check needs an implementation made by compare.functions, compare.network_class, "
                             f"compare.torch_module or compare.keras_model, got {type(item).__name__}")
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
    against = tuple(against)
    if not against:
        raise InputError(f"--against needs at least one of: {', '.join(registry.BUILTIN_NAMES)}")
    for name in against:
        if name not in registry.BUILTIN_NAMES:
            raise InputError(f"--against {name!r}: choose from {', '.join(registry.BUILTIN_NAMES)}")
    if len(set(against)) != len(against):
        raise InputError(f"--against names a framework twice: {','.join(against)}")
    return [registry.require(name) for name in against]


def resolve_spec(items, spec, recipe, steps, overrides):
    """The spec of the check: given, or the recipe's, or read from the user's code; overrides
    (Spec fields, None = not given) applied; `steps` fixes the length."""
    if spec is None and recipe is not None:
        spec = recipe.spec
    if spec is None:
        given = {k: v for k, v in (overrides or {}).items() if v is not None and k != "full_batch"}
        fields = {**items[0].network(), **given}
        if not fields.get("sizes") or not fields.get("activations"):
            raise InputError(f"the network of {items[0].name} cannot be read from its code: give a spec "
                             f"(compare.Spec), a recipe (--recipe), or --sizes and --activations")
        spec = Spec(**{"epochs": None, "steps": DEFAULT_STEPS, "batch_size": None, **fields})
    spec = check_spec(spec)
    changes = {k: v for k, v in (overrides or {}).items() if v is not None}
    full_batch = changes.pop("full_batch", False)
    if steps is not None:
        changes.update(steps=steps, epochs=None)
    if changes:
        spec = spec.replace(**changes)
    if full_batch:
        spec = dataclasses.replace(spec, batch_size=None).validate()
    return spec


@caller_state.kept
def check(implementation, spec=None, data=None, against=DEFAULT_AGAINST, steps=None, recipe=None,
          weights="spec", data_dir=None, offline=False, on_step=None, keep_step=None, overrides=None,
          allow_other_data=False):
    """Run the user's implementation(s) in lockstep against `against`. -> Report
    (allow_other_data: the CLI's --allow-other-data, for a recipe's data files that are not the
    canonical ones; the report's config['data'] then says so)"""
    from ..data import recipes

    items = as_list(implementation)
    recipe = recipes.get(recipe) if isinstance(recipe, str) else recipe
    spec = resolve_spec(items, spec, recipe, steps, overrides)
    if weights not in ("spec", "mine"):
        raise InputError(f"weights must be 'spec' (the spec's initializer) or 'mine' (your init_params), got {weights!r}")
    references = [registry.get(a) for a in against] if all(isinstance(a, registry.Entry) for a in against) \
        else resolve_against(against)
    loaded = data is None and recipe is not None
    if loaded:
        data = recipe.load(data_dir=data_dir, offline=offline, allow_other_data=allow_other_data)
    params = None
    if weights == "mine":
        params = items[0].initial_params(spec)
        if params is None:
            raise InputError(f"weights='mine', but {items[0].name} has no init of its own (give init_params=)")
    notes = "; ".join(f"{item.name}: {item.origin}" for item in items if item.origin)
    report = run_lockstep(spec, data, [item.entry() for item in items], references,
                          recipe=recipe.name if recipe is not None else "check", on_step=on_step,
                          notes=notes, keep_step=keep_step, cross=False, params=params, weights=weights)
    if loaded and data.info:
        report.config["data"] = dict(data.info)          # where the recipe's data came from, and whether canonical
    return report


@caller_state.kept
def assert_equivalent(spec_or_implementation, data=None, steps=None, frameworks=engine_run.DEFAULT_FRAMEWORKS,
                      **check_options):
    """compare.assert_equivalent: raise AssertionError unless the verdict is 'pass' (a divergence,
    a non-finite value, an exception inside an implementation, an interrupted run and nothing
    judged all raise). -> the Report.

        assert_equivalent(spec, steps=10)                         scratch vs torch and Keras
        assert_equivalent(mine, spec=spec, data=data, steps=10)   your implementation (see check)
    """
    if isinstance(spec_or_implementation, Spec):
        return engine_run.assert_equivalent(spec_or_implementation, data, steps, frameworks)
    if isinstance(data, Spec):                             # assert_equivalent(mine, spec, ...)
        check_options["spec"], data = data, check_options.pop("data", None)
    return raise_unless_passed(check(spec_or_implementation, data=data, steps=steps, **check_options))


# --- python -m compare check FILE.py: finding what a file declares ----------------------------

def load_file(path):
    """Import the user's file as a module. A file that cannot be read or raises on import is an
    input error (one line: the file, the line, the exception)."""
    if not os.path.isfile(path):
        raise InputError(f"{path}: no such file")
    if not path.endswith(".py"):
        raise InputError(f"{path}: give a Python file (.py)")
    name = "user_" + "".join(c if c.isalnum() else "_" for c in os.path.splitext(os.path.basename(path))[0])
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    folder = os.path.dirname(os.path.abspath(path))
    sys.path.insert(0, folder)                           # the user's own helper modules beside it
    try:
        spec.loader.exec_module(module)
    except SyntaxError as error:
        raise InputError(f"{path}:{error.lineno}: syntax error: {error.msg}") from None
    except InputError as error:
        raise InputError(f"{path}: {error}") from None
    except Exception as error:                          # noqa: BLE001 - the user's file, not the tool
        import traceback
        frames = [f for f in traceback.extract_tb(error.__traceback__) if os.path.abspath(f.filename) == os.path.abspath(path)]
        line = f":{frames[-1].lineno}" if frames else ""
        raise InputError(f"{path}{line}: importing it raised {type(error).__name__}: {error}") from None
    finally:
        if sys.path and sys.path[0] == folder:
            sys.path.pop(0)
    return module


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
    if not found:
        raise InputError(f"{path} declares no implementation: assign one at the top level, e.g. "
                         f"mine = compare.functions(forward=..., backward=..., update=...) (see README, "
                         f"'Check your own network')")
    if entry:
        chosen = []
        for want in (s.strip() for s in entry.split(",") if s.strip()):
            match = [v for k, v in found.items() if want in (k, v.name)]
            if not match:
                raise InputError(f"--entry {want!r}: {path} declares {', '.join(found)}")
            chosen.append(match[0])
        return chosen
    return list(dict.fromkeys(found.values()))

