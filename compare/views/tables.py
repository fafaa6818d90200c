"""What a run prints: the resolved config, the per-step table and the summary tables (tabulate).

Left out: JSON (compare/report.py), plots (compare/plots.py).
"""
from tabulate import tabulate

from ..engine.harness import CROSS
from ..engine.names import GROUPS as KINDS
from ..engine.run import describe_divergence


def fmt(x, spec="{:.3e}"):
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    return spec.format(x)


def init_text(init):
    """Init('normal', scale=0.01) -> 'normal * 0.01'; Init('uniform', -0.5, 0.5) -> 'uniform [-0.5, 0.5)'"""
    if init.kind == "normal":
        return f"normal{' + ' + str(init.mean) if init.mean else ''} * {init.scale:g}"
    if init.kind == "uniform":
        return f"uniform [{init.low:g}, {init.high:g})"
    return init.kind


def spec_table(spec, frameworks, data, tablefmt="simple"):
    """The resolved spec, one field a row, with the frameworks and the data sizes."""
    config = spec.to_dict()
    unused = {"sgd": ("rho", "beta1", "beta2", "eps"), "rmsprop": ("momentum", "nesterov", "beta1", "beta2"),
              "adam": ("momentum", "nesterov", "rho")}[spec.optimizer]
    for name in ("rho", "beta1", "beta2", "eps"):
        if config[name] is None:
            torch_value, keras_value = spec.hyper("torch")[name], spec.hyper("keras")[name]
            config[name] = (f"default: {torch_value}" if torch_value == keras_value
                            else f"default: torch {torch_value}, keras {keras_value}")
    unused += ("epochs",) if spec.steps is not None else ("steps",)
    config["weight_init"], config["bias_init"] = init_text(spec.weight_init), init_text(spec.bias_init)
    config["batch_size"] = "full batch" if spec.batch_size is None else spec.batch_size
    rows = [(k, v) for k, v in config.items() if k != "fixed_params" and k not in unused]
    if config.get("fixed_params") is not None:
        rows.append(("fixed_params", "given (see the JSON report)"))
    rows.append(("frameworks", ", ".join(frameworks)))
    rows.append(("training examples", len(data.X)))
    if data.X_test is not None:
        rows.append(("test examples", len(data.X_test)))
    return tabulate(rows, headers=["config", "value"], tablefmt=tablefmt, disable_numparse=True)


def step_table(report, every=1, tablefmt="simple"):
    """One row every `every` steps, plus every failing step, the first and the last."""
    judged = set(report.summary["judged_pairs"])
    rtol = report.summary["rtol"]
    runners = report.runners
    pairs = list(report.steps[0]["max_rel_err"]) if report.steps else []
    headers = (["step", "epoch"] + [f"loss {r}" for r in runners] + [f"rel err {p}" for p in pairs]
               + [f"acc {runners[0]}"])
    rows = []
    for i, row in enumerate(report.steps):
        failing = any(float(row["max_rel_err"][p]) > rtol for p in pairs if p in judged)   # 'inf' is a string in JSON
        if not (failing or i == 0 or i == len(report.steps) - 1 or row["step"] % every == 0):
            continue
        rows.append([row["step"], row["epoch"]] + [fmt(row["loss"].get(r), "{:.10g}") for r in runners]
                    + [fmt(row["max_rel_err"][p]) + ("  FAIL" if failing and p in judged and float(row["max_rel_err"][p]) > rtol else "")
                       for p in pairs]
                    + [fmt(row["accuracy"][runners[0]], "{:.4f}")])
    return tabulate(rows, headers=headers, tablefmt=tablefmt, disable_numparse=True)


def summary_table(report, tablefmt="simple"):
    """Per pair: the worst scale-relative error of each kind of tensor, and the verdict."""
    s = report.summary
    rows = []
    for pair, kinds in s["worst_by_kind"].items():
        judged = pair in s["judged_pairs"]
        worst = float(s["max_rel_err"][pair])
        verdict = ("agree" if worst <= s["rtol"] else "DIFFER") if judged else "reported, not judged"
        rows.append([pair] + [fmt(kinds.get(k, {}).get("max_rel_err")) for k in KINDS] + [verdict])
    return tabulate(rows, headers=["pair"] + list(KINDS) + [f"verdict (rtol {s['rtol']:g})"],
                    tablefmt=tablefmt, disable_numparse=True)


def accuracy_table(report, tablefmt="simple"):
    """Test accuracy per runner (when the recipe has a test set), and whether predictions match."""
    s = report.summary
    if "test_accuracy" not in s:
        return ""
    rows = [[k, f"{v:.4f}", s["predictions_differing"][k]] for k, v in s["test_accuracy"].items()]
    table = tabulate(rows, headers=["implementation", "test accuracy", f"predictions differing from {report.runners[0]}"],
                     tablefmt=tablefmt, disable_numparse=True)
    same = "identical" if s["predictions_identical"] else "NOT identical"
    return f"{table}\ntest predictions: {same} across {', '.join(report.runners)}"


def outputs_table(report, limit=12, tablefmt="simple"):
    """Final network outputs on the evaluation inputs, side by side."""
    outs = {k: [[float(v) for v in row] for row in rows] for k, rows in report.final_outputs.items()}  # 'nan' -> nan
    keys = list(outs)
    n = min(limit, len(outs[keys[0]]))
    if len(outs[keys[0]][0]) > 3:      # many classes: the predicted class and its probability
        cell = lambda row: f"class {max(range(len(row)), key=row.__getitem__)}: {max(row):.12g}"  # noqa: E731
    else:
        cell = lambda row: ", ".join(f"{v:.12g}" for v in row)  # noqa: E731
    rows = [[i] + [cell(outs[k][i]) for k in keys] for i in range(n)]
    return tabulate(rows, headers=["example"] + keys, tablefmt=tablefmt, disable_numparse=True)


def cross_lines(report):
    """What the direct torch-vs-Keras comparison found and why it may differ."""
    tk = report.summary.get("torch_vs_keras")
    if not tk:
        return ""
    lines = [f"torch vs keras directly: worst rel err {float(tk['max_rel_err']):.3e}"
             + (" (judged by the tolerance)" if tk["judged"] else " (reported, not judged: conventions differ)")]
    for key, reason in tk["reasons"].items():
        lines.append(f"  - {key}: {reason}")
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
            lines.append(f"  {pair}: not compared ({why}): {shown}")
    return "\n".join(["tensors not compared:"] + lines) if lines else ""


def error_block(error):
    """An exception raised inside an implementation's step, as one block: where, what, which line."""
    rows = [("step", error["step"]), ("implementation", error["framework"]), ("exception", error["exception"]),
            ("at", f"{error['file']}:{error['line']}"), ("code", (error.get("code") or "").strip())]
    return "\n".join(["ERROR: an exception inside an implementation (a broken implementation, not a mismatch)"]
                     + [f"  {k:15s} {v}" for k, v in rows])


def verdict_line(report):
    """The one line (or error block) that ends every run. Only the verdict 'pass' says PASS."""
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
    judged = ", ".join(s["judged_pairs"])
    worst = max(float(s["max_rel_err"][p]) for p in s["judged_pairs"])
    return (f"PASS: {s['steps_completed']} steps, {s['tensors_judged']} tensors judged ({judged}); "
            f"worst relative error {worst:.3e} <= {s['rtol']:g}")
