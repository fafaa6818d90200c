"""The lockstep harness: one spec, one set of initial weights, the same batches, every tensor checked.

The loop (`train`), top to bottom as it runs:

    build        every implementation, each from its own copy of the initial parameters
    for batch    in the harness's order, the same for all (`schedule`): each batch copied once,
                 its dropout masks drawn once
      step       every implementation steps on it (`Lanes.step`: two lanes at once, the second in
                 a worker process whose records come back in shared memory; compare/engine/lanes.py)
      judge      each pair's tensors compared in the order the math computes them: Z1, A1, ...,
                 ZL, AL, loss, dZL, dWL, dbL, ..., dZ1, dW1, db1, the updated parameters, the
                 optimizer state, the batch accuracy; the first divergence and the first
                 non-finite value found and described (`Judge`)
      record     the step's few numbers kept (judge.StepResult), the progress callback called
      stop       at a non-finite value, or an implementation's exception; at the first divergence
                 when asked (`stop_at_divergence`: `compare check`, whose verdict is then known)
    evaluate     the test set after each epoch and at the end, and the final outputs

`lockstep` sets the run up around the loop: who is compared with whom (compare/engine/plan.py),
the initial parameters, what the judge is made of (integrity.py), an interrupt turned into a report.
What the loop calls on an implementation is written out in compare/engine/protocol.py. A user's
implementation runs guarded (guard.py): its own copies of its inputs, checked after each call, and
only real numbers handed back.

Left out: reporting and printing (compare/engine/report.py, compare/views), data loading; what a
step is judged by and keeps (judge.py); how the implementations run at once (lanes.py, worker.py).
"""
from dataclasses import dataclass

import numpy as np

from scratch.initializers import initial_params

from . import bounds, convert, diagnose, guard, integrity, masks as dropout, names, running
from .check import TOLERANCES
from .judge import (StepResult, accuracy, accuracy_of, before_step, describe_exception, find_divergence,  # noqa: F401
                    first_nonfinite, fold_worst, layout, lower_precision, measure_pair, not_compared)
from .errors import InputError
from .lanes import Lanes
from .plan import CROSS, Pair, Runner, not_built, pair_key, plan, unjudge  # noqa: F401 - the harness's names


def lockstep(spec, data, subjects, references=(), on_step=None, params=None, keep_step=None, cross=True,
             sequential=None, subjects_are_references=False, stop_at_divergence=False):
    """Train every implementation side by side. -> dict with the step results and more.

    subjects, references: registry Entries (see plan.plan). data: a compare Data (rows are
    examples). on_step(StepResult) is called after each step (the CLI's progress bar). Stops at
    the first non-finite value or exception, and with stop_at_divergence=True after the step of the
    first divergence (or after keep_step, if later): out["stopped"] = {"step", "steps_asked"} then.
    keep_step=N keeps step N's records, its batch and the parameters it started from in
    out["kept"] (for `trace` and the HTML report), and then also the records of the first
    divergence's step and of the last step, out["kept_divergence"] and out["kept_last"]
    ({"step", "records"}: the HTML report's diagram).

    A KeyboardInterrupt anywhere in building, stepping, comparing, on_step or evaluating ends
    the run with out["interrupted"] = True and the steps completed so far. NumPy's warnings
    (overflow in a diverging run) are silenced here: the first non-finite value is reported.
    What is kept per step is bounded (StepResult); out["worst_by_kind"] folds the rest in.
    sequential=True runs the implementations one after another (the reference for tests/test_speed.py);
    by default the built-ins run in two lanes (compare/engine/lanes.py), with the same results.
    subjects_are_references: see plan.plan (a check in which no reference ran is otherwise never judged).
    """
    references, unavailable_here, not_run = not_built(spec, list(subjects), list(references), cross)
    runners, pairs = plan(spec, list(subjects), references, cross, subjects_are_references)
    params = [(np.array(W), np.array(b)) for W, b in params] if params is not None else initial_params(
        spec.sizes, spec.weight_init, spec.bias_init, spec.seed, spec.dtype, spec.fixed_params,
        kernels=spec.network.kernels())   # the harness's own
    rtol = TOLERANCES[spec.dtype]
    out = {"keys": list(runners), "pairs": pairs, "runner_info": runners, "steps": [], "first_divergence": None,
           "first_nonfinite": None, "rtol": rtol, "evaluations": [], "tensors_checked": 0,
           "judged_checked": 0, "initial_params": params, "not_compared": {}, "final_outputs": {},
           "worst_by_kind": {}, "worst_by_tensor": {}, "not_run": not_run,
           "unavailable": unavailable_here}
    integrity.begin()                                      # the judge's tools, as the run starts
    try:
        try:
            with np.errstate(all="ignore"), Lanes.for_run(runners, sequential) as lanes:
                train(spec, data, runners, pairs, params, out, lanes, on_step, keep_step, stop_at_divergence)
        except KeyboardInterrupt:
            out["interrupted"] = True
        users = [key for key, runner in runners.items() if guard.needs_guard(runner)]
        line = users and integrity.problem(", ".join(users))            # once more before the verdict
        if line and not out.get("error"):
            out["error"] = guard.describe(len(out["steps"]), ", ".join(users), guard.ImplementationFault(line))
    finally:
        integrity.broken()                                 # whatever ended the run: put back, then forget
        integrity.end()
    return out


