"""What a run prints: the resolved config, the per-step tables and the summary tables (tabulate).

Everything fits 100 columns by default (WIDTH); `wide=True` (`--wide`) gives the full tables:
every implementation's loss beside the errors in one step table, and every implementation's
final outputs in full. Pairs are named 'ours~theirs' (scratch~torch, scratch@keras~keras,
torch~keras, mine~torch), from report.summary['pairs'].

Left out: JSON (compare/engine/report.py), plots (compare/views/plots.py).
"""
import textwrap

import numpy as np
from tabulate import tabulate

from scratch.conventions import KERAS, TORCH

from ..engine.conventions import CONFIGURED
from ..engine.errors import one_line
from ..engine.names import GROUPS as KINDS
from ..engine.run import describe_divergence
from .text import WIDTH, hang

CLASSIFICATION = ("binary_crossentropy", "categorical_crossentropy")   # losses whose accuracy means something
OPTIMIZER_NAMES = {"sgd": "SGD", "rmsprop": "RMSprop", "adam": "Adam"}
LOSS_NAMES = {"mse": "squared error", "binary_crossentropy": "binary cross-entropy",
              "categorical_crossentropy": "cross-entropy"}


def fmt(x, spec="{:.3e}"):
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    return spec.format(x)


def plural(n, word):
    """plural(1, 'step') -> '1 step'; plural(3, 'step') -> '3 steps'"""
    return f"{n} {word}{'' if n == 1 else 's'}"


def wrap(text, indent=""):
    """Text wrapped to WIDTH columns, each paragraph (line) on its own, continuation lines indented
    by two spaces more (compare/views/text.py hang)."""
    return hang(text, indent=indent)


def widest(text):
    return max((len(line) for line in text.splitlines()), default=0)


def fitted(rows, headers, tablefmt="simple", keep=1):
    """tabulate(rows, headers); as plain text wider than WIDTH (many implementations, many pairs),
    the columns after the first `keep` are split among tables printed one under another, each
    repeating the first `keep` columns and each within WIDTH (a single column too wide for it
    stays whole)."""
    def render(columns):
        return tabulate([[row[j] for j in columns] for row in rows],
                        headers=[headers[j] for j in columns], tablefmt=tablefmt,
                        disable_numparse=True)

    everything = list(range(len(headers)))
    table = render(everything)
    if tablefmt != "simple" or widest(table) <= WIDTH:
        return table
    groups, current = [], []
    for j in everything[keep:]:
        if current and widest(render(everything[:keep] + current + [j])) > WIDTH:
            groups.append(current)
            current = []
        current.append(j)
    groups.append(current)
    return "\n\n".join(render(everything[:keep] + group) for group in groups)


def pair_label(report, pair):
    """'torch' -> 'scratch~torch': the two implementations a pair key compares, as summary['pairs'] says."""
    p = report.summary.get("pairs", {}).get(pair)
    return f"{p['ours']}~{p['theirs']}" if p else pair


def classification(report):
    return report.config.get("loss") in CLASSIFICATION


def init_text(init):
    """Init('normal', scale=0.01) -> 'normal * 0.01'; Init('uniform', -0.5, 0.5) -> 'uniform [-0.5, 0.5)'"""
    if init.kind == "normal":
        return f"normal{' + ' + str(init.mean) if init.mean else ''} * {init.scale:g}"
    if init.kind == "uniform":
        return f"uniform [{init.low:g}, {init.high:g})"
    return init.kind


def optimizer_text(spec):
    """'SGD momentum 0.9 lr 0.1', 'Adam lr 0.001 (betas 0.9, 0.999)', 'RMSprop lr 0.001 rho 0.9 eps 1e-07'"""
    name = OPTIMIZER_NAMES.get(spec.optimizer, spec.optimizer)
    if spec.optimizer == "sgd":
        if not spec.momentum:
            return f"SGD lr {spec.lr:g}"
        return f"SGD {'Nesterov ' if spec.nesterov else ''}momentum {spec.momentum:g} lr {spec.lr:g}"
    settings = [f"lr {spec.lr:g}"]
    for field in ("rho", "beta1", "beta2", "eps"):
        value = getattr(spec, field)
        if value is not None and spec.optimizer in USES[field]:
            settings.append(f"{field} {value:g}")
    if spec.schedule:
        settings.append(f"{spec.schedule} schedule every {spec.schedule_every}")
    return f"{name} {' '.join(settings)}"


