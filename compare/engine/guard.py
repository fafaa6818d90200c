"""A user's implementation in the harness: its own copies in, its inputs left as they were, real numbers out.

The harness owns what every implementation reads: the batch X and targets Y of a step, the step's
dropout masks, the initial parameters and the inputs of predict. None may change them, and a
change must never reach another implementation: a torch forward that "normalises" its batch in
place (x.mul_(10)) once changed the harness's own batch, the references that ran after it computed
on the changed batch too, and all agreed: PASS. `Guarded` wraps every implementation that is not a
built-in (a user's code, through any adapter) and holds three rules:

1. Its own copies in. Each step it gets private copies of X and Y, and private copies of the masks
   handed to set_masks; predict gets a copy of its X. (The initial parameters are copied per runner
   where each is built: lanes.py, worker.py.) Nothing it does reaches what the others compute on.
2. Handed back as they were. After each call every copy is compared with the harness's array, bit
   for bit; a difference is the implementation's failure, `InputChanged`: "mine: your code changed
   its input X (the batch) in place (step 1)". The run ends with the verdict 'error' as for an
   exception inside the implementation: its numbers were computed on other inputs than the
   references', so they are not judged.
3. Real numbers out. A step gives a dict of named tensors, predict an (n_L, E) array; every tensor
   must be an array of real numbers. Booleans, complex numbers, strings, bytes, Python objects,
   dates and None are refused, `NotRealNumbers`, naming the tensor in the user's own words and its
   dtype ("mine: dW1 is complex128: give real numbers"), before anything compares it (converting a
   complex array to float64 drops its imaginary part with a ComplexWarning). Integers and floats of every precision
   pass: a float32 tensor in a float64 run is judged, and a divergence on it says so
   (judge.lower_precision, diagnose.precision_words).

Cost: a copy and a bit comparison of X and Y per step of a user's implementation (MNIST, 128 x 784
float64: about 0.2 ms, beside a step of several ms) and a dtype look-up per tensor. The built-ins
(scratch, torch, Keras: ours, tested) are not wrapped, so a recipe run costs nothing more: they read
the shared batch as before; tests/test_false_pass.py checks that each leaves its inputs as they
were, and the worker process hands its two built-ins read-only views (a write would raise there).

Left out: which of the user's functions changed an input (the harness sees a step; an adapter sees
its calls); inputs an adapter derives afresh per call (integer labels, a Nielsen class's columns):
a change to them reaches nobody else.
"""
import linecache

import numpy as np

from . import integrity, registry


class ImplementationFault(Exception):
    """An implementation broke a rule of the protocol (not a Python exception in its code): the
    message is the one line that says so. where: (file, line) of its declaration, or None."""

    def __init__(self, message, where=None):
        super().__init__(message)
        self.where = where


class InputChanged(ImplementationFault):
    """The implementation changed an input it was given, in place."""


class NotRealNumbers(ImplementationFault):
    """The implementation handed back a tensor that is not an array of real numbers."""


REAL_KINDS = "fiu"                       # floats, signed and unsigned integers (and is_float's)
WHAT = {"b": "bool", "U": "a string", "S": "bytes", "O": "object", "V": "raw bytes (void)", "M": "a date",
        "m": "a time span"}


def needs_guard(runner):
    """Whether a runner's implementation is wrapped: every one but the built-ins (by identity, not
    name: a user's implementation may never pass for one)."""
    return not any(runner.entry is entry for entry in registry.BUILTIN)


def unwrapped(implementation):
    """The implementation inside a Guarded (or itself)."""
    return implementation.inner if isinstance(implementation, Guarded) else implementation


def where(origin):
    """'file.py:12' -> ('file.py', 12), or None."""
    if not origin or ":" not in str(origin):
        return None
    file, _, line = str(origin).rpartition(":")
    return (file, int(line)) if line.isdigit() else None


def source_line(place):
    """The source line at (file, line), stripped, or ''."""
    return linecache.getline(place[0], place[1]).strip() if place else ""


def is_float(dtype):
    """A floating-point dtype: NumPy's, or one registered with it (ml_dtypes' bfloat16, which NumPy
    files under 'V' but np.finfo describes)."""
    if dtype.kind == "f":
        return True
    if dtype.kind != "V" or dtype.names is not None:
        return False
    try:
        np.finfo(dtype)
        return True
    except (TypeError, ValueError):
        return False


def not_real(value):
    """What a value is when it is not an array (or number) of real numbers, in a few words; None when it is."""
    if value is None:
        return "None"
    dtype = getattr(value, "dtype", None)
    if not isinstance(dtype, np.dtype):
        try:
            dtype = np.asarray(value).dtype
        except Exception:                        # noqa: BLE001 - a ragged list, an object NumPy cannot read
            return f"a {type(value).__name__} NumPy cannot read as an array"
    if dtype.kind in REAL_KINDS or is_float(dtype):
        return None
    if dtype.kind == "c":
        return dtype.name
    return WHAT.get(dtype.kind, str(dtype))