def train(spec, data, runners, pairs, params, out, lanes, on_step=None, keep_step=None, stop_at_divergence=False):
    """The loop of the module docstring: build, then for each batch step, judge, record; evaluate.
    Fills `out` (see lockstep); returns early, with out["error"], when an implementation fails."""
    if not build(lanes, spec, runners, pairs, params, out):
        return
    judge = Judge(spec, runners, pairs, params, out)
    epoch_loss = {}                                        # runner key -> [sum of loss x batch size, examples]
    step, epoch, previous = 0, 1, None                     # previous: the last step's records
    for batch, following in with_following(schedule(spec, data)):
        if batch.epoch != epoch:                           # an epoch is over: schedules move, the test set is evaluated
            end_epoch(runners, epoch_loss)
            if not evaluated_into(out, step, evaluate, runners, data, spec, epoch, lanes):
                return
            epoch = batch.epoch
        step = batch.step
        outcomes, measured = lanes.step(batch, following if may_run_ahead(spec, batch, following) else None,
                                        judge.early)
        records = checked(out, step, outcomes, spec.n_layers)
        if records is None:                                # an implementation raised, or broke the protocol
            return
        result, compared = judge.step(batch, records, measured, previous)
        if spec.resync_each_step:                          # float32: judge each step, not the drift
            resync(pairs, runners, records)
        if step == keep_step:
            out["kept"] = kept(lanes, batch, records, previous, params)
        if keep_step is not None and (out["first_divergence"] or {}).get("step") == step:
            out.setdefault("kept_divergence", {"step": step, "records": lanes.kept(records)})
        previous = records
        record(out, result, compared, epoch_loss, batch.size)
        if on_step:
            on_step(result)
        last = out["first_nonfinite"] or stops(out, spec, step, following, keep_step,
                                               stop_at_divergence, len(data.X))
        if keep_step is not None and (last or following is None):   # the last step's (the diagram)
            out["kept_last"] = {"step": step, "records": lanes.kept(records)}
        if last:
            break
    lanes.settle(step)                                     # a step the worker started ahead for nothing: undone
    if evaluated_into(out, step, evaluate, runners, data, spec, epoch, lanes):
        outputs = evaluated(out, step, predict_all, runners, data.X_eval.astype(spec.dtype), lanes)
        out["final_outputs"] = outputs if outputs is not None else {}


# ---------------------------------------------------------------- the loop's parts, in its order

def build(lanes, spec, runners, pairs, params, out):
    """Build every runner (lanes.py: each from its own copy of the parameters). -> False when one
    could not be built (out["error"] says which and where); a user's declaration that cannot work
    is an InputError (exit 2). A pair whose two sides are one built object is not judged."""
    for key, built in lanes.build(params, spec, pairs, out["rtol"]).items():
        if isinstance(built, InputError):              # a user's declaration that cannot work: exit 2
            raise built
        if isinstance(built, Exception):               # a broken implementation, not the harness
            out["error"] = describe_exception(0, key, built)
            return False
        runners[key].implementation = built
    for pair in pairs:                                 # one object on both sides (a build returning a shared one)
        if guard.unwrapped(runners[pair.ours].implementation) is guard.unwrapped(runners[pair.theirs].implementation):
            unjudge(pair, runners, same_object=True)
    out["runners"] = {key: runner.implementation for key, runner in runners.items()}
    return True


