"""What a lockstep step is judged by, and what is kept of it.

The batch accuracy of a record; `StepResult`, the few numbers a step keeps once it is done;
`fold_worst`, the worst error of each kind of tensor so far; the first non-finite value of a
record; the tensors one side of a pair gives and the other does not; the first tensor of a step
that fails the tolerance; an implementation's exception described by where it was raised; the
parameters a kept step started from; a pair's tensors compared (`measure_pair`, run by the harness
and by its worker process alike). All pure: records in, numbers and descriptions out.

Left out: running the steps and comparing the tensors (compare/engine/harness.py, check.py),
explaining a divergence (diagnose.py), reports (report.py).
"""
import functools
from dataclasses import dataclass, field

import numpy as np

from scratch import conv as scratch_conv, pool as scratch_pool
from scratch.conventions import TORCH

from . import convert, guard, names
from .check import FLOAT32_RTOL, cmp
from .conventions import MOMENTUM_FORMS


def accuracy(A, Y):
    """Fraction right in a batch: argmax for a softmax-like output (n_L > 1), a 0.5 threshold
    for one unit. A, Y: (n_L, m) scratch layout."""
    if A.shape[0] > 1:
        return float(np.mean(np.argmax(A, axis=0) == np.argmax(Y, axis=0)))
    return float(np.mean((A > 0.5) == (Y > 0.5)))


def accuracy_of(record, Y, L):
    """The batch accuracy of a step record, or None when it gives no output A_L."""
    A = record.get(f"A{L}")
    if A is None or np.shape(A) != Y.shape:
        return None
    return accuracy(np.asarray(A), Y)


@dataclass
class StepResult:
    """What a step keeps once it is done: a few numbers per runner and per pair, however many
    tensors were compared (a long run's memory grows by this much a step, no more)."""
    step: int
    epoch: int
    loss: dict = field(default_factory=dict)          # runner key -> loss
    accuracy: dict = field(default_factory=dict)      # runner key -> batch accuracy
    max_abs: dict = field(default_factory=dict)       # pair key -> largest max_abs of its tensors
    max_rel: dict = field(default_factory=dict)       # pair key -> largest max_rel of its tensors
    worst_tensor: dict = field(default_factory=dict)  # pair key -> the tensor with that max_rel
    kink_flips: dict = field(default_factory=dict)    # pair key -> ReLU inputs on opposite sides of 0
    pool_ties: dict = field(default_factory=dict)     # pair key -> output gradients a max-pool tie moved

    def add_errors(self, pair, errors):
        """Keep the step's worst numbers of a pair's [TensorError] (none kept when it is empty)."""
        tied = [e.name for e in errors if e.tied]
        if tied:
            self.pool_ties[pair] = tied
        errors = [e for e in errors if not e.tied]          # a max-pool tie's moved gradient (pool_ties)
        if errors:
            worst = max(errors, key=lambda e: e.max_rel)
            self.max_abs[pair] = max(e.max_abs for e in errors)
            self.max_rel[pair] = worst.max_rel
            self.worst_tensor[pair] = worst.name


def fold_worst(worst, step, pair, errors, flipped):
    """Fold a step's [TensorError] of a pair into worst: pair -> kind -> {max_rel_err,
    max_abs_err, tensor, step}, the worst of each kind of tensor so far (leaving out the backward
    tensors of a step with a ReLU kink flip: see measure_pair). The first of equals is kept."""
    for e in errors:
        name = names.parse(e.name)
        if flipped and not name.is_forward or e.tied:
            continue
        slot = worst.setdefault(pair, {}).setdefault(name.group, {"max_rel_err": -1.0})
        if e.max_rel > slot["max_rel_err"]:
            slot.update(max_rel_err=e.max_rel, max_abs_err=e.max_abs, tensor=e.name, step=step)


def first_nonfinite(step, key, record, order, known_finite=()):
    """The first tensor of a record (in compute order `order`) holding NaN or inf, described; else None.
    known_finite: tensors a comparison has already found finite (not scanned again)."""
    for name in order:
        if name in known_finite:
            continue
        value = np.asarray(record[name])
        if np.isfinite(value.sum()):                   # any NaN or inf makes the sum NaN or inf
            continue
        bad = ~np.isfinite(value)
        if bad.any():
            index = tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), value.shape)) if value.ndim else ()
            layer = names.layer(name)
            if layer is None:                              # the loss: its inputs are the output layer's
                layer = max((l for l in map(names.layer, order) if l is not None), default=None)
            inputs = {}
            if layer is not None and f"Z{layer}" in record:
                inputs[f"max|Z{layer}|"] = largest(record[f"Z{layer}"])
            if layer is not None and f"W{layer}" in record:
                inputs[f"max|W{layer}|"] = largest(record[f"W{layer}"])
            return {"step": step, "framework": key, "layer": layer, "tensor": name, "index": list(index),
                    "value": float(value[index]) if value.ndim else float(value), "inputs": inputs}
    return None


