"""Max pooling's kinks (compare/engine/pool_kinks.py, `python -m compare kinks`): on windows whose
maximum is tied (2 equal, 4 equal, at a 3x3 window's edge, on the edge two stride-1 windows share,
the zeros after a ReLU, -0.0 beside +0.0) torch's nn.MaxPool2d and Keras's MaxPooling2D send the
gradient where each convention's `maxpool_grad_to_first_max` says, measured by running them; scratch
follows; a NaN is shown, not mirrored; and a scratch tie rule flipped is caught by the command."""
import dataclasses
import json

import numpy as np
import pytest

from compare.cli import main
from compare.engine import pool_kinks
from scratch.conventions import KERAS, TORCH

pytest.importorskip("torch")
pytest.importorskip("keras")


@pytest.fixture(scope="module")
def rows():
    return pool_kinks.measure()


def test_the_routes_are_the_conventions_rule(rows):
    """Each framework's measured route is the one its convention value predicts, written out by
    hand in expected_route; and the hand rule is not vacuous: the last maximum would differ."""
    mirrored = [r for r in rows if r["mirrored"]]
    assert len(mirrored) == 6
    for row, (name, image, kernel, stride, relu, _) in zip(rows, pool_kinks.CASES):
        if not row["mirrored"]:
            continue
        x = np.array(image, dtype=np.float64)
        for column, convention in (("torch", TORCH), ("keras", KERAS)):
            expected = pool_kinks.expected_route(x, kernel, stride, relu, convention.maxpool_grad_to_first_max)
            assert np.array_equal(row[column], expected), (name, column, row[column])
        assert row["scratch"] == row["torch"] and row["scratch@keras"] == row["keras"]
    # the first maximum, not the last: these cases tell the two apart
    for name in ("2 equal", "4 equal", "3x3 window edge", "shared edge, s 1", "-0.0 and +0.0"):
        (_, image, kernel, stride, relu, _) = next(c for c in pool_kinks.CASES if c[0] == name)
        x = np.array(image, dtype=np.float64)
        assert not np.array_equal(pool_kinks.expected_route(x, kernel, stride, relu, True),
                                  pool_kinks.expected_route(x, kernel, stride, relu, False)), name


def test_hand_worked_routes(rows):
    """The cells, worked by hand: 2 equal -> (0, 1); 4 equal -> (0, 0); the 3x3 window's two 5s on
    its bottom edge -> (2, 0); two stride-1 windows sharing the 5 at (0, 1) -> 2 there; a ReLU's
    four zeros -> (0, 0); -0.0 before +0.0 -> (0, 0) (equal values: the first)."""
    got = {r["case"]: np.array(r["torch"]) for r in rows}
    assert got["2 equal"].tolist() == [[0, 1], [0, 0]]
    assert got["4 equal"].tolist() == [[1, 0], [0, 0]]
    assert got["3x3 window edge"].tolist() == [[0, 0, 0], [0, 0, 0], [1, 0, 0]]
    assert got["shared edge, s 1"].tolist() == [[0, 2, 0], [0, 0, 0]]
    assert got["after ReLU: all 0"].tolist() == [[1, 0], [0, 0]]
    assert got["-0.0 and +0.0"].tolist() == [[1, 0], [0, 0]]
    keras = {r["case"]: np.array(r["keras"]) for r in rows}
    assert all(np.array_equal(got[k], keras[k]) for k in got if k != "a NaN")


def test_a_nan_is_measured_and_not_mirrored(rows):
    """torch keeps the NaN (`|| std::isnan(val)`); TensorFlow's argmax skips it (`output_ref <
    input_ref` is false for a NaN) and sends the gradient to the 2: the frameworks differ there."""
    nan = next(r for r in rows if r["case"] == "a NaN")
    assert not nan["mirrored"] and nan["agree"] and nan["frameworks_differ"]
    assert nan["torch"] == [[0, 1], [0, 0]] and nan["keras"] == [[0, 0], [1, 0]]


def test_the_command_prints_the_pooling_rows_and_fails_a_flipped_tie_rule(tmp_path, capsys, monkeypatch):
    path = tmp_path / "kinks.json"
    assert main(["kinks", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 100
    assert "shared edge, s 1  1,5,5/0,0,1       2/1 (0,1):2" in out
    assert "6 pooling ties" in out.splitlines()[-1]
    written = json.loads(path.read_text())
    assert written["agree"] and len(written["pool_ties"]) == len(pool_kinks.CASES)
    last = dataclasses.replace(TORCH, name="torch-last", maxpool_grad_to_first_max=False)  # to the LAST maximum
    monkeypatch.setattr(pool_kinks, "TORCH", last)
    assert main(["kinks"]) == 1
    out = capsys.readouterr().out
    assert "MISMATCH" in out and "2 equal           1,3/3,0           2/2 (1,0)" in out