@dataclass
class Batch:
    """One step's inputs, the same for every implementation (read, never changed: guard.py)."""
    step: int
    epoch: int
    X: np.ndarray                  # (m, n_0), one example per row, as the frameworks hold it
    Y: np.ndarray                  # (m, n_L)
    masks: dict | None             # this step's dropout masks {block l: (n_l, m)} (masks.py), or None

    @property
    def size(self):
        return len(self.X)

    @property
    def Y_columns(self):
        """Y in the scratch layout (n_L, m): a view."""
        return convert.rows_to_batch(self.Y)


def batches(n, spec, rng):
    """Yield (epoch, index array) for every step: the harness owns the order. A last partial
    batch is kept (as Keras's fit keeps it), never dropped."""
    size = spec.batch_size or n
    epoch = 0
    while True:
        epoch += 1
        order = rng.permutation(n) if spec.shuffle else np.arange(n)
        for start in range(0, n, size):
            yield epoch, order[start:start + size]
        if spec.steps is None and epoch >= spec.epochs:
            return


def schedule(spec, data):
    """Yield every step's Batch, spec.steps of them or spec.epochs' worth. A whole batch without
    shuffling is the data's own arrays (no copy); the masks come from their own seeded stream
    (masks.py), drawn in step order."""
    X, Y = data.X.astype(spec.dtype, copy=False), data.Y.astype(spec.dtype, copy=False)
    mask_rng = dropout.mask_stream(spec)
    drops = any(spec.dropout_rates)
    for step, (epoch, index) in enumerate(batches(len(X), spec, np.random.default_rng([spec.seed, 1])), start=1):
        if spec.steps is not None and step > spec.steps:
            return
        whole = len(index) == len(X) and not spec.shuffle
        Xb, Yb = (X, Y) if whole else (X[index], Y[index])
        yield Batch(step, epoch, Xb, Yb, dropout.draw_masks(spec, mask_rng, len(index)) if drops else None)


def with_following(batches):
    """Yield (batch, the following batch or None at the end): the worker may start the following
    one before this one is judged (`may_run_ahead`)."""
    batch = next(batches, None)
    while batch is not None:
        following = next(batches, None)
        yield batch, following
        batch = following


def may_run_ahead(spec, batch, following):
    """Whether the following batch may start before this one is judged (the worker process runs one
    step ahead: lanes.py): not across an epoch's end (end_epoch and an evaluation come between),
    not with float32's resync (the next step starts from the references' state), not past the end."""
    return following is not None and following.epoch == batch.epoch and not spec.resync_each_step


def checked(out, step, outcomes, L):
    """The step's records once each has passed names.check_record, or None when an implementation
    raised or gave a record that breaks the protocol (out["error"] then says which, where)."""
    records = {}
    for key, record in outcomes.items():
        if isinstance(record, InputError):             # a user's declaration that cannot work: exit 2
            raise record
        try:
            if isinstance(record, Exception):
                raise record
            names.check_record(record, L, key)
        except Exception as error:                     # noqa: BLE001 - a broken implementation, not the harness
            out["error"] = describe_exception(step, key, error)
            return None
        records[key] = record
    return records


