"""The lockstep harness: one spec, one set of initial weights, the same batches, every tensor checked.

For each step it runs every implementation on the same batch and compares, in the order the
math computes them: Z1, A1, ..., ZL, AL, loss, dZL, dWL, dbL, ..., dZ1, dW1, db1, the updated
parameters, the optimizer state, and the batch accuracy.

Implementations (runners), keyed as in the report:
    scratch          the NumPy MLP following torch's conventions
    scratch@keras    the NumPy MLP following Keras's conventions
    torch, keras     the reference implementations
Pairs checked, keyed by the framework they check:
    torch         scratch vs torch
    keras         scratch@keras vs keras
    torch~keras   torch vs keras directly: held to the same tolerance only where no
                  convention differs for this spec; otherwise reported with the reasons.

Left out: reporting and printing (compare/report.py), data loading (recipes).
"""
from dataclasses import dataclass, field

import numpy as np

from scratch.initializers import initial_params
from scratch.mlp import MLP

from . import convert, frameworks
from .check import TOLERANCES, cmp, tensor_kind, tensor_layer
from .conventions import differences, numeric_differences

CROSS = "torch~keras"


class ScratchRunner:
    """The scratch MLP in one convention, fed rows and answering in the scratch layout."""

    def __init__(self, key, spec, params, convention):
        self.key, self.model = key, MLP(spec, params, convention)

    def step(self, X, Y):
        cache, loss, grads = self.model.train_step(convert.rows_to_batch(X), convert.rows_to_batch(Y))
        record = {name: t for name, t in cache.items() if name != "A0"}
        record["loss"] = np.asarray(loss)
        record.update(grads)
        record.update(self.model.params)
        for name, state in self.model.optimizer.state.items():
            record.update({f"{name}.{key}": value for key, value in state.items()})
        return record

    def predict(self, X):
        return self.model.predict(convert.rows_to_batch(X))


class ReferenceRunner:
    """A torch or Keras MLP, its tensors converted to the scratch layout by compare.convert."""

    def __init__(self, key, spec, params):
        module = frameworks.load(key)
        self.key, self.sizes = key, spec.sizes
        if key == "torch":
            self.model = module.TorchMLP(spec, convert.to_torch(params))
        else:
            self.model = module.KerasMLP(spec, convert.to_keras(params))

    def step(self, X, Y):
        record = self.model.record(*self.model.train_step(X, Y))
        return convert.record_to_scratch(self.key, record, self.sizes, X.shape[0])

    def predict(self, X):
        return convert.rows_to_batch(self.model.predict(X))

    def resync(self, record):
        """Restart from a scratch runner's parameters and optimizer state (its record)."""
        names = [n for n in record if convert.NAME.match(n) and n[0] in "Wb"]
        self.model.load_state({n: convert.from_scratch(self.key, n, record[n]) for n in names})


def runner_keys(selected):
    """Runners for the selected frameworks, and the pairs to check: (pair key, ours, theirs)."""
    keys, pairs = [], []
    if "scratch" in selected and "torch" in selected:
        keys += ["scratch", "torch"]
        pairs.append(("torch", "scratch", "torch"))
    if "scratch" in selected and "keras" in selected:
        keys += ["scratch@keras", "keras"]
        pairs.append(("keras", "scratch@keras", "keras"))
    if "torch" in selected and "keras" in selected:
        keys = list(dict.fromkeys(keys + ["torch", "keras"]))
        pairs.append((CROSS, "torch", "keras"))
    if not keys:                                   # scratch alone: nothing to compare against
        keys = [f for f in selected if f != "scratch"] or ["scratch"]
    return keys, pairs


def build_runners(spec, keys, params):
    runners = {}
    for key in keys:
        if key.startswith("scratch"):
            runners[key] = ScratchRunner(key, spec, params, "keras" if key == "scratch@keras" else "torch")
        else:
            runners[key] = ReferenceRunner(key, spec, params)
    return runners


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


def accuracy(A, Y):
    """Fraction right in a batch: argmax for a softmax-like output (n_L > 1), a 0.5 threshold
    for one unit. A, Y: (n_L, m) scratch layout."""
    if A.shape[0] > 1:
        return float(np.mean(np.argmax(A, axis=0) == np.argmax(Y, axis=0)))
    return float(np.mean((A > 0.5) == (Y > 0.5)))


def ordered_names(record, n_layers):
    """Tensor names in the order the math computes them (the first divergence is the earliest)."""
    names = []
    for l in range(1, n_layers + 1):
        names += [f"Z{l}", f"A{l}"]
    names.append("loss")
    for l in range(n_layers, 0, -1):
        names += [f"dZ{l}", f"dW{l}", f"db{l}"]
    for l in range(1, n_layers + 1):
        names += [f"W{l}", f"b{l}"]
    names += sorted(n for n in record if "." in n)
    return [n for n in names if n in record]


