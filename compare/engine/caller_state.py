"""The caller's world, as it was: every entry point of the API (compare.run, compare.check,
compare.assert_equivalent, and compare.cli.main called in-process) leaves the process's global
settings as it found them, whether it returns or raises (InputError, AssertionError,
KeyboardInterrupt, an implementation's exception), and calls from several threads run one at a
time.

    @caller_state.kept
    def run(spec, data=None, ...): ...

What is kept: a snapshot taken when the outermost call starts is written back when it ends, for
each setting whose value changed (`settings` below):
- random generators: Python's `random`, NumPy's global generator (np.random.seed, rand),
  torch's default generator, TensorFlow's global seed and Keras's (keras.utils.set_random_seed);
- number types: Keras's floatx, epsilon, image_data_format and dtype policy; torch's default
  dtype, default device, float32 matmul precision; JAX's jax_enable_x64, default matmul
  precision, dtype and rank promotion and PRNG implementation; NumPy's error handling (np.seterr);
- threads: the BLAS and OpenMP pools (threadpoolctl), torch's intra-op threads, TensorFlow's
  op parallelism while it can still be set, and the thread count compare itself runs with;
- determinism flags: torch.use_deterministic_algorithms, TensorFlow's op determinism, torch's
  grad mode;
- display: NumPy's print options;
- the process: environment variables, the working directory, sys.path, sys.stdout/stderr/stdin,
  the recursion limit, the garbage collector on or off, the handlers of SIGINT/SIGTERM/SIGHUP,
  warnings filters and warnings.showwarning, and the sys.modules entry compare makes for a
  user's file (user_<name>).

Reading a setting never imports a library: torch's are read only when torch is in sys.modules,
and so on. A library the call imports for the first time has no "before"; its settings are kept
from the moment compare changes one of them (`note`, called by frameworks.configure_threads),
and compare's own changes undo themselves (the Keras float type while a network is built:
reference/keras_mlp.py float_type; torch's default dtype in a NAdam proof: proof.py).

What stays, on purpose, because it is what importing a library does to any process: modules in
sys.modules (a library cannot be imported twice), the environment variables a library sets when
it first loads (TF2_BEHAVIOR, KMP_DUPLICATE_LIB_OK, TORCHINDUCTOR_CACHE_DIR), and a warnings
filter added during the call that is narrow (a category narrower than Warning, a message or a
module: what a library installs for its own warnings). A blanket filter (warnings.simplefilter
('ignore'), a user file's filterwarnings('error')) is taken away, and every filter the caller had
comes back, in its order. TensorFlow fixes its thread pools when it first runs an op: a call that
started TensorFlow with compare's one thread (the command line's setting) cannot give them back.

Why one call at a time (a process-wide re-entrant lock around the whole call): these settings are
process-wide (Keras's floatx, the BLAS pools, NumPy's and torch's global generators, the
environment), and a user's code reads them anywhere in a step. Two calls interleaved would each
save the other's settings as their "before" (the Keras float type left float64 after two
concurrent calls), and a user's np.random.rand in one call would draw from the stream the other
call seeded, so neither report would be the one a call alone makes. Serialised, each call sees
exactly the world a call alone sees, its report is the one it makes alone, and the world after
both is the one before. The cost: concurrent calls do not overlap (a step is CPU-bound and holds
the interpreter lock most of the time anyway; the command line's speed comes from its worker
process, compare/engine/worker.py). The lock is re-entrant: a call made from inside a call on the
same thread (assert_equivalent runs run; an on_step callback that calls compare.run) nests, and
only the outermost call snapshots and restores.

Left out: a user's code that starts a thread which calls compare and waits for it inside a call
(it waits for the lock: a deadlock); settings of libraries compare does not use (matplotlib's
rcParams, logging's handlers).
"""
import contextlib
import functools
import gc
import os
import random
import signal
import sys
import threading
import warnings

import numpy as np

from . import frameworks, interrupts

