"""The run environment: thread counts per library, and versions and determinism flags for the report.

torch and Keras are optional: a framework that is not installed (or fails to import) is
reported as unavailable, never a crash, and a run that asks for it ends with exit 2. Nothing
here imports torch or TensorFlow unless the run uses them (or they are already imported).
matplotlib and pygments (--plot, --html) are optional too: `require_optional` checks them
before a run starts, so a run never trains for minutes and then fails on a missing package.

Threads: on a small machine the three libraries each start a thread pool of all cores
(OpenBLAS for NumPy, OpenMP for torch, Eigen for TensorFlow). Run one after another in
lockstep, the pools spin against each other; `configure_threads` gives every library the
same explicit count, and the report records it.

Left out: GPUs (the torch device is a parameter; Keras runs where TensorFlow puts it).
"""
import contextlib
import os
import platform
import sys

import numpy as np

from .errors import InputError

# Set (unless already set) while a call that imports TensorFlow runs, and taken away after it
# (compare/engine/caller_state.py): TensorFlow imports quietly, and TF 2.21 prints a oneDNN notice
# on import otherwise, whatever TF_CPP_MIN_LOG_LEVEL says; float64 never uses oneDNN.
TF_ENVIRONMENT = {"TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"}


# Set (unless XLA_FLAGS is already set) before JAX starts its CPU backend in a CLI run with one
# thread per library, and taken away after the call like TF_ENVIRONMENT: XLA's matmuls then run on
# the calling thread instead of an Eigen pool of every core that spins against torch's and Keras's
# lane (docs/performance.md, "JAX's threads"). XLA reads XLA_FLAGS once, when its backend starts.
XLA_ENVIRONMENT = {"XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false"}
JAX_STARTED_WITH = {}             # XLA_FLAGS as JAX's backend read it (see jax_environment)

TF_IMPORTED_WITH = {}             # TF_ENABLE_ONEDNN_OPTS as TensorFlow read it at its import (see tensorflow_import_environment)


# Called once configure_threads has imported the libraries a run needs, before it sets their
# threads (compare/engine/caller_state.py registers its `note` here: this module does not import it).
AFTER_IMPORTS = []

def tensorflow_import_environment():
    """{'TF_ENABLE_ONEDNN_OPTS': value or 'unset'} as TensorFlow was imported with it: read the first
    time a report is made with TensorFlow loaded (during the call that imported it, whose variables
    are taken away after it; or, imported by the caller before, the caller's), then kept."""
    if not TF_IMPORTED_WITH:
        TF_IMPORTED_WITH["TF_ENABLE_ONEDNN_OPTS"] = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "unset")
    return TF_IMPORTED_WITH


def quiet_tensorflow():
    """TF_ENVIRONMENT's variables, each unless already set, before TensorFlow is imported (once it
    is, they no longer matter and the report keeps saying what it was imported with)."""
    if "tensorflow" not in sys.modules:
        for key, value in TF_ENVIRONMENT.items():
            os.environ.setdefault(key, value)

def single_threaded_xla():
    """XLA_ENVIRONMENT, unless XLA_FLAGS is set, before JAX's backend starts (a JAX imported but
    not yet run still reads it)."""
    jax = sys.modules.get("jax")
    started = jax is not None and "jax._src.xla_bridge" in sys.modules and \
        bool(getattr(sys.modules["jax._src.xla_bridge"], "_backends", None))
    if not started:
        for key, value in XLA_ENVIRONMENT.items():
            os.environ.setdefault(key, value)


# Threads per library for CLI runs: one each. Mini-batch steps are small: interleaving NumPy's
# OpenBLAS, torch's OpenMP pool and TensorFlow's Eigen pool, each with 2 threads on 2 cores, made
# torch's step 2-4x slower than alone (threads spinning against each other). Full-batch steps
# (60,000 columns) are skinny GEMMs (10 x 784 x 60,000) bound by reading the 376 MB batch, not by
# arithmetic: one OpenBLAS thread does dZ1 @ X in 121 ms, two took 1,645 ms on the shared machine
# (each thread spin-waits for the other whenever the other is descheduled). The second core is
# used by running two implementations at once instead (compare/engine/lanes.py).
# docs/performance.md has the measurements.
MINI_BATCH_THREADS = 1
CONFIGURED = {"threads": None}    # what configure_threads last set (None: each library's own pools)
REMOTE = {}                       # the environment of frameworks run in a worker process (compare/engine/worker.py)


def default_threads(spec):
    """Threads per library for a run of `spec`: 1, mini-batch and full batch alike (see above)."""
    return MINI_BATCH_THREADS


def require_optional(option, modules, extra):
    """Import `modules` (needed by `option`) or raise InputError naming the pip extra that brings them."""
    import importlib

    from . import interrupts

    for module in modules:
        try:
            with interrupts.held():                 # a C++ extension's import (interrupts.held)
                importlib.import_module(module)
        except (ImportError, OSError) as error:
            raise InputError(f"{option} needs {module}, which cannot be imported here ({type(error).__name__}); "
                             f"install it with pip install -c constraints.txt '.[{extra}]'") from None


