"""The HTML report as a learner reads it (issue 21, item 2): the worked example's substituted
numbers are the recorded tensors', every table is coloured by the judge's bands, the config says
what differs from the defaults, and the page fits 1280 px and prints (headless Chromium)."""
import dataclasses
import re
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest

from compare.cli.run import bug_context
from compare.data import recipes
from compare.engine import judge
from compare.engine.run import run
from compare.views import html as html_view

BUG = "sigmoid-grad-of-input"  # parity: first divergence at step 1, dZ3 (python -m compare bugs)


def report_of(name="parity", bug=None, steps=2):
    recipe = recipes.get(name)
    spec, data = dataclasses.replace(recipe.spec, steps=steps), recipe.load()
    with bug_context(bug):
        report = run(spec, data, ("scratch", "torch", "keras"), recipe=name, keep_step=1,
                     notes=recipe.notes)
    if bug:
        report.summary["injected_bug"] = bug
    report.evaluation_inputs = data.X_eval.tolist()
    return report, html_view.page(report, spec, data)


@pytest.fixture(scope="module")
def passing():
    return report_of()


@pytest.fixture(scope="module")
def buggy():
    return report_of(bug=BUG)


@pytest.fixture(scope="module")
def xor():
    return report_of("xor", steps=1)          # 2-3-1 sigmoid, binary cross-entropy, batch of 4


class Page(HTMLParser):
    """The spans and rows that carry numbers and bands."""

    def __init__(self, text):
        super().__init__()
        self.spans, self.lines, self.tensors, self.rows = [], [], [], {}
        self.table, self.row, self.text = None, None, None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        cls = a.get("class") or ""
        if tag == "span" and cls in ("num", "result", "recorded"):
            self.spans.append(dict(a, text=""))
            self.text = self.spans[-1]
        if tag == "div" and cls.startswith("by-hand"):
            self.lines.append(a)
        if tag == "div" and cls == "tensor":
            self.tensors.append(a)
        if tag == "table" and a.get("id"):
            self.table = a["id"]
            self.rows[self.table] = []
        if tag == "tr" and self.table:
            self.row = {"band": cls, "cells": []}
            self.rows[self.table].append(self.row)
        if tag == "td" and self.row is not None:
            self.row["cells"].append({"band": cls, "text": ""})

    def handle_data(self, data):
        if self.text is not None:
            self.text["text"] += data
        if self.row is not None and self.row["cells"]:
            self.row["cells"][-1]["text"] += data

    def handle_endtag(self, tag):
        if tag == "span":
            self.text = None
        if tag == "table":
            self.table, self.row = None, None


def source(report, name):
    """The recorded array a substituted number names: the batch, a parameter before the step, or
    a tensor scratch recorded."""
    kept = report.raw["kept"]
    if name == "A0":
        return np.asarray(kept["X"]).T
    if name == "Y":
        return np.asarray(kept["Y"]).T
    if name.endswith("@before"):
        return np.asarray(kept["before"]["scratch"][name[:-len("@before")]])
    return np.asarray(kept["records"]["scratch"][name])


def element(array, index):
    index = tuple(int(i) for i in index.split(",")) if index else ()
    return float(np.asarray(array, dtype=np.float64)[index])


@pytest.mark.parametrize("which", ["passing", "xor"])
def test_worked_numbers_are_the_recorded_ones(which, request):
    report, text = request.getfixturevalue(which)
    page = Page(text)
    records = report.raw["kept"]["records"]
    numbers = [s for s in page.spans if s["class"] == "num"]
    assert len(numbers) > 60
    for span in numbers:          # every substituted number, bit for bit, and shown to 4 digits
        value = float(span["data-value"])
        assert value == element(source(report, span["data-tensor"]), span["data-index"]), span
        assert span["text"] == f"{value:.4g}".replace("-", "−")
    results = {s["data-tensor"]: s for s in page.spans if s["class"] == "result"}
    kinds = ("Z", "A", "dZ", "dW", "db", "W", "b")
    layers = range(1, len(report.config["sizes"]))
    expected = {f"{k}{l}" for k in kinds for l in layers} | {"loss"}
    assert set(results) == expected
    for name, span in results.items():       # the shown arithmetic gives the recorded value
        recorded = element(records["scratch"][name], span["data-index"])
        assert abs(float(span["data-value"]) - recorded) <= 1e-12 * max(1.0, abs(recorded)), name
    for span in (s for s in page.spans if s["class"] == "recorded"):
        recorded = records[span["data-runner"]][span["data-tensor"]]
        assert float(span["data-value"]) == element(recorded, span["data-index"])
    if which == "xor":              # the loss's four terms, each example's
        assert len(re.findall(r"log\(1 \+ e\^−\|[−\d]", re.sub(r"<[^>]+>", "", text))) == 4
        return
    # the textbook's first line: Z1 = W1·x + b1, numbers substituted
    assert re.search(r"0\.1257</span>·<span[^>]*>2</span> \+ \(<span[^>]*>−0\.5357</span>\) = "
                     r"<span[^>]*>−0\.2842<", text)


def step_one_band(report, tensor):
    errors = report.raw["first_step_errors"]
    bands = [judge.band(e.max_rel, report.summary["rtol"]) for pair, found in errors.items()
             if pair in report.summary["judged_pairs"] for e in found if e.name == tensor]
    return max(bands, key=judge.BANDS.index)