class Judge:
    """A run's judging: each step's pairs compared, the first divergence and the first non-finite
    value found and described, into `out`. Keeps what it works out once per run (`layouts`: which
    tensors each pair compares)."""

    def __init__(self, spec, runners, pairs, params, out):
        self.spec, self.runners, self.pairs, self.params, self.out = spec, runners, pairs, params, out
        self.rtol, self.L = out["rtol"], spec.n_layers
        self.layouts = {}
        self.variances = {}                 # runner key -> {var_l: copy} of the step before (running.py)

    def early(self, records, pairs, batch):
        """`pairs` compared as soon as their records are done (the first lane's, while the second
        still steps: lanes.py). -> {pair key: (errors, flips)}; {} where a record fails its checks
        (`checked` reports it, in the runners' order)."""
        try:
            for key, record in records.items():
                names.check_record(record, self.L, key)
            return {pair.key: measure_pair(self.spec, pair, records, batch.Y_columns, self.layouts, self.rtol)
                    for pair in pairs}
        except Exception:                              # noqa: BLE001 - reported as the sequential run does
            return {}

    def step(self, batch, records, measured, previous):
        """Every pair of the step judged (measured: the pairs compared already). -> (StepResult,
        [(pair key, [TensorError], kink flips)])"""
        out, result, compared = self.out, StepResult(batch.step, batch.epoch), []
        finite = {key: set() for key in records}       # tensors a comparison found finite (both sides)
        undivided = out["first_divergence"] is None
        for pair in self.pairs:
            missing, _ = layout(pair, records, self.layouts, self.L)
            if batch.step == 1:
                out["not_compared"][pair.key] = missing
            errors, flips = measured.get(pair.key) or measure_pair(self.spec, pair, records, batch.Y_columns,
                                                                   self.layouts, self.rtol)
            errors = running.rejudge(errors, pair, self.runners, records, self.variances)   # torch~Keras var_l
            bounds.near_zero(errors, self.rtol, lambda: bounds.production_of(
                self.spec, pair, self.runners, records, previous, self.params, batch.X, batch.Y_columns), self.spec.dtype)
            for e in errors:
                if e.finite and e.shape_ok:
                    finite[pair.ours].add(e.name)
                    finite[pair.theirs].add(e.name)
            result.add_errors(pair.key, errors)
            out["tensors_checked"] += len(errors)
            if pair.judged:
                out["judged_checked"] += len(errors)
            if flips:
                result.kink_flips[pair.key] = flips
            compared.append((pair.key, errors, flips))
            if pair.judged and out["first_divergence"] is None:
                out["first_divergence"] = self.divergence(pair, batch, records, previous, errors, flips)
        for key, record in records.items():
            if "loss" in record:
                result.loss[key] = float(np.asarray(record["loss"]).reshape(-1)[0]) if np.size(record["loss"]) else np.nan
            result.accuracy[key] = accuracy_of(record, batch.Y_columns, self.L)
            bad = first_nonfinite(batch.step, key, record, names.ordered(record, self.L), finite[key])
            if bad and out["first_nonfinite"] is None:
                out["first_nonfinite"] = bad
        self.variances = {key: {n: np.array(v) for n, v in record.items() if n[:3] == "var" and n[3:].isdigit()}
                          for key, record in records.items()}
        if undivided and out["first_divergence"] is not None:     # every pair's errors at that step
            out["divergence_step_errors"] = {       # (the diagram's "at the first divergence" view)
                key: {e.name: e.max_rel if e.finite and e.shape_ok else float("inf") for e in errors}
                for key, errors, _ in compared}
        return result, compared

    def divergence(self, pair, batch, records, previous, errors, flips):
        """The pair's first tensor of the step that fails the tolerance, described and explained
        (diagnose.py), in the user's words where a side is theirs; None when every one passes.
        A step with a ReLU kink flip is judged on its forward tensors (judge.measure_pair)."""
        ours, theirs, runners = pair.ours, pair.theirs, self.runners
        judged = [e for e in errors if (not flips or names.parse(e.name).is_forward) and not e.tied]
        found = find_divergence(batch.step, pair.key, ours, theirs, judged, self.rtol)
        if not found:
            return None
        found["precision"] = lower_precision(found, records, self.spec.dtype, {   # a user's side only
            k: runners[k].entry.vocabulary.get(found["tensor"]) for k in (ours, theirs) if guard.needs_guard(runners[k])})
        produced = next((e.produced for e in judged if e.name == found["tensor"]), 0.0)
        if produced:                                   # measured against the terms that produced it (bounds.py)
            found["measured_against"] = produced
        found["explanation"] = diagnose.explain(found, records, previous, pair, self.spec, batch.size, self.params,
                                                batch.X)
        if pair.kind == "subjects" and pair.reasons:   # two users' codes with settings of their own
            found["settings_differ"] = dict(pair.reasons)
        own_names = {k: runners[k].entry.vocabulary.get(found["tensor"]) for k in (ours, theirs)}
        found["user_names"] = {k: v for k, v in own_names.items() if v and v != found["tensor"]}
        return found


def resync(pairs, runners, records):
    """float32: each reference of a subject's pair restarts from the subject's state (resync), so
    each step is judged on its own rather than the drift of two float32 runs."""
    for pair in pairs:
        implementation = runners[pair.theirs].implementation
        if pair.kind == "subject" and hasattr(implementation, "resync"):
            implementation.resync(records[pair.ours])