def largest(value):
    """max |value| over the values that are not NaN (NaN when all are): np.nanmax without its
    'All-NaN slice' warning, which would be a second line on stderr."""
    magnitudes = np.abs(np.asarray(value, dtype=np.float64)).ravel()
    magnitudes = magnitudes[~np.isnan(magnitudes)]
    return float(magnitudes.max()) if magnitudes.size else float("nan")


def not_compared(pair, records, ours, theirs):
    """{tensor: why} for the tensors one side of a pair gives and the other does not."""
    a, b = set(records[ours]), set(records[theirs])
    why = {n: f"only {ours} gives it" for n in sorted(a - b)}          # sorted: the report's order is fixed
    why.update({n: f"only {theirs} gives it" for n in sorted(b - a)})
    forms = [rule for rule in pair.reasons if rule in MOMENTUM_FORMS]
    if forms:                                              # a torch~keras pair, or a user's torch and Keras code
        only_momentum = "sgd-momentum-form" not in forms   # RMSprop: only its momentum buffer differs
        why.update({n: f"the momentum buffer means different things ({', '.join(forms)})"
                    for n in sorted(a & b) if names.parse(n).state and (not only_momentum or names.parse(n).state == "momentum")})
    return why


def before_step(previous, records, params):
    """The parameters each runner started the kept step from (scratch layout)."""
    if previous is None:
        start = convert.scratch_params(params)
        return {key: start for key in records}
    return {key: {n: v for n, v in rec.items() if n != "loss" and names.parse(n).is_param}
            for key, rec in previous.items()}


def describe_exception(step, key, error):
    """An exception raised inside an implementation (its build at step 0, or a step) -> where,
    what and the failing line: the last frame outside the harness and the adapters' glue."""
    import traceback

    if isinstance(error, guard.ImplementationFault):   # a rule broken, not a line that raised: its one line
        return guard.describe(step, key, error)
    frames = traceback.extract_tb(error.__traceback__)
    if getattr(error, "remote_frames", None):          # raised in the worker process (compare/engine/worker.py)
        frames = [traceback.FrameSummary(file, line, name, line=code) for file, line, name, code in error.remote_frames]
    glue = ("/compare/engine/", "/compare/implementations/reference.py", "/compare/adapters/base.py")
    own = [f for f in frames if not any(g in f.filename for g in glue)] or frames
    last = own[-1] if own else traceback.FrameSummary("?", 0, "?", line="")
    kind = getattr(error, "remote_type", type(error).__name__)
    return {"step": step, "framework": key, "exception": f"{kind}: {error}",
            "file": last.filename, "line": last.lineno, "code": last.line}


def find_divergence(step, pair, ours, theirs, errors, rtol):
    """The first tensor of a step (in compute order) that fails the tolerance, described; else None."""
    for e in errors:
        if not e.passed(rtol):
            return {"step": step, "framework": pair, "ours": ours, "theirs": theirs,
                    "layer": names.layer(e.name), "tensor": e.name, "kind": names.group(e.name),
                    "index": list(e.index), "values": {ours: e.ours, theirs: e.theirs},
                    "max_abs_err": e.max_abs, "max_rel_err": e.max_rel, "rtol": rtol,
                    "shape_ok": e.shape_ok, "finite": e.finite,
                    "shapes": {ours: list(e.shapes[0]), theirs: list(e.shapes[1])} if e.shapes else None}
    return None


