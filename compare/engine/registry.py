"""Implementations: the one registry they are found in.

An implementation is built from the spec and one set of initial parameters, runs a training
step on a batch, and hands the harness the tensors it computed, any subset of them. What the
harness calls on one, when, with which shapes and layouts, is written out as a typing.Protocol
in compare/engine/protocol.py:

    build(spec, params, convention) -> implementation        protocol.Builder (Entry.build)
    implementation.step(X, Y) -> {name: array}               required: X, Y rows; the record in the
                                                             scratch layout (names.py)
    implementation.predict(X) -> (n_L, E)                    optional: test accuracy, final outputs
    implementation.set_masks(masks)                          optional (dropout): before each step
    implementation.end_epoch(mean_loss)                      optional: per-epoch schedules
    implementation.resync(record)                            optional: float32 runs' references
    implementation.restore(record)                           optional: the worker's step undone

The harness compares exactly the tensors two implementations both give, reports the rest as
not compared (with the reason), and never reports agreement on nothing.

Registering: the built-ins below are registered exactly as a user's implementation is, by
`register(Entry(...))`. No other implementation may take a built-in's name or a character of the
runner keys (RESERVED). A fourth framework is one module defining `build` and one line in
BUILTIN. A user's implementation is usually registered for them by `compare check` or
`compare.check(...)` (compare/adapters).
"""
import importlib
from dataclasses import dataclass, field
from typing import Callable

from .errors import FrameworkUnavailable, InputError
from . import interrupts
from .frameworks import jax_hidden_from, matplotlib_hidden


@dataclass
class Entry:
    name: str                                 # the key in --frameworks, --against and the report
    conventions: tuple = ("own",)             # conventions it can follow; the first is its own
    module: str | None = None                 # a module with build(spec, params, convention) (loaded when used)
    build: Callable | None = None             # or build itself
    requires: tuple = ()                      # top-level modules it imports (checked before a run)
    install: str | None = None                # pip extra that brings them
    description: str = ""
    settings: dict = field(default_factory=dict)  # spec fields it fixes for itself (a user's optimizer),
                                                  # applied to the references it is compared with
    origin: str | None = None                 # where a user's implementation was declared (file:line)
    vocabulary: dict = field(default_factory=dict)  # our tensor name -> its own name ('dW1' -> 'nabla_w[0]')
    notes: dict = field(default_factory=dict)       # tensor or group -> how it is compared (a scaling, ...)

    def builder(self):
        """The build function, importing its module on first use. Raises FrameworkUnavailable."""
        if self.build is None:
            try:
                self.build = importlib.import_module(self.module).build
            except (ImportError, OSError) as error:       # a broken CUDA torch raises OSError on import
                raise FrameworkUnavailable(unavailable_text(self, error)) from None
        return self.build


BUILTIN = [
    Entry("scratch", ("torch", "keras", "jax"), module="compare.implementations.scratch",
          description="the NumPy MLP of scratch/mlp.py, in torch's, Keras's or JAX's conventions"),
    Entry("torch", ("torch",), module="compare.implementations.torch", requires=("torch",), install="torch",
          description="reference/torch_mlp.py: nn.Linear, torch's losses, torch.optim, autograd"),
    Entry("keras", ("keras",), module="compare.implementations.keras", requires=("tensorflow", "keras"),
          install="keras", description="reference/keras_mlp.py: Dense, Keras's losses and optimizers, GradientTape"),
    Entry("jax", ("jax",), module="compare.implementations.jax", requires=("jax", "flax", "optax"), install="jax",
          description="reference/jax_mlp.py: Flax nnx layers, Optax's optimizers, jax.value_and_grad under jax.jit"),
]
BUILTIN_NAMES = tuple(e.name for e in BUILTIN)
# The characters runner and pair keys are made of (harness.plan: 'scratch@keras', 'torch/mine',
# 'mine~torch'; lists on the command line: 'torch,keras'). No implementation's name holds one and
# none is a built-in's name, so the keys of two implementations can never be the same string.
RESERVED = ("~", "@", "/", ",")


