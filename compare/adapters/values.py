"""What a user's code hands back, checked before it reaches the harness.

A value the user's code returns for a tensor (Z1, dW1, the loss, an initial W1) must be something
NumPy reads as an array of numbers: an ndarray, a number, a (nested, rectangular) list of numbers,
a torch tensor on the CPU. None, a dict where an array belongs, a generator, a string, an array of
Python objects or a ragged list is not: it is refused here, as the implementation's failure
(UserCodeFailed: verdict 'error', exit 1), naming the function, the tensor, what it was, and the
user's line (the function's return statement, or its definition). Nothing is converted for the
user's own code: the next function of theirs gets exactly what the previous one returned.

Which numbers are acceptable (complex, boolean, lower precision) is the harness's judgement
(engine/names.py, engine/judge.py), not this module's: here only "is it an array of numbers at all".

Initial weights of the user's own (--weights mine) must also have the shapes the network needs, in
the user's layout: `initial` says which differs, and what the network is.
"""
import numpy as np

from .boundary import UserCodeFailed, function_frames

NUMERIC_KINDS = "biufc"          # bool, signed, unsigned, float, complex: read as numbers by the harness


def what_it_is(value):
    """A few words for a value that is not an array of numbers."""
    if value is None:
        return "None"
    if isinstance(value, np.ndarray):
        return f"an array of dtype {value.dtype}"
    if isinstance(value, (list, tuple)):
        return f"a ragged {type(value).__name__} (not one rectangular array)"
    name = type(value).__name__
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


def container_words(value):
    """A few words for a result that should have been a tuple of lists: 'None', 'a tuple of 2 items'."""
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of {len(value)} item{'s' if len(value) != 1 else ''}"
    return what_it_is(value)


def as_numbers(value):
    """value as an ndarray of numbers, or None when it cannot be one (nothing is iterated that a
    conversion would use up: a generator is refused as it is)."""
    if value is None or isinstance(value, (dict, str, bytes, set, frozenset)) or hasattr(value, "__next__"):
        return None
    try:
        array = np.asarray(value.detach().cpu() if hasattr(value, "detach") and hasattr(value, "cpu") else value)
    except Exception:                              # noqa: BLE001 - a ragged list, an object NumPy cannot read
        return None
    return array if array.dtype.kind in NUMERIC_KINDS else None


def check_tensor(name, value, role, function, line=None):
    """Raise UserCodeFailed unless `value` (the user's `name`, returned by `role`) is an array of numbers."""
    if as_numbers(value) is None:
        frames = function_frames(function, line)
        at = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
        raise UserCodeFailed(f"your {role} gave {name} as {what_it_is(value)}, not an array of numbers{at}",
                             "TypeError", frames)
    return value


def initial(pairs, sizes, layout, role, function, expected, line=None):
    """The user's own initial [(W, b)] (their layout), each an array of numbers of the expected shape.
    expected: [(W shape, b shape)] in the user's layout. Raises UserCodeFailed naming the first
    that is not."""
    frames = function_frames(function, line)
    at = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    network = "-".join(str(n) for n in sizes)
    for l, ((W, b), (want_W, want_b)) in enumerate(zip(pairs, expected), start=1):
        for name, value, want in ((f"W{l}", W, want_W), (f"b{l}", b, want_b)):
            array = as_numbers(value)
            if array is None:
                raise UserCodeFailed(f"your {role} gave {name} as {what_it_is(value)}, not an array of numbers{at}",
                                     "TypeError", frames)
            if array.dtype.kind not in "iuf":
                raise UserCodeFailed(f"your {role} gave {name} of dtype {array.dtype}, not real numbers{at}",
                                     "ValueError", frames)
            fits = array.shape == tuple(want) or (name.startswith("b") and array.size == int(np.prod(want)))
            if not fits:
                raise UserCodeFailed(f"your {role} gave {name} of shape {array.shape}; the network {network} "
                                     f"needs {tuple(want)} (W {layout.weights}, bias {layout.bias}){at}", "ValueError", frames)
    return pairs


def check_dict(name, value, role, function, line=None):
    """Raise UserCodeFailed: `name` (params, cache, grads) was declared a dict, and is not one."""
    frames = function_frames(function, line)
    at = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    raise UserCodeFailed(f"your {role} gave {name} as {what_it_is(value)}, not a dict of arrays{at}", "TypeError", frames)