def spec_line(spec):
    """The resolved spec in one line: 'mnist --optimizer adam --epochs 1' is announced as such:
    '784-128-64-10 relu/relu/softmax, cross-entropy, Adam lr 0.1, batches of 128, 1 epoch'."""
    loss = LOSS_NAMES.get(spec.loss, spec.loss) + (" (summed)" if spec.reduction == "sum" else "")
    batch = "full batch" if spec.batch_size is None else f"batches of {spec.batch_size}"
    length = plural(spec.steps, "step") if spec.steps is not None else plural(spec.epochs, "epoch")
    network = "-".join(str(n) for n in spec.sizes) + " " + "/".join(spec.activations)
    if getattr(spec, "layers", None) is not None:           # a layer list: its layers in order
        network = spec.network.describe()
    parts = [network, loss, optimizer_text(spec),
             batch + (", shuffled" if spec.shuffle else ""), length]
    if spec.dtype != "float64":
        parts.append(spec.dtype)
    if getattr(spec, "slope", None) is not None:          # leaky_relu's negative slope
        parts.insert(1, f"leaky slope {spec.slope:g}")
    if getattr(spec, "norm", None):                       # dropout and normalization (issue 11)
        parts.insert(1, f"{spec.norm} norm")
    if any(getattr(spec, "dropout_rates", ())):
        parts.insert(1, "dropout " + "/".join(f"{p:g}" for p in spec.dropout_rates))
    return ", ".join(parts)


def resync_text(spec):
    """What the resync field means for this run."""
    if spec.resync_each_step:
        why = "float32: " if spec.resync is None else ""
        return f"on ({why}each step restarts torch and Keras from scratch's state)"
    return "off (each implementation runs on from its own state)"


def casts_text(spec):
    if spec.keras_float32_casts:
        return "on (Keras gets Python floats, which it rounds through float32)"
    return "off (Keras gets its hyperparameters as exact float64 numbers)"


USES = {    # spec field -> the optimizers (or schedules) it belongs to
    "momentum": ("sgd", "rmsprop"), "nesterov": ("sgd",), "dampening": ("sgd",), "centered": ("rmsprop",),
    "rho": ("rmsprop", "adadelta"), "beta1": ("adam", "adamw", "nadam", "adamax", "lion"),
    "beta2": ("adam", "adamw", "nadam", "adamax", "lion"), "amsgrad": ("adam", "adamw"),
    "eps": ("rmsprop", "adam", "adamw", "nadam", "adamax", "adagrad", "adadelta"),
}
SCHEDULE_USES = {"schedule_every": ("exponential", "step", "cosine", "plateau"),
                 "gamma": ("exponential", "step", "plateau"), "milestones": ("step",), "t_max": ("cosine",),
                 "eta_min": ("cosine",), "patience": ("plateau",), "threshold": ("plateau",),
                 "cooldown": ("plateau",), "min_lr": ("plateau",)}


def unused_fields(spec):
    """The spec's fields that mean nothing for its optimizer and schedule."""
    unused = tuple(k for k, used_by in USES.items() if spec.optimizer not in used_by)
    unused += tuple(k for k, used_by in SCHEDULE_USES.items() if spec.schedule not in used_by)
    if spec.optimizer == "sgd" and not spec.momentum:
        unused += ("nesterov", "dampening")
    return unused


def weights_text(spec, weights):
    """Where the initial weights came from: the spec's initializers (None: no row, they are the
    weight_init and bias_init rows), or 'mine (your init_params), seed 0'."""
    if weights != "mine":
        return None
    return f"mine (your init_params), seed {spec.seed}"