@dataclass
class StepResult:
    step: int
    epoch: int
    loss: dict = field(default_factory=dict)          # runner key -> loss
    accuracy: dict = field(default_factory=dict)      # runner key -> batch accuracy
    errors: dict = field(default_factory=dict)        # pair key -> [TensorError, ...]
    kink_flips: dict = field(default_factory=dict)    # pair key -> ReLU inputs on opposite sides of 0


def first_nonfinite(step, key, record, names):
    """The first tensor of a record (in compute order) holding NaN or inf, described; else None."""
    for name in names:
        value = np.asarray(record[name])
        if np.isfinite(value.sum()):                   # any NaN or inf makes the sum NaN or inf
            continue
        bad = ~np.isfinite(value)
        if bad.any():
            index = tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), value.shape)) if value.ndim else ()
            layer = tensor_layer(name)
            if layer is None:                              # the loss: its inputs are the output layer's
                layer = max(l for l in map(tensor_layer, names) if l is not None)
            inputs = {}
            if layer is not None and f"Z{layer}" in record:
                inputs[f"max|Z{layer}|"] = float(np.nanmax(np.abs(record[f"Z{layer}"])))
            if layer is not None and f"W{layer}" in record:
                inputs[f"max|W{layer}|"] = float(np.nanmax(np.abs(record[f"W{layer}"])))
            return {"step": step, "framework": key, "layer": layer, "tensor": name, "index": list(index),
                    "value": float(value[index]) if value.ndim else float(value), "inputs": inputs}
    return None


def lockstep(spec, data, selected, on_step=None, params=None, keep_step=None):
    """Train every selected implementation side by side. -> dict with the step results and more.

    data: a recipes.Data (rows are examples). on_step(StepResult) is called after each step
    (the CLI's progress bar and table). Stops at the first non-finite value. keep_step=N keeps
    step N's records, its batch and the parameters it started from in out["kept"] (for `trace`).
    """
    keys, pairs = runner_keys(selected)
    params = params if params is not None else initial_params(
        spec.sizes, spec.weight_init, spec.bias_init, spec.seed, spec.dtype, spec.fixed_params)
    runners = build_runners(spec, keys, params)
    rtol = TOLERANCES[spec.dtype]
    cross_reasons, cross_numeric = differences(spec), numeric_differences(spec)
    if spec.resync_each_step:
        cross_reasons["resync"] = cross_numeric["resync"] = (
            "each step restarts torch from scratch's state and Keras from scratch@keras's, two runs "
            "that drift apart in float32: torch vs Keras measures that drift")
    X, Y = data.X.astype(spec.dtype, copy=False), data.Y.astype(spec.dtype, copy=False)
    rng = np.random.default_rng([spec.seed, 1])
    out = {"keys": keys, "pairs": pairs, "steps": [], "first_divergence": None, "first_nonfinite": None,
           "cross_reasons": cross_reasons, "cross_judged": not cross_numeric, "rtol": rtol, "evaluations": [], "tensors_checked": 0,
           "initial_params": params}
    step, last_epoch = 0, 1
    for epoch, index in batches(len(X), spec, rng):
        if epoch != last_epoch:
            out["evaluations"].append(evaluate(runners, data, spec, last_epoch))
            last_epoch = epoch
        step += 1
        records = {}
        whole = len(index) == len(X) and not spec.shuffle
        Xb, Yb = (X, Y) if whole else (X[index], Y[index])   # one copy of the batch, shared by all
        try:
            for key, runner in runners.items():
                records[key] = runner.step(Xb, Yb)
        except KeyboardInterrupt:
            out["interrupted"] = True
            break
        except Exception as error:                        # a broken implementation, not the harness
            out["error"] = describe_exception(step, key, error)
            break
        result = StepResult(step, epoch)
        names = ordered_names(records[keys[0]], spec.n_layers)
        for key, record in records.items():
            result.loss[key] = float(record["loss"])
            result.accuracy[key] = accuracy(record[f"A{spec.n_layers}"], convert.rows_to_batch(Yb))
            bad = first_nonfinite(step, key, record, names)
            if bad and out["first_nonfinite"] is None:
                out["first_nonfinite"] = bad
        for pair, ours, theirs in pairs:
            skip_state = pair == CROSS and "sgd-momentum-form" in cross_reasons
            errors = [cmp(name, records[ours][name], records[theirs][name])
                      for name in names if name in records[theirs] and not (skip_state and "." in name)]
            acc = abs(result.accuracy[ours] - result.accuracy[theirs])
            errors.append(cmp("accuracy", result.accuracy[ours], result.accuracy[theirs]))
            errors[-1].max_rel = acc
            result.errors[pair] = errors
            out["tensors_checked"] += len(errors)
            flips = kink_flips(spec, records[ours], records[theirs], rtol)
            if flips:
                result.kink_flips[pair] = flips
            gating = pair != CROSS or not cross_numeric
            if gating and out["first_divergence"] is None:
                judged = [e for e in errors if not flips or tensor_kind(e.name) in FORWARD_KINDS]
                out["first_divergence"] = find_divergence(step, pair, ours, theirs, judged, rtol)
        if spec.resync_each_step:                          # float32: judge each step, not the drift
            for pair, ours, theirs in pairs:
                if pair != CROSS:
                    runners[theirs].resync(records[ours])
        if step == keep_step:
            out["kept"] = {"records": records, "X": Xb, "Y": Yb, "before": before_step(out, records, params)}
        out["previous_records"] = records if keep_step else None
        out["steps"].append(result)
        if on_step:
            on_step(result)
        if out["first_nonfinite"] or (spec.steps is not None and step >= spec.steps):
            break
    if out.get("error") or out.get("interrupted"):
        out["final_outputs"] = {}
        out["runners"] = runners
        return out
    out["evaluations"].append(evaluate(runners, data, spec, last_epoch))
    out["final_outputs"] = {key: r.predict(data.X_eval.astype(spec.dtype)) for key, r in runners.items()}
    out["runners"] = runners
    return out