@pytest.mark.parametrize("which", ["passing", "buggy"])
def test_colours_are_the_judges_bands(which, request):
    report, text = request.getfixturevalue(which)
    page = Page(text)
    rtol, judged = report.summary["rtol"], report.summary["judged_pairs"]
    lines = {line["data-tensor"]: line["data-band"] for line in page.lines}
    assert lines == {name: step_one_band(report, name) for name in lines}
    tensors = {t["data-tensor"]: t["data-band"] for t in page.tensors}
    assert tensors == {name: step_one_band(report, name) for name in tensors}
    steps = page.rows["step-table"][1:]
    assert [int(r["cells"][0]["text"]) for r in steps] == [s["step"] for s in report.steps]
    for row, step in zip(steps, report.steps):
        bands = [judge.band(step["max_rel_err"][p], rtol) for p in judged]
        assert row["band"] == max(bands, key=judge.BANDS.index)
        pairs = list(step["max_rel_err"])
        for cell, pair in zip(row["cells"][-len(pairs):], pairs):
            expected = judge.band(step["max_rel_err"][pair], rtol) if pair in judged else "unjudged"
            assert cell["band"] == expected
    verdict = page.rows["summary-table"][-1]
    if which == "passing":
        assert report.passed and set(lines.values()) == {"rounding"}
        assert {r["band"] for r in steps} == {"rounding"} and verdict["band"] == "rounding"
    else:                     # forward agrees, the divergence and what follows from it are red
        assert not report.passed and report.summary["first_divergence"]["tensor"] == "dZ3"
        assert [lines[f"{k}{l}"] for l in (1, 2, 3) for k in ("Z", "A")] == ["rounding"] * 6
        assert lines["dZ3"] == lines["dW3"] == lines["dZ1"] == lines["W1"] == "beyond"
        assert steps[0]["band"] == "beyond" and verdict["band"] == "beyond"
        assert "✗ differs by 0.4" in re.sub(r"<[^>]+>", "", text)  # the wrong gradient


def test_config_lists_what_differs_from_the_defaults(passing):
    """The config table: every field that differs from compare.Spec's defaults or from the
    recipe's, and who set it; the full table folded in a <details>."""
    report, text = passing
    recipe = recipes.get("parity").spec
    spec = dataclasses.replace(recipe, optimizer="adam", lr=0.003, steps=2, epochs=1)
    assert [(name, value, by) for name, value, _, by in html_view.differing(spec, recipe)] == [
        ("optimizer", "adam", "this run"), ("lr", 0.003, "this run"),
        ("weight_init", spec.weight_init, "the recipe"),
        ("bias_init", spec.bias_init, "the recipe"),
        ("batch_size", 1, "the recipe"), ("epochs", 1, "this run"), ("steps", 2, "this run")]
    assert [name for name, *_ in html_view.differing(spec)] == [
        "optimizer", "lr", "weight_init", "bias_init", "batch_size", "steps"]  # epochs 1: default
    rows = [[c["text"] for c in r["cells"]] for r in Page(text).rows["config-set"][1:]]
    assert rows == [["lr", "1.0", "0.01", "the recipe"],
                    ["weight_init", "normal * 1", "kaiming_uniform", "the recipe"],
                    ["bias_init", "normal * 1", "kaiming_uniform", "the recipe"],
                    ["batch_size", "1", "-", "the recipe"], ["epochs", "2", "1", "the recipe"],
                    ["steps", "2", "-", "this run"]]
    folded = text[text.index('<details id="config-full">'):]
    assert "keras_float32_casts" in folded[:folded.index("</details>")]


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
MEASURE = """<script>window.addEventListener("load", () => {
  const pre = document.createElement("pre"); pre.id = "width";
  pre.textContent = document.documentElement.scrollWidth;
  document.body.appendChild(pre); });</script>"""


@pytest.mark.skipif(not shutil.os.path.exists(CHROMIUM),
                    reason="no Chromium installed (CI installs Debian's)")
def test_the_page_fits_1280_px_and_prints(passing, buggy, tmp_path):
    """Both pages at 1280 px: nothing wider than the window; printed to PDF, the folded tables
    (full config, every step) are in it."""
    pypdf = pytest.importorskip("pypdf")
    flags = ["--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--window-size=1280,900"]
    for name, (_, text) in (("pass", passing), ("bug", buggy)):
        page = tmp_path / f"{name}.html"
        page.write_text(text.replace("</body>", MEASURE + "</body>"))
        dom = subprocess.run([CHROMIUM, *flags, "--virtual-time-budget=5000", "--dump-dom",
                              page.as_uri()], capture_output=True, text=True, timeout=120).stdout
        assert int(re.search(r'<pre id="width">(\d+)</pre>', dom).group(1)) <= 1280, name
    pdf = tmp_path / "bug.pdf"
    subprocess.run([CHROMIUM, *flags[:-1], "--no-pdf-header-footer", f"--print-to-pdf={pdf}",
                    (tmp_path / "bug.html").as_uri()], capture_output=True, timeout=120)
    reader = pypdf.PdfReader(pdf)
    printed = " ".join(p.extract_text() for p in reader.pages)
    assert len(reader.pages) >= 5                           # a page break before each section
    assert "keras_float32_casts" in printed                # the full config: folded, yet printed
    assert "rel err scratch~torch" in printed              # the per-step table, folded too
    assert "differs by 0.4" in printed