def spec_table(spec, frameworks, data, tablefmt="simple", weights="spec"):
    """The resolved spec, one field a row (fields that do not apply to this run left out), with
    the frameworks and the data sizes. weights='mine': the user's init_params gave the initial
    weights (compare.check(weights='mine'), --weights mine): said instead of the initializers."""
    config = spec.to_dict()
    unused = unused_fields(spec)
    if weights == "mine":
        unused += ("weight_init", "bias_init")
    if "keras" not in frameworks:
        unused += ("keras_float32_casts",)
    for name in ("rho", "beta1", "beta2", "eps"):
        if config[name] is None and name not in unused:
            torch_value, keras_value = spec.hyper(TORCH)[name], spec.hyper(KERAS)[name]
            config[name] = (f"default: {torch_value}" if torch_value == keras_value
                            else f"default: {TORCH} {torch_value}, {KERAS} {keras_value}")
    if spec.schedule in ("step", "plateau") and spec.gamma is None:
        config["gamma"] = "default: 0.1"
    if spec.schedule == "cosine" and spec.t_max is None:
        config["t_max"] = f"the run's length: {spec.schedule_length()}"
    unused += ("epochs",) if spec.steps is not None else ("steps",)
    config["weight_init"], config["bias_init"] = init_text(spec.weight_init), init_text(spec.bias_init)
    config["batch_size"] = "full batch" if spec.batch_size is None else spec.batch_size
    config["resync"] = resync_text(spec)
    config["keras_float32_casts"] = casts_text(spec)
    if spec.optimizer == "sgd" and not spec.momentum:
        config["momentum"] = "0 (plain gradient descent)"
    if spec.layers is None:                       # the shorthand's rows say it (sizes, activations, ...)
        unused += ("layers",)
    else:                                         # a layer list: its layers in order, wrapped
        unused += ("dropout", "norm", "norm_momentum", "norm_eps")
        config["layers"] = "\n".join(textwrap.wrap(spec.network.describe(), 70, break_on_hyphens=False))
    rows = [(k, v) for k, v in config.items() if k != "fixed_params" and k not in unused]
    if weights_text(spec, weights):
        at = next((i for i, (k, _) in enumerate(rows) if k == "seed"), len(rows))     # just before the seed row
        rows.insert(at, ("weights", weights_text(spec, weights)))
    if config.get("fixed_params") is not None:
        rows.append(("fixed_params", "given (see the JSON report)"))
    rows.append(("frameworks", ", ".join(frameworks)))
    rows.append(("training examples", len(data.X)))
    if data.X_test is not None:
        rows.append(("test examples", len(data.X_test)))
    if data_caveat(data.info):
        rows.append(("data", data_caveat(data.info)))
    table = tabulate(rows, headers=["config", "value"], tablefmt=tablefmt, disable_numparse=True)
    if tablefmt == "simple" and widest(table) > WIDTH:      # a long value wrapped within its cell
        key = max(len(str(k)) for k, _ in rows)
        table = tabulate(rows, headers=["config", "value"], tablefmt=tablefmt,
                         disable_numparse=True, maxcolwidths=[None, WIDTH - key - 2])
    return table


def failing_row(report, row):
    """-> the set of judged pairs whose error in this step row is above the tolerance."""
    judged, rtol = set(report.summary["judged_pairs"]), report.summary["rtol"]
    return {p for p, v in row["max_rel_err"].items() if p in judged and float(v) > rtol}   # 'inf' is a string in JSON


def shown_rows(report, every):
    """The step rows a table shows: every `every` steps, every failing step, the first and the last."""
    last = len(report.steps) - 1
    return [row for i, row in enumerate(report.steps)
            if failing_row(report, row) or i in (0, last) or row["step"] % every == 0]


