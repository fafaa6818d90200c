"""The HTML report's diagram (compare/views/diagram.py): the network drawn from its layer list, each
tensor coloured by its worst error over the run, per pair, the first divergence marked; checked in
the page's SVG, and in headless Chromium (the colours the browser draws, the pair buttons, a
tensor's panel, no sideways scrolling at 1280 px). Three short runs, shared by every test: toy3
with momentum and batch norm passing (3 steps: optimizer state, running statistics; torch~keras
does not compare the momentum buffers, which mean different things there: grey nodes), toy3 with
a dense bug (dW built from the wrong activation) and cnn-zoo with a convolution's kernel flipped,
one step each (over more steps the error reaches every tensor computed after it: all red)."""
import io
import json
import math
import re
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest

from compare.engine import names
from compare.views import diagram

RUNS = {"pass": ["toy3", "--momentum", "0.9", "--norm", "batch"],   # state, running statistics
        "dense-bug": ["toy3", "--inject-bug", "wrong-activation-in-dW", "--steps", "1"],
        "cnn-bug": ["cnn-zoo", "--inject-bug", "conv-kernel-flipped", "--steps", "1"],
        "long-bug": ["parity", "--inject-bug", "sigmoid-grad-of-input"]}   # 4 steps


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """{name: (report, spec, path of the HTML page)}: each run once, its report caught on the way
    to write_html."""
    import compare.views.html as page
    from compare.cli import main

    folder, caught, write = tmp_path_factory.mktemp("diagram"), {}, page.write_html

    def catch(report, path, spec, data, every=1):
        caught["last"] = (report, spec)
        return write(report, path, spec, data, every)

    page.write_html = catch
    try:
        out = {}
        for name, argv in RUNS.items():
            path = folder / f"{name}.html"
            code = main([*argv, "--html", str(path), "--quiet"])
            assert code == (0 if name == "pass" else 1)
            out[name] = (*caught.pop("last"), path)
        return out
    finally:
        page.write_html = write


class Nodes(HTMLParser):
    """The SVG's tensor nodes: (tensor, pair) -> {fill, band, max_rel}; the layer boxes' titles."""

    def __init__(self):
        super().__init__()
        self.nodes, self.texts, self.first, self.tensor, self.in_svg = {}, [], [], None, False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.in_svg |= tag == "svg"
        if tag == "g" and "data-tensor" in a:
            self.tensor = a["data-tensor"]
        if tag == "rect" and "node" in a.get("class", ""):
            self.nodes[self.tensor, a["data-pair"]] = a
        if tag == "rect" and a.get("class") == "first":
            self.first.append(self.tensor)

    def handle_endtag(self, tag):
        self.in_svg &= tag != "svg"

    def handle_data(self, data):
        if self.in_svg:
            self.texts.append(data)


def parsed(path):
    nodes = Nodes()
    nodes.feed(path.read_text())
    return nodes


def expected(report, spec, pair, tensor, view="run"):
    """(band, fill) the report's numbers give a node: grey where the pair does not compare it.
    view 'run': its worst over the run; 'step': its error at the first divergence's step."""
    if view == "run":
        worst = report.raw["worst_by_tensor"].get(pair, {}).get(tensor)
        rel = None if worst is None else worst["max_rel_err"]
    else:
        rel = report.raw["divergence_step_errors"].get(pair, {}).get(tensor)
    if tensor in report.summary["not_compared"].get(pair, {}) or rel is None:
        return "none", diagram.GREY
    rtol = report.summary["rtol"]
    return diagram.band(rel, rtol, spec.dtype), diagram.colour(rel, rtol, spec.dtype)


def red(fill):
    """A red of the 'beyond' band (the amber of 'within' has green at 0.8 of its red and more)."""
    r, g, b = (int(fill[i:i + 2], 16) for i in (1, 3, 5))
    return g < 0.7 * r and b < 0.7 * r