def name_problem(name):
    """Why `name` cannot name an implementation (one line), or None when it can."""
    if not isinstance(name, str) or not name.strip():
        return f"an implementation's name must be a non-empty string, got {name!r}"
    if not name.isprintable():
        from .errors import one_line
        return (f"an implementation's name must be printable, got '{one_line(name)}' (a line break, a tab, a "
                f"terminal escape or another control character): use letters, digits, '-' and '_'")
    used = [c for c in RESERVED if c in name]
    if used:
        return (f"an implementation may not be called {name!r}: {' and '.join(map(repr, used))} "
                f"{'is' if len(used) == 1 else 'are'} reserved for the report's keys (scratch@keras, torch/mine, "
                f"mine~torch, torch,keras): use letters, digits, '-' and '_'")
    if name.strip().lower() in BUILTIN_NAMES:
        return f"an implementation may not be called {name!r} (a built-in framework's name): give it another name="
    return None
REGISTRY = {}
_UNAVAILABLE = {}


def register(entry):
    """Add an implementation to the registry (replacing one of the same name; never a built-in:
    a report that says 'torch' means torch). Each field of the wrong type is an InputError naming
    it, here, not an AttributeError in the middle of a run. -> entry"""
    if not isinstance(entry, Entry):
        raise InputError(f"register needs a compare.Entry(name, conventions=..., build=...), got {type(entry).__name__}")
    if not any(entry is e for e in BUILTIN):
        problem = name_problem(entry.name) or (f"an implementation name needs letters, digits, '-' or '_' only, got "
                                               f"{entry.name!r}" if " " in entry.name else None)
        if problem:
            raise InputError(problem)
    if entry.module is None and entry.build is None:
        raise InputError(f"implementation {entry.name!r} needs a build function")
    if entry.build is not None and not callable(entry.build):
        raise InputError(f"implementation {entry.name!r}: build must be a function build(spec, params, convention), "
                         f"got {type(entry.build).__name__}")
    conventions = entry.conventions
    if not isinstance(conventions, (list, tuple)) or not conventions or \
            not all(isinstance(c, str) and c for c in conventions):
        raise InputError(f"implementation {entry.name!r}: conventions must be a tuple of convention names, its own "
                         f"first (e.g. ('torch',)), got {conventions!r}"[:300])
    entry.conventions = tuple(conventions)
    REGISTRY[entry.name] = entry
    return entry


for _entry in BUILTIN:
    register(_entry)


def names():
    return list(REGISTRY)


def get(name):
    """The registered entry called `name` (or the entry itself). Raises InputError naming the choices."""
    if isinstance(name, Entry):
        return name
    if name not in REGISTRY:
        raise InputError(f"unknown framework {name!r}; choose from: {', '.join(REGISTRY)}")
    return REGISTRY[name]


def unavailable_text(entry, error):
    hint = f"; install it with pip install -c constraints.txt '.[{entry.install}]'" if entry.install else ""
    return f"framework {entry.name!r} is not available here ({type(error).__name__}: {error}){hint}"


def require(name):
    """Raise FrameworkUnavailable (exit 2) if the implementation's modules cannot be imported;
    imports them (once) when they can. -> the entry"""
    entry = get(name)
    name = entry.name
    if name in _UNAVAILABLE:
        raise FrameworkUnavailable(_UNAVAILABLE[name])
    for module in entry.requires:
        try:
            with matplotlib_hidden(), jax_hidden_from(module), interrupts.held():   # (frameworks.py)
                importlib.import_module(module)
        except (ImportError, OSError) as error:
            _UNAVAILABLE[name] = unavailable_text(entry, error)
            raise FrameworkUnavailable(_UNAVAILABLE[name]) from None
    try:
        with interrupts.held():
            entry.builder()
    except FrameworkUnavailable as error:
        _UNAVAILABLE[name] = str(error)
        raise
    return entry


def available(name):
    """True if the implementation can be built here."""
    try:
        require(name)
        return True
    except InputError:
        return False
