"""The judge's own tools, kept as they were: a user's code that replaces a function the verdict
is computed with is the implementation's failure, never a PASS.

The user's code runs in the process that judges it (the API's caller, or check's supervised child).
A file that does `np.allclose = lambda *a, **k: True`, `np.abs = ...`, `builtins.max = ...`,
`compare.engine.check.relative_errors = ...`, `compare.views.tables.verdict_line = ...` or
`compare.engine.check.RTOL = 1.0` would change what the judge computes or prints. So the
attributes of the modules the judge is made of are remembered before the user's code runs
(`begin`: when a run starts, or for check's command just before the user's file is imported;
`more` adds the modules imported since; `end`: forgotten when the run ends), and compared by identity after every call into the user's code
(`broken`, from guard.Guarded, and once more before the verdict, harness.lockstep):

  - modules: builtins, math, operator, numpy and its submodules, this package and scratch (the
    reference) and their submodules;
  - in each: everything callable (functions, classes, ufuncs), every module and immutable value (numbers, strings, tuples, None)
    bound at module level, and the functions and values in the namespace of every class defined
    in this package or scratch (a replaced method `Report.verdict`); mutable containers (caches,
    lists) are not compared: the tool itself fills them as it runs.

A difference is put back at once (so the run's report and verdict are written by the tool's own
code), and the run ends with the verdict 'error': "mine: your code replaced numpy.allclose (a
function the judge uses): the check cannot be judged in a process where it is replaced".

Cost: one identity comparison per remembered attribute (about 6 000), in one C loop per module or
class: about 0.5 ms per step of each user implementation (1 000 steps of a 4-5-3 network: 1.7 s -> 2.2 s).

Left out (stated, not defended): code written to forge the verdict from inside the process
(writing the supervisor's status pipe, ctypes, patching torch or Keras so that a torch reference
computes the user's numbers, a thread that patches and restores between two checks). The user's
code runs in the judging process; only a judge in a process the user's code never ran in could
exclude those, and check's supervisor is that process for how the run ends (docs/supervision.md),
not for the numbers.
"""
import builtins
import sys
import types
from itertools import repeat
from operator import is_not

MODULES = ("builtins", "math", "operator", "numpy", "compare", "scratch")
KEPT = (types.ModuleType, int, float, complex, str, bytes, tuple, frozenset, bool, type(None), staticmethod,
        classmethod, property)
MEMORY = {}                 # module name -> (module, {attribute: value}); class id -> (class, {attribute: value})
FLAT = {}                   # the same keys -> (attribute names, values): compared in one C loop per owner
HEAVY = ("compare.adapters.keras_model", "compare.adapters.torch_module")   # import torch, Keras: not loaded ahead
HELD = []
SEEN = [0]                  # len(sys.modules) when last remembered
FOUND = []                  # the first name put back by put_back (the door), until problem() reports it                   # [True]: the next begin() keeps the memory taken before a user's file was imported


def end():
    """A run ended (after its last check): nothing is remembered until the next begins, so a caller's
    own monkeypatch made after a run is never taken for the user's, nor undone."""
    MEMORY.clear()
    FLAT.clear()
    FOUND.clear()
    HELD.clear()


def more():
    """Before a call into the user's code: the modules imported since, during a run only (looked
    for when sys.modules has grown)."""
    if MEMORY and len(sys.modules) != SEEN[0]:
        remember()


def begin(hold=False):
    """A run starts: remember afresh what the judge is made of now (a caller's own monkeypatch
    before the call is its business). hold=True (check's command, just before it imports the
    user's file): the run that follows keeps this memory, so what the file's import replaces is seen."""
    if HELD and not hold:
        HELD.clear()
        remember()
        return
    MEMORY.clear()
    FLAT.clear()
    FOUND.clear()
    if hold:
        load_judge()
    remember()
    HELD[:] = [True] if hold else []


def load_judge():
    """Import the modules that judge, report and print a check (all of this package but the
    adapters and implementations that import torch or Keras), so that a user's file cannot be the
    first to import one and hand us its replaced functions as the ones to remember."""
    import importlib
    import pkgutil

    for package in ("compare.engine", "compare.views", "compare.cli", "compare.data", "compare.adapters"):
        for info in pkgutil.iter_modules(importlib.import_module(package).__path__):
            name = f"{package}.{info.name}"
            if name in sys.modules or name in HEAVY:
                continue
            try:
                importlib.import_module(name)
            except Exception:                   # noqa: BLE001 - an optional piece not installed: nothing to keep
                pass


def watched(name):
    return any(name == m or name.startswith(m + ".") for m in MODULES)


def kept(value):
    return callable(value) or isinstance(value, KEPT)    # functions, classes, ufuncs, numpy's dispatchers


def remember():
    """Remember the attributes of every watched module loaded now that is not remembered yet."""
    SEEN[0] = len(sys.modules)
    for name, module in sys.modules.copy().items():     # one C call: another thread may import meanwhile
        if module is None or name in MEMORY or not watched(name):
            continue
        try:
            space = vars(module)
        except TypeError:
            continue
        keep(name, module, {k: v for k, v in list(space.items()) if kept(v)})
        if name.split(".")[0] in ("compare", "scratch"):
            for value in list(space.values()):
                if isinstance(value, type) and getattr(value, "__module__", None) == name and id(value) not in MEMORY:
                    keep(id(value), value, {k: v for k, v in list(vars(value).items())
                                            if kept(v) and not k.startswith("__")})


def keep(key, owner, attributes):
    MEMORY[key] = (owner, attributes)
    FLAT[key] = (tuple(attributes), tuple(attributes.values()))


def broken():
    """The first remembered attribute that is no longer what it was, put back with all the others.
    -> 'numpy.allclose' (the name replaced), or None when nothing was."""
    first = builtins_back()
    for key, (owner, attributes) in list(MEMORY.items()):
        space = owner.__dict__
        names, values = FLAT[key]
        if not any(map(is_not, map(space.get, names, repeat(KEPT)), values)):    # all as they were (a C loop)
            continue
        for attribute, value in attributes.items():
            if space.get(attribute, KEPT) is not value:
                if first is None:
                    first = f"{key if isinstance(key, str) else owner.__module__ + '.' + owner.__qualname__}.{attribute}"
                try:
                    setattr(owner, attribute, value)
                except (AttributeError, TypeError):
                    pass
    return first


def builtins_back():
    """Python's builtins put back first, with no call of a builtin (the code that puts back needs
    them). -> 'builtins.max' (the first replaced) or None"""
    remembered = MEMORY.get("builtins")
    if remembered is None:
        return None
    space, first = builtins.__dict__, None
    for attribute, value in remembered[1].items():
        if space.get(attribute, KEPT) is not value:
            first = "builtins." + attribute
            space.update(remembered[1])
            break
    return first


def put_back():
    """After a call into the user's code (the door, compare/adapters/boundary.py): Python's builtins
    put back at once, and the first name replaced kept for problem() to report."""
    name = builtins_back()
    if name is not None and not FOUND:
        FOUND.append(name)


def problem(key):
    """The one line for an implementation whose code replaced a judge's attribute (all put back), or None."""
    name = broken() or (FOUND.pop() if FOUND else None)
    FOUND.clear()
    if name is None:
        return None
    return (f"{key}: your code replaced {name} (a function or value the judge uses): a check cannot be judged "
            f"in a process where the judge's tools were replaced (put back; nothing is judged)")