def before_step(out, records, params):
    """The parameters each runner started the kept step from (scratch layout)."""
    previous = out.get("previous_records")
    if previous is None:
        start = convert.scratch_params(params)
        return {key: start for key in records}
    return {key: {n: v for n, v in rec.items() if convert.NAME.match(n) and n[0] in "Wb" and "." not in n}
            for key, rec in previous.items()}


def describe_exception(step, key, error):
    """An exception raised inside an implementation's step -> where, what and the failing line."""
    import traceback

    frames = traceback.extract_tb(error.__traceback__)
    own = [f for f in frames if "/compare/harness.py" not in f.filename] or frames
    last = own[-1]
    return {"step": step, "framework": key, "exception": f"{type(error).__name__}: {error}",
            "file": last.filename, "line": last.lineno, "code": last.line}


FORWARD_KINDS = ("Z", "A", "loss", "accuracy")


def kink_flips(spec, ours, theirs, rtol):
    """How many ReLU inputs sit on opposite sides of 0 in the two records while agreeing within
    rounding (|z| <= rtol * max|Z| in both). There the derivative is 1 in one implementation and
    0 in the other, honestly: the backward pass of that step differs by whole elements. Such a
    step's backward tensors are reported, not judged; its forward tensors still are. In float64
    this needs |z| < 1e-9 * max|Z| and has not been seen; in float32 it happens (MNIST: about
    one step in a thousand)."""
    flips = 0
    for l, name in enumerate(spec.activations, start=1):
        if name != "relu":
            continue
        a, b = ours[f"Z{l}"], theirs[f"Z{l}"]
        tiny = rtol * max(float(np.max(np.abs(a))), 1e-300)
        flips += int(np.count_nonzero(((a > 0) != (b > 0)) & (np.abs(a) <= tiny) & (np.abs(b) <= tiny)))
    return flips


def find_divergence(step, pair, ours, theirs, errors, rtol):
    """The first tensor of a step (in compute order) that fails the tolerance, described; else None."""
    for e in errors:
        if not e.passed(rtol):
            return {"step": step, "framework": pair, "ours": ours, "theirs": theirs,
                    "layer": tensor_layer(e.name), "tensor": e.name, "kind": tensor_kind(e.name),
                    "index": list(e.index), "values": {ours: e.ours, theirs: e.theirs},
                    "max_abs_err": e.max_abs, "max_rel_err": e.max_rel, "rtol": rtol,
                    "shape_ok": e.shape_ok, "finite": e.finite,
                    "shapes": {ours: list(e.shapes[0]), theirs: list(e.shapes[1])} if e.shapes else None}
    return None


def evaluate(runners, data, spec, epoch):
    """Test-set accuracy and predictions of every runner (when the data has a test set)."""
    if data.X_test is None:
        return {"epoch": epoch}
    X = data.X_test.astype(spec.dtype, copy=False)     # the same array every epoch: Keras converts it once
    Y = convert.rows_to_batch(data.Y_test.astype(spec.dtype, copy=False))
    result = {"epoch": epoch, "accuracy": {}, "predictions": {}}
    for key, runner in runners.items():
        A = runner.predict(X)
        result["accuracy"][key] = accuracy(A, Y)
        result["predictions"][key] = np.argmax(A, axis=0) if A.shape[0] > 1 else (A[0] > 0.5).astype(int)
    return result
