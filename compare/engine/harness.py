"""The lockstep harness: one spec, one set of initial weights, the same batches, every tensor checked.

For each step it runs every implementation on the same batch and compares, pair by pair, the
tensors both give, in the order the math computes them: Z1, A1, ..., ZL, AL, loss, dZL, dWL,
dbL, ..., dZ1, dW1, db1, the updated parameters, the optimizer state, and the batch accuracy.

Who is compared with whom (`plan`): every *subject* (scratch in a recipe run; a user's code in
`compare check`) against every *reference* (torch, keras; and scratch in `check`), the subject
following the reference's conventions where it can (scratch in Keras's is the runner
'scratch@keras'); subjects against each other (a user's torch model vs their Keras port); and,
in a recipe run, the references against each other (torch~keras), judged by the same tolerance
only where no convention differs for the spec, otherwise reported with the reasons.

A reference that cannot express the spec's training rules (conventions.unavailable: Lion in
torch, SGD dampening in Keras, decoupled weight decay in torch's SGD, coupled in Keras's) is not
built: out["unavailable"] holds {framework: why}, out["not_run"] {pair: why}, the report shows
them, and the other pairs are judged as usual.

Pair keys: the reference's name for scratch's pairs ('torch', 'keras'), else 'ours~theirs'. Two
implementations never share a key (registry.RESERVED; `plan` refuses a collision), and a pair whose
two sides are one implementation, or a check in which no reference ran, is never judged (`unjudge`).
A user's implementation runs guarded (guard.py): its own copies of its inputs, checked after each
call, and only real numbers handed back.

Left out: reporting and printing (compare/engine/report.py, compare/views), data loading; what a step
is judged by and keeps (judge.py); running a step's implementations concurrently (lanes.py).
"""
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from scratch.initializers import initial_params

from . import bounds, convert, diagnose, guard, integrity, masks as dropout, names, registry, worker
from .check import TOLERANCES
from .judge import (StepResult, accuracy, accuracy_of, before_step, describe_exception, find_divergence,  # noqa: F401
                    first_nonfinite, fold_worst, layout, lower_precision, measure_pair, not_compared)
from .errors import InputError
from .lanes import Lanes
from .conventions import differences, numeric_differences, settings_differences, unavailable

CROSS = "torch~keras"


@dataclass
class Runner:
    key: str                  # 'scratch', 'scratch@keras', 'torch', 'mine', ...
    entry: registry.Entry
    convention: str           # the conventions it follows in this run
    spec: object              # the spec it was built from (a user's own settings applied)
    implementation: object = None


@dataclass
class Pair:
    key: str                  # 'torch', 'keras', 'torch~keras', 'mine~torch', ...
    ours: str                 # runner keys
    theirs: str
    judged: bool = True       # held to the tolerance (else reported only)
    reasons: dict = field(default_factory=dict)   # convention differences that apply: key -> why
    kind: str = "subject"     # 'subject' (a subject vs a reference), 'subjects' (two subjects), 'cross' (two references)


def pair_key(ours, theirs):
    return theirs if ours == "scratch" else f"{ours}~{theirs}"


