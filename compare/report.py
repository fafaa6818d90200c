"""The report of a lockstep run: what was checked, how close it came, where it first broke.

`build_report` turns the harness's raw output into a Report; `Report.to_json()` is the
documented JSON (README, "JSON report"); `write_json` writes it atomically. Printing tables
is compare/tables.py's job.

Left out: plots (compare/plots.py), HTML.
"""
import json
import os
import tempfile
from dataclasses import dataclass, field

import numpy as np

from .check import tensor_kind
from .harness import CROSS, FORWARD_KINDS

KINDS = ("Z", "A", "loss", "dZ", "dW", "db", "params", "state", "accuracy")


@dataclass
class Report:
    recipe: str                 # recipe name, or 'custom'
    config: dict                # the resolved spec
    frameworks: list            # frameworks asked for
    runners: list               # implementations run: scratch, scratch@keras, torch, keras
    steps: list                 # one dict per step (see step_row)
    final_outputs: dict         # runner -> network outputs on the evaluation inputs, (E, n_out)
    summary: dict               # passed, errors, first divergence, accuracies...
    environment: dict           # versions, BLAS, threads, determinism flags
    epochs: list = field(default_factory=list)   # per-epoch test evaluation
    notes: str = ""
    timing: dict = field(default_factory=dict)   # seconds; excluded from determinism checks

    @property
    def passed(self):
        return self.summary["passed"]

    @property
    def first_divergence(self):
        return self.summary["first_divergence"]

    def to_json(self):
        return {"recipe": self.recipe, "config": self.config, "frameworks": self.frameworks,
                "runners": self.runners, "steps": self.steps, "epochs": self.epochs,
                "final_outputs": self.final_outputs, "summary": self.summary,
                "notes": self.notes, "environment": self.environment, "timing": self.timing}


def step_row(result):
    """A StepResult -> {step, epoch, loss: {runner}, max_abs_err: {pair}, max_rel_err: {pair},
    worst_tensor: {pair}, accuracy: {runner}}"""
    row = {"step": result.step, "epoch": result.epoch, "loss": dict(result.loss),
           "max_abs_err": {}, "max_rel_err": {}, "worst_tensor": {}, "accuracy": dict(result.accuracy)}
    for pair, errors in result.errors.items():
        worst = max(errors, key=lambda e: e.max_rel)
        row["max_abs_err"][pair] = max(e.max_abs for e in errors)
        row["max_rel_err"][pair] = worst.max_rel
        row["worst_tensor"][pair] = worst.name
    return row


def worst_by_kind(steps):
    """pair -> kind -> {max_rel_err, max_abs_err, tensor, step}: the worst of each kind of tensor
    (leaving out the backward tensors of a step with a ReLU kink flip: see harness.kink_flips)."""
    worst = {}
    for result in steps:
        for pair, errors in result.errors.items():
            for e in errors:
                if result.kink_flips.get(pair) and tensor_kind(e.name) not in FORWARD_KINDS:
                    continue
                slot = worst.setdefault(pair, {}).setdefault(tensor_kind(e.name), {"max_rel_err": -1.0})
                if e.max_rel > slot["max_rel_err"]:
                    slot.update(max_rel_err=e.max_rel, max_abs_err=e.max_abs, tensor=e.name, step=result.step)
    return worst


def diagnose(divergence, steps):
    """Tell a jump from a slow climb. A wrong formula shows as a jump: the error goes from
    rounding level to large within one step. Unstable training (a learning rate that makes the
    loss oscillate) instead multiplies rounding differences by a steady factor every step, so
    the error climbs geometrically from ~1e-16 until it crosses the tolerance: the same
    arithmetic, amplified. -> a one-line diagnosis."""
    pair, step = divergence["framework"], divergence["step"]
    history = [max(e.max_rel for e in r.errors[pair]) for r in steps if r.step < step and pair in r.errors]
    history = [h for h in history[-12:] if h > 0]
    if len(history) < 6 or history[-1] < 1e3 * history[0]:
        return "jump: the error rose from rounding level at once (a formula differs)"
    rate = (history[-1] / history[0]) ** (1 / (len(history) - 1))
    return (f"climb: the error grew about x{rate:.2g} per step over the previous {len(history)} steps, "
            "from rounding level (unstable training amplifying rounding differences; try a smaller "
            "learning rate)")