def step_table(report, every=1, tablefmt="simple", wide=False):
    """Losses (and accuracy, for a classification loss) and the largest relative error of each pair,
    one row every `every` steps plus every failing step, the first and the last. Two tables (the
    losses, then the errors) so that each fits 100 columns; `wide`: one table."""
    runners = report.runners
    pairs = list(report.steps[0]["max_rel_err"]) if report.steps else []
    accuracy = classification(report)
    rows = shown_rows(report, every)
    first = lambda row: [row["step"], row["epoch"]]  # noqa: E731
    losses = lambda row: [fmt(row["loss"].get(r), "{:.10g}") for r in runners]  # noqa: E731
    acc = lambda row: [fmt(row["accuracy"].get(runners[0]), "{:.4f}")] if accuracy else []  # noqa: E731

    def errors(row):
        failing = failing_row(report, row)
        return [fmt(row["max_rel_err"][p]) + ("  FAIL" if p in failing else "") for p in pairs]

    loss_headers = [f"loss {r}" for r in runners]
    acc_header = [f"accuracy {runners[0]}"] if accuracy else []
    error_headers = [f"rel err {pair_label(report, p)}" for p in pairs]
    if wide:
        return tabulate([first(r) + losses(r) + errors(r) + acc(r) for r in rows],
                        headers=["step", "epoch"] + loss_headers + error_headers + acc_header,
                        tablefmt=tablefmt, disable_numparse=True)
    loss_table = fitted([first(r) + losses(r) + acc(r) for r in rows],
                        ["step", "epoch"] + [f"loss\n{r}" for r in runners]
                        + ([f"accuracy\n{runners[0]}"] if accuracy else []), tablefmt, keep=2)
    error_table = fitted([first(r) + errors(r) for r in rows],
                         ["step", "epoch"] + [pair_label(report, p) for p in pairs], tablefmt,
                         keep=2)
    if tablefmt != "simple":
        return loss_table + "\n" + error_table
    rtol = report.summary["rtol"]
    return (f"{loss_table}\n\nlargest relative error of each pair, over every tensor of the step "
            f"(judged against rtol {rtol:g}):\n{error_table}")


def summary_table(report, tablefmt="simple", wide=False):
    """The worst scale-relative error of each kind of tensor, and the verdict: one column per pair
    (one row per pair with `wide`). Kinds no pair compared are left out, and accuracy for a
    regression loss."""
    s = report.summary
    pairs = list(s["worst_by_kind"])
    kinds = [k for k in KINDS if any(k in s["worst_by_kind"][p] for p in pairs)
             and (k != "accuracy" or classification(report))]

    def verdict(pair):
        if pair not in s["judged_pairs"]:
            return "not judged"
        return "agree" if float(s["max_rel_err"][pair]) <= s["rtol"] else "DIFFER"

    cell = lambda p, k: fmt(s["worst_by_kind"][p].get(k, {}).get("max_rel_err"))  # noqa: E731
    verdict_header = f"verdict (rtol {s['rtol']:g})"
    if wide:
        rows = [[pair_label(report, p)] + [cell(p, k) for k in kinds] + [verdict(p)] for p in pairs]
        return tabulate(rows, headers=["pair"] + kinds + [verdict_header], tablefmt=tablefmt, disable_numparse=True)
    rows = [[k] + [cell(p, k) for p in pairs] for k in kinds] + [[verdict_header] + [verdict(p) for p in pairs]]
    return fitted(rows, ["worst rel err"] + [pair_label(report, p) for p in pairs], tablefmt)


def accuracy_table(report, tablefmt="simple"):
    """Test accuracy per runner (when the recipe has a test set), and whether predictions match."""
    s = report.summary
    if "test_accuracy" not in s:
        return ""
    rows = [[k, f"{v:.4f}", s["predictions_differing"][k]] for k, v in s["test_accuracy"].items()]
    table = tabulate(rows, headers=["implementation", "test accuracy", f"predictions differing from {report.runners[0]}"],
                     tablefmt=tablefmt, disable_numparse=True)
    same = "identical" if s["predictions_identical"] else "NOT identical"
    line = f"test predictions: {same} across {', '.join(report.runners)}"
    pairs = s.get("predictions_differing_pairs", {})
    if not s["predictions_identical"] and pairs:       # where they differ: within a judged pair, or across
        line += "; differing " + ", ".join(
            f"{pair_label(report, key)} {n}" + ("" if key in s["judged_pairs"] else " (not judged)")
            for key, n in pairs.items())
    return f"{table}\n{wrap(line)}"


def input_text(x, i):
    """An evaluation input as its numbers (up to 4 features), else as its row number."""
    return ", ".join(f"{float(v):.4g}" for v in x) if len(x) <= 4 else f"input {i}"


