"""Teaching: `trace` (worked example of one step), `code` (the three sources aligned) and the
HTML report, rendered in a real headless Chromium."""
import inspect
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest

from compare.cli import main
from compare.views.sidebyside import PARTS, part_rows, squeeze
from compare.views.text import logical_lines

RUNNERS = ("scratch", "torch", "scratch@keras", "keras")


def run_json(capsys, argv, path):
    code = main(argv + ["--json", str(path)])
    out = capsys.readouterr().out
    return code, out, json.loads(path.read_text())


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


# --- trace -------------------------------------------------------------------------------------

def test_trace_parity_step_1_matches_the_report(capsys, tmp_path):
    code, out, trace = run_json(capsys, ["trace", "parity", "--step", "1"], tmp_path / "trace.json")
    assert code == 0
    code, _, report = run_json(capsys, ["parity", "--steps", "1", "--quiet"], tmp_path / "report.json")
    assert code == 0
    tensors = trace["tensors"]
    assert trace["runners"] == list(RUNNERS)
    # the loss of step 1, every implementation, bit for bit as in the report
    for runner in RUNNERS:
        assert float(np.squeeze(tensors["loss"][runner])) == report["steps"][0]["loss"][runner]
    # the parameters after the step, pushed through the network, give the report's final outputs
    for runner in RUNNERS:
        A = np.array([[2.0, 3.0]])                                   # parity's evaluation inputs, a row
        for l in (1, 2, 3):
            A = sigmoid(np.array(tensors[f"W{l}"][runner]) @ A + np.array(tensors[f"b{l}"][runner]))
        np.testing.assert_allclose(A.T, report["final_outputs"][runner], rtol=1e-13, atol=0)
    # every tensor of the step, in textbook order, with its formula
    order = [m.group(1) for m in re.finditer(r"^(\w+\d?) (?:=|←) ", out, re.M)]
    assert order[:6] == ["Z1", "A1", "Z2", "A2", "Z3", "A3"]
    assert "L" in order and order.index("L") == 6
    assert order[7:16] == ["dZ3", "dW3", "db3", "dZ2", "dW2", "db2", "dZ1", "dW1", "db1"]
    for section in ("=== forward ===", "=== loss ===", "=== backward ===", "=== update ==="):
        assert section in out
    # the printed numbers are the JSON's numbers
    dW3 = np.array(tensors["dW3"]["torch"]).ravel()
    assert all(f"{v:.7g}" in out for v in dW3)
    # each tensor once (scratch's values), the others' largest differences beside it
    assert "Δ torch " in out and "identical in the others" in out
    assert len(out.splitlines()) <= 80 and max(len(line) for line in out.splitlines()) <= 100


def test_trace_dosage_matches_the_report_and_the_hand_worked_values(capsys, tmp_path):
    code, out, trace = run_json(capsys, ["trace", "dosage"], tmp_path / "trace.json")
    assert code == 0
    _, _, report = run_json(capsys, ["dosage", "--quiet"], tmp_path / "report.json")
    tensors = trace["tensors"]
    eval_index = [0, 1, 4, 5, 9, 10]                   # the training inputs within linspace(0, 1, 11)
    for runner in RUNNERS:
        A2 = np.array(tensors["A2"][runner]).ravel()
        final = np.array(report["final_outputs"][runner]).ravel()[eval_index]
        np.testing.assert_allclose(A2, final, rtol=1e-13, atol=1e-15, err_msg=runner)   # lr 0: unchanged
        assert float(np.squeeze(tensors["loss"][runner])) == report["steps"][0]["loss"][runner]
    # by hand: x = 0.5, softplus hidden units, linear output
    softplus = lambda z: np.log1p(np.exp(z))   # noqa: E731
    by_hand = -1.30 * softplus(-34.4 * 0.5 + 2.14) + 2.28 * softplus(-2.52 * 0.5 + 1.29) - 0.58
    assert tensors["A2"]["torch"][0][3] == pytest.approx(by_hand, rel=1e-14)
    assert "A1 = softplus(Z1)" in out and "L = mse(A2, Y)" in out