def jsonable(value):
    """numpy -> plain Python, recursively; non-finite floats become strings ('nan', 'inf')."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if np.isfinite(value) else str(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def build_report(recipe, spec, frameworks, raw, environment, notes=""):
    """The harness's output -> Report."""
    pairs = [p for p, _, _ in raw["pairs"]]
    if raw["first_divergence"] is not None:
        raw["first_divergence"]["diagnosis"] = diagnose(raw["first_divergence"], raw["steps"])
    by_kind = worst_by_kind(raw["steps"])
    judged = [p for p in pairs if p != CROSS or raw["cross_judged"]]
    summary = {
        "passed": raw["first_divergence"] is None and raw["first_nonfinite"] is None and not raw.get("error"),
        "rtol": raw["rtol"],
        "steps_completed": len(raw["steps"]),
        "interrupted": bool(raw.get("interrupted")),
        "tensors_checked": raw["tensors_checked"],
        "max_abs_err": {p: max((v["max_abs_err"] for v in by_kind.get(p, {}).values()), default=0.0) for p in pairs},
        "max_rel_err": {p: max((v["max_rel_err"] for v in by_kind.get(p, {}).values()), default=0.0) for p in pairs},
        "worst_by_kind": by_kind,
        "judged_pairs": judged,
        "kink_flip_steps": {p: sum(1 for r in raw["steps"] if r.kink_flips.get(p)) for p in pairs},
        "resync_each_step": spec.resync_each_step,
        "first_divergence": raw["first_divergence"],
        "first_nonfinite": raw["first_nonfinite"],
        "error": raw.get("error"),
        "final_loss": raw["steps"][-1].loss if raw["steps"] else {},
    }
    if CROSS in pairs:
        summary["torch_vs_keras"] = {"judged": raw["cross_judged"], "reasons": raw["cross_reasons"],
                                     "max_rel_err": summary["max_rel_err"][CROSS]}
    evaluations = [e for e in raw["evaluations"] if "accuracy" in e]
    if evaluations:
        last = evaluations[-1]
        summary["test_accuracy"] = last["accuracy"]
        predictions = list(last["predictions"].values())
        summary["predictions_identical"] = all(np.array_equal(predictions[0], p) for p in predictions[1:])
        summary["predictions_differing"] = {k: int(np.sum(p != predictions[0])) for k, p in last["predictions"].items()}
    epochs = [{"epoch": e["epoch"], "test_accuracy": e["accuracy"]} for e in evaluations]
    final_outputs = {k: convert_outputs(v) for k, v in raw["final_outputs"].items()}
    return Report(recipe=recipe, config=jsonable(spec.to_dict()), frameworks=list(frameworks),
                  runners=list(raw["keys"]), steps=jsonable([step_row(s) for s in raw["steps"]]),
                  final_outputs=jsonable(final_outputs), summary=jsonable(summary),
                  environment=jsonable(environment), epochs=jsonable(epochs), notes=notes)


def convert_outputs(A):
    """(n_out, E) scratch layout -> (E, n_out) rows, as a user reads outputs per example."""
    return np.asarray(A).T


def check_writable(path, what):
    """Fail before training, not after it, if `path` cannot be written. Raises InputError."""
    from .errors import InputError

    folder = os.path.dirname(os.path.abspath(path)) or "."
    if os.path.isdir(path):
        raise InputError(f"--{what} {path} is a directory; give a file name")
    if not os.path.isdir(folder):
        raise InputError(f"--{what} {path}: folder {folder} does not exist")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".check-", delete=True):
            pass
    except OSError as error:
        raise InputError(f"--{what} {path} is not writable: {error.strerror}") from None
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise InputError(f"--{what} {path} is not writable: permission denied")


def write_atomic(path, write, mode="w"):
    """Write through a temporary file in the same folder, then rename: readers see the old file
    or the complete new one, never half of it. write(file_object); mode 'w' or 'wb'."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json(report, path):
    write_atomic(path, lambda f: json.dump(report.to_json(), f, indent=1, allow_nan=False))
