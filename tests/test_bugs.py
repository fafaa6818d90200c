"""The checker can fail: every mistake in the bug zoo (compare/data/bugs.py) makes the run exit 1, and
the report localises it exactly where `python -m compare bugs` says it shows."""
import json

import pytest

import scratch.activations as act
import scratch.conv as conv
import scratch.image_layers as image_layers
import scratch.layers as scratch_layers
import scratch.pool as pool
import scratch.optimizers as opt
from compare.engine import image_layers as engine_images
from compare.data import bugs
from compare.cli import main
from compare.engine.run import describe_divergence
from compare.views.text import logical_lines
from scratch.mlp import MLP

BUGS = list(bugs.BUGS.values())


def run_cli(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("bug", BUGS, ids=[b.name for b in BUGS])
def test_bug_is_caught_where_listed(bug, tmp_path, capsys):
    path = tmp_path / "report.json"
    code, out, err = run_cli([bug.recipe, "--inject-bug", bug.name, "--json", str(path)], capsys)
    assert code == 1, f"{bug.name}: exit {code}\n{out}\n{err}"
    assert "Traceback" not in out + err
    report = json.loads(path.read_text())
    s, want = report["summary"], bug.expected
    assert s["passed"] is False and s["injected_bug"] == bug.name
    if "raises" in want:
        error = s["error"]
        assert error["step"] == want["step"] and error["framework"] == "scratch"
        assert error["exception"].startswith(want["raises"] + ":")
        assert error["file"].endswith("compare/data/bugs.py") and f"{want['tensor'][0]} = " in error["code"]
        lines = out.strip().splitlines()
        at = max(i for i, line in enumerate(lines) if line.startswith("ERROR:"))   # rows may wrap
        block = "\n".join(lines[at:])
        assert at >= len(lines) - 12 and lines[at].startswith("ERROR:"), out
        for label in ("step", "implementation", "exception", "at", "code"):
            assert f"\n  {label} " in block
        assert f"compare/data/bugs.py:{error['line']}" in block
        assert bug.diagnosis in block
        return
    found = s["first_divergence"]
    assert found is not None, f"{bug.name}: no divergence found"
    assert (found["step"], found["layer"], found["tensor"]) == (want["step"], want["layer"], want["tensor"]), found
    assert found["framework"] == "torch" and found["ours"] == "scratch"
    if found["shape_ok"]:
        assert found["values"]["scratch"] != found["values"]["torch"]
    else:
        assert found["shapes"]["scratch"] != found["shapes"]["torch"]
    # both scratch runners carry the mistake: the Keras pair fails at the same step too
    row = next(r for r in report["steps"] if r["step"] == want["step"])
    for pair in ("torch", "keras"):
        assert not float(row["max_rel_err"][pair]) <= s["rtol"], f"{bug.name}: pair {pair} passed step {want['step']}"
    assert float(row["max_rel_err"]["torch~keras"]) <= s["rtol"]          # the references still agree
    verdict = logical_lines(out.strip())[-1]          # the verdict, its wrapped lines joined
    assert verdict.startswith("MISMATCH:") and want["tensor"] in verdict and f"step {want['step']}" in verdict
    assert bug.diagnosis in verdict, f"{bug.name}: the verdict does not say {bug.diagnosis!r}:\n{verdict}"
    assert bug.diagnosis in (describe_divergence(s["first_nonfinite"]) if s["first_nonfinite"] else found["explanation"])


def test_unstable_softmax_reports_the_first_non_finite_value(tmp_path, capsys):
    path = tmp_path / "report.json"
    code, out, _ = run_cli(["toy3-large-logits", "--inject-bug", "unstable-softmax", "--json", str(path)], capsys)
    assert code == 1
    bad = json.loads(path.read_text())["summary"]["first_nonfinite"]
    assert (bad["step"], bad["framework"], bad["layer"], bad["tensor"]) == (1, "scratch", 1, "A1")
    assert bad["inputs"]["max|Z1|"] > 709            # e^z overflows float64 above ~709.78
    assert "non-finite" in out and "max|Z1|" in out


def test_listing_json_matches_the_zoo(tmp_path, capsys):
    path = tmp_path / "bugs.json"
    code, out, _ = run_cli(["bugs", "--json", str(path)], capsys)
    assert code == 0
    listing = json.loads(path.read_text())
    assert [b["name"] for b in listing] == list(bugs.BUGS)
    for entry in listing:
        assert set(entry["expected"]) >= {"step", "layer", "tensor"} and entry["recipe"]
        assert entry["name"] in out and entry["recipe"] in out
    required = {"softmax-whole-batch", "skipped-activation", "bias-grad-all-units", "sigmoid-sign",
                "sigmoid-grad-of-input", "no-batch-mean", "unstable-softmax", "bias-not-updated",
                "wrong-activation-in-dW", "ascent"}
    assert required <= set(bugs.BUGS)


def test_listing_fits_100_columns_and_says_each_mistake(capsys):
    code, out, _ = run_cli(["bugs"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 100
    for bug in BUGS:
        at = next(i for i, line in enumerate(lines) if line.split()[:1] == [bug.name])
        assert lines[at].split()[1] == bug.recipe
        said = []
        for line in lines[at + 1:]:                  # the mistake, wrapped, indented under it
            if not line.startswith("    "):
                break
            said.append(line.strip())
        assert " ".join(said) == bug.what


def test_the_zoo_recipes_pass_without_a_bug(capsys):
    for recipe in sorted({b.recipe for b in BUGS}):
        code, out, err = run_cli([recipe, "--quiet"], capsys)
        assert code == 0, f"{recipe}: {out}{err}"


def scratch_code():
    """Everything a bug of the zoo patches."""
    return (dict(act.ACTIVATIONS), dict(act.TORCH_ACTIVATIONS), MLP.forward, MLP.backward, MLP.step,
            MLP.output_dZ, opt.SGD.update, conv.pad, conv.im2col, conv.conv2d_forward,
            image_layers.Conv2D.forward, image_layers.Conv2D.backward,
            image_layers.MaxPool2D.forward, image_layers.MaxPool2D.backward,
            pool.avg_pool2d_forward,
            engine_images.Flatten.scratch, scratch_layers.Dense.forward,
            scratch_layers.Dense.backward)


def test_inject_restores_the_scratch_code():
    before = scratch_code()
    for name in bugs.BUGS:
        with bugs.inject(name):
            assert scratch_code() != before, f"{name} patches nothing"
    assert scratch_code() == before


def test_unknown_bug_is_an_input_error(capsys):
    code, out, err = run_cli(["toy3", "--inject-bug", "no-such-bug"], capsys)
    assert code == 2
    assert err.startswith("error: unknown bug 'no-such-bug'") and len(logical_lines(err)) == 1


@pytest.mark.parametrize("recipe, bug, words", [
    ("parity", "softmax-whole-batch", "the network has no softmax layer"),
    ("dosage", "ascent", "the learning rate is 0"),
    ("parity", "no-batch-mean", "batches of 1 example"),
    ("xor", "skipped-activation", None),          # xor has a hidden sigmoid layer: it can show
    ("mnist-cnn-small", "conv-padding-before", "no Conv2D layer pads one side more than the other"),
    ("cnn-zoo", "conv-padding-before", None),     # 'same' with a 4x4 kernel pads (1, 2, 1, 2)
    ("toy3", "conv-windows-short", "the network has no Conv2D layer"),
    ("toy3", "maxpool-grad-every-tie", "the network has no MaxPool2D layer"),
    ("toy3", "flatten-channels-last", "the network flattens no image"),
    ("toy3", "conv-kernel-channels-last", "no Conv2D layer has more than one input channel"),
    ("toy3", "im2col-taps-transposed", "the network has no Conv2D layer with a kernel larger"),
    ("mnist-cnn-small", "avgpool-divisor-counts-padding", "the network has no AvgPool2D layer"),
    ("cnn-zoo-avgpool", "avgpool-divisor-counts-padding", None),   # 'same': 4 or 6 real cells of 9
    ("toy3", "conv-kernel-filters-channels-swapped", "no Conv2D layer has more than one input"),
    ("cnn-zoo-avgpool", "conv-kernel-filters-channels-swapped",
     "no Conv2D layer has more than one input channel and more than one filter"),   # 1 -> 4 only
    ("mnist-cnn-small", "conv-kernel-filters-channels-swapped", None),             # 6 -> 16
    ("toy3", "", "needs a bug name"),
    ("toy3", "no-such-bug", "unknown bug 'no-such-bug'"),
])
def test_inject_bug_that_cannot_show_is_refused(recipe, bug, words, capsys, monkeypatch):
    """A bug whose code cannot change a number of the run would let the run pass and prove
    nothing: refused (exit 2) before any framework is imported."""
    from compare.data.bugs import check_applies
    from compare.data.recipes import get

    if words is None:
        check_applies(bug, get(recipe).spec)              # no error
        return
    monkeypatch.setattr("compare.engine.run.check_frameworks", lambda *a, **k: pytest.fail("frameworks imported"))
    code, out, err = run_cli([recipe, "--inject-bug", bug, "--quiet"], capsys)
    assert code == 2 and len(logical_lines(err)) == 1 and words in logical_lines(err)[0], err


def test_bugs_json_lists_each_diagnosis(tmp_path, capsys):
    path = tmp_path / "bugs.json"
    code, out, err = run_cli(["bugs", "--json", str(path)], capsys)
    assert code == 0
    listing = {b["name"]: b for b in json.loads(path.read_text())}
    assert set(listing) == set(bugs.BUGS)
    for name, bug in bugs.BUGS.items():
        assert listing[name]["diagnosis"] == bug.diagnosis and bug.diagnosis


@pytest.mark.parametrize("pooling, why", [
    (dict(padding="same"), None),                                  # Keras's: real cells alone
    (dict(padding=1, count_include_pad=False), None),
    (dict(padding=1, strides=2, ceil_mode=True), None),           # the overhang is not counted
    (dict(padding=1), "divided by its whole size already"),       # torch's default counts it
    (dict(padding="same", count_include_pad=True), "divided by its whole size already"),
    (dict(padding="valid"), "divided by its whole size already"),
])
def test_avgpool_divisor_applies_where_a_window_divides_by_fewer_cells(pooling, why):
    """Dividing by kh kw changes a number only where some window's count is not kh kw."""
    from compare.data.recipes import get
    from compare.engine.image_layers import AvgPool2D, Conv2D, Flatten
    from compare.engine.layers import Activation, Dense

    layers = [Conv2D(4, 5, strides=3), Activation("relu"),       # 4x8x8 into a 3x3 pooling
              AvgPool2D(3, **{"strides": 1, **pooling}), Flatten(), Dense(10),
              Activation("softmax")]
    spec = get("cnn-zoo-avgpool").spec.replace(layers=layers)
    found = bugs.NEEDS["avgpool-divisor-counts-padding"](spec)
    assert found is None if why is None else why in found