def plan(spec, subjects, references, cross=True, subjects_are_references=False):
    """The runners to build and the pairs to compare. subjects, references: registry Entries.
    subjects_are_references: the subjects are references themselves (a translation's proof: torch's
    and Keras's own code, each with its settings), so their pair needs no other. -> (runners {key: Runner}, [Pair])"""
    runners, pairs = {}, []

    def add(entry, convention, run_spec, owner):
        conv = convention if convention in entry.conventions else entry.conventions[0]
        key = entry.name if conv == entry.conventions[0] else f"{entry.name}@{conv}"
        if key in runners and runners[key].entry is entry and runners[key].spec != run_spec:
            key = f"{key}/{owner}"                         # the same reference with another subject's settings
        if key in runners and runners[key].entry is not entry:   # two implementations, one key: never
            raise InputError(f"two implementations would both run as {key!r}: name each with letters, digits, "
                             f"'-' and '_' (not {', '.join(map(repr, registry.RESERVED))}), and not as a built-in")
        runners.setdefault(key, Runner(key, entry, conv, run_spec))
        return key

    for subject in subjects:
        run_spec = spec.replace(**subject.settings) if subject.settings else spec
        for reference in references:
            own = subject.conventions[0]
            convention = own if own in reference.conventions else reference.conventions[0]
            ours = add(subject, convention, run_spec, subject.name)
            theirs = add(reference, convention, run_spec, subject.name)
            if own in ("torch", "keras") and convention not in subject.conventions:   # a user's torch model against Keras (or the
                reasons = differences(run_spec)                    # reverse): judged as torch~keras is
                pairs.append(Pair(pair_key(subject.name, reference.name), ours, theirs,
                                  not numeric_differences(run_spec), reasons))
                continue
            pairs.append(Pair(pair_key(subject.name, reference.name), ours, theirs))
    for a, b in combinations(subjects, 2):
        ours = add(a, a.conventions[0], spec.replace(**a.settings) if a.settings else spec, a.name)
        theirs = add(b, b.conventions[0], spec.replace(**b.settings) if b.settings else spec, b.name)
        reasons = settings_differences(runners[ours].spec, runners[ours].convention,
                                       runners[theirs].spec, runners[theirs].convention)
        pairs.append(Pair(f"{a.name}~{b.name}", ours, theirs, True, reasons, "subjects"))
    plain = [r for r in references if r.name != "scratch"]
    if cross and not any(s.settings for s in subjects):
        for a, b in combinations(plain, 2):
            ours, theirs = add(a, a.conventions[0], spec, a.name), add(b, b.conventions[0], spec, b.name)
            reasons, numeric = differences(spec), numeric_differences(spec)
            if spec.resync_each_step and subjects:
                reasons["resync"] = numeric["resync"] = (
                    f"each step restarts {a.name} and {b.name} from their scratch twin's state, two runs that "
                    f"drift apart in float32: {a.name} vs {b.name} measures that drift")
            pairs.append(Pair(f"{a.name}~{b.name}", ours, theirs, not numeric, reasons, "cross"))
    if not runners and len(subjects) + len(references) == 1:
        only = (subjects or references)[0]
        runners[only.name] = Runner(only.name, only, only.conventions[0], spec)
    for pair in pairs:
        unjudge(pair, runners, no_reference=bool(subjects) and not references and not subjects_are_references)
    return runners, pairs


def unjudge(pair, runners, no_reference=False, same_object=False):
    """The root rule of judging: a pair whose two sides are one runner, one implementation entry or
    one built object compares something with itself, and a check in which no reference ran has
    nothing to vouch for it: such a pair is reported, never judged (so never a PASS)."""
    ours, theirs = runners[pair.ours], runners[pair.theirs]
    if pair.ours == pair.theirs or ours.entry is theirs.entry or same_object:
        pair.judged = False
        pair.reasons["same-implementation"] = (f"{pair.ours} and {pair.theirs} are one implementation: a comparison "
                                               f"with itself proves nothing")
    if no_reference:
        pair.judged = False
        pair.reasons["no-reference"] = "no reference framework ran: two of your implementations alone vouch for nothing"


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


def lockstep(spec, data, subjects, references=(), on_step=None, params=None, keep_step=None, cross=True,
             sequential=None, subjects_are_references=False):
    """Train every implementation side by side. -> dict with the step results and more.

    subjects, references: registry Entries (see `plan`). data: a compare Data (rows are
    examples). on_step(StepResult) is called after each step (the CLI's progress bar). Stops at
    the first non-finite value or exception. keep_step=N keeps step N's records, its batch and
    the parameters it started from in out["kept"] (for `trace` and the HTML report).

    A KeyboardInterrupt anywhere in building, stepping, comparing, on_step or evaluating ends
    the run with out["interrupted"] = True and the steps completed so far. NumPy's warnings
    (overflow in a diverging run) are silenced here: the first non-finite value is reported.
    What is kept per step is bounded (StepResult); out["worst_by_kind"] folds the rest in.
    sequential=True runs the implementations one after another (the reference for tests/test_speed.py);
    by default the built-ins run in two lanes (compare/engine/lanes.py), with the same results.
    subjects_are_references: see `plan` (a check in which no reference ran is otherwise never judged).
    """
    missing = unavailable(spec)                            # a rule a framework cannot express: not built
    not_run = {}
    for reference in references:
        if reference.name in missing:
            not_run.update({pair_key(s.name, reference.name): missing[reference.name] for s in subjects})
    plain = [r for r in references if r.name != "scratch"]
    if cross and not any(s.settings for s in subjects):
        for a, b in combinations(plain, 2):
            if a.name in missing or b.name in missing:
                not_run[f"{a.name}~{b.name}"] = missing.get(a.name) or missing[b.name]
    unavailable_here = {r.name: missing[r.name] for r in references if r.name in missing}
    references = [r for r in references if r.name not in missing]
    runners, pairs = plan(spec, list(subjects), list(references), cross, subjects_are_references)
    params = [(np.array(W), np.array(b)) for W, b in params] if params is not None else initial_params(
        spec.sizes, spec.weight_init, spec.bias_init, spec.seed, spec.dtype, spec.fixed_params)   # the harness's own
    rtol = TOLERANCES[spec.dtype]
    out = {"keys": list(runners), "pairs": pairs, "runner_info": runners, "steps": [], "first_divergence": None,
           "first_nonfinite": None, "rtol": rtol, "evaluations": [], "tensors_checked": 0,
           "judged_checked": 0, "initial_params": params, "not_compared": {}, "final_outputs": {},
           "worst_by_kind": {}, "not_run": not_run, "unavailable": unavailable_here}
    integrity.begin()                                      # the judge's tools, as the run starts
    try:
        try:
            with np.errstate(all="ignore"):
                train(spec, data, runners, pairs, params, out, on_step, keep_step, sequential)
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