def test_bands_and_colours_follow_the_judges_tolerance():
    rtol, rounding = 1e-9, diagram.rounding_level("float64")
    assert rounding == 1000 * 2.0 ** -52
    assert [diagram.band(x, rtol, "float64") for x in (0.0, 3e-16, 2e-13, 1e-12, 1e-9, 1.01e-9, 0.4,
                                                      math.inf, math.nan)] == \
        ["rounding"] * 3 + ["tolerance"] * 2 + ["beyond"] * 4
    assert diagram.band(2e-4, 3e-4, "float32") == "tolerance"
    assert diagram.band(1e-4, 3e-4, "float32") == "rounding"
    shades = [diagram.colour(x, rtol, "float64") for x in (2e-9, 1e-6, 1e-3, 0.5)]
    assert all(red(s) for s in shades)
    lightness = [sum(int(s[i:i + 2], 16) for i in (1, 3, 5)) for s in shades]
    assert lightness == sorted(lightness, reverse=True), "the log scale darkens as the error grows"
    assert not red(diagram.colour(1e-15, rtol, "float64"))
    assert not red(diagram.colour(1e-10, rtol, "float64"))


def test_a_heatmap_is_the_values_in_colour():
    from PIL import Image

    html = diagram.heatmap(np.array([[-2.0, 0.0, 2.0, np.nan]]), 2.0, diagram.VALUES, "x", "dg-v")
    data = re.search(r'src="data:image/png;base64,([^"]+)"', html).group(1)
    import base64

    pixels = np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB"))
    assert pixels.shape == (1, 4, 3)
    assert [tuple(p) for p in pixels[0]] == [(0x21, 0x66, 0xac), (255, 255, 255),
                                              (0xb2, 0x18, 0x2b), (0xbb, 0xbb, 0xbb)]
    grids, what = diagram.grids(np.arange(2 * 3 * 5 * 5, dtype=float).reshape(2, 3, 5, 5), None)
    assert len(grids) == 6 and grids[4].shape == (5, 5) and grids[4][0, 0] == (1 * 3 + 1) * 25
    feature_maps = np.arange(4 * 3 * 3 * 2, dtype=float).reshape(4 * 3 * 3, 2)     # (C H W, m)
    maps, what = diagram.grids(feature_maps, (4, 3, 3))
    assert len(maps) == 4 and maps[1][0, 0] == 18 and "example 1" in what     # channel 2, example 1
    big, _ = diagram.subsample(np.zeros((100, 10)))
    assert big.shape == (20, 10)
    W = np.arange(6.0).reshape(2, 3)                  # a transpose: the difference drawn against Wᵀ
    shown = diagram.step_html("W1", {"scratch": {"W1": W}, "torch": {"W1": W.T.copy()}},
                              {"torch": {"ours": "scratch", "theirs": "torch"}}, None)
    assert "scratch - torchᵀ (the shapes are transposed)" in shown and shown.count("<img") == 3
    assert "-0<" in shown or ">0<" in shown                 # the scale of a zero difference


def test_pattern_labels_from_the_diagnosis():
    assert diagram.pattern_label("scratch's Z1 is the input convolved with W1 rotated by 180°") \
        == "180° rotation"
    assert diagram.pattern_label("a factor of 2: scratch's dZ2 is twice torch's") == "factor 2"
    assert diagram.pattern_label("a lost axis: scratch's db2 is (), summed") == "lost axis"
    assert diagram.pattern_label("jump: the error rose") == ""