def test_trace_one_example_and_a_later_step(capsys, tmp_path):
    code, out, trace = run_json(capsys, ["trace", "xor", "--step", "3", "--example", "2"], tmp_path / "t.json")
    assert code == 0
    assert "step 3" in out.splitlines()[0] and "example 2" in out.splitlines()[0]
    assert np.shape(trace["tensors"]["Z1"]["scratch"]) == (3, 1)      # one column of the batch of 4
    assert np.shape(trace["tensors"]["dW1"]["scratch"]) == (3, 2)     # dW is over the whole batch


def test_trace_with_overrides_shows_the_optimizer_state(capsys, tmp_path):
    argv = ["--optimizer", "adam", "--lr", "0.01"]
    code, out, trace = run_json(capsys, ["trace", "xor", "--step", "2"] + argv, tmp_path / "t.json")
    assert code == 0
    _, _, report = run_json(capsys, ["xor", "--steps", "2", "--quiet"] + argv, tmp_path / "r.json")
    for runner in RUNNERS:
        assert float(np.squeeze(trace["tensors"]["loss"][runner])) == report["steps"][1]["loss"][runner]
    assert "=== optimizer state ===" in out
    # Adam's state after two steps: m = (1 - b1) (b1 g1 + g2), never zero for a non-zero gradient
    m = np.array(trace["tensors"]["W1.m"]["torch"])
    assert m.shape == (3, 2) and np.all(m != 0)
    np.testing.assert_allclose(trace["tensors"]["W1.m"]["keras"], trace["tensors"]["W1.m"]["scratch@keras"], rtol=1e-12)


