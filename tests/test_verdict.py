"""A verdict that cannot pass by accident: every way a run could 'pass' without judging anything
is a non-zero exit with a verdict saying why, and compare.assert_equivalent raises on each."""
import glob
import os

import numpy as np
import pytest

import compare
from compare.adapters.base import UserImplementation
from compare.cli import main
from compare.data import recipes
from compare.data.bugs import inject
from compare.engine import convert
from compare.views.text import logical_lines


def cli(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_two_references_that_cannot_be_judged_are_not_a_pass(capsys):
    """torch vs Keras with Adam differ by convention (eps placement): reported, never judged;
    with no other pair, nothing was judged: exit 1, never PASS."""
    code, out, err = cli(["toy3", "--frameworks", "torch,keras", "--optimizer", "adam"], capsys)
    verdict = logical_lines(out.strip())[-1]          # the verdict, its wrapped lines joined
    assert code == 1 and verdict.startswith("NOTHING JUDGED:") and "adam-eps-placement" in verdict
    assert "PASS" not in out
    spec = recipes.get("toy3").spec.replace(optimizer="adam")
    with pytest.raises(AssertionError, match="nothing-judged: no pair could be judged"):
        compare.assert_equivalent(spec, frameworks=("torch", "keras"))


@pytest.mark.parametrize("frameworks", ["scratch", "torch", "keras", "scratch,scratch"])
def test_one_implementation_alone_is_an_input_error(frameworks, capsys):
    code, out, err = cli(["toy3", "--frameworks", frameworks, "--quiet"], capsys)
    assert code == 2 and len(logical_lines(err)) == 1 and out == ""
    assert "nothing to be compared with" in err or "twice" in err
    with pytest.raises(compare.InputError):
        compare.assert_equivalent(recipes.get("toy3").spec, frameworks=tuple(frameworks.split(",")))


def test_an_implementation_that_raises_fails_the_assertion():
    """Before: assert_equivalent returned normally when an implementation raised (passed=False,
    0 steps). Now it raises, naming the exception and where."""
    spec = recipes.get("toy3").spec
    with inject("rows-times-weights"), pytest.raises(AssertionError, match=r"error: scratch raised ValueError"):
        compare.assert_equivalent(spec, data=recipes.get("toy3").load(), frameworks=("scratch", "torch"))


def test_a_mismatch_fails_the_assertion_naming_where():
    spec = recipes.get("toy3").spec
    with inject("no-batch-mean"), pytest.raises(AssertionError, match=r"step 1, scratch vs torch: layer 2, dZ2.*factor of m = 4"):
        compare.assert_equivalent(spec, data=recipes.get("toy3").load(), frameworks=("scratch", "torch"))


class GivesNothingComparable(UserImplementation):
    """A user implementation that runs but hands back no tensor the references give."""
    name = "silent"

    def build(self, spec, params, convention):
        class Silent:
            def step(self, X, Y):
                return {}
        return Silent()


class Raises(UserImplementation):
    name = "raises"

    def build(self, spec, params, convention):
        class Broken:
            def step(self, X, Y):
                return {"Z1": X @ np.ones((5, 2))}        # a shape error inside the user's step
        return Broken()


class Unknown(UserImplementation):
    name = "unknown"

    def build(self, spec, params, convention):
        class Odd:
            def step(self, X, Y):
                return {"Z1": convert.rows_to_batch(X), "hidden_state": X}
        return Odd()


TOY = dict(sizes=[3, 3, 3], activations=["tanh", "softmax"], loss="categorical_crossentropy", batch_size=4,
           steps=2, epochs=None)


def test_nothing_in_common_is_nothing_judged():
    report = compare.check(GivesNothingComparable(), spec=compare.Spec(**TOY), against=("torch",))
    assert report.verdict == "nothing-judged" and not report.passed
    assert "no tensor in common" in report.summary["verdict_reason"]
    assert report.summary["tensors_judged"] == 0
    assert "Z1" in report.summary["not_compared"]["silent~torch"]
    with pytest.raises(AssertionError, match="nothing-judged"):
        compare.assert_equivalent(GivesNothingComparable(), spec=compare.Spec(**TOY), against=("torch",))


def test_a_user_step_that_raises_is_an_error_with_the_line():
    report = compare.check(Raises(), spec=compare.Spec(**TOY), against=("torch",))
    assert report.verdict == "error"
    error = report.summary["error"]
    assert error["framework"] == "raises" and error["step"] == 1 and error["file"].endswith("test_verdict.py")
    assert "Z1" in error["code"]


def test_an_unknown_tensor_name_is_an_error_not_left_out():
    report = compare.check(Unknown(), spec=compare.Spec(**TOY), against=("torch",))
    assert report.verdict == "error"
    assert "'hidden_state' is not a tensor name" in report.summary["error"]["exception"]


def test_an_internal_error_exits_3_with_one_line(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", None)

    def broken(*args, **kwargs):
        raise RuntimeError("a bug in the tool")
    monkeypatch.setattr("compare.views.tables.step_table", broken)
    code, out, err = cli(["toy3", "--frameworks", "scratch,torch"], capsys)
    assert code == 3
    assert len(logical_lines(err)) == 1 and err.startswith("internal error of framework-mirror")
    assert "RuntimeError: a bug in the tool" in err and "Traceback" not in err
    saved = glob.glob(os.path.join(str(tmp_path), "framework-mirror-crash-*.txt"))
    assert len(saved) == 1 and saved[0] in err and "Traceback" in open(saved[0]).read()


def test_no_arguments_is_a_usage_error(capsys):
    code, out, err = cli([], capsys)
    assert code == 2 and "usage:" in out and len(logical_lines(err)) == 1
    assert err.startswith("error:")


def test_pass_needs_a_judged_tensor(capsys):
    """The pass line says how many tensors were judged, and that number is never 0."""
    code, out, err = cli(["toy3", "--frameworks", "scratch,torch"], capsys)
    verdict = [line for line in out.strip().splitlines() if not line.startswith(" ")][-1]
    assert code == 0 and verdict.startswith("PASS: 3 steps, ") and " 0 tensors" not in verdict
    judged = int(verdict.split("steps, ")[1].split(" tensors judged")[0])
    assert judged == 3 * (2 * 2 + 1 + 3 * 2 + 2 * 2 + 1)


def test_a_pass_names_the_pair_it_reported_but_did_not_judge(capsys):
    """toy3 --norm batch: torch~keras differs by convention (0.9 relative) and is reported, not
    judged; the PASS line says so, naming the rules, wrapped to 100 columns (--wide: one line)."""
    rules = "batchnorm-default-momentum, norm-default-eps, batchnorm-running-variance"
    code, out, err = cli(["toy3", "--norm", "batch", "--quiet"], capsys)
    lines = out.strip().splitlines()
    assert code == 0 and lines[0].startswith("PASS: 3 steps, ") and all(len(line) <= 100 for line in lines), out
    assert lines[1].startswith("  ") and " ".join(line.strip() for line in lines).endswith(
        f"(scratch~torch); torch~keras reported, not judged (rules differ: {rules})"), out
    from compare.views import tables
    report = compare.run(recipes.get("toy3").spec.replace(norm="batch"), recipes.get("toy3").load())
    wide = tables.verdict_line(report)
    assert "\n" not in wide and wide.endswith(f"; torch~keras reported, not judged (rules differ: {rules})")
    assert tables.verdict_text(report, wide=True) == wide and tables.verdict_text(report) == tables.wrap(wide)
    judged = compare.run(recipes.get("toy3").spec, recipes.get("toy3").load())     # every pair judged: no clause
    assert "not judged" not in tables.verdict_line(judged)


def test_a_configured_rule_is_not_named_as_why_a_pair_is_unjudged():
    """flatten-order and same-padding-strided are rules the references are set up around (the
    numbers agree): the clause names only the rules that keep the pair from being judged."""
    from types import SimpleNamespace
    from compare.views import tables
    pair = {"ours": "torch", "theirs": "keras",
            "reasons": {"sgd-momentum-form": "v differs", "flatten-order": "rows permuted",
                        "same-padding-strided": "padded by hand", "resync": "not resynced"}}
    report = SimpleNamespace(summary={"pairs": {"torch~keras": pair}, "judged_pairs": ["scratch~torch"],
                                      "max_rel_err": {"torch~keras": 1e-6}},
                             config={}, implementations={})
    clause = tables.unjudged_clause(report)
    assert clause.endswith("reported, not judged (rules differ: sgd-momentum-form, resync)"), clause


def test_predictions_that_differ_are_placed_within_or_across_the_judged_pairs():
    """mnist-cnn's torch and Keras pairs follow different trajectories (sgd-momentum-form under a
    changing lr): the accuracy table says the judged pairs' predictions are identical and where
    the others differ."""
    from types import SimpleNamespace
    from compare.views import tables
    pairs = {"torch": {"ours": "scratch", "theirs": "torch"}, "keras": {"ours": "scratch@keras", "theirs": "keras"},
             "torch~keras": {"ours": "torch", "theirs": "keras"}}
    summary = {"pairs": pairs, "judged_pairs": ["torch", "keras"], "predictions_identical": False,
               "test_accuracy": {"scratch": 0.9862, "torch": 0.9862, "scratch@keras": 0.986, "keras": 0.986},
               "predictions_differing": {"scratch": 0, "torch": 0, "scratch@keras": 110, "keras": 110},
               "predictions_differing_pairs": {"torch": 0, "keras": 0, "torch~keras": 110}}
    report = SimpleNamespace(summary=summary, runners=["scratch", "torch", "scratch@keras", "keras"])
    text = tables.accuracy_table(report)
    assert text.splitlines()[-2:] == [
        "test predictions: NOT identical across scratch, torch, scratch@keras, keras; differing scratch~torch",
        "  0, scratch@keras~keras 0, torch~keras 110 (not judged)"], text
