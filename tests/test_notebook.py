"""Notebooks: a Report shows itself in Jupyter (`_repr_html_`: the verdict line and the --html page
in a sandboxed iframe, compare/views/notebook.py), and examples/teaching.ipynb runs from top to
bottom in a real kernel (nbclient) with its outputs checked: step 1 of the 1-4-3-1 network by hand
equals the tool's numbers, the injected mistake is a MISMATCH at dZ3, and both reports are drawn."""
import html
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

import compare
from compare.data import recipes

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "examples" / "teaching.ipynb"
sys.path.insert(0, str(ROOT / "examples"))
BUG_LINE = r"MISMATCH: first divergence at step 1, mine vs (torch|keras): layer 3, dZ3\[0, 0\]"


class Frames(HTMLParser):
    """The iframes of an HTML fragment (attributes, srcdoc unescaped) and its text outside them."""

    def __init__(self, text):
        super().__init__()
        self.frames, self.text = [], []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        if tag == "iframe":
            self.frames.append(dict(attrs))

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture(scope="module")
def parity_reports():
    """A passing run of parity (4 steps) and a check of the learner's mistake (sigmoid' of z3)."""
    import parity_sigmoid_grad_of_z as bug

    recipe = recipes.get("parity")
    passed = compare.run(recipe.spec, recipe.load(), recipe="parity", keep_step=1)
    failed = compare.check(bug.mine, recipe="parity", keep_step=1)
    return passed, failed


def test_a_report_shows_itself_as_the_html_page_in_a_frame(parity_reports):
    from compare.views.html import page

    passed, failed = parity_reports
    first = "MISMATCH: first divergence at step 1"
    for report, verdict in ((passed, "PASS: 4 steps"), (failed, first)):
        shown = report._repr_html_()
        parsed = Frames(shown)
        assert len(parsed.frames) == 1
        frame = parsed.frames[0]
        assert frame["srcdoc"].startswith("<!DOCTYPE html>") and "<style>" in frame["srcdoc"]
        assert "<style>" not in shown.replace(html.escape("<style>"), "")   # no stylesheet outside
        assert frame["sandbox"] == "allow-scripts"     # no same origin: the notebook out of reach
        # the verdict line, outside the frame and inside it
        outside = "".join(parsed.text)
        assert outside.startswith(verdict) and verdict in frame["srcdoc"]
        # the curves, a PNG embedded in the page
        image = re.search(r'<img class="plot" id="curves-image"[^>]*'
                          r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', frame["srcdoc"])
        assert image and len(image.group(1)) > 10_000
        # the diagram of the network (compare/views/diagram.py), coloured by agreement
        assert '<section class="dg" id="diagram">' in frame["srcdoc"] and 'id="dg-svg"' in frame["srcdoc"]
    # the page in the frame is the --html page, whole (so its CSS stays inside the frame)
    assert frame["srcdoc"] == page(failed, failed.spec, failed.data)
    # the mistake is named: step, implementations, layer and tensor, beyond the tolerance
    assert re.match(BUG_LINE, outside)
    assert failed.first_divergence["tensor"] == "dZ3"
    assert repr(failed).startswith("<Report parity: mismatch (mine~")
    assert "1 step(s)" in repr(failed)


def test_drawing_the_curves_leaves_the_notebooks_matplotlib_backend_alone(parity_reports):
    import matplotlib

    before = matplotlib.get_backend()
    matplotlib.use("svg")                       # a backend of the caller's (Jupyter's is inline)
    try:
        assert "curves-image" in parity_reports[0]._repr_html_()
        assert matplotlib.get_backend() == "svg"
    finally:
        matplotlib.use(before)


def test_a_report_without_its_spec_shows_the_verdict_alone(parity_reports):
    passed, _ = parity_reports
    fields = {f: getattr(passed, f) for f in passed.__dataclass_fields__}
    shown = compare.engine.report.Report(**fields)._repr_html_()
    assert "<iframe" not in shown and "PASS: 4 steps" in shown
    assert "does not hold its spec and data" in shown


def kernel(tmp_path):
    """A kernel manager whose kernel is this interpreter (ipykernel's spec for sys.executable), not
    whatever 'python3' a machine has installed."""
    from ipykernel.kernelspec import write_kernel_spec
    from jupyter_client import KernelManager
    from jupyter_client.kernelspec import KernelSpecManager

    kernels = tmp_path / "kernels"
    write_kernel_spec(str(kernels / "framework-mirror"))
    assert f'"{sys.executable}"' in (kernels / "framework-mirror" / "kernel.json").read_text()
    return KernelManager(kernel_name="framework-mirror",
                         kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)]))