@pytest.mark.parametrize("name", ["pass", "dense-bug", "cnn-bug"])   # one step each (long-bug: below)
def test_every_layer_and_tensor_has_its_node_coloured_as_the_report_says(runs, name):
    report, spec, path = runs[name]
    nodes = parsed(path)
    titles = " ".join(nodes.texts)
    for p in spec.network.placed:
        assert p.layer.describe()[:22] in titles, f"no box for layer {p.layer.describe()}"
    compared = {n for by in report.raw["worst_by_tensor"].values() for n in by}
    kinds = {names.parse(n).group for n in compared}
    assert {"Z", "A", "dZ", "dW", "db", "params", "loss"} <= kinds
    if name == "pass":
        assert {"N", "dN", "state", "mean", "var"} <= kinds
        grey = {t for (t, p), a in nodes.nodes.items() if a["data-band"] == "none"}
        assert grey and grey == {t for by in report.summary["not_compared"].values() for t in by}
        assert all(a["fill"] == diagram.GREY for a in nodes.nodes.values()
                   if a["data-band"] == "none")
        assert "momentum buffer means different things" in " ".join(nodes.texts)      # the reason
    pairs = list(report.summary["pairs"])
    assert {pair for _, pair in nodes.nodes} == set(pairs)
    for pair in pairs:
        for tensor in compared:
            node = nodes.nodes[tensor, pair]
            assert (node["data-band"], node["fill"]) == expected(report, spec, pair, tensor), \
                (tensor, pair)
        by_kind = report.summary["worst_by_kind"].get(pair, {})        # the JSON report's numbers
        for kind, worst in by_kind.items():
            drawn = [float(a["data-max-rel"]) for (t, p), a in nodes.nodes.items()
                     if p == pair and a["data-max-rel"] and names.group(t) == kind]
            assert max(drawn) == worst["max_rel_err"]
    first = report.summary["first_divergence"]
    if name == "pass":
        assert first is None and nodes.first == []
        judged = report.summary["judged_pairs"]
        assert judged
        assert not any(red(a["fill"]) for (t, p), a in nodes.nodes.items() if p in judged)
        return
    pair, tensor = first["framework"], first["tensor"]
    assert nodes.first == [tensor]
    assert f"first divergence: {first['ours']}~{first['theirs']}, step 1" in titles
    assert red(nodes.nodes[tensor, pair]["fill"])
    assert nodes.nodes[tensor, pair]["data-band"] == "beyond"
    before = names.ordered(compared, spec.n_layers)
    before = before[:before.index(tensor)]                 # computed before it, in the one step run
    assert all(nodes.nodes[t, pair]["data-band"] != "beyond" for t in before)
    for other in pairs:                                    # a pair without the bug: nothing red
        sides = report.summary["pairs"][other]["ours"], report.summary["pairs"][other]["theirs"]
        if not any(side.startswith("scratch") for side in sides):           # torch~keras
            assert not any(red(a["fill"]) for (t, p), a in nodes.nodes.items() if p == other)
    if name == "dense-bug":
        assert before[:5] == ["Z1", "A1", "Z2", "A2", "loss"] and before[-1] == "dZ2"
    else:
        assert "180° rotation" in titles


def test_the_page_stays_small_and_holds_the_kept_steps(runs):
    report, spec, path = runs["pass"]
    text = path.read_text()
    start = text.index('<section class="dg"')
    section = text[start:text.index("</section>", start)]
    assert len(section) < 300_000, f"the diagram is {len(section) // 1024} KB"
    panel = section[section.index('id="dg-t-dW2"'):]
    panel = panel[:panel.find('<div class="dg-panel"', 10)]
    assert ">step 1<" in panel and ">step 3 (last)<" in panel
    assert panel.count("data:image/png") == 2 * (len(report.runners) + len(report.summary["pairs"]))


