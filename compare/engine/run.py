"""The Python API: run a spec in lockstep and get the report, check a user's implementation,
or assert equivalence in a test.

    report = compare.run(spec, data)                          # scratch vs torch and Keras -> Report
    report = compare.check(mine, spec, data, against=("torch", "keras"))   # your implementation
    compare.assert_equivalent(spec, steps=5)                  # AssertionError unless the verdict is 'pass'
    compare.assert_equivalent(mine, spec, steps=5)            # the same for your implementation

Each entry point runs one call at a time and leaves the caller's settings (random generators,
Keras's float type, threads, environment variables, ...) as it found them: caller_state.py.

Left out: printing (the CLI does that).
"""
import time

import numpy as np

from . import caller_state, interrupts
from . import frameworks as fw
from . import registry, worker
from .data import Data, random_data
from .errors import InputError
from .harness import lockstep
from .report import build_report
from .spec import Spec

DEFAULT_FRAMEWORKS = ("scratch", "torch", "keras")


def check_frameworks(selected, what="--frameworks", remote=()):
    """Validate a list of implementation names: known, no repeats, at least two, installed (those
    in `remote` are imported by the worker process instead: compare/engine/worker.py).
    -> (subjects, references): registry entries; scratch is the subject of a recipe run."""
    if isinstance(selected, str):
        selected = tuple(s.strip() for s in selected.split(",") if s.strip())
    if not isinstance(selected, (list, tuple)) or not all(isinstance(name, str) for name in selected):
        raise InputError(f"{what.lstrip('-')} must be framework names ('scratch,torch,keras' or a list of them), "
                         f"got {type(selected).__name__} {selected!r}"[:300])
    selected = tuple(selected)
    for name in selected:
        registry.get(name)
    if len(set(selected)) != len(selected):
        raise InputError(f"{what} names a framework twice: {','.join(selected)}")
    if len(selected) < 2:
        raise InputError(f"{what} {','.join(selected) or '(none)'}: one implementation alone has nothing to be "
                         f"compared with; name at least two of: {', '.join(registry.names())}")
    remote = (*remote, *worker.pending_frameworks())
    entries = [registry.get(name) if name in remote else registry.require(name) for name in selected]
    subjects = [e for e in entries if e.name == "scratch"]
    return subjects, [e for e in entries if e.name != "scratch"]


def as_array(what, value):
    """`value` if it is a 2-D NumPy array of real numbers, else InputError naming `what`.
    Lists, masked arrays, strings, complex numbers and objects are refused, not converted:
    the harness hands the very arrays to every framework. -> value"""
    if value is None:
        raise InputError(f"{what} are missing (None); give a 2-D NumPy array, one example per row")
    if isinstance(value, np.ma.MaskedArray):
        raise InputError(f"{what} are a masked array; masks mean nothing to the frameworks: "
                         f"pass np.ma.filled(array, value) or drop the masked rows")
    if isinstance(value, np.matrix):
        raise InputError(f"{what} are a np.matrix, whose * and indexing differ from an array's; pass np.asarray(...)")
    if not isinstance(value, np.ndarray):
        raise InputError(f"{what} must be a NumPy array (one example per row), got {type(value).__name__}")
    if value.dtype.kind not in "biuf":
        kind = {"c": "complex numbers", "U": "strings", "S": "bytes", "O": "Python objects"}.get(value.dtype.kind)
        raise InputError(f"{what} hold {kind or value.dtype}; give real numbers (float64 or float32)")
    if value.ndim != 2:
        raise InputError(f"{what} have shape {value.shape}; give a 2-D array, one example per row")
    if not np.isfinite(value).all():
        raise InputError(f"{what} contain {int((~np.isfinite(value)).sum())} non-finite values (NaN or inf)")
    return value


def check_data(spec, data):
    """The data fits the spec: arrays of finite reals, widths, labels inside the output layer, batch size."""
    if not isinstance(data, Data):
        raise InputError(f"data must be a compare.Data(X=..., Y=..., X_eval=...), got {type(data).__name__}")
    if (data.X_test is None) != (data.Y_test is None):
        given, missing = ("X_test", "Y_test") if data.Y_test is None else ("Y_test", "X_test")
        raise InputError(f"data has {given} but no {missing}: a test set needs both")
    for what, X, Y in (("training", data.X, data.Y), ("test", data.X_test, data.Y_test)):
        if what == "test" and X is None:
            continue
        X, Y = as_array(f"{what} inputs", X), as_array(f"{what} targets", Y)
        if len(X) == 0:
            raise InputError(f"the {what} set has no examples (0 rows)")
        if X.shape[1] != spec.sizes[0]:
            raise InputError(f"{what} inputs have shape {X.shape}; the network takes {spec.sizes[0]} features per row")
        if Y.shape != (X.shape[0], spec.sizes[-1]):
            raise InputError(f"{what} targets have shape {Y.shape}; expected ({X.shape[0]}, {spec.sizes[-1]})")
        check_labels(spec, what, Y)
    X_eval = as_array("evaluation inputs (X_eval)", data.X_eval)
    if X_eval.shape[1] != spec.sizes[0]:
        raise InputError(f"evaluation inputs have shape {X_eval.shape}; expected (E, {spec.sizes[0]})")
    if spec.batch_size is not None and spec.batch_size > len(data.X):
        raise InputError(f"batch size {spec.batch_size} is larger than the {len(data.X)} training examples")


