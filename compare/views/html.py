"""`--html PATH`: the whole run as one self-contained HTML page (no network needed to view it).

In order: the verdict (after --inject-bug: the bug's name and the source that ran, its BUG line
highlighted), the config, the recipe's notes, the summary tables, the loss/accuracy/error curves (a PNG
embedded as a data: URI), the first divergence, the worked example of step 1 (the numbers of
`python -m compare trace`), and the side-by-side code (compare/sidebyside.py) highlighted with
pygments, rows whose lines compute the same thing tinted.

Needs matplotlib and pygments (pip install -c constraints.txt '.[html]'); `require()` says so before a run starts.

Every string interpolated into the page goes through `html.escape` (quotes too, so that it is
safe in an attribute as well): the user's file, implementation and tensor names, exception
messages, notes and recipe names can hold `<script>` or `" onload="`, and must show as text.
The tables come from tabulate's "html" format, which escapes every cell and header the same way
(its "unsafehtml" would not: never use it here); test_files_security.py parses a page built from
hostile names and finds no element or attribute that came from them.

Left out: JavaScript, external fonts or stylesheets, per-step tensors beyond step 1 (the JSON
report has the per-step errors).
"""
import base64
import html
import inspect

from . import tables
from ..engine.errors import InputError
from .files import write_atomic
from ..engine.run import describe_divergence

CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1500px; padding: 0 1em;
       color: #1b1b1b; line-height: 1.4; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; margin-top: 1.6em; }