MEASURE = """<script>
window.addEventListener("load", () => {
  const out = {pageWidth: document.documentElement.scrollWidth, windowWidth: window.innerWidth,
               pairs: []};
  const views = [...document.querySelectorAll('input[name="dg-view"]')];
  for (const view of (views.length ? views : [null])) {
   if (view) view.checked = true;
   for (const radio of document.querySelectorAll('input[name="dg-pair"]')) {
    radio.checked = true;
    const shown = [...document.querySelectorAll("#dg-svg rect.node, #dg-svg rect.atstep")]
      .filter(r => getComputedStyle(r).display !== "none")
      .map(r => ({tensor: r.closest("g").dataset.tensor, pair: r.dataset.pair, band: r.dataset.band,
                  fill: getComputedStyle(r).fill, width: r.getBoundingClientRect().width,
                  view: r.classList.contains("atstep") ? "step" : "run"}));
    out.pairs.push({id: radio.id, view: view ? view.id : null, shown});
   }
  }
  const first = document.querySelector("#dg-svg rect.first");
  out.first = first ? first.closest("g").dataset.tensor : null;
  location.hash = "#dg-t-" + (out.first || "Z1");
  const panel = document.getElementById("dg-t-" + (out.first || "Z1"));
  const images = [...panel.querySelectorAll("img")]
    .filter(i => i.getBoundingClientRect().width > 0);
  out.panel = {display: getComputedStyle(panel).display, images: images.length,
               decoded: images.every(i => i.complete && i.naturalWidth > 0)};
  out.pageWidthOpen = document.documentElement.scrollWidth;
  const section = document.getElementById("diagram");
  out.diagram = {scrollWidth: section.scrollWidth, right: section.getBoundingClientRect().right,
                 svgRight: document.getElementById("dg-svg").getBoundingClientRect().right};
  out.wide = [...document.querySelectorAll("body *")].filter(e => e.scrollWidth > 1280)
    .map(e => e.tagName + "." + e.className + " " + e.scrollWidth);
  const pre = document.createElement("pre");
  pre.id = "layout"; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def rgb(fill):
    return "rgb(" + ", ".join(str(int(fill[i:i + 2], 16)) for i in (1, 3, 5)) + ")"


@pytest.mark.skipif(chromium() is None, reason="no Chromium (CI installs Debian's chromium)")
def test_the_diagram_in_chromium_at_1280_px(runs):
    """Each page in headless Chromium at 1280 px: for every pair button, the nodes drawn are that
    pair's, in the colours the report's numbers give (the divergent tensor red, the agreeing ones
    not); the first divergence's panel opens with its heatmaps decoded; nothing scrolls sideways.
    Screenshots of the top of each page and of the open panel are kept beside the pages."""
    flags = ["--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    for name, (report, spec, path) in runs.items():
        measured = path.with_name(f"{name}-measured.html")
        measured.write_text(path.read_text().replace("</body>", MEASURE + "</body>"))
        dom = subprocess.run([chromium(), *flags, "--window-size=1280,900",
                              "--virtual-time-budget=5000", "--dump-dom", measured.as_uri()],
                             capture_output=True, text=True, timeout=120).stdout
        layout = json.loads(re.search(r'<pre id="layout">(.*?)</pre>', dom).group(1))
        assert layout["windowWidth"] == 1280
        d = layout["diagram"]
        assert max(d["scrollWidth"], d["right"], d["svgRight"]) <= 1280, f"{name}: too wide: {d}"
        assert layout["pageWidth"] <= 1280 and layout["pageWidthOpen"] <= 1280, \
            f"{name} scrolls sideways: {layout['wide']}"
        pairs = list(report.summary["pairs"])
        first = report.summary["first_divergence"]
        views = ["dg-view-0", "dg-view-1"] if first else [None]     # run's worst, the step's
        assert [(p["view"], p["id"]) for p in layout["pairs"]] == \
            [(v, f"dg-pair-{i}") for v in views for i in range(len(pairs))]
        for (view, pair), seen in zip([(v, p) for v in views for p in pairs], layout["pairs"]):
            shown = seen["shown"]
            assert shown and {s["pair"] for s in shown} == {pair}, f"{name}: {pair} shows others"
            assert {s["view"] for s in shown} == {"step" if view == "dg-view-1" else "run"}
            assert len({s["tensor"] for s in shown}) == len(shown)     # one rectangle per tensor
            assert min(s["width"] for s in shown) > 40
            for s in shown:
                band, fill = expected(report, spec, pair, s["tensor"], s["view"])
                assert (s["band"], s["fill"]) == (band, rgb(fill)), (name, pair, s)
                if first and (pair, s["tensor"]) == (first["framework"], first["tensor"]):
                    assert red(fill)
            if name == "pass" and pair in report.summary["judged_pairs"]:
                assert not any(s["band"] == "beyond" for s in shown)
        assert layout["first"] == (first["tensor"] if first else None)
        assert layout["panel"]["display"] == "block" and layout["panel"]["images"] >= 3
        assert layout["panel"]["decoded"]
        from PIL import Image

        tensor = layout["first"] or "Z1"        # the panel, shown by a style (a fragment's scroll
        opened = path.with_name(f"{name}-panel.html")   # is not painted in a headless screenshot)
        shown = f"<style>#dg-t-{tensor} {{ display: block; }}</style></head>"
        opened.write_text(path.read_text().replace("</head>", shown))
        shots = [(path.with_name(f"{name}.png"), path.as_uri(), 1100)]
        if first:                                       # the first divergence's panel, open
            shots.append((path.with_name(f"{name}-panel.png"), opened.as_uri(), 2000))
        else:                                           # the last pair chosen (torch~keras: grey)
            last = len(pairs) - 1
            chosen = path.with_name(f"{name}-pair.html")
            chosen.write_text(path.read_text().replace('id="dg-pair-0" checked>', 'id="dg-pair-0">')
                              .replace(f'id="dg-pair-{last}">', f'id="dg-pair-{last}" checked>'))
            shots.append((path.with_name(f"{name}-pair.png"), chosen.as_uri(), 1100))
        for shot, url, height in shots:
            subprocess.run([chromium(), *flags, f"--window-size=1280,{height}",
                            "--virtual-time-budget=5000", f"--screenshot={shot}", url],
                           capture_output=True, timeout=120)
            pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
            assert pixels.shape[:2] == (height, 1280)
            reds = (pixels[..., 1] < 0.7 * pixels[..., 0]) & (pixels[..., 2] < 0.7 * pixels[..., 0])
            if shot.stem == name and name != "pass":
                assert reds.mean() > 0.001, f"{shot.name}: no red node drawn"


class StepNodes(HTMLParser):
    """The second view's rectangles (class atstep): (tensor, pair) -> attributes."""

    def __init__(self):
        super().__init__()
        self.nodes, self.tensor = {}, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "g" and "data-tensor" in a:
            self.tensor = a["data-tensor"]
        if tag == "rect" and "atstep" in a.get("class", "").split():
            self.nodes[self.tensor, a["data-pair"]] = a