def check_labels(spec, what, Y):
    """Cross-entropy targets are probabilities: each in [0, 1]; categorical rows one-hot over the classes."""
    check_loss_labels(spec, what, Y)
    if spec.loss not in ("binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy", "kld"):
        return
    outside = (Y < 0) | (Y > 1)
    if outside.any():
        row, unit = (int(i) for i in np.argwhere(outside)[0])
        raise InputError(f"{what} targets hold {Y[row, unit]:g} (row {row}, unit {unit}), outside the output "
                         f"layer's range [0, 1] that {spec.loss} needs")
    sums = Y.sum(axis=1)
    if spec.loss == "categorical_crossentropy" and not np.allclose(sums, 1):
        row = int(np.argmax(~np.isclose(sums, 1)))
        raise InputError(f"{what} targets row {row} sums to {sums[row]:g}, not 1: a label outside the "
                         f"{spec.sizes[-1]} classes of the output layer, or not one-hot")


def check_loss_labels(spec, what, Y):
    """Integer labels (sparse categorical cross-entropy: given as one-hot rows, one 1 per row, since
    the harness compares one-hot targets and hands each framework its class indices) and Poisson
    counts (>= 0)."""
    if spec.loss == "sparse_categorical_crossentropy":
        bad = ~(((Y == 0) | (Y == 1)).all(axis=1) & (Y.sum(axis=1) == 1))
        if bad.any():
            row = int(np.argmax(bad))
            raise InputError(f"{what} targets row {row} is not one class: sparse_categorical_crossentropy takes integer "
                             f"labels, given as one-hot rows of the {spec.sizes[-1]} classes (exactly one 1 per row)")
    if spec.loss == "poisson" and (Y < 0).any():
        row, unit = (int(i) for i in np.argwhere(Y < 0)[0])
        raise InputError(f"{what} targets hold {Y[row, unit]:g} (row {row}, unit {unit}): poisson targets are counts >= 0")


def check_spec(spec):
    if not isinstance(spec, Spec):
        raise InputError(f"spec must be a compare.Spec, got {type(spec).__name__}")
    return spec.validate()


def check_run_arguments(recipe, on_step, notes, keep_step):
    """compare.run's other arguments of the wrong type: an InputError naming the argument, before
    anything runs (not a TypeError at the first step)."""
    if not isinstance(recipe, str):
        raise InputError(f"recipe must be a name (a string, the report's label), got {type(recipe).__name__} {recipe!r}"[:300])
    if on_step is not None and not callable(on_step):
        raise InputError(f"on_step must be a function taking a step's result, got {type(on_step).__name__} {on_step!r}"[:300])
    if not isinstance(notes, str):
        raise InputError(f"notes must be a string, got {type(notes).__name__}")
    if keep_step is not None and (isinstance(keep_step, (bool, np.bool_)) or not isinstance(keep_step, (int, np.integer))
                                  or keep_step < 1):
        raise InputError(f"keep_step must be a positive whole number (a step), got {keep_step!r}"[:300])


@caller_state.kept
def run(spec, data=None, frameworks=DEFAULT_FRAMEWORKS, recipe="custom", on_step=None, notes="", keep_step=None):
    """Train `spec` in every framework in lockstep on `data` (random data if None). -> Report
    keep_step=N keeps that step's tensors in report.raw["kept"] (the HTML report's worked example)."""
    check_spec(spec)
    check_run_arguments(recipe, on_step, notes, keep_step)
    data = random_data(spec, seed=spec.seed) if data is None else data
    check_data(spec, data)                        # before any framework is imported
    subjects, references = check_frameworks(frameworks)
    return run_lockstep(spec, data, subjects, references, recipe, on_step, notes, keep_step, checked=True)


def run_lockstep(spec, data, subjects, references, recipe="custom", on_step=None, notes="", keep_step=None,
                 cross=True, params=None, checked=False, weights="spec", stop_at_divergence=False):
    """The harness on a checked spec -> Report (report.raw: the harness's own output; report.spec
    and report.data: what ran, for the HTML page that Report._repr_html_ shows).
    checked: the data has been through check_data already. weights: 'mine' when `params` are the
    user's own initial weights (recorded in the report's config). stop_at_divergence: end the run
    after the step of the first divergence (a check's verdict is then known: `stopped`)."""
    data = random_data(spec, seed=spec.seed) if data is None else data
    if not checked:
        check_data(spec, data)
    started = time.perf_counter()
    raw = lockstep(spec, data, subjects, references, on_step=on_step, keep_step=keep_step, cross=cross, params=params,
                   stop_at_divergence=stop_at_divergence)
    names = [e.name for e in [*subjects, *references]]
    with interrupts.deferred() as held:               # the steps done are reported, whenever the signal comes
        report = build_report(recipe, spec, names, raw, fw.environment(names), notes, weights)
    if held and not raw.get("interrupted"):
        raw["interrupted"] = True
        report = build_report(recipe, spec, names, raw, fw.environment(names), notes, weights)
    stopped(report, raw.get("stopped"))
    report.timing = {"seconds": time.perf_counter() - started}
    report.raw, report.spec, report.data = raw, spec, data    # what the HTML page needs
    return report