.verdict { font-family: monospace; padding: 0.6em 0.8em; border-radius: 4px; white-space: pre-wrap; }
.pass { background: #e3f4e1; border: 1px solid #7bbf72; } .fail { background: #fbe3e3; border: 1px solid #d77; }
table.data { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
table.data td, table.data th { border: 1px solid #ddd; padding: 2px 8px; text-align: left; font-family: monospace; }
table.data th { background: #f2f2f2; }
img.plot { max-width: 100%; border: 1px solid #ddd; }
pre { font-size: 0.8em; margin: 0; }
.tensor { margin: 0.8em 0; } .tensor h4 { margin: 0.2em 0; font-family: monospace; font-weight: normal; }
.tensor table td { vertical-align: top; }
table.code { border-collapse: collapse; table-layout: fixed; width: 100%; font-size: 0.78em; margin-bottom: 1em; }
table.code col { width: 33.33%; }
table.code th { background: #f2f2f2; text-align: left; padding: 3px 6px; font-family: monospace; }
table.code td { font-family: monospace; white-space: pre-wrap; overflow-wrap: anywhere; padding: 0 6px;
                vertical-align: top; border-left: 1px solid #ddd; }
table.code tr.all td { background: #e8f3ff; }
table.code td.pair { background: #f3f8ee; }
.bugline { background: #ffd7d7; font-weight: bold; display: inline-block; width: 100%; }
pre.bug { border: 1px solid #d77; padding: 0.4em; background: #fff8f8; }
.legend span { padding: 0 6px; margin-right: 1em; font-size: 0.85em; }
"""


def require():
    """matplotlib and pygments are installed, or an input error naming the extra to install."""
    for module in ("matplotlib", "pygments"):
        try:
            __import__(module)
        except ImportError:
            raise InputError(f"--html needs {module}: pip install -c constraints.txt '.[html]'") from None


def section(title, body, anchor):
    return f'<h2 id="{html.escape(anchor)}">{html.escape(title)}</h2>\n{body}\n'


def pre(text):
    return f"<pre>{html.escape(text)}</pre>"


def table_html(text):
    """tabulate's html output, with our class."""
    return text.replace("<table>", '<table class="data">')


def verdict_html(report):
    """The verdict line; after an --inject-bug run, the bug's name and what it does, then its source."""
    ok = report.passed and not report.summary.get("error")
    text = tables.verdict_line(report)
    bug = report.summary.get("injected_bug")
    if bug:
        from ..data.bugs import BUGS
        text = f"injected bug {bug}: {BUGS[bug].what} (the scratch code below is not what ran)\n{text}"
    verdict = f'<div class="verdict {"pass" if ok else "fail"}">{html.escape(text)}</div>'
    return verdict + (bug_html(bug) if bug else "")


def bug_functions(name):
    """The functions of compare/data/bugs.py that the named bug puts into the scratch code (and the
    helpers they call from there), those whose source holds the line marked BUG."""
    from ..data import bugs

    found = []

    def visit(obj):
        if inspect.isfunction(obj) and obj.__module__ == bugs.__name__ and obj not in found:
            found.append(obj)
            for cell in obj.__closure__ or ():
                visit(cell.cell_contents)

    for patcher in bugs.BUGS[name].patches():
        visit(getattr(patcher, "new", None))                      # mock.patch.object(cls, name, new)
        values = getattr(patcher, "values", None)                  # mock.patch.dict(table, {name: (g, g')})
        for value in (values.values() if isinstance(values, dict) else ()):
            for item in (value if isinstance(value, tuple) else (value,)):
                visit(item)
    return [f for f in found if "BUG" in inspect.getsource(f)]


def bug_html(name):
    """The injected functions' source, the line marked BUG highlighted."""
    parts = [f"<p>The code that ran in place of the scratch code (compare/data/bugs.py, bug {html.escape(name)}):</p>"]
    for function in bug_functions(name):
        lines = inspect.getsource(function).rstrip("\n").splitlines()
        body = "\n".join(f'<span class="bugline">{html.escape(line)}</span>' if "BUG" in line else html.escape(line)
                         for line in lines)
        parts.append(f'<pre class="bug" id="bug-{html.escape(function.__name__)}">{body}</pre>')
    return "\n".join(parts)


def notes_html(report):
    return f"<p>{html.escape(report.notes)}</p>" if report.notes and report.notes.strip() else ""


def summary_html(report):
    parts = [table_html(tables.summary_table(report, tablefmt="html"))]
    accuracy = tables.accuracy_table(report, tablefmt="html")
    if accuracy:
        table, _, line = accuracy.rpartition("\n")
        parts += [table_html(table), f"<p>{html.escape(line)}</p>"]
    cross = tables.cross_lines(report)
    if cross:
        parts.append(pre(cross))
    if report.final_outputs and len(report.final_outputs[report.runners[0]]) <= 12:
        parts += ["<p>Final outputs on the evaluation inputs:</p>", table_html(tables.outputs_table(report, tablefmt="html"))]
    return "\n".join(parts)


def plot_html(report):
    from .plots import png_bytes

    data = base64.b64encode(png_bytes(report)).decode("ascii")
    return f'<img class="plot" id="curves-image" alt="loss, accuracy and error curves" src="data:image/png;base64,{data}">'


def divergence_html(report):
    s = report.summary
    if s.get("error"):
        return pre(tables.error_block(s["error"]))
    if s["first_nonfinite"]:
        return pre("first non-finite value: " + describe_divergence(s["first_nonfinite"]))
    if s["first_divergence"]:
        return pre(describe_divergence(s["first_divergence"]))
    return "<p>None: every judged tensor agreed within the tolerance at every step.</p>"


def worked_example_html(report):
    """Step 1 as in `python -m compare trace RECIPE --step 1`: each tensor, every implementation."""
    from .trace import matrix_text, section_of, trace_rows

    kept = report.raw.get("kept") if getattr(report, "raw", None) else None
    if not kept:
        return "<p>The run stopped before step 1 finished: no worked example.</p>"
    keys = report.raw["keys"]
    parts = [f"<p>Batch of {len(kept['X'])} examples. Parameters at the start of the step ({html.escape(keys[0])}):</p>",
             '<table class="data"><tr>' + "".join(f"<th>{html.escape(n)}</th>" for n in kept["before"][keys[0]]) + "</tr><tr>"
             + "".join(f"<td>{pre(matrix_text(v, False))}</td>" for v in kept["before"][keys[0]].values()) + "</tr></table>"]
    rows, _ = trace_rows(kept, report.spec, keys, None, False)
    current = None
    for name, formula, cells, diffs in rows:
        if section_of(name) != current:
            current = section_of(name)
            parts.append(f"<h3>{html.escape(current)}</h3>")
        header = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
        values = "".join(f"<td>{pre(cells[k])}<br><small>{html.escape(diffs.get(k, ''))}</small></td>" for k in keys)
        parts.append(f'<div class="tensor"><h4>{html.escape(formula)}</h4>'
                     f'<table class="data"><tr>{header}</tr><tr>{values}</tr></table></div>')
    return "\n".join(parts)


def code_html():
    """The side-by-side source of every part, one table of three columns each."""
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer

    from .sidebyside import PARTS, SOURCES, part_rows

    lexer, formatter = PythonLexer(), HtmlFormatter(nowrap=True)
    names = [f for f, _, _ in SOURCES]
    parts = ['<p class="legend"><span style="background:#e8f3ff">all three lines compute the same thing</span>'
             '<span style="background:#f3f8ee">this line computes what the scratch line beside it does</span></p>']
    for part in PARTS:
        rows, where = part_rows(part)
        out = [f'<h3>{html.escape(part)}</h3><table class="code" id="code-{html.escape(part)}"><colgroup>'
               + "<col>" * 3 + "</colgroup><tr>"
               + "".join(f"<th>{html.escape(f)} <small>{html.escape(f'{where[f][0]}:{where[f][1]}')}</small></th>"
                         for f in names) + "</tr>"]
        for row in rows:
            cells = []
            for f in names:
                code = highlight(row.cells[f], lexer, formatter).rstrip("\n") if row.cells[f] else ""
                paired = f != names[0] and not row.matching and row.same(names[0], f)
                cells.append(f'<td{" class=pair" if paired else ""}>{code}</td>')
            out.append(f'<tr{" class=all" if row.matching else ""}>' + "".join(cells) + "</tr>")
        parts.append("\n".join(out) + "</table>")
    return f"<style>{formatter.get_style_defs('table.code')}</style>\n" + "\n".join(parts)


def page(report, spec, data, every=1):
    """The whole HTML document as a string."""
    title = f"framework-mirror: {report.recipe}"
    body = [f"<h1>{html.escape(title)}</h1>", verdict_html(report),
            section("Config", f"<p>{html.escape(tables.spec_line(spec))}</p>"
                    + table_html(tables.spec_table(spec, report.frameworks, data, tablefmt="html",
                                                       weights=report.config.get("weights"))), "config"),
            section("Notes", notes_html(report), "notes") if notes_html(report) else "",
            section("Summary", summary_html(report), "summary"),
            section("Curves", plot_html(report), "curves"),
            section("First divergence", divergence_html(report), "divergence"),
            section("Worked example: step 1", worked_example_html(report), "worked-example"),
            section("The same network, three ways", code_html(), "code"),
            section("Every step", "<details><summary>per-step table</summary>"
                    + table_html(tables.step_table(report, every, tablefmt="html")) + "</details>", "steps"),
            section("Environment", pre("\n".join(f"{k}: {v}" for k, v in report.environment.items())), "environment")]
    from .diagram import diagram_html
    body.insert(2, diagram_html(report, spec))            # the network coloured by agreement, after the verdict
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head>\n<body>\n"
            + "\n".join(body) + "\n</body></html>\n")


def write_html(report, path, spec, data, every=1):
    """Write the page atomically."""
    text = page(report, spec, data, every)
    write_atomic(path, lambda f: f.write(text))