def test_a_long_bug_run_shows_where_the_mistake_started(runs):
    """parity with the sigmoid derivative taken of its input, 4 steps: over the run the wrong dZ3
    reaches every tensor (all red, Z1 included from step 2 on); coloured by the first divergence's
    step, the forward pass and the loss stay within rounding and dZ3 and what is computed from it
    are red, each node's number the judge's max_rel at that step."""
    report, spec, path = runs["long-bug"]
    text = path.read_text()
    first = report.summary["first_divergence"]
    assert (first["step"], first["tensor"]) == (1, "dZ3")
    at = report.raw["divergence_step_errors"]
    over_run, at_step = Nodes(), StepNodes()
    over_run.feed(text)
    at_step.feed(text)
    pair = "torch"
    assert over_run.nodes["Z1", pair]["data-band"] == "beyond"          # reached later
    for tensor in ("Z1", "A1", "Z2", "A2", "Z3", "A3", "loss"):
        node = at_step.nodes[tensor, pair]
        assert node["data-band"] == "rounding", (tensor, node)
        assert float(node["data-max-rel"]) == at[pair][tensor]
    for tensor in ("dZ3", "dW3", "dZ2", "dW1", "W1"):
        assert at_step.nodes[tensor, pair]["data-band"] == "beyond", tensor
    assert float(at_step.nodes["dZ3", pair]["data-max-rel"]) == at[pair]["dZ3"] > 1e-9
    # the view's buttons and the CSS that shows a node set only with its pair's and view's button
    assert 'id="dg-view-1" checked' in text and 'id="dg-view-0">' in text      # shown first
    assert "#dg-pair-0:checked ~ #dg-view-1:checked ~ svg .p0.v1" in text
    # a run without a divergence has one view and no such buttons
    assert 'id="dg-view-1"' not in runs["pass"][2].read_text()