def lower_precision(divergence, records, run_dtype, users):
    """Whether a user's side (users: {runner key: the user's name for the tensor, or None}) handed the
    diverging tensor back in a lower precision than the run's: floats of a smaller type (float32 or
    float16 in a float64 run), or float64 arrays holding only float32 numbers while the other side's
    do not (computed in float32, then cast). -> None, or {runner, dtype, run_dtype, word (the
    user's name for it), bound, explained, cast}.

    bound: the largest difference that rounding in that type explains, FLOAT32_RTOL (check.py's
    argued per-step bound for float32) scaled by the type's epsilon, and never more than 1e-2, the
    least a wrong formula moves a tensor by (check.py): float16's rounding can reach further, and
    there the two cannot be told apart. explained: the difference is within it (then it is the
    precision, not a formula)."""
    name, run_eps = divergence["tensor"], np.finfo(run_dtype).eps
    values = {key: records[key].get(name) for key in (divergence["ours"], divergence["theirs"])}
    for key, value in values.items():
        if key not in users:
            continue
        dtype, cast = getattr(value, "dtype", None), False
        if not isinstance(dtype, np.dtype) or not guard.is_float(dtype):
            continue
        if np.finfo(dtype).eps <= run_eps and dtype == np.float64 and run_dtype == "float64":
            other = [v for k, v in values.items() if k != key]
            cast = (np.size(value) > 1 and float32_only(value)
                    and not any(getattr(v, "dtype", None) == np.float64 and float32_only(v) for v in other))
            if not cast:
                continue
            dtype = np.dtype(np.float32)
        elif np.finfo(dtype).eps <= run_eps:
            continue
        bound = min(FLOAT32_RTOL * float(np.finfo(dtype).eps / np.finfo(np.float32).eps), 1e-2)
        return {"runner": key, "dtype": dtype.name, "run_dtype": run_dtype, "word": users[key] or name,
                "bound": bound, "cast": cast,
                "explained": bool(divergence["shape_ok"] and divergence["finite"]
                                  and divergence["max_rel_err"] <= bound)}
    return None


def float32_only(value):
    """Every element of a float64 array is a float32 number, and not all are float16 ones (zeros,
    small integers and halves are every type's numbers: they tell nothing)."""
    value = np.asarray(value)
    with np.errstate(all="ignore"):
        return bool(np.array_equal(value.astype(np.float32).astype(np.float64), value)
                    and not np.array_equal(value.astype(np.float16).astype(np.float64), value))


def layout(pair, records, layouts, L):
    """({tensor: why not compared}, [the tensors compared, in compute order]) for a pair: worked
    out once per set of names the two records give (the same every step, in practice)."""
    key = (pair.key, tuple(records[pair.ours]), tuple(records[pair.theirs]))
    if key not in layouts:
        ours, theirs = records[pair.ours], records[pair.theirs]
        missing = not_compared(pair, records, pair.ours, pair.theirs)
        layouts[key] = (missing, names.ordered([n for n in ours if n in theirs and n not in missing], L))
    missing, common = layouts[key]
    return dict(missing), common


def pool_ties(spec, ours, theirs, rtol):
    """{block: windows} of each max pooling whose two sides picked different maxima of a window
    whose top values tie within rounding (rtol of the input's scale): the pooling's kinks.

    Identical input patches (an image's blank background) give exactly equal values in exact
    arithmetic, which two implementations round differently, so each breaks the tie its own way
    (the first maximum in scan order, of values that differ in the last bits). The gradient then
    reaches another of the tied positions: the gradients of the layers' outputs up to that block
    (dZ, dP, ...) differ by whole elements there, honestly, and are reported, not judged, that
    step. The parameters' gradients dW, db are not: tied positions read identical patches, so
    they must agree still (and are judged); the forward tensors are judged as always."""
    out = {}
    for p in spec.network.placed:
        if p.layer.kind != "max_pool2d":
            continue
        before = spec.network.placed[p.index - 1]
        name = before.name(before.layer.role)                       # what the pooling takes
        shapes = np.shape(ours.get(name)), np.shape(theirs.get(name))
        if name not in ours or name not in theirs or shapes[0] != shapes[1] \
                or shapes[0][0] != p.width_in:               # A_l: a later dropout's output
            continue
        (a_taps, a_top, ia), (b_taps, b_top, ib) = (first_maxima(record[name], p.layer, p.n_in)
                                                    for record in (ours, theirs))
        moved = ia != ib                               # usually nowhere: then no tie moved anything
        if not moved.any():
            out[p.block] = 0
            continue
        where = np.nonzero(moved)                                   # the few windows, gathered
        scale = max(np.max(np.abs(ours[name])), 1e-300)
        a_at_b = np.stack([t[where] for t in a_taps])[ib[where], np.arange(len(where[0]))]
        b_at_a = np.stack([t[where] for t in b_taps])[ia[where], np.arange(len(where[0]))]
        near = (a_top[where] - a_at_b <= rtol * scale) & (b_top[where] - b_at_a <= rtol * scale)
        out[p.block] = int(np.sum(near))              # each pick the other's maximum, within rounding
    return out