def kept(lanes, batch, records, previous, params):
    """A kept step (keep_step: `trace`, the HTML report's worked example): its records, its batch
    and the parameters each runner started it from, copied out of the worker's shared memory."""
    before = before_step(lanes.kept(previous) if previous else None, records, params)
    return {"records": lanes.kept(records), "X": batch.X, "Y": batch.Y, "before": before}


def record(out, result, compared, epoch_loss, size):
    """The step is complete: kept (StepResult), its worst errors folded in, its loss added to the
    epoch's (weighted by the batch size, as fit's 'loss' log)."""
    for key, loss in result.loss.items():
        total = epoch_loss.setdefault(key, [0.0, 0])
        total[0], total[1] = total[0] + loss * size, total[1] + size
    out["steps"].append(result)
    for key, errors, flips in compared:
        fold_worst(out["worst_by_kind"], result.step, key, errors, flips)
        fold_worst(out["worst_by_tensor"], result.step, key, errors, flips, per_tensor=True)
    if result.step == 1:                               # every tensor's error of the first step, kept
        out["first_step_errors"] = {key: errors for key, errors, _ in compared}


def stops(out, spec, step, following, keep_step, stop_at_divergence, n):
    """Whether the run ends after this step although steps are left: the first divergence is known
    (the verdict is) and stop_at_divergence asks to stop there, once a kept step is done too.
    Records out["stopped"] = {"step": this step, "steps_asked": how many the spec asked for}."""
    if not (stop_at_divergence and out["first_divergence"] and following is not None
            and (keep_step is None or step >= keep_step)):
        return False
    asked = spec.steps if spec.steps is not None else spec.epochs * -(-n // (spec.batch_size or n))
    out["stopped"] = {"step": step, "steps_asked": asked}
    return True


def evaluated_into(out, step, work, *args):
    """An evaluation (`evaluated`) appended to out["evaluations"]. -> False when a user's predict failed."""
    evaluation = evaluated(out, step, work, *args)
    if evaluation is None:
        return False
    out["evaluations"].append(evaluation)
    return True


def evaluated(out, step, work, *args):
    """work(*args): an evaluation. A user's predict that raises or breaks a rule (guard.py) ends the
    run as that implementation's error, as a step's does; a built-in's exception is ours (raised).
    -> work's value, or None when a user's predict failed"""
    try:
        return work(*args)
    except Exception as error:                         # noqa: BLE001 - sorted just below
        key = getattr(error, "runner", None)
        runner = out["runner_info"].get(key)
        if runner is None or not guard.needs_guard(runner):
            raise
        out["error"] = describe_exception(step, key, error)
        return None


def end_epoch(runners, epoch_loss):
    """An epoch is over: each implementation that has a per-epoch schedule (end_epoch) moves it,
    given its own mean training loss of the epoch, weighted by batch size (as fit's 'loss' log)."""
    for key, runner in runners.items():
        if hasattr(runner.implementation, "end_epoch"):
            total, count = epoch_loss.get(key, (np.nan, 1))
            runner.implementation.end_epoch(total / count)
    epoch_loss.clear()


def predict_all(runners, X, lanes=None):
    """{key: predict(X)} of every runner that has a predict (the worker's at the same time, lanes.py)."""
    if lanes is not None:
        return lanes.predict(X)
    return {key: r.implementation.predict(X) for key, r in runners.items() if hasattr(r.implementation, "predict")}


def evaluate(runners, data, spec, epoch, lanes=None):
    """Test-set accuracy and predictions of every runner (when the data has a test set)."""
    if data.X_test is None:
        return {"epoch": epoch}
    X = data.X_test.astype(spec.dtype, copy=False)     # the same array every epoch: Keras converts it once
    Y = convert.rows_to_batch(data.Y_test.astype(spec.dtype, copy=False))
    result = {"epoch": epoch, "accuracy": {}, "predictions": {}}
    for key, A in predict_all(runners, X, lanes).items():
        result["accuracy"][key] = accuracy(A, Y)
        result["predictions"][key] = np.argmax(A, axis=0) if A.shape[0] > 1 else (A[0] > 0.5).astype(int)
    return result
