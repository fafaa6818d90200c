"""Ctrl-C, SIGTERM and SIGHUP end a run the same way: as a KeyboardInterrupt, which the harness
turns into an 'interrupted' report (compare/engine/harness.py) and the CLI into one line and
exit 130 (compare/cli/__init__.py).

`python -m compare` imports its package (NumPy: a few tenths of a second) before __main__ runs;
a signal then is held (`hold`, called from compare/__init__.py only when launched that way) and
raised once __main__ has installed the handlers (`install`, `raise_held`).

Left out: Windows' console events (SIGTERM and SIGHUP do not exist there; Ctrl-C works).
"""
import gc
import os
import signal
import sys
import threading

SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
_held = []


def launched_as_main():
    """True while `python -m compare` imports the package (sys.argv[0] is '-m' until then)."""
    argv = list(getattr(sys, "orig_argv", ()))
    named = "-mcompare" in argv or any(a == "-m" and b == "compare" for a, b in zip(argv, argv[1:]))
    return sys.argv[:1] == ["-m"] and named


def ignored(number):
    """A signal ignored by whoever started us (`nohup`: SIGHUP; a shell's background job: SIGINT)
    stays ignored."""
    return signal.getsignal(number) == signal.SIG_IGN


def hold():
    """Note a signal instead of acting on it, until `install`."""
    for number in SIGNALS:
        if not ignored(number):
            signal.signal(number, lambda signum, frame: _held.append(signum))


def raise_interrupt(signum, frame):
    """The handler: a KeyboardInterrupt where the main thread is, unless that is inside a garbage
    collection callback (JAX registers one: jax/_src/lib/__init__.py _xla_gc_callback), where
    Python prints an exception as 'Exception ignored in: ...' with its traceback and drops it: the
    signal is then sent again a moment later, from a timer thread, to land outside it."""
    if in_gc_callback(frame):
        threading.Timer(0.05, os.kill, (os.getpid(), signum)).start()
        return
    raise KeyboardInterrupt


def in_gc_callback(frame):
    """Whether `frame` runs inside one of gc.callbacks (a callback's code on the stack)."""
    codes = {getattr(callback, "__code__", None) for callback in gc.callbacks} - {None}
    while codes and frame is not None:
        if frame.f_code in codes:
            return True
        frame = frame.f_back
    return False


def install():
    """SIGINT, SIGTERM, SIGHUP -> KeyboardInterrupt. -> {signal: previous handler} (for restore);
    nothing outside the main thread, where Python allows no handlers."""
    previous = {}
    for number in SIGNALS:
        if ignored(number):
            continue
        try:
            previous[number] = signal.signal(number, raise_interrupt)
        except (ValueError, OSError):
            pass
    return previous


def raise_held():
    """Raise the KeyboardInterrupt of a signal that arrived while held."""
    if _held:
        _held.clear()
        raise KeyboardInterrupt


class deferred:
    """`with deferred() as held:` a signal that would raise KeyboardInterrupt is noted inside the
    block instead; afterwards `held` (a list) says whether one came. Outside the main thread the
    block runs as is."""

    def __enter__(self):
        self.held, self.previous = [], {}
        for number in SIGNALS:
            if signal.getsignal(number) not in (raise_interrupt, signal.default_int_handler):
                continue                              # only what would raise KeyboardInterrupt anyway
            try:
                self.previous[number] = signal.signal(number, lambda signum, frame: self.held.append(signum))
            except (ValueError, OSError):
                pass
        return self.held

    def __exit__(self, *exc):
        restore(self.previous)
        return False


def restore(previous):
    for number, handler in previous.items():
        signal.signal(number, handler if handler is not None else signal.SIG_DFL)


class held(deferred):
    """`with held():` signals noted inside the block, and raised as KeyboardInterrupt once it ends.
    Around the import of a C++ extension (torch, TensorFlow, numba): a KeyboardInterrupt raised in
    one of its callbacks into Python during its static initialisation aborts the whole process
    (pybind11: "terminate called after throwing an instance of 'pybind11::error_already_set'",
    signal 6, seen at 1 s into `import torch`); held, the signal ends the run with the usual line a
    few seconds later, when the import is done."""

    def __exit__(self, *exc):
        restore(self.previous)
        if self.held and exc[0] is None:
            raise KeyboardInterrupt
        return False