def text_of(cell):
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def html_of(cell):
    return [o["data"]["text/html"] for o in cell.outputs
            if o.output_type == "execute_result" and "text/html" in o.get("data", {})]


def code_cell(nb, start):
    """The code cell whose source is `start`, else the first that begins with it."""
    cells = [c for c in nb.cells if c.cell_type == "code"]
    return next((c for c in cells if c.source.strip() == start), None) or \
        next(c for c in cells if c.source.startswith(start))


def test_the_teaching_notebook_runs_and_says_what_it_shows(tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("PYTHONPATH", str(ROOT))       # the kernel imports this checkout's compare
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert not any(c.outputs for c in code)                     # the file is kept without outputs
    NotebookClient(nb, km=kernel(tmp_path), timeout=120,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()   # raises on an error
    nbformat.write(nb, tmp_path / "teaching.ipynb")                           # to read if it fails
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]

    # by hand: the textbook line with its numbers, and the table of by-hand vs the tool
    text = "\n".join(text_of(c) for c in nb.cells if c.cell_type == "code")
    z = re.search(r"Z1\[0\] = W1\[0\]·x \+ b1\[0\] = (-?[\d.]+)·2 \+ \((-?[\d.]+)\) = (-?[\d.]+)",
                  text)
    w, b, z = (float(v) for v in z.groups())
    assert z == pytest.approx(w * 2 + b, abs=2e-4)
    rows = re.findall(r"^(\w+) +((?:-?[\d.e+-]+ +){4})([\d.e+-]+)$", text, re.M)
    names = [r[0] for r in rows]
    assert names == ["Z1", "A1", "Z2", "A2", "Z3", "A3", "loss", "dZ3", "dW3", "db3", "dZ2", "dW2",
                     "db2", "dZ1", "dW1", "db1", "W1", "b1", "W2", "b2", "W3", "b3"]
    for name, values, difference in rows:
        by_hand, *tool = (float(v) for v in values.split())
        assert tool == pytest.approx([by_hand] * 3, rel=1e-13, abs=1e-15), name
        assert float(difference) < 1e-12, name
    # the numbers are the parity recipe's step 1 (the loss: the notebook's own, recomputed here)
    recipe = recipes.get("parity")
    from scratch.initializers import initial_params
    (W1, b1), (W2, b2), (W3, b3) = initial_params(recipe.spec.sizes, recipe.spec.weight_init,
                                                  recipe.spec.bias_init, recipe.spec.seed)
    sigmoid = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    a3 = sigmoid(W3 @ sigmoid(W2 @ sigmoid(W1 * 2.0 + b1) + b2) + b3)[0, 0]
    loss = next(r for r in rows if r[0] == "loss")
    assert float(loss[1].split()[0]) == pytest.approx((a3 - 1.0) ** 2, rel=1e-15)
    assert re.search(r"largest difference, by hand vs the tool: (\d\.\de[+-]\d+)", text)

    # the tool's run passes and draws itself; the mistake is a MISMATCH at dZ3, drawn too
    passed = code_cell(nb, "report")
    assert text_of(code_cell(nb, "report = compare.run(")).startswith("PASS: 4 steps")
    bug = text_of(code_cell(nb, "bug_report = compare.check("))
    assert re.match(BUG_LINE, bug)
    assert "the forward pass and the loss agree but dZ3 does not" in bug
    # both values of the verdict line, written by hand: the mistake's, and section 3's dZ3
    values = re.search(r"dZ3\[0, 0\]: mine = (\S+), (torch|keras) = (\S+),", bug)
    by_hand = text_of(code_cell(nb, "d = bug_report.first_divergence"))
    mistake = re.search(r"2 \(A3 - y\) Z3 \(1 - Z3\) = +(\S+) +mine: (\S+)$", by_hand, re.M)
    right = re.search(r"2 \(A3 - y\) A3 \(1 - A3\) = +(\S+) +(torch|keras): (\S+)$", by_hand, re.M)
    assert float(mistake.group(1)) == pytest.approx(float(values.group(1)), rel=1e-14)
    assert float(mistake.group(2)) == float(values.group(1))
    assert float(right.group(1)) == pytest.approx(float(values.group(3)), rel=1e-14)
    dZ3 = next(r for r in rows if r[0] == "dZ3")
    assert float(right.group(1)) == float(dZ3[1].split()[0])
    for cell, verdict in ((passed, "PASS: 4 steps"), (code_cell(nb, "bug_report"), "MISMATCH")):
        [shown] = html_of(cell)
        [frame] = Frames(shown).frames
        assert verdict in "".join(Frames(shown).text)
        assert frame["srcdoc"].startswith("<!DOCTYPE html>")
        assert 'id="curves-image"' in frame["srcdoc"]
