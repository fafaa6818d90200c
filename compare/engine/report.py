"""The report of a lockstep run: what was checked, how close it came, where it first broke.

`build_report` turns the harness's raw output into a Report, once. Its values are plain
Python (floats stay floats: inf and NaN included); `Report.to_json()` makes the documented JSON
(docs/json-report.md), where non-finite numbers become the strings 'inf' and 'nan'.

The verdict (summary['verdict']) cannot pass by accident: 'pass' needs at least one completed
step, at least one judged pair that compared at least one tensor, and no divergence, no
non-finite value, no exception, no interruption. Otherwise it is 'mismatch', 'nonfinite',
'error', 'interrupted' or 'nothing-judged', with summary['verdict_reason'] saying why.

In Jupyter a Report shows itself (`_repr_html_`): the verdict line and the `--html` page in an
iframe, drawn by compare/views/notebook.py, which the engine does not import (the function is
compare/engine/display.py's html_view, set by compare/__init__.py).

Left out: printing (compare/views), writing files (compare/views/files.py).
"""
from dataclasses import dataclass, field

import numpy as np

from . import display, names
from .conventions import float32_roundings
from .harness import CROSS

KINDS = names.GROUPS
VERDICTS = ("pass", "mismatch", "nonfinite", "error", "interrupted", "nothing-judged")


@dataclass(repr=False)
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
    evaluation_inputs: list = field(default_factory=list)   # the inputs (E, n_in) of final_outputs, as rows

    @property
    def passed(self):
        return self.summary["verdict"] == "pass"

    @property
    def verdict(self):
        return self.summary["verdict"]

    @property
    def first_divergence(self):
        return self.summary["first_divergence"]

    def __repr__(self):
        """One line (Jupyter's text/plain beside the HTML; the steps are in the JSON, not here)."""
        s = self.summary
        return (f"<Report {self.recipe}: {s.get('verdict')} ({s.get('verdict_reason')}), "
                f"{s.get('steps_completed', len(self.steps))} step(s), {', '.join(self.runners)}>")

    def _repr_html_(self):
        """Jupyter's rich display: the verdict line and the --html page in an iframe. -> str or None
        (None: the text repr, where compare/__init__.py did not set display.html_view)."""
        return display.html_view(self) if display.html_view is not None else None

    def to_json(self):
        """The documented JSON document (non-finite floats as 'inf' / 'nan' strings)."""
        return jsonable({"recipe": self.recipe, "config": self.config, "frameworks": self.frameworks,
                         "runners": self.runners, "steps": self.steps, "epochs": self.epochs,
                         "final_outputs": self.final_outputs,
                         "evaluation_inputs": self.evaluation_inputs, "summary": self.summary,
                         "notes": self.notes, "environment": self.environment, "timing": self.timing})


def step_row(result):
    """A StepResult -> {step, epoch, loss: {runner}, max_abs_err: {pair}, max_rel_err: {pair},
    worst_tensor: {pair}, accuracy: {runner}}"""
    return {"step": result.step, "epoch": result.epoch, "loss": dict(result.loss),
            "max_abs_err": dict(result.max_abs), "max_rel_err": dict(result.max_rel),
            "worst_tensor": dict(result.worst_tensor), "accuracy": dict(result.accuracy)}


def diagnose(divergence, steps):
    """Tell a jump from a slow climb. A wrong formula shows as a jump: the error goes from
    rounding level to large within one step. Unstable training (a learning rate that makes the
    loss oscillate) instead multiplies rounding differences by a steady factor every step, so
    the error climbs geometrically from ~1e-16 until it crosses the tolerance: the same
    arithmetic, amplified. -> a one-line diagnosis."""
    pair, step = divergence["framework"], divergence["step"]
    history = [r.max_rel[pair] for r in steps if r.step < step and pair in r.max_rel]
    history = [h for h in history[-12:] if h > 0]
    if (divergence.get("precision") or {}).get("explained"):     # judge.lower_precision
        return ""                                     # the explanation says it: the precision, not a formula
    if "last digits" in divergence.get("explanation", ""):
        return "the same tensor to rounding overall: look at the scale of the values, not at a formula"
    if len(history) < 6 or history[-1] < 1e3 * history[0]:
        return "jump: the error rose from rounding level at once (a formula differs)"
    rate = (history[-1] / history[0]) ** (1 / (len(history) - 1))
    return (f"climb: the error grew about x{rate:.2g} per step over the previous {len(history)} steps, "
            "from rounding level (unstable training amplifying rounding differences; try a smaller "
            "learning rate)")