def stopped(report, where):
    """A run that ended at its first divergence, with steps left (harness.stops): said in the summary,
    summary["stopped"] = {"step", "steps_asked", "why"}, and in the notes. A run that went the whole
    way has no "stopped" (a recipe's report is unchanged)."""
    if not where:
        return
    report.summary["stopped"] = {**where, "why": "first divergence"}
    report.notes = "; ".join(filter(None, [report.notes, stopped_line(report.summary["stopped"])]))


def stopped_line(stopped):
    """'stopped after step 1 of 100: ...' (the CLI prints it; the notes hold it; within 100 columns)."""
    return (f"stopped after step {stopped['step']} of {stopped['steps_asked']}: the first divergence decides the "
            f"verdict (--keep-going runs every step)")


def describe_divergence(d):
    """One readable line for a first divergence (or non-finite value)."""
    if d is None:
        return "no divergence"
    if "ours" not in d:
        return (f"first non-finite value: step {d['step']}, {d['framework']}, layer {d['layer']}, "
                f"{d['tensor']}{d['index'] or ''} = {d['value']} ({', '.join(f'{k} = {float(v):.3g}' for k, v in d['inputs'].items())})")
    ours, theirs = d["ours"], d["theirs"]
    where = f"layer {d['layer']}, " if d["layer"] is not None else ""
    own = ""
    if d.get("user_names"):                     # the tensor in the user's own words
        own = " (" + ", ".join(f"{k}'s {v}" for k, v in d["user_names"].items()) + ")"
    if not d["shape_ok"]:
        shapes = d.get("shapes") or {}
        line = (f"step {d['step']}, {ours} vs {theirs}: {where}{d['tensor']}{own} shapes differ: "
                f"{ours} {tuple(shapes.get(ours, ()))}, {theirs} {tuple(shapes.get(theirs, ()))}")
        return line + (f"; {d['explanation']}" if d.get("explanation") else "")
    line = (f"step {d['step']}, {ours} vs {theirs}: {where}{d['tensor']}{d['index']}{own}: "
            f"{ours} = {d['values'][ours]!r}, {theirs} = {d['values'][theirs]!r}, "
            f"abs err {float(d['max_abs_err']):.3g}, rel err {float(d['max_rel_err']):.3g} > {d['rtol']:g}")
    if d.get("measured_against"):              # a near-zero tensor: its terms' scale (compare/engine/bounds.py)
        line += f" (relative to {float(d['measured_against']):.3g}, the size of the terms that produced it)"
    if d.get("explanation"):
        line += f"; {d['explanation']}"
    line += f"; {d['diagnosis']}" if d.get("diagnosis") else ""
    return line + settings_words(d.get("settings_differ"))


def settings_words(reasons):
    """'; settings that differ: rho: 0.99 (torch) vs 0.9 (keras); conventions that differ: rmsprop-eps-placement
    (torch divides by ...)' for a divergence between two subjects with settings of their own, else ''."""
    if not reasons:
        return ""
    settings = [why for key, why in reasons.items() if key.startswith("setting-")]
    rules = [f"{key} ({why})" for key, why in reasons.items() if not key.startswith("setting-")]
    words = f"; settings that differ: {', '.join(settings)}" if settings else ""
    return words + (f"; conventions that differ: {'; '.join(rules)}" if rules else "")


class NotEquivalent(AssertionError):
    """assert_equivalent's failure: the verdict line as its message, the Report as `.report` (the
    pytest plugin shows the verdict from it, compare/pytest_plugin.py)."""

    def __init__(self, message, report):
        super().__init__(message)
        self.report = report


def raise_unless_passed(report):
    """NotEquivalent (an AssertionError) with the verdict line for every verdict but 'pass'.
    -> report"""
    s = report.summary
    if s["verdict"] == "pass":
        return report
    if s["first_nonfinite"]:
        raise NotEquivalent(describe_divergence(s["first_nonfinite"]), report)
    if s["first_divergence"]:
        raise NotEquivalent(describe_divergence(s["first_divergence"]), report)
    raise NotEquivalent(f"{s['verdict']}: {s['verdict_reason']}", report)


@caller_state.kept
def assert_equivalent(spec, data=None, steps=None, frameworks=DEFAULT_FRAMEWORKS):
    """Run `spec` (for `steps` steps if given) and raise AssertionError unless every judged pair
    agrees: a divergence, a non-finite value, an exception inside an implementation, an
    interrupted run or nothing judged all raise. -> the Report, when it passes.
    (compare.assert_equivalent also takes your own implementation: compare/adapters/check.py.)"""
    spec = check_spec(spec)
    if steps is not None:
        spec = spec.replace(steps=steps)
    return raise_unless_passed(run(spec, data, frameworks))
