"""`--plot PATH`: a PNG of the run. Loss and batch accuracy per step with every implementation
overlaid, test accuracy per epoch, and the worst relative error per pair on a log scale.

matplotlib is optional (pip install -c constraints.txt '.[plot]'); it is imported only here: a
Figure without pyplot (savefig renders with Agg; the caller's backend, a notebook's, is left alone).

Left out: interactive plots, per-tensor curves (the JSON report has the numbers).
"""
import io

from ..engine.errors import InputError
from .files import write_atomic

ERROR_FLOOR = 1e-17   # exact agreement (error 0) is drawn here, on a log scale


def plain_text(text):
    """A user's string (a runner's name) as matplotlib text: each '$' escaped, so that it is never
    read as the start of TeX math ('$x^$' would raise; '{' is literal outside math)."""
    return str(text).replace("$", r"\$")


def nan_if_none(value):
    return float("nan") if value is None else float(value)


def figure(report):
    """The matplotlib Figure of a report."""
    try:                # a Figure without pyplot: no backend chosen, the caller's left as it was
        from matplotlib.figure import Figure        # (a notebook's inline plots keep working)
    except ImportError:
        raise InputError("--plot needs matplotlib: pip install -c constraints.txt '.[plot]'") from None
    steps = [row["step"] for row in report.steps]
    fig = Figure(figsize=(12, 7.5), layout="constrained")
    axes = fig.subplots(2, 2)
    loss, acc, err, test = axes[0, 0], axes[0, 1], axes[1, 0], axes[1, 1]
    styles = ["-", "--", ":", "-."]
    for i, key in enumerate(report.runners):
        loss.plot(steps, [row["loss"].get(key, float("nan")) for row in report.steps], styles[i % 4], label=plain_text(key), linewidth=1.2)
        acc.plot(steps, [nan_if_none(row["accuracy"].get(key)) for row in report.steps], styles[i % 4], label=plain_text(key),
                 linewidth=1.2)
    loss.set(title="loss per step (the lines lie on top of each other when all agree)", xlabel="step", ylabel="loss")
    acc.set(title="batch accuracy per step", xlabel="step", ylabel="accuracy")
    rtol = report.summary["rtol"]
    for pair in report.steps[0]["max_rel_err"] if report.steps else []:
        values = [max(nan_if_none(row["max_rel_err"].get(pair)), ERROR_FLOOR) for row in report.steps]
        judged = pair in report.summary["judged_pairs"]
        err.semilogy(steps, values, label=plain_text(pair) + ("" if judged else " (not judged)"), linewidth=1)
    err.axhline(rtol, color="red", linewidth=1, linestyle="--", label=f"tolerance {rtol:g}")
    err.set(title=f"worst relative error per step (0 drawn at {ERROR_FLOOR:g})", xlabel="step",
            ylabel="max rel err")
    if report.epochs:
        for i, key in enumerate(report.runners):
            test.plot([e["epoch"] for e in report.epochs], [e["test_accuracy"][key] for e in report.epochs],
                      styles[i % 4], marker="o", label=plain_text(key))
        test.set(title="test accuracy per epoch", xlabel="epoch", ylabel="accuracy")
        test.set_xticks([e["epoch"] for e in report.epochs])
    else:
        test.axis("off")
        test.text(0.5, 0.5, "no test set in this recipe", ha="center", va="center")
    for ax in (loss, acc, err, test):
        if ax.has_data():
            ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    verdict = "PASS" if report.passed else "MISMATCH"
    fig.suptitle(f"{plain_text(report.recipe)}: {verdict}, {report.summary['steps_completed']} steps, {report.config['dtype']}")
    return fig


def png_bytes(report):
    """The figure as PNG bytes (for embedding)."""
    buffer = io.BytesIO()
    figure(report).savefig(buffer, format="png", dpi=90)   # the Agg renderer, whatever the backend
    return buffer.getvalue()


def write_plot(report, path):
    """Write the PNG atomically."""
    data = png_bytes(report)
    write_atomic(path, lambda f: f.write(data), mode="wb")
