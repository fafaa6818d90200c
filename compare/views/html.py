"""`--html PATH`: the whole run as one self-contained HTML page (no network needed to view it).

In order: the verdict (after --inject-bug: the bug's name and the source that ran, its BUG line
highlighted), the config (the network in one line, what the run sets differently from
compare.Spec's defaults, the full table folded in a <details>), the recipe's notes, the summary
tables, the loss/accuracy/error curves (a PNG embedded as a data: URI), the first divergence, the
worked example of step 1 (by hand, the formulas with the recorded numbers substituted:
compare/views/worked.py; then every tensor as `python -m compare trace` shows it), and the
side-by-side code (compare/sidebyside.py) highlighted with pygments, rows whose lines compute the
same thing tinted.

Every table of numbers is coloured by the judge's bands (compare/engine/judge.band: rounding
level, within the tolerance, beyond it; grey for a pair reported, not judged), per cell and per
row (a row takes its worst judged cell), with a legend. The page fits a 1280 px window (wide
tables and code scroll or wrap inside their own box) and prints: each section on a new page,
folded content unfolded, light backgrounds only (tests/test_html_worked.py prints it to PDF).

Needs matplotlib and pygments (pip install -c constraints.txt '.[html]'); `require()` says so
before a run starts.

Every string interpolated into the page goes through `html.escape` (quotes too, so that it is
safe in an attribute as well): the user's file, implementation and tensor names, exception
messages, notes and recipe names can hold `<script>` or `" onload="`, and must show as text.
The config table comes from tabulate's "html" format, which escapes every cell and header the
same way (its "unsafehtml" would not: never use it here); the coloured tables are built by
`grid`, which escapes each cell; test_files_security.py parses a page built from hostile names and
finds no element or attribute that came from them.

Left out: JavaScript, external fonts or stylesheets, per-step tensors beyond step 1 (the JSON
report has the per-step errors).
"""
import base64
import dataclasses
import html
import inspect

import numpy as np

from . import tables
from ..engine import judge
from ..engine.errors import InputError
from .files import write_atomic
from ..engine.run import describe_divergence

CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1500px; padding: 0 1em;
       box-sizing: border-box;
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
.legend span { white-space: nowrap; display: inline-block; }
.wide { overflow-x: auto; max-width: 100%; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; }
td pre { white-space: pre; }
.rounding { background: #dcf0d8; } .tolerance { background: #fbefc4; }
.beyond { background: #f6c6c6; } .unjudged { background: #ececec; }
td.beyond, tr.beyond td:first-child, .by-hand.beyond { border-left: 3px solid #c33; }
.by-hand { font-family: monospace; font-size: 0.85em; margin: 0.3em 0; padding: 0.3em 0.5em;
           border-radius: 3px; overflow-wrap: anywhere; }
.by-hand code { white-space: normal; } .by-hand .check { margin-right: 0.8em; padding: 0 3px; }
table.data tr.set td { background: #eef4fb; }
* { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
@media print {
  body { max-width: none; margin: 0; padding: 0; font-size: 10pt; }
  h2 { break-before: page; } h1 + .verdict { break-after: avoid; }
  details::details-content { content-visibility: visible; display: block; }
  details > summary { list-style: none; font-style: italic; }
  .wide { overflow: visible; } td pre { white-space: pre-wrap; }
  .tensor, .by-hand, tr { break-inside: avoid; }
}
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


BAND_WORDS = {"rounding": "rounding level (at most 1000 units of the last place)",
              "tolerance": "above rounding, within the tolerance",
              "beyond": "beyond the tolerance: differs",
              "unjudged": "reported, not judged (the pair's rules differ)"}


def band_of(report, pair, max_rel):
    """The judge's band of a pair's error (judge.band), or 'unjudged' for a pair not judged."""
    if max_rel is None:
        return ""
    if pair not in report.summary["judged_pairs"]:
        return "unjudged"
    return judge.band(max_rel, report.summary["rtol"], report.config.get("dtype", "float64"))


def legend_html(report):
    """What the colours of the tables mean, with this run's tolerance."""
    rtol = report.summary["rtol"]
    words = {**BAND_WORDS, "tolerance": f"above rounding, within the tolerance {rtol:g}",
             "beyond": f"beyond the tolerance {rtol:g}: differs"}
    spans = "".join(f'<span class="{b}">{html.escape(w)}</span>' for b, w in words.items())
    return (f'<p class="legend">Colours, by the error of each cell\'s pair '
            f'(compare/engine/judge.py): {spans}</p>')


def cell(value, band=""):
    return (str(value), band)


def grid(headers, rows, row_bands=None, table_id=None):
    """An HTML table: rows of cells, a cell a string or (string, band class); every string escaped.
    row_bands: a band class per row (a row's worst), or None."""
    def td(c):
        text, band = c if isinstance(c, tuple) else (c, "")
        cls = f' class="{band}"' if band else ""
        return f"<td{cls}>{html.escape(str(text))}</td>"

    head = "<tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in headers) + "</tr>"
    body = []
    for i, row in enumerate(rows):
        band = row_bands[i] if row_bands else ""
        cls = f' class="{band}"' if band else ""
        body.append(f"<tr{cls}>" + "".join(td(c) for c in row) + "</tr>")
    where = f' id="{html.escape(table_id)}"' if table_id else ""
    return f'<div class="wide"><table class="data"{where}>{head}{"".join(body)}</table></div>'


def worst(bands):
    """The worst of some bands ('' when there are none)."""
    order = ("unjudged",) + judge.BANDS
    found = [b for b in bands if b in order]
    return max(found, key=order.index) if found else ""


def summary_grid(report):
    """tables.summary_table's rows (kinds down, pairs across), each cell coloured by its band."""
    s = report.summary
    pairs = list(s["worst_by_kind"])
    kinds = [k for k in tables.KINDS if any(k in s["worst_by_kind"][p] for p in pairs)
             and (k != "accuracy" or tables.classification(report))]
    rows, bands = [], []
    for k in kinds:
        errors = [s["worst_by_kind"][p].get(k, {}).get("max_rel_err") for p in pairs]
        row = [cell(tables.fmt(e), band_of(report, p, e)) for p, e in zip(pairs, errors)]
        rows.append([k] + row)
        bands.append(worst(b for _, b in row if b != "unjudged"))
    verdicts = []
    for p in pairs:
        band = band_of(report, p, s["max_rel_err"].get(p))
        word = "not judged" if band == "unjudged" else "DIFFER" if band == "beyond" else "agree"
        verdicts.append(cell(word, band))
    rows.append([f"verdict (rtol {s['rtol']:g})"] + verdicts)
    bands.append(worst(b for _, b in verdicts if b != "unjudged"))
    headers = ["worst rel err"] + [tables.pair_label(report, p) for p in pairs]
    return grid(headers, rows, bands, "summary-table")


def step_grid(report, every):
    """tables.step_table's rows as one table: losses, accuracy, each pair's largest relative error
    of the step, coloured by its band; a row takes its worst judged pair's band."""
    runners, rows, bands = report.runners, [], []
    pairs = list(report.steps[0]["max_rel_err"]) if report.steps else []
    accuracy = tables.classification(report)
    for row in tables.shown_rows(report, every):
        errs = row["max_rel_err"]
        errors = [cell(tables.fmt(errs.get(p)), band_of(report, p, errs.get(p))) for p in pairs]
        losses = [tables.fmt(row["loss"].get(r), "{:.10g}") for r in runners]
        acc = [tables.fmt(row["accuracy"].get(runners[0]), "{:.4f}")] if accuracy else []
        rows.append([row["step"], row["epoch"]] + losses + acc + errors)
        bands.append(worst(b for _, b in errors if b != "unjudged"))
    headers = (["step", "epoch"] + [f"loss {r}" for r in runners]
               + ([f"accuracy {runners[0]}"] if accuracy else [])
               + [f"rel err {tables.pair_label(report, p)}" for p in pairs])
    return grid(headers, rows, bands, "step-table")


def outputs_grid(report, limit=12):
    """tables.outputs_table's columns, the others' largest |difference| from the first coloured by
    its band relative to the outputs' scale (the outputs are not judged: the colour says how far
    apart they are)."""
    outs = {k: np.array([[float(v) for v in row] for row in rows])
            for k, rows in report.final_outputs.items()}
    keys = list(outs)
    first = outs[keys[0]]
    inputs = getattr(report, "evaluation_inputs", None)
    scale = max(float(np.nanmax(np.abs(first))) if first.size else 0.0, 1e-300)
    rows, bands = [], []
    for i in range(min(limit, len(first))):
        shown = tables.input_text(inputs[i], i) if inputs is not None and len(inputs) else i
        value = (f"class {int(np.argmax(first[i]))}: {np.max(first[i]):.6g}" if first.shape[1] > 3
                 else ", ".join(f"{v:.6g}" for v in first[i]))
        diffs = {k: float(np.max(np.abs(outs[k][i] - first[i])))
                 for k in keys[1:] if outs[k].shape == first.shape}
        largest = max(diffs.values(), default=0.0)
        band = judge.band(largest / scale, report.summary["rtol"],
                          report.config.get("dtype", "float64"))
        words = "identical" if largest == 0 else f"{largest:.1e} ({max(diffs, key=diffs.get)})"
        words = words if diffs else "-"
        rows.append([shown, value, cell(words, band)])
        bands.append(band)
    return grid(["input", keys[0], "max |difference| of the others"], rows, bands, "outputs-table")


def accuracy_grid(report):
    """Test accuracy per implementation; the predictions differing from the first coloured (none:
    rounding level, some: beyond)."""
    s = report.summary
    differing = s["predictions_differing"]
    rows = [[k, f"{v:.4f}", cell(differing[k], "beyond" if differing[k] else "rounding")]
            for k, v in s["test_accuracy"].items()]
    headers = ["implementation", "test accuracy", f"predictions differing from {report.runners[0]}"]
    return grid(headers, rows, None, "accuracy-table")


def summary_html(report):
    parts = [legend_html(report), summary_grid(report)]
    accuracy = tables.accuracy_table(report)
    if accuracy:
        line = accuracy[accuracy.index("test predictions:"):]
        parts += [accuracy_grid(report), f"<p>{html.escape(' '.join(line.split()))}</p>"]
    cross = tables.cross_lines(report)
    if cross:
        parts.append(pre(cross))
    if report.final_outputs and len(report.final_outputs[report.runners[0]]) <= 12:
        parts += ["<p>Final outputs on the evaluation inputs:</p>", outputs_grid(report)]
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


def runner_pairs(report):
    """{runner: the pair its cells are coloured by}: a subject pair's both sides (scratch and torch
    by scratch~torch), then the cross pair's sides not yet placed."""
    pairs = report.summary.get("pairs", {})
    out = {}
    for cross in (False, True):
        for key, p in pairs.items():
            if (p.get("kind") == "cross") == cross:
                out.setdefault(p["theirs"], key)
                out.setdefault(p["ours"], key)
    return out


def step_one_bands(report):
    """{pair: {tensor: band}} at step 1, from the judge's own errors (raw['first_step_errors'])."""
    errors = report.raw.get("first_step_errors", {}) if getattr(report, "raw", None) else {}
    return {pair: {e.name: band_of(report, pair, e.max_rel if e.passed(np.inf) else np.inf)
                   for e in found} for pair, found in errors.items()}


def worked_example_html(report, spec=None):
    """Step 1: the formulas with the numbers substituted (compare/views/worked.py), then each tensor
    as in `python -m compare trace RECIPE --step 1`, every implementation's cell coloured by its
    pair's band for that tensor at step 1."""
    from .trace import matrix_text, section_of, trace_rows
    from .worked import by_hand_html

    kept = report.raw.get("kept") if getattr(report, "raw", None) else None
    if not kept:
        stopped = getattr(report, "raw", None) and report.raw.get("stopped")
        return ("<p>The run stopped before step 1 finished: no worked example.</p>" if stopped else
                "<p>No step was kept for a worked example: the command line keeps step 1 with "
                "<code>--html</code>; from Python, pass <code>keep_step=1</code> to "
                "<code>compare.run</code> or <code>compare.check</code>.</p>")
    keys = report.raw["keys"]
    spec = spec if spec is not None else report.spec
    parts = [legend_html(report), by_hand_html(report, spec),
             f"<h3>Every tensor of step 1</h3><p>Batch of {len(kept['X'])} examples. "
             f"Parameters at the start of the step ({html.escape(keys[0])}):</p>",
             '<div class="wide"><table class="data"><tr>'
             + "".join(f"<th>{html.escape(n)}</th>" for n in kept["before"][keys[0]]) + "</tr><tr>"
             + "".join(f"<td>{pre(matrix_text(v, False))}</td>"
                       for v in kept["before"][keys[0]].values())
             + "</tr></table></div>"]
    rows, _ = trace_rows(kept, spec, keys, None, False)
    bands, by_runner = step_one_bands(report), runner_pairs(report)
    current = None
    for name, formula, cells, diffs in rows:
        if section_of(name) != current:
            current = section_of(name)
            parts.append(f"<h3>{html.escape(current)}</h3>")
        header = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
        shades = {k: bands.get(by_runner.get(k), {}).get(name, "") for k in keys}
        row_band = worst(b for b in shades.values() if b != "unjudged")
        values = "".join(f'<td class="{shades[k]}">{pre(cells[k])}<br>'
                         f'<small>{html.escape(diffs.get(k, ""))}</small></td>' for k in keys)
        parts.append(f'<div class="tensor" data-tensor="{html.escape(name)}" '
                     f'data-band="{row_band}">'
                     f'<h4>{html.escape(formula)}</h4><div class="wide"><table class="data">'
                     f'<tr>{header}</tr><tr class="{row_band}">{values}</tr></table></div></div>')
    return "\n".join(parts)


def shown(value):
    """A spec field's value in words (an initializer as tables.init_text says it)."""
    if hasattr(value, "kind") and hasattr(value, "scale"):
        return tables.init_text(value)
    return "-" if value is None else str(value)


SHOWN_ELSEWHERE = ("sizes", "activations", "layers", "fixed_params", "input_shape")


def differing(spec, recipe=None):
    """[(field, value, default, set by)]: the spec's fields whose value differs from compare.Spec's
    default or from the recipe's spec (the network itself, sizes and activations or the layer
    list, is the line above the table). set by: 'the recipe' where the recipe's spec has the
    value, else 'this run' (an option on the command line, or the spec given to compare.run)."""
    out = []
    for f in dataclasses.fields(spec):
        if f.name in SHOWN_ELSEWHERE:
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        value = getattr(spec, f.name)
        from_recipe = recipe is not None and getattr(recipe, f.name) == value
        if not value == default or recipe is not None and not from_recipe:
            out.append((f.name, value, default, "the recipe" if from_recipe else "this run"))
    return out


def recipe_spec(name):
    """The named recipe's spec, or None (a custom run, a user's name)."""
    from ..data import recipes

    try:
        return recipes.get(name).spec
    except InputError:                      # not a recipe: nothing to tell apart
        return None


def config_html(report, spec, data):
    """The network in one line; what this run sets differently from the defaults (and whether the
    recipe or this run set it); the full table folded."""
    rows = [[name, shown(value), shown(default), by]
            for name, value, default, by in differing(spec, recipe_spec(report.recipe))]
    full = table_html(tables.spec_table(spec, report.frameworks, data, tablefmt="html",
                                        weights=report.config.get("weights")))
    changed = (grid(["set", "value", "default", "set by"], rows, ["set"] * len(rows), "config-set")
               if rows else "<p>Every setting is compare.Spec's default.</p>")
    return (f"<p>{html.escape(tables.spec_line(spec))}</p>"
            f"<p>What this run sets differently from the defaults (compare.Spec):</p>{changed}"
            f'<details id="config-full"><summary>the full config '
            f'({len(full.split("<tr>")) - 2} rows)</summary>'
            f'<div class="wide">{full}</div></details>')


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
            section("Config", config_html(report, spec, data), "config"),
            section("Notes", notes_html(report), "notes") if notes_html(report) else "",
            section("Summary", summary_html(report), "summary"),
            section("Curves", plot_html(report), "curves"),
            section("First divergence", divergence_html(report), "divergence"),
            section("Worked example: step 1", worked_example_html(report, spec), "worked-example"),
            section("The same network, three ways", code_html(), "code"),
            section("Every step", '<details id="steps-table"><summary>per-step table</summary>'
                    + legend_html(report) + step_grid(report, every) + "</details>", "steps"),
            section("Environment", pre("\n".join(f"{k}: {v}" for k, v in report.environment.items())), "environment")]
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head>\n<body>\n"
            + "\n".join(body) + "\n</body></html>\n")


def write_html(report, path, spec, data, every=1):
    """Write the page atomically."""
    text = page(report, spec, data, every)
    write_atomic(path, lambda f: f.write(text))