def train(spec, data, runners, pairs, params, out, on_step, keep_step, sequential=None):
    """lockstep's work: build, step until done, evaluate; fills `out`. sequential: run the
    implementations one after another (True), or in two lanes where they can (see lanes.py), the
    second in the worker process the CLI started, if any (worker.py)."""
    lanes = Lanes(runners, sequential, remote=worker.take())
    try:
        train_built(spec, data, runners, pairs, params, out, on_step, keep_step, lanes)
    finally:
        lanes.close()


def train_built(spec, data, runners, pairs, params, out, on_step, keep_step, lanes):
    """train's work once the lanes are chosen: build every runner, then step and evaluate."""
    rtol, L = out["rtol"], spec.n_layers
    for key, built in lanes.build(params, spec, pairs, rtol).items():
        if isinstance(built, InputError):              # a user's declaration that cannot work: exit 2
            raise built
        if isinstance(built, Exception):               # a broken implementation, not the harness
            out["error"] = describe_exception(0, key, built)
            return
        runners[key].implementation = built
    for pair in pairs:                                 # one object on both sides (a build returning a shared one)
        if guard.unwrapped(runners[pair.ours].implementation) is guard.unwrapped(runners[pair.theirs].implementation):
            unjudge(pair, runners, same_object=True)
    out["runners"] = {key: runner.implementation for key, runner in runners.items()}
    X, Y = data.X.astype(spec.dtype, copy=False), data.Y.astype(spec.dtype, copy=False)
    rng = np.random.default_rng([spec.seed, 1])
    mask_rng = dropout.mask_stream(spec)                   # dropout: the masks' own stream (compare/engine/masks.py)
    epoch_loss = {}                                        # runner key -> [sum of loss x batch size, examples]
    layouts = {}                                       # what each pair compares, per set of record names
    step, last_epoch, previous = 0, 1, None

    def begin(index, step):
        """A step's batch (one copy, shared by all) and dropout masks, and the second lane started."""
        whole = len(index) == len(X) and not spec.shuffle
        Xb, Yb = (X, Y) if whole else (X[index], Y[index])
        if any(spec.dropout_rates):                # hook: the same dropout masks for everyone
            dropout.hand_out(runners, dropout.draw_masks(spec, mask_rng, len(index)))
        return Xb, Yb, lanes.start(Xb, Yb, step)

    schedule = batches(len(X), spec, rng)
    upcoming, started = next(schedule, None), None
    while upcoming is not None:
        epoch, index = upcoming
        upcoming = next(schedule, None)
        if epoch != last_epoch:
            end_epoch(runners, epoch_loss)
            evaluation = evaluated(out, step, evaluate, runners, data, spec, last_epoch, lanes)
            if evaluation is None:
                return
            out["evaluations"].append(evaluation)
            last_epoch = epoch
        step += 1
        Xb, Yb, handle = started or begin(index, step)
        started = None
        Y_columns = convert.rows_to_batch(Yb)
        done = lanes.run_first(Xb, Yb)
        early = {}                                 # pairs compared while the second lane still steps
        if all(not isinstance(v, Exception) for v in done.values()) and lanes.first_pairs(pairs):
            try:                                   # a record that fails its checks: judged below, in order
                for key, record in done.items():
                    names.check_record(record, L, key)
                early = {pair.key: measure_pair(spec, pair, done, Y_columns, layouts, rtol)
                         for pair in lanes.first_pairs(pairs)}
            except Exception:                      # noqa: BLE001 - reported below as the sequential run does
                early = {}
        finished = lanes.finish(handle, done)
        early.update(lanes.measured())             # the pairs the worker process compared
        if (lanes.ahead and upcoming is not None and upcoming[0] == epoch and not spec.resync_each_step
                and not (spec.steps is not None and step >= spec.steps)
                and not any(isinstance(v, Exception) for v in finished.values())):
            started = begin(upcoming[1], step + 1)     # the worker steps on while this step is judged here
        records = {}
        for key, record in finished.items():
            if isinstance(record, InputError):     # a user's declaration that cannot work: exit 2
                raise record
            try:
                if isinstance(record, Exception):
                    raise record
                names.check_record(record, L, key)
            except Exception as error:             # noqa: BLE001 - a broken implementation, not the harness
                out["error"] = describe_exception(step, key, error)
                return
            records[key] = record
        result = StepResult(step, epoch)
        compared = []                              # (pair key, [TensorError], kink flips)
        finite = {key: set() for key in records}   # tensors a comparison found finite (both sides)
        for pair in pairs:
            ours, theirs = pair.ours, pair.theirs
            missing, _ = layout(pair, records, layouts, L)
            if step == 1:
                out["not_compared"][pair.key] = missing
            errors, flips = early.get(pair.key) or measure_pair(spec, pair, records, Y_columns, layouts, rtol)
            bounds.near_zero(errors, rtol, lambda: bounds.production_of(spec, pair, runners, records, previous, params,
                                                                        Xb, Y_columns), spec.dtype)
            for e in errors:
                if e.finite and e.shape_ok:
                    finite[ours].add(e.name)
                    finite[theirs].add(e.name)
            result.add_errors(pair.key, errors)
            out["tensors_checked"] += len(errors)
            if pair.judged:
                out["judged_checked"] += len(errors)
            if flips:
                result.kink_flips[pair.key] = flips
            compared.append((pair.key, errors, flips))
            if pair.judged and out["first_divergence"] is None:
                judged = [e for e in errors if not flips or names.parse(e.name).is_forward]
                found = find_divergence(step, pair.key, ours, theirs, judged, rtol)
                if found:
                    found["precision"] = lower_precision(found, records, spec.dtype, {   # a user's side only
                        k: runners[k].entry.vocabulary.get(found["tensor"]) for k in (ours, theirs)
                        if guard.needs_guard(runners[k])})
                    produced = next((e.produced for e in judged if e.name == found["tensor"]), 0.0)
                    if produced:                   # measured against the terms that produced it (bounds.py)
                        found["measured_against"] = produced
                    found["explanation"] = diagnose.explain(found, records, previous, pair, spec, len(index), params)
                    if pair.kind == "subjects" and pair.reasons:   # two users' codes with settings of their own
                        found["settings_differ"] = dict(pair.reasons)
                    own_names = {k: runners[k].entry.vocabulary.get(found["tensor"]) for k in (ours, theirs)}
                    found["user_names"] = {k: v for k, v in own_names.items() if v and v != found["tensor"]}
                    out["first_divergence"] = found
        for key, record in records.items():
            if "loss" in record:
                result.loss[key] = float(np.asarray(record["loss"]).reshape(-1)[0]) if np.size(record["loss"]) else np.nan
                total = epoch_loss.setdefault(key, [0.0, 0])
                total[0], total[1] = total[0] + result.loss[key] * len(index), total[1] + len(index)
            result.accuracy[key] = accuracy_of(record, Y_columns, L)
            bad = first_nonfinite(step, key, record, names.ordered(record, L), finite[key])
            if bad and out["first_nonfinite"] is None:
                out["first_nonfinite"] = bad
        if spec.resync_each_step:                      # float32: judge each step, not the drift
            for pair in pairs:
                implementation = runners[pair.theirs].implementation
                if pair.kind == "subject" and hasattr(implementation, "resync"):
                    implementation.resync(records[pair.ours])
        if step == keep_step:
            before = before_step(lanes.kept(previous) if previous else None, records, params)
            out["kept"] = {"records": lanes.kept(records), "X": Xb, "Y": Yb, "before": before}
        previous = records
        out["steps"].append(result)                        # the step is complete: counted, folded in
        for pair_key, errors, flips in compared:
            fold_worst(out["worst_by_kind"], step, pair_key, errors, flips)
        if step == 1:                                      # every tensor's error of the first step, kept
            out["first_step_errors"] = {pair_key: errors for pair_key, errors, _ in compared}
        if on_step:
            on_step(result)
        if out["first_nonfinite"] or (spec.steps is not None and step >= spec.steps):
            break
    lanes.settle(step)                                 # a step started ahead for nothing: undone
    evaluation = evaluated(out, step, evaluate, runners, data, spec, last_epoch, lanes)
    if evaluation is not None:
        out["evaluations"].append(evaluation)
        outputs = evaluated(out, step, predict_all, runners, data.X_eval.astype(spec.dtype), lanes)
        out["final_outputs"] = outputs if outputs is not None else {}


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
