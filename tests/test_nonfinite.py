"""NaN and infinity: the run stops at the first non-finite value, exits 1, and names the framework,
step, layer and tensor with what its inputs looked like. NaN never counts as agreement."""
import json

import numpy as np
import pytest

from compare.engine.check import cmp
from compare.cli import main
from compare.engine.harness import first_nonfinite
from compare.engine.names import ordered
from compare.views.text import logical_lines


def test_huge_learning_rate_overflows_and_stops(tmp_path, capsys):
    """dosage (softplus/linear, summed squared error) with lr 1e6: the weights explode until the
    loss overflows float64. torch and Keras only, so torch is the one that reports it."""
    path = tmp_path / "r.json"
    code = main(["dosage", "--lr", "1e6", "--steps", "60", "--frameworks", "torch,keras", "--json", str(path)])
    out, err = capsys.readouterr()
    assert code == 1 and "Traceback" not in out + err
    s = json.loads(path.read_text())["summary"]
    bad = s["first_nonfinite"]
    assert bad["framework"] == "torch" and bad["tensor"] == "loss" and bad["layer"] == 2
    assert bad["value"] == "inf" and bad["inputs"]["max|Z2|"] > 1e150
    assert s["steps_completed"] == bad["step"] < 60             # stopped at that step
    assert not s["passed"]
    verdict = logical_lines(out.strip())[-1]          # the verdict, its wrapped lines joined
    assert verdict.startswith("MISMATCH: first non-finite value: step") and "torch" in verdict and "max|Z2|" in verdict


def test_first_nonfinite_is_the_earliest_tensor_in_compute_order():
    record = {"Z1": np.array([[1.0, 2.0]]), "A1": np.array([[1.0, np.inf]]), "Z2": np.array([[np.nan, 0.0]]),
              "A2": np.array([[np.nan, 0.0]]), "loss": np.array(np.nan), "W1": np.array([[3.0]])}
    bad = first_nonfinite(4, "keras", record, ordered(record, 2))
    assert (bad["step"], bad["framework"], bad["layer"], bad["tensor"], bad["index"]) == (4, "keras", 1, "A1", [0, 1])
    assert bad["value"] == np.inf and bad["inputs"] == {"max|Z1|": 2.0, "max|W1|": 3.0}
    assert first_nonfinite(1, "scratch", {"Z1": np.ones((2, 2))}, ["Z1"]) is None


@pytest.mark.parametrize("ours, theirs", [
    (np.nan, np.nan), ([1.0, np.nan], [1.0, np.nan]), ([np.inf], [np.inf]), ([-np.inf, 1], [-np.inf, 1]),
    ([1.0, np.nan], [1.0, 2.0]), ([np.inf], [1e308]),
])
def test_nan_and_inf_never_agree(ours, theirs):
    error = cmp("t", ours, theirs)
    assert not error.finite and not error.passed(1e300)