@pytest.mark.parametrize("argv, message", [
    (["trace", "xor", "--example", "4"], "--example 4 is outside the batch of 4"),
    (["trace", "xor", "--example", "-1"], "--example must be >= 0"),
    (["trace", "nope"], "unknown recipe 'nope'"),
    (["trace", "parity", "--step", "0"], "--step"),
])
def test_trace_bad_input(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(logical_lines(err.strip())) == 1


def test_trace_summarises_large_tensors(capsys, mnist_dir):
    assert main(["trace", "mnist", "--data-dir", str(mnist_dir)]) == 0
    out = capsys.readouterr().out
    assert "shape (128, 784), corner:" in out           # W1 (scratch layout), not 100,352 numbers
    assert "norm" in out and len(out.splitlines()) < 1000     # not the 100,352 numbers of W1 alone


# --- code --------------------------------------------------------------------------------------

def test_code_is_the_source_that_runs():
    from reference.keras_mlp import KerasMLP
    from reference.torch_mlp import TorchMLP
    from scratch.mlp import MLP

    classes = {"scratch": MLP, "torch": TorchMLP, "keras": KerasMLP}
    for part in PARTS:
        rows, _ = part_rows(part)
        for name, cls in classes.items():
            shown = "\n".join(row.cells[name] for row in rows if row.cells[name])
            method = "tensor_step" if (name, part) == ("keras", "train_step") else part
            source = inspect.cleandoc("\n" + inspect.getsource(getattr(cls, method)))
            squeezed = "\n".join(squeeze(line) for line in source.splitlines() if line.strip())
            assert squeezed in shown, f"{part}: {name} shows something else than {cls.__name__}.{method}"


def test_code_all_lines_up_the_three_implementations(capsys):
    assert main(["code", "all", "--width", "200"]) == 0
    out = capsys.readouterr().out
    for part in PARTS:
        assert f"=== {part} ===" in out
    lines = out.splitlines()

    def row(text):
        return next(line for line in lines if line.lstrip().startswith(text))

    for text in ("def forward", "cache = Cache(A0=X)", "out = X", "for placed, layer in self.layers",
                 "cache[placed.name(placed.layer.role)] = out", "def backward", "grads = {}",
                 "cache = self.forward(X)", "self.step(grads, loss)"):
        assert row(text).count(" = ") >= 2 + text.count(" = "), f"not aligned: {row(text)}"
    # every row of forward has three columns of the same width: aligned, not merely concatenated
    forward = out.split("=== forward ===")[1].split("===")[0].strip().splitlines()
    positions = {len(line[:line.index(" = ", 60)]) for line in forward if line.startswith("def forward")}
    assert positions == {(200 - 6) // 3}


def test_code_one_after_another_on_a_narrow_terminal(capsys):
    assert main(["code", "backward", "--width", "100"]) == 0
    out = capsys.readouterr().out
    assert [line.split()[1] for line in out.splitlines() if line.startswith("--- ")] == ["scratch", "torch", "keras"]
    assert "tape.gradient(loss, wrt)" in out and "loss.backward()" in out


def test_code_bad_part(capsys):
    assert main(["code", "everything"]) == 2
    assert "unknown part 'everything'" in capsys.readouterr().err


# --- HTML --------------------------------------------------------------------------------------

class Page(HTMLParser):
    """Counts what the report must hold."""

    def __init__(self):
        super().__init__()
        self.ids, self.images, self.code_headers, self.in_code, self.tag_stack = set(), [], {}, None, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        if tag == "table" and attrs.get("class") == "code":
            self.in_code = attrs["id"]
            self.code_headers[self.in_code] = 0
        if tag == "th" and self.in_code:
            self.code_headers[self.in_code] += 1
        if tag in ("link", "script") and (attrs.get("href") or attrs.get("src")):
            raise AssertionError(f"external resource in a self-contained page: {attrs}")

    def handle_endtag(self, tag):
        if tag == "table":
            self.in_code = None


def test_html_report_holds_every_part(capsys, tmp_path):
    path = tmp_path / "parity.html"
    assert main(["parity", "--html", str(path), "--quiet"]) == 0
    text = path.read_text()
    page = Page()
    page.feed(text)
    assert {"config", "summary", "curves", "divergence", "worked-example", "code"} <= page.ids
    assert "curves-image" in page.ids and page.images         # the curves, the diagram's heatmaps
    assert all(src.startswith("data:image/png;base64,") for src in page.images)
    assert page.code_headers == {f"code-{part}": 3 for part in PARTS}
    assert "PASS: 4 steps" in text and "Z1 = W1 · A0 + b1" in text and "dW3 = dZ3 · A2ᵀ" in text
    assert "None: every judged tensor agreed" in text


def test_html_report_shows_the_first_divergence(capsys, tmp_path):
    path = tmp_path / "bug.html"
    assert main(["parity", "--inject-bug", "ascent", "--html", str(path), "--quiet"]) == 1
    text = path.read_text()
    assert 'class="verdict fail"' in text and "MISMATCH" in text
    assert "scratch vs torch" in text or "step 1, scratch" in text


def test_html_needs_a_writable_path(capsys, tmp_path):
    assert main(["parity", "--html", str(tmp_path / "missing" / "r.html")]) == 2
    assert "html" in capsys.readouterr().err


MEASURE = """<script>
window.addEventListener("load", () => {
  const tables = [...document.querySelectorAll("table.code")].map(t => {
    const cells = [...t.rows[1].cells].map(c => c.getBoundingClientRect());
    return {id: t.id, lefts: cells.map(r => Math.round(r.left)), widths: cells.map(r => Math.round(r.width))};
  });
  const img = document.getElementById("curves-image");
  const out = {tables, image: {complete: img.complete, naturalWidth: img.naturalWidth,
               shownWidth: Math.round(img.getBoundingClientRect().width)},
               pageWidth: document.documentElement.scrollWidth, windowWidth: window.innerWidth};
  const pre = document.createElement("pre"); pre.id = "layout"; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.mark.skipif(chromium() is None, reason="no Chromium installed (CI installs Debian's chromium)")
def test_html_report_of_mnist_renders_in_chromium(capsys, tmp_path, mnist_dir):
    """The mnist report (60 steps, to keep CI short) opened in headless Chromium at a laptop's
    1400 px: the three code columns side by side in every part, the curves decoded and shown,
    nothing wider than the window. The screenshot is kept in tmp_path for a person to look at."""
    path = tmp_path / "mnist.html"
    assert main(["mnist", "--data-dir", str(mnist_dir), "--steps", "60", "--html", str(path), "--quiet"]) == 0
    measured = tmp_path / "measured.html"
    measured.write_text(path.read_text().replace("</body>", MEASURE + "</body>"))
    flags = ["--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1400,900"]
    dom = subprocess.run([chromium(), *flags, "--virtual-time-budget=5000", "--dump-dom", measured.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    layout = json.loads(re.search(r'<pre id="layout">(.*?)</pre>', dom).group(1))
    assert [t["id"] for t in layout["tables"]] == [f"code-{part}" for part in PARTS]
    for table in layout["tables"]:
        left = table["lefts"]
        assert left[0] < left[1] < left[2], f"{table['id']}: columns not side by side: {table}"
        assert min(table["widths"]) > 300, f"{table['id']}: a column narrower than 300 px: {table}"
    assert layout["image"]["complete"] and layout["image"]["naturalWidth"] > 500
    assert layout["image"]["shownWidth"] > 500
    assert layout["pageWidth"] <= layout["windowWidth"], "the page scrolls sideways on a 1400 px screen"
    # the screenshot, for a person; here: it exists and is not blank
    shot = tmp_path / "mnist.png"
    subprocess.run([chromium(), *flags[:-1], "--window-size=1400,2600", f"--screenshot={shot}", path.as_uri()],
                   capture_output=True, timeout=120)
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("L"))
    assert pixels.shape == (2600, 1400)
    assert (pixels < 200).mean() > 0.02, "the screenshot is (almost) blank"


@pytest.mark.parametrize("rule,torch_name,keras_name", [
    ("adam", "def _single_tensor_adam(", "def update_step(self, gradient, variable, learning_rate)"),
    ("nadam", "def _single_tensor_nadam(", "def update_step("),
    ("adagrad", "def _single_tensor_adagrad(", "self.epsilon"),
    ("lion", "# torch ships no lion", "def update_step("),
    ("schedule-step", "class MultiStepLR" and "def get_lr(self)", "step_less_than_first_boundary"),
    ("schedule-plateau", "self.num_bad_epochs > self.patience", "self.wait >= self.patience"),
])
def test_code_shows_a_training_rule_beside_the_frameworks_own_source(rule, torch_name, keras_name, capsys):
    """`code adam`: scratch's update beside the installed torch's and Keras's own source of it."""
    assert main(["code", rule, "--width", "240"]) == 0
    out = capsys.readouterr().out
    assert f"=== {rule} ===" in out and "scratch (scratch/" in out
    assert torch_name in out and keras_name in out


def test_trace_writes_out_each_rule_of_the_update(capsys):
    """The worked step names the rules in the order they act: clipping, then weight decay, then the
    optimizer's update in torch's form with Keras's difference; and the schedule's next rate."""
    assert main(["trace", "toy3", "--optimizer", "rmsprop", "--clip-value", "0.5", "--weight-decay", "0.01",
                 "--schedule", "exponential", "--gamma", "0.9", "--frameworks", "scratch,torch"]) == 0
    out = capsys.readouterr().out
    assert "g ← clip(dW1, −c, c);  g ← g + wd·W1;  s ← ρ s + (1 − ρ) g²,  W1 ← W1 − lr · g / (√s + ε)" in out
    assert "Keras: ε inside the root" in out
    assert "lr: the learning rate the next step uses (exponential schedule every step): lr ← lr · 0.9" in out