def outputs_table(report, limit=12, tablefmt="simple", wide=False):
    """Final network outputs on the evaluation inputs (the first column): the first implementation's,
    and the largest difference of the others from it (`wide`: every implementation's, in full)."""
    outs = {k: np.array([[float(v) for v in row] for row in rows]) for k, rows in report.final_outputs.items()}  # 'nan' -> nan
    keys = list(outs)
    first = outs[keys[0]]
    n = min(limit, len(first))
    inputs = getattr(report, "evaluation_inputs", None)
    inputs = [input_text(inputs[i], i) for i in range(n)] if inputs is not None and len(inputs) else list(range(n))
    digits = "{:.12g}" if wide else "{:.6g}"
    if first.shape[1] > 3:      # many classes: the predicted class and its probability
        cell = lambda row: f"class {int(np.argmax(row))}: {digits.format(np.max(row))}"  # noqa: E731
    else:
        cell = lambda row: ", ".join(digits.format(v) for v in row)  # noqa: E731
    if wide:
        rows = [[inputs[i]] + [cell(outs[k][i]) for k in keys] for i in range(n)]
        return tabulate(rows, headers=["input"] + keys, tablefmt=tablefmt, disable_numparse=True)

    def differences(i):
        diffs = {k: float(np.max(np.abs(outs[k][i] - first[i]))) for k in keys[1:] if outs[k].shape == first.shape}
        if not diffs or all(d == 0 for d in diffs.values()):
            return "identical" if diffs else "-"
        worst = max(diffs, key=lambda k: (np.nan_to_num(diffs[k], nan=np.inf)))
        return f"{diffs[worst]:.1e} ({worst})"

    rows = [[inputs[i], cell(first[i]), differences(i)] for i in range(n)]
    return tabulate(rows, headers=["input", keys[0], "max |difference|\nof the others"],
                    tablefmt=tablefmt, disable_numparse=True)


def cross_lines(report):
    """What the direct torch-vs-Keras comparison found and why it may differ."""
    tk = report.summary.get("torch_vs_keras")
    if not tk:
        return ""
    lines = [f"torch vs keras directly: worst rel err {float(tk['max_rel_err']):.3e}"
             + (" (judged by the tolerance)" if tk["judged"] else " (reported, not judged: conventions differ)")]
    for key, reason in tk["reasons"].items():
        lines.append(wrap(f"- {key}: {reason}", "  "))
    return "\n".join(lines)


def unjudged_clause(report):
    """'; torch~keras reported, not judged (rules differ: norm-default-eps, ...)' for every pair
    that was compared but not held to the tolerance, or ''. A PASS is about the judged pairs only:
    this keeps it from reading as "torch and Keras agree" when their rules differ."""
    s = report.summary
    shown = []
    for key, pair in s.get("pairs", {}).items():
        if key in s["judged_pairs"] or key not in s.get("max_rel_err", {}):
            continue                                    # judged, or never compared (not run)
        # a rule the references are configured around (CONFIGURED) is not why a pair is left unjudged
        rules = ", ".join(r for r in pair.get("reasons") or () if r not in CONFIGURED) or "conventions differ"
        shown.append(f"{pair_label(report, key)} reported, not judged (rules differ: {rules})")
    return "".join(f"; {text}" for text in shown)


def verdict_text(report, wide=False):
    """The verdict as printed: the verdict line (PASS, MISMATCH, NOTHING JUDGED, INTERRUPTED)
    wrapped to 100 columns, continuation lines indented by two spaces (compare/views/text.py
    logical_lines joins them back), unless `wide`; an error block with each row wrapped under
    its value."""
    line = verdict_line(report)
    if wide:
        return line
    if report.summary["verdict"] != "interrupted" and report.summary.get("error"):
        head, *rows = line.splitlines()
        rows = [textwrap.fill(row, WIDTH, subsequent_indent=" " * ROW_VALUE, break_on_hyphens=False,
                              break_long_words=False) for row in rows]
        return "\n".join([wrap(head)] + rows)
    return wrap(line)


def rounding_lines(report):
    """The float32 audit: what Keras rounded through float32 in this float64 run."""
    found = report.summary.get("float32_roundings") or []
    if not found:
        return ""
    lines = ["Keras rounds through float32 in this float64 run (scratch@keras does the same):"]
    lines += [wrap(f"- {r['setting']} {r['value']!r} acts as {r['as_float32']!r} ({r['rule']})", "  ") for r in found]
    return "\n".join(lines)