LOCK = threading.RLock()          # one call at a time, process-wide (see above)
ACTIVE = []                       # the snapshot of the outermost call in progress (at most one: LOCK)
MISSING = object()                # a setting absent when read


@functools.lru_cache(maxsize=None)
def _tool_environment():
    return {**frameworks.TF_ENVIRONMENT, **frameworks.XLA_ENVIRONMENT}


def kept(function):
    """Decorator: `function` runs under `preserved()`."""
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with preserved():
            return function(*args, **kwargs)
    return wrapper


@contextlib.contextmanager
def preserved():
    """One call at a time; the outermost call's world written back when it ends, however it ends."""
    with LOCK:
        if ACTIVE:                                     # a nested call: the outermost one restores
            yield
            return
        before = Snapshot()
        try:
            ACTIVE.append(before)
            frameworks.quiet_tensorflow()                         # if this call imports TensorFlow; taken away after it
            yield
        except BaseException:
            before.restore(raise_held=False)           # the exception in flight is the one the caller gets
            raise
        else:
            before.restore(raise_held=True)
        finally:
            ACTIVE.clear()


def note():
    """Record, for the call in progress, the settings of libraries it imported since it began (before
    compare changes one: frameworks.configure_threads). Outside a call: nothing."""
    if ACTIVE:
        ACTIVE[0].add_missing()


# --- the settings -------------------------------------------------------------------------------

def settings():
    """{name: (read, write)} of every setting present now. Reads nothing that imports a library."""
    out = {
        "random": (random.getstate, random.setstate),
        "numpy.random": (np.random.get_state, np.random.set_state),
        "numpy.seterr": (np.geterr, lambda value: np.seterr(**value)),
        "numpy.printoptions": (np.get_printoptions, lambda value: np.set_printoptions(**value)),
        "gc.enabled": (gc.isenabled, lambda on: gc.enable() if on else gc.disable()),
        "sys.path": (lambda: list(sys.path), lambda value: sys.path.__setitem__(slice(None), value)),
        "sys.stdout": (lambda: sys.stdout, lambda value: put_stream("stdout", value)),
        "sys.stderr": (lambda: sys.stderr, lambda value: put_stream("stderr", value)),
        "sys.stdin": (lambda: sys.stdin, lambda value: put_stream("stdin", value)),
        "sys.recursionlimit": (sys.getrecursionlimit, sys.setrecursionlimit),
        "cwd": (working_directory, os.chdir),
        "warnings.showwarning": (lambda: warnings.showwarning, lambda value: setattr(warnings, "showwarning", value)),
        "compare.threads": (compare_threads, set_compare_threads),
        "threadpools": (read_threadpools, write_threadpools),
    }
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "get_rng_state"):          # imported, not half-way
        out.update({
            "torch.random": (torch.get_rng_state, torch.set_rng_state),
            "torch.default_dtype": (torch.get_default_dtype, torch.set_default_dtype),
            "torch.threads": (torch.get_num_threads, torch.set_num_threads),
            "torch.deterministic": (lambda: (torch.are_deterministic_algorithms_enabled(),
                                             torch.is_deterministic_algorithms_warn_only_enabled()),
                                    lambda value: torch.use_deterministic_algorithms(value[0], warn_only=value[1])),
            "torch.grad_enabled": (torch.is_grad_enabled, torch.set_grad_enabled),
            "torch.float32_matmul_precision": (torch.get_float32_matmul_precision,
                                               torch.set_float32_matmul_precision),
        })
        if hasattr(torch, "get_default_device"):
            out["torch.default_device"] = (torch.get_default_device, torch.set_default_device)
    if "tensorflow" in sys.modules and hasattr(sys.modules["tensorflow"], "config"):
        out.update(tensorflow_settings())
    keras = sys.modules.get("keras")
    if keras is not None and hasattr(keras, "config") and "keras.src.backend.common.global_state" in sys.modules:
        out.update(keras_settings(keras))
    jax = sys.modules.get("jax")
    if jax is not None and hasattr(jax, "config") and hasattr(jax.config, "update"):   # imported, not half-way
        out.update(jax_settings(jax))
    return out