def first_maxima(record, layer, shape):
    """A record's pool input (C H W, m) -> (taps, top, first): taps [(C, Ho, Wo, m)], one strided
    view per window offset (u, v) in scan order (scratch/pool.py's window_taps), padding and a
    ceil-mode overhang -inf; top, each window's maximum; first, the index of the first tap that
    holds it (np.argmax's pick, TORCH's rule), without copying the windows: this runs at every
    step of a CNN run, for every pair."""
    C, H, W = shape
    kernel, strides, padding = layer.geometry(shape)
    out_hw, full = scratch_pool.pool_geometry((H, W), kernel, strides, padding, layer.ceil_mode)
    x = np.asarray(record, dtype=np.float64)
    images = (x.reshape(C, H, W, -1) if x.flags.c_contiguous                 # (C, H, W, m), a view
              else x.T.reshape(-1, C, H, W).transpose(1, 2, 3, 0))
    if tuple(full) != scratch_conv.VALID:
        images = scratch_conv.examples_last(images.transpose(3, 0, 1, 2), full, -np.inf)
    taps = scratch_pool.window_taps(images, kernel, strides, out_hw)
    top = functools.reduce(np.maximum, taps)
    return taps, top, scratch_pool.chosen_tap(taps, top, TORCH)


def measure_pair(spec, pair, records, Y_columns, layouts, rtol):
    """Every tensor the pair's two records both give, compared (one pass each), then the batch
    accuracy. -> ([TensorError] in compute order, ReLU kink flips)

    Kink flips: how many ReLU inputs sit on opposite sides of 0 in the two records while agreeing
    within rounding (|z| <= rtol * max|Z| in both), counted by cmp in the pass over each ReLU
    layer's Z. There the derivative is 1 in one implementation and 0 in the other, honestly: the
    backward pass of that step differs by whole elements. Such a step's backward tensors are
    reported, not judged; its forward tensors still are. In float64 this needs |z| < 1e-9 * max|Z|
    and has not been seen; in float32 it happens (MNIST: about one step in a thousand).

    Max-pool ties (pool_ties) are looked for only when an output gradient (dZ, dP, ...) fails the
    tolerance: a tie broken the other way that moved nothing measurable is no reason to leave
    those tensors unjudged, and the check's pass over every window of both records (a tenth of a
    CNN step) is spent only on the steps where it can explain something."""
    ours, theirs = records[pair.ours], records[pair.theirs]
    _, common = layout(pair, records, layouts, spec.n_layers)
    relu = {f"Z{l}" for l, name in enumerate(spec.activations, start=1) if name == "relu"}
    errors = [cmp(n, ours[n], theirs[n], rtol if n in relu else None) for n in common]
    flips = sum(e.kinks for e in errors)
    outputs = {"d" + role for role in names.OUTPUTS}                  # dZ, dP, ...: not dW, db
    gradients = [(e, parsed) for e in errors if e.name != "accuracy"
                 for parsed in [names.parse(e.name)] if parsed is not None and parsed.kind in outputs]
    if any(not e.passed(rtol) for e, _ in gradients):   # only then can a tie be what moved them
        tied_blocks = [block for block, count in pool_ties(spec, ours, theirs, rtol).items() if count]
        for e, parsed in gradients:
            if tied_blocks and parsed.layer <= max(tied_blocks):
                e.tied = True
    acc_ours, acc_theirs = accuracy_of(ours, Y_columns, spec.n_layers), accuracy_of(theirs, Y_columns, spec.n_layers)
    if acc_ours is not None and acc_theirs is not None:
        errors.append(cmp("accuracy", acc_ours, acc_theirs))
        errors[-1].max_rel = abs(acc_ours - acc_theirs)
    return errors, flips


# The bands a measured error falls in, for the views (the HTML report colours each table by them):
# 'rounding', what rounding alone gives (at most ROUNDING_ULPS units of the run's precision: the
# longest sums here, 784 terms, round by K eps at worst, K < 1000); 'tolerance', above that and
# within the tolerance (judged agreement, but more than rounding); 'beyond', past the tolerance,
# or not finite (a NaN or inf is never agreement).
ROUNDING_ULPS = 1000
BANDS = ("rounding", "tolerance", "beyond")


def band(max_rel, rtol, dtype="float64"):
    """The band of a scale-relative error: 'rounding' <= ROUNDING_ULPS eps(dtype) < 'tolerance'
    <= rtol < 'beyond'. max_rel may be a JSON string ('inf', 'nan')."""
    error = float(max_rel)
    if not np.isfinite(error) or error > rtol:
        return "beyond"
    return "rounding" if error <= ROUNDING_ULPS * float(np.finfo(dtype).eps) else "tolerance"