def not_compared_lines(report, limit=6):
    """Per pair, the tensors one side gives and the other does not (so they were not compared)."""
    lines = []
    for pair, missing in report.summary.get("not_compared", {}).items():
        by_reason = {}
        for name, why in missing.items():
            by_reason.setdefault(why, []).append(name)
        for why, names in by_reason.items():
            shown = ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")
            lines.append(wrap(f"{pair_label(report, pair)}: not compared ({why}): {shown}", "  "))
    ties = {pair: n for pair, n in report.summary.get("pool_tie_steps", {}).items() if n}
    for pair, n in ties.items():
        lines.append(wrap(f"{pair_label(report, pair)}: in {n} of {report.summary['steps_completed']} steps a "
                          f"max-pool tie (equal values, rounded apart) sent the gradient to another of the tied "
                          f"positions: those steps' output gradients (dZ, dP) up to that block are reported, not "
                          f"judged; dW, db and everything forward are judged", "  "))
    return "\n".join(["tensors not compared:"] + lines) if lines else ""


def notes_lines(notes):
    """A recipe's notes, wrapped to 100 columns."""
    return wrap(f"notes: {notes}") if notes and notes.strip() else ""


ROW_VALUE = 18      # where an error block's values start: two spaces, the 15-column label, a space


def error_block(error):
    """An exception raised inside an implementation's step, as one block: where, what, which line."""
    rows = [("step", error["step"]), ("implementation", error["framework"]), ("exception", error["exception"]),
            ("at", f"{error['file']}:{error['line']}"), ("code", (error.get("code") or "").strip())]
    if error.get("fault"):                  # a rule broken (its inputs changed, values not real numbers)
        head = f"ERROR: {one_line(error['fault'])}"
        rows = [row for row in rows if row[0] != "exception" and (row[0] != "at" or error["file"])]
    else:
        head = "ERROR: an exception inside an implementation (a broken implementation, not a mismatch)"
    return "\n".join([head] + [f"  {k:15s} {one_line(v)}" for k, v in rows])   # a line each, whatever the user's strings


def data_caveat(info):
    """'' for the canonical data; else what the run's data are not (Data.info, report.config['data'])."""
    if not info or info.get("canonical", True):
        return ""
    return f"NOT the canonical MNIST ({', '.join(info.get('not_canonical', []))}: --allow-other-data)"


def verdict_line(report):
    """The one line (or error block) that ends every run, with the data's caveat when the data
    are not the canonical ones. Only the verdict 'pass' says PASS."""
    caveat = data_caveat(report.config.get("data"))
    s = report.summary
    line = judgement_line(report)
    if not (s["verdict"] != "interrupted" and s.get("error")):      # one line (an error is its block of lines)
        line = one_line(line)
    return f"{line}; data: {caveat}" if caveat else line


def judgement_line(report):
    """verdict_line without the data's caveat."""
    s = report.summary
    if s["verdict"] == "interrupted":
        return f"INTERRUPTED: {s['verdict_reason']}; nothing is judged (the report holds the steps completed)"
    if s.get("error"):
        return error_block(s["error"])
    if s["first_nonfinite"]:
        return "MISMATCH: " + describe_divergence(s["first_nonfinite"])
    if s["first_divergence"]:
        return "MISMATCH: first divergence at " + describe_divergence(s["first_divergence"])
    if s["verdict"] != "pass":
        return f"NOTHING JUDGED: {s['verdict_reason']}"
    worst = max(s["judged_pairs"], key=lambda p: float(s["max_rel_err"][p]))
    left_out = "".join(f"; {k} not run: {why}" for k, why in s.get("unavailable", {}).items())
    return (f"PASS: {plural(s['steps_completed'], 'step')}, {plural(s['tensors_judged'], 'tensor')} judged; "
            f"worst rel err {float(s['max_rel_err'][worst]):.3e} <= {s['rtol']:g} ({pair_label(report, worst)})"
            + left_out + unjudged_clause(report))