class Guarded:
    """A user's built implementation with the three rules of the module docstring. It answers
    hasattr as the implementation does (predict, set_masks, resync, end_epoch, missing, ...)."""

    def __init__(self, implementation, key, vocabulary=None, origin=None, n_out=None):
        self.inner, self.key, self.n_out = implementation, key, n_out
        self.vocabulary = dict(vocabulary or {})
        self.place = where(origin)
        self.steps = 0
        self.masks = {}                      # name -> (the harness's mask, the copy handed on)

    def __getattr__(self, name):
        inner = self.__dict__.get("inner")
        if inner is None or name.startswith("__"):
            raise AttributeError(name)
        value = getattr(inner, name)         # AttributeError when the implementation has none
        if name == "predict":
            return self.predict_copy
        if name == "set_masks":
            return self.set_masks_copy
        return value

    def words(self, name):
        """A tensor in the user's own words: "nabla_w[0] (dW1)", or "dW1"."""
        own = self.vocabulary.get(name)
        return f"{own} ({name})" if own and own != name else name

    def step(self, X, Y):
        self.steps += 1
        given = {"X": (X, np.array(X)), "Y": (Y, np.array(Y)), **self.masks}
        with self.judge_kept():
            record = self.inner.step(given["X"][1], given["Y"][1])
        self.verify(given, f"step {self.steps}")
        if not isinstance(record, dict):
            raise ImplementationFault(f"{self.key}: its step returned {type(record).__name__}, not a dict of named "
                                      f"tensors", self.place)
        for name, value in record.items():
            self.refuse_unreal(name, value)
        return record

    def set_masks_copy(self, masks):
        copies = {l: np.array(mask) for l, mask in masks.items()}
        self.masks = {f"mask{l} (the dropout mask of layer {l})": (masks[l], copies[l]) for l in masks}
        return self.inner.set_masks(copies)

    def predict_copy(self, X):
        mine = np.array(X)
        with self.judge_kept():
            A = self.inner.predict(mine)
        self.verify({"X": (X, mine)}, f"predict, after step {self.steps}")
        self.refuse_unreal("predict's output", A)
        if self.n_out is not None and np.shape(A) != (self.n_out, len(X)):
            raise ImplementationFault(f"{self.key}: predict gave outputs of shape {np.shape(A)} for {len(X)} examples, "
                                      f"not ({self.n_out}, {len(X)}) (units, examples)", self.place)
        return A

    def judge_kept(self):
        """Around a call into the user's code: what the judge is made of is put back after it, and
        replacing it is the implementation's failure (compare/engine/integrity.py)."""
        import contextlib

        @contextlib.contextmanager
        def kept():
            integrity.more()                    # modules the user's code or an adapter imported since
            try:
                yield
            except BaseException:
                integrity.broken()              # put back; the exception stands
                raise
            line = integrity.problem(self.key)
            if line:
                raise ImplementationFault(line, self.place)
        return kept()

    def verify(self, given, when):
        """Raise InputChanged for the first input whose copy no longer equals the harness's array."""
        for name, (theirs, mine) in given.items():
            if mine.shape != theirs.shape or not np.array_equal(mine, theirs):
                label = {"X": "X (the batch)" if when.startswith("step") else "X (the inputs of predict)",
                         "Y": "Y (the targets)"}.get(name, name)
                hint = "X = X / 255, not X /= 255 or x.div_(255)" if name == "X" else "never write into it"
                raise InputChanged(f"{self.key}: your code changed its input {label} in place ({when}): compute "
                                   f"on a new array ({hint})", self.place)

    def refuse_unreal(self, name, value):
        what = not_real(value)
        if what is not None:
            raise NotRealNumbers(f"{self.key}: {self.words(name)} is {what}: give real numbers "
                                 f"(an array of floats)", self.place)


def wrap(runner, implementation):
    """A runner's built implementation, guarded unless it is a built-in. -> implementation"""
    if not needs_guard(runner) or isinstance(implementation, Exception):
        return implementation
    return Guarded(implementation, runner.key, runner.entry.vocabulary, runner.entry.origin, runner.spec.sizes[-1])


def describe(step, key, fault):
    """An ImplementationFault as the harness's error record (judge.describe_exception's form): the
    one line, and the implementation's declaration for where."""
    place = fault.where or ("", 0)                      # '': declared nowhere we know (a custom adapter)
    return {"step": step, "framework": key, "exception": str(fault), "fault": str(fault),
            "file": place[0], "line": place[1], "code": source_line(fault.where)}