def put_stream(name, value):
    """Give sys.<name> back its stream, unless that stream was closed during the call (a user's
    code closed sys.stdout: the door to the user's code, compare/adapters/boundary.py, put a new
    stream on the same file descriptor in its place, and that one stays)."""
    if not getattr(value, "closed", False):
        setattr(sys, name, value)


def working_directory():
    try:
        return os.getcwd()
    except OSError:                                    # the caller's folder was removed: nothing to go back to
        return MISSING


def compare_threads():
    from . import frameworks

    return frameworks.CONFIGURED["threads"]


def set_compare_threads(value):
    from . import frameworks

    frameworks.CONFIGURED["threads"] = value


def read_threadpools():
    """{library file: threads} of the BLAS and OpenMP pools loaded now."""
    from threadpoolctl import ThreadpoolController

    return {lib.filepath: lib.num_threads for lib in ThreadpoolController().lib_controllers}


def write_threadpools(value):
    from threadpoolctl import ThreadpoolController

    for lib in ThreadpoolController().lib_controllers:
        if lib.filepath in value and lib.num_threads != value[lib.filepath]:
            lib.set_num_threads(value[lib.filepath])


def tensorflow_settings():
    """TensorFlow's global seed, op determinism and op parallelism (settable until TensorFlow starts)."""
    tf = sys.modules["tensorflow"]
    from tensorflow.python.eager import context
    from tensorflow.python.framework import config

    def write_threads(value):
        try:
            tf.config.threading.set_intra_op_parallelism_threads(value[0])
            tf.config.threading.set_inter_op_parallelism_threads(value[1])
        except RuntimeError:
            pass                                       # TensorFlow started during the call: its pools are fixed

    return {
        "tensorflow.seed": (context.global_seed, context.set_global_seed),
        "tensorflow.op_determinism": (config.is_op_determinism_enabled, lambda on: (
            config.enable_op_determinism() if on else config.disable_op_determinism())),
        "tensorflow.threads": (lambda: (tf.config.threading.get_intra_op_parallelism_threads(),
                                        tf.config.threading.get_inter_op_parallelism_threads()), write_threads),
    }


def keras_settings(keras):
    """Keras's process-wide config, and its per-thread state (dtype policy, seeds) of this thread."""
    global_state = sys.modules["keras.src.backend.common.global_state"]
    out = {
        "keras.floatx": (keras.config.floatx, keras.config.set_floatx),
        "keras.epsilon": (keras.config.epsilon, keras.config.set_epsilon),
        "keras.image_data_format": (keras.config.image_data_format, keras.config.set_image_data_format),
    }
    for name in ("dtype_policy", "global_random_seed", "global_seed_generator"):
        out[f"keras.{name}"] = (functools.partial(global_state.get_global_attribute, name, None),
                                functools.partial(global_state.set_global_attribute, name))
    return out


def jax_settings(jax):
    """JAX's process-wide flags that change what a run computes. reference/jax_mlp.py changes none
    of them: it enters jax.enable_x64 and jax.default_matmul_precision as context managers (thread-
    local overrides, jax/_src/config.py State.__call__), so these are written back only if
    something else in the call (a user's model) set them with jax.config.update."""
    def flag(name):
        return (lambda: getattr(jax.config, name), lambda value: jax.config.update(name, value))

    return {f"jax.{name}": flag(name) for name in
            ("jax_enable_x64", "jax_default_matmul_precision", "jax_numpy_dtype_promotion",
             "jax_numpy_rank_promotion", "jax_default_prng_impl")}


def same(a, b):
    """Equal values, arrays and tensors compared by content."""
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray):
        return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b)
    if type(a).__module__.startswith("torch") and hasattr(a, "numpy"):
        return a.shape == b.shape and bool((a == b).all())
    try:
        return bool(a == b)
    except Exception:                                  # noqa: BLE001 - an object that cannot say: treat as changed
        return False


