"""A report in Jupyter: `Report._repr_html_` (compare/engine/report.py) shows this.

The verdict line, then the whole `--html` page (compare/views/html.py `page`: the verdict, the
diagram, the curves, the worked example, ...) inside an iframe whose `srcdoc` holds the page,
escaped: the page keeps its own stylesheet and the notebook keeps its own, neither leaks into the
other. The frame is sandboxed without `allow-same-origin`: whatever the page holds cannot reach the
notebook's document or cookies.

A report holds what the page needs (report.spec, report.data, report.raw) when it comes from
`compare.run` or `compare.check` (compare/engine/run.py `run_lockstep`). A report without them (one
built some other way), or a Python without matplotlib and pygments (the `html` extra), shows the
verdict line and one line saying why the page is not there.

Left out: a frame that sizes itself to the page (that needs script in the notebook's document): the
frame is `height` pixels high and can be resized by its corner.
"""
import html
import importlib.util

from .tables import verdict_line

HEIGHT = 720     # pixels: the verdict, the diagram and the curves without scrolling on a laptop


def missing_modules():
    """The modules of the `html` extra that are not installed. -> list"""
    return [m for m in ("matplotlib", "pygments") if importlib.util.find_spec(m) is None]


def verdict_div(report):
    """The verdict line, coloured as in the page (an inline style: no rule for the notebook)."""
    ok = report.passed and not report.summary.get("error")
    colours = ("background:#e3f4e1;border:1px solid #7bbf72" if ok
               else "background:#fbe3e3;border:1px solid #d77")
    style = "font-family:monospace;white-space:pre-wrap;padding:.4em .6em;border-radius:4px;"
    style += colours
    return (f'<div class="framework-mirror-verdict" style="{style}">'
            f"{html.escape(verdict_line(report))}</div>")


def report_html(report, height=HEIGHT):
    """The report as a notebook shows it: the verdict line, the page in a sandboxed frame. -> str"""
    from .html import page

    top = verdict_div(report)
    missing = missing_modules()
    if missing:
        why = (f"the full report needs {' and '.join(missing)}: "
               "pip install -c constraints.txt '.[html]'")
        return top + f"<p>{html.escape(why)}</p>"
    spec, data = getattr(report, "spec", None), getattr(report, "data", None)
    if spec is None or data is None:
        return top + ("<p>This report does not hold its spec and data (it was not made by "
                      "compare.run or compare.check): the verdict only.</p>")
    document = page(report, spec, data)
    style = f"width:100%;height:{int(height)}px;border:1px solid #ccc;resize:vertical"
    return (top + '<iframe class="framework-mirror-report" '
            f'title="framework-mirror report: {html.escape(report.recipe)}" '
            'sandbox="allow-scripts" '
            f'style="{style}" srcdoc="{html.escape(document, quote=True)}"></iframe>')