def plain(value):
    """numpy -> plain Python, recursively (floats stay floats, inf and NaN included)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def jsonable(value):
    """plain(), and non-finite floats as strings ('nan', 'inf', '-inf'): for writing JSON only."""
    value = plain(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    return value


def verdict(raw, judged):
    """-> (verdict, reason): see the module docstring."""
    if raw.get("interrupted"):
        return "interrupted", f"interrupted after {len(raw['steps'])} completed steps"
    if raw.get("error"):
        e = raw["error"]
        if e.get("fault"):                         # a rule of the protocol broken (guard.py): its own line
            return "error", e["fault"]
        where = "while being built" if e["step"] == 0 else f"at step {e['step']}"
        return "error", f"{e['framework']} raised {e['exception']} {where} ({e['file']}:{e['line']})"
    if raw["first_nonfinite"]:
        return "nonfinite", f"a non-finite value in {raw['first_nonfinite']['framework']}"
    if raw["first_divergence"]:
        return "mismatch", f"{raw['first_divergence']['framework']} differs"
    if not raw["steps"]:
        return "nothing-judged", "no step was completed"
    not_run = "".join(f"; {k} not run: {why}" for k, why in raw.get("not_run", {}).items())
    if not judged:
        pairs = raw["pairs"]
        if not pairs:
            return "nothing-judged", "one implementation only: nothing to compare it with" + not_run
        why = "; ".join(f"{p.key} is reported, not judged ({', '.join(p.reasons) or 'conventions differ'})"
                        for p in pairs)
        return "nothing-judged", f"no pair could be judged: {why}{not_run}"
    if raw["judged_checked"] == 0:
        return "nothing-judged", ("the judged pairs have no tensor in common: "
                                  + "; ".join(f"{k}: {', '.join(sorted(v)) or 'nothing given'}"
                                              for k, v in raw["not_compared"].items()))
    return "pass", f"{len(judged)} judged pair(s) agree{not_run}"


def pool_tie_steps(steps, pairs):
    """{'pool_tie_steps': {pair: steps}} where a max-pool tie moved output gradients (judge.pool_ties:
    reported, not judged, those steps); {} for a network without such a step (the JSON unchanged)."""
    ties = {p: sum(1 for r in steps if r.pool_ties.get(p)) for p in pairs}
    return {"pool_tie_steps": ties} if any(ties.values()) else {}


def build_report(recipe, spec, frameworks, raw, environment, notes="", weights="spec"):
    """The harness's output -> Report (plain Python values; JSON only when written).
    weights: where the initial weights came from, recorded in config['weights']: 'spec' (its
    weight_init and bias_init, drawn with its seed) or 'mine' (the user's init_params; the
    initializers are then not what ran, and config says 'mine' in their place)."""
    pairs = [p.key for p in raw["pairs"]]
    if raw["first_divergence"] is not None:
        raw["first_divergence"]["diagnosis"] = diagnose(raw["first_divergence"], raw["steps"])
    by_kind = raw["worst_by_kind"]             # folded in step by step (harness.fold_worst)
    judged = [p.key for p in raw["pairs"] if p.judged]
    outcome, reason = verdict(raw, judged)
    summary = {
        "verdict": outcome,
        "verdict_reason": reason,
        "passed": outcome == "pass",
        "rtol": raw["rtol"],
        "steps_completed": len(raw["steps"]),
        "interrupted": bool(raw.get("interrupted")),
        "tensors_checked": raw["tensors_checked"],
        "tensors_judged": raw["judged_checked"],
        "max_abs_err": {p: max((v["max_abs_err"] for v in by_kind.get(p, {}).values()), default=0.0) for p in pairs},
        "max_rel_err": {p: max((v["max_rel_err"] for v in by_kind.get(p, {}).values()), default=0.0) for p in pairs},
        "worst_by_kind": by_kind,
        "judged_pairs": judged,
        "unavailable": dict(raw.get("unavailable", {})),    # framework -> why it was not run
        "pairs": {p.key: {"ours": p.ours, "theirs": p.theirs, "judged": p.judged, "kind": p.kind,
                          "reasons": dict(p.reasons)} for p in raw["pairs"]},
        "not_compared": {k: dict(v) for k, v in raw["not_compared"].items() if v},
        "not_run": dict(raw.get("not_run", {})),    # pair -> why a framework could not be built for it
        "kink_flip_steps": {p: sum(1 for r in raw["steps"] if r.kink_flips.get(p)) for p in pairs},
        **pool_tie_steps(raw["steps"], pairs),
        "resync_each_step": spec.resync_each_step,
        "first_divergence": raw["first_divergence"],
        "first_nonfinite": raw["first_nonfinite"],
        "error": raw.get("error"),
        "final_loss": raw["steps"][-1].loss if raw["steps"] else {},
        "float32_roundings": float32_roundings(spec) if {"keras", "scratch@keras"} & set(raw["keys"]) else [],
    }
    cross = next((p for p in raw["pairs"] if p.key == CROSS), None)
    if cross is not None:
        summary["torch_vs_keras"] = {"judged": cross.judged, "reasons": dict(cross.reasons),
                                     "max_rel_err": summary["max_rel_err"][CROSS]}
    evaluations = [e for e in raw["evaluations"] if e.get("accuracy")]
    if evaluations:
        last = evaluations[-1]
        summary["test_accuracy"] = last["accuracy"]
        predictions = list(last["predictions"].values())
        summary["predictions_identical"] = all(np.array_equal(predictions[0], p) for p in predictions[1:])
        summary["predictions_differing"] = {k: int(np.sum(p != predictions[0])) for k, p in last["predictions"].items()}
        by = last["predictions"]                # and between the two sides of each pair
        summary["predictions_differing_pairs"] = {p.key: int(np.sum(by[p.ours] != by[p.theirs])) for p in raw["pairs"]
                                                  if p.ours in by and p.theirs in by}
    epochs = [{"epoch": e["epoch"], "test_accuracy": e["accuracy"]} for e in evaluations]
    final_outputs = {k: convert_outputs(v) for k, v in raw["final_outputs"].items()}
    config = spec.to_dict()
    config["weights"] = weights
    if weights == "mine":
        config["weight_init"] = config["bias_init"] = "mine"
    return Report(recipe=recipe, config=plain(config), frameworks=list(frameworks),
                  runners=list(raw["keys"]), steps=plain([step_row(s) for s in raw["steps"]]),
                  final_outputs=plain(final_outputs), summary=plain(summary),
                  environment=plain(environment), epochs=plain(epochs), notes=notes)


def convert_outputs(A):
    """(n_out, E) scratch layout -> (E, n_out) rows, as a user reads outputs per example."""
    return np.asarray(A).T