# --- the snapshot ---------------------------------------------------------------------------------

class Snapshot:
    """The settings, environment, signal handlers, warnings filters and modules at one moment."""

    def __init__(self):
        self.values = {}
        self.add_missing()
        self.environment = dict(os.environ)
        self.filters = list(warnings.filters)
        self.modules = set(sys.modules)
        self.handlers = {}
        if threading.current_thread() is threading.main_thread():
            self.handlers = {number: signal.getsignal(number) for number in interrupts.SIGNALS}

    def add_missing(self):
        """Read the settings not read yet (and the thread pools of libraries loaded since)."""
        for name, (read, write) in settings().items():
            if name in self.values and not isinstance(self.values[name], dict):
                continue
            try:
                value = read()
            except Exception:                          # noqa: BLE001 - a setting that cannot be read here
                continue
            if name in self.values:                    # {library: threads}: a pool loaded since
                value = {**value, **self.values[name]}
            self.values[name] = value

    def restore(self, raise_held):
        """Write back what changed. A signal that comes meanwhile is held until the world is back,
        then raised as KeyboardInterrupt (raise_held) or dropped (an exception is already in flight)."""
        held = []
        try:
            with interrupts.deferred() as held:
                self.restore_settings()
                self.restore_environment()
                self.restore_filters()
                self.restore_modules()
        finally:
            self.restore_handlers()
        if held and raise_held:
            raise KeyboardInterrupt

    def restore_settings(self):
        """Each changed setting written back; the BLAS and OpenMP pools last: torch.set_num_threads
        also sets the count every thread starts with, which reading the OpenMP pool's count (this
        thread's) would miss once threadpoolctl had put this thread's back."""
        now = settings()
        for name, value in sorted(self.values.items(), key=lambda item: item[0] == "threadpools"):
            if value is MISSING or name not in now:
                continue
            read, write = now[name]
            try:
                if not same(read(), value):
                    write(value)
            except Exception:                          # noqa: BLE001 - the others are still written back
                pass

    def restore_environment(self):
        """Every variable the caller had, with its value; compare's own TensorFlow defaults taken
        away; a variable a library set when it first loaded stays (see the module's docstring)."""
        tool = _tool_environment()
        for key in list(os.environ):
            if key not in self.environment and key in tool and os.environ[key] == tool[key]:
                del os.environ[key]
        for key, value in self.environment.items():
            if os.environ.get(key) != value:
                os.environ[key] = value

    def restore_filters(self):
        """The caller's filters, in order; narrow filters added meanwhile (a library's own) kept in front."""
        if warnings.filters == self.filters:
            return
        added = [f for f in warnings.filters if f not in self.filters and narrow(f)]
        warnings.filters[:] = added + self.filters
        warnings._filters_mutated()

    def restore_modules(self):
        """The module compare registered for a user's file (compare/adapters/check.py, load_file) is
        forgotten: a second file of the same name then loads afresh, and nothing of it is left behind."""
        for name in sys.modules.copy():              # a copy in one C call (threads import meanwhile)
            if name.startswith("user_") and "." not in name and name not in self.modules:
                del sys.modules[name]

    def restore_handlers(self):
        for number, handler in self.handlers.items():
            if handler is None or signal.getsignal(number) is handler:
                continue                               # None: a handler not set from Python, not ours to set
            try:
                signal.signal(number, handler)
            except (ValueError, OSError):
                pass


def narrow(entry):
    """A warnings filter aimed at some warnings (a message, a category narrower than Warning, a module),
    not all: what a library installs for its own warnings when it is imported."""
    action, message, category, module, lineno = entry
    pattern = getattr(message, "pattern", message)
    module_pattern = getattr(module, "pattern", module)
    return bool(pattern) or category not in (Warning, Exception, BaseException) or bool(module_pattern) or bool(lineno)


frameworks.AFTER_IMPORTS.append(note)