def configure_threads(threads, frameworks=()):
    """Give NumPy's BLAS, and torch and TensorFlow where `frameworks` use them (or they are
    already imported), `threads` threads each (None: leave the defaults). Imports nothing a run
    does not use. Call before the first TensorFlow op: TensorFlow fixes its pools when it starts."""
    CONFIGURED["threads"] = threads
    if threads is None:
        return
    from threadpoolctl import threadpool_limits

    from . import interrupts

    if "torch" in sys.modules or "torch" in frameworks:
        with interrupts.held():
            import torch
    if "tensorflow" in sys.modules or "keras" in frameworks:
        quiet_tensorflow()
        with interrupts.held(), matplotlib_hidden(), jax_hidden_from("tensorflow"):
            import tensorflow as tf
    for hook in AFTER_IMPORTS:                      # caller_state.note: the counts of libraries this call
        hook()                                      # imported, given back after it
    threadpool_limits(threads)
    if "torch" in sys.modules or "torch" in frameworks:
        torch.set_num_threads(threads)
    if "tensorflow" in sys.modules or "keras" in frameworks:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:
            pass  # TensorFlow already started: the report records the counts it actually has


def warm_up(frameworks):
    """Import now what the first use of a framework imports (torch.optim's first optimizer imports
    torch._dynamo: 1.8 s here), while the data still loads on its thread (compare/cli/run.py)."""
    if "torch" in frameworks and "torch" in sys.modules:
        from . import interrupts

        with interrupts.held():                     # a C++ extension's import (interrupts.held)
            import torch._dynamo  # noqa: F401


def jax_environment():
    """JAX's versions, where it computes, and the flags the reference runs with: float64 by
    jax.enable_x64 inside each call (x64_inside_calls), the caller's jax_enable_x64 otherwise."""
    import flax
    import jax
    import jaxlib
    import optax

    return {"version": jax.__version__, "jaxlib": jaxlib.__version__, "flax": flax.__version__,
            "optax": optax.__version__, "backend": jax.default_backend(),
            "devices": [str(d) for d in jax.devices()], "x64": "inside each call of a float64 run",
            "jax_enable_x64": bool(jax.config.jax_enable_x64),
            "XLA_FLAGS": JAX_STARTED_WITH.setdefault("XLA_FLAGS", os.environ.get("XLA_FLAGS", "unset"))}


@contextlib.contextmanager
def jax_hidden_from(module):
    """While TensorFlow (or Keras, which imports it) is imported: `import jax` fails unless jax is
    imported already. TensorFlow imports jax whenever it is installed (tensorflow/lite/python/
    util.py, module level: `try: from jax import jit as _jit / except ImportError: _jit = None`,
    for TFLite's converter of JAX functions): 1-2 s more on every Keras run, and JAX's garbage
    collection callback (jax/_src/lib/__init__.py _xla_gc_callback) then runs in every collection,
    where a Ctrl-C that lands is printed as 'Exception ignored' and lost (compare/engine/
    interrupts.py re-sends it). Hidden, TFLite keeps _jit = None, which only that converter reads;
    a run with jax imports it afterwards as usual."""
    if module not in ("tensorflow", "keras") or "jax" in sys.modules:
        yield
        return
    sys.modules["jax"] = None                       # import jax -> ImportError
    try:
        yield
    finally:
        if "jax" in sys.modules and sys.modules["jax"] is None:
            del sys.modules["jax"]


@contextlib.contextmanager
def matplotlib_hidden():
    """While a framework imports: `import matplotlib` fails unless matplotlib is imported already.
    Keras imports matplotlib.pyplot when it starts (keras/src/visualization/plot_image_gallery.py,
    module level: `try: import matplotlib.pyplot as plt / except ImportError: plt = None`), about
    0.9 s of a run that draws nothing; hidden, Keras keeps plt = None, which only its own
    plot_image_gallery reads. A run with --plot or --html imports matplotlib first
    (require_optional), so Keras then finds it. Afterwards matplotlib imports as usual."""
    if "matplotlib" in sys.modules:
        yield
        return
    sys.modules["matplotlib"] = None                # import matplotlib[.pyplot] -> ImportError
    try:
        yield
    finally:
        if "matplotlib" in sys.modules and sys.modules["matplotlib"] is None:
            del sys.modules["matplotlib"]


def numpy_blas(libraries):
    """The BLAS NumPy (and so scratch) calls, from threadpoolctl's list of loaded libraries. Others
    are left out: SciPy's OpenBLAS (loaded once TensorFlow or JAX imports SciPy) appears in an order
    that follows which thread loaded it first, and with the threads it had when it was loaded."""
    blas = [info for info in libraries if info.get("user_api") == "blas"]
    mine = [info for info in blas if "numpy" in str(info.get("filepath", ""))] or blas
    return [{k: info.get(k) for k in ("internal_api", "version", "num_threads")} for info in mine]


def environment(frameworks):
    """Versions, BLAS, thread counts and determinism flags, for the report."""
    from threadpoolctl import threadpool_info

    env = {"python": platform.python_version(), "platform": platform.platform(),
           "machine": platform.machine(), "cpus": os.cpu_count(), "numpy": np.__version__,
           "blas": numpy_blas(threadpool_info())}
    if "torch" in sys.modules:
        import torch

        env["torch"] = {"version": torch.__version__, "threads": torch.get_num_threads(),
                        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
                        "device": "cpu"}
    if "keras" in sys.modules and "tensorflow" in sys.modules:
        import keras
        import tensorflow as tf

        env["keras"] = {"version": keras.__version__, "backend": keras.backend.backend(),
                        "tensorflow": tf.__version__,
                        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
                        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
                        "TF_ENABLE_ONEDNN_OPTS": tensorflow_import_environment()["TF_ENABLE_ONEDNN_OPTS"],
                        "TF_DETERMINISTIC_OPS": os.environ.get("TF_DETERMINISTIC_OPS", "unset")}
    if "jax" in sys.modules and "flax" in sys.modules and "optax" in sys.modules:
        env["jax"] = jax_environment()
    for name, value in REMOTE.items():               # Keras in the worker process: its versions and threads
        if name in frameworks:
            env[name] = dict(value, process="worker")
    return env
