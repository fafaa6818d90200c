"""`check` stops at the first divergence: once a judged pair disagrees at step k the verdict is
known, so the run ends after step k (summary['stopped'] says where, and how many steps were
asked; the step table then has k rows, not one FAIL row per step for one bug); --keep-going
(keep_going=True) runs every step. A recipe run keeps running every step (its report must not
change). NumPy only (against scratch): fast."""
import json

import numpy as np
import pytest

import compare
from compare.cli import main as cli_main
from compare.engine.data import Data
from compare.engine.errors import InputError
from compare.views.text import logical_lines

SPEC = compare.Spec(sizes=[3, 4, 2], activations=["tanh", "softmax"], loss="categorical_crossentropy",
                    lr=0.1, batch_size=4, steps=8, epochs=None)

CODE = '''
import numpy as np
import compare

calls = {{"step": 0}}


def forward(X, W1, b1, W2, b2):
    Z1 = W1 @ X + b1
    A1 = np.tanh(Z1)
    Z2 = W2 @ A1 + b2
    e = np.exp(Z2 - Z2.max(axis=0, keepdims=True))
    return Z1, A1, Z2, e / e.sum(axis=0, keepdims=True)


def backward(X, Y, W2, A1, A2):
    calls["step"] += 1
    m = X.shape[1]
    dZ2 = A2 - Y
    if calls["step"] >= {wrong_from}:
        dZ2 = dZ2 * 1.5                          # the bug, from step {wrong_from} on
    dW2, db2 = dZ2 @ A1.T / m, dZ2.sum(axis=1, keepdims=True) / m
    dZ1 = W2.T @ dZ2 * (1 - A1 ** 2)
    return dZ1, dZ1 @ X.T / m, dZ1.sum(axis=1, keepdims=True) / m, dZ2, dW2, db2


mine = compare.functions(forward, backward, forward_returns="Z1 A1 Z2 A2",
                         backward_returns="dZ1 dW1 db1 dZ2 dW2 db2")
'''


def data(n=8):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, 3))
    return Data(X=X, Y=np.eye(2)[rng.integers(0, 2, n)], X_eval=X[:2])


def implementation(tmp_path, wrong_from):
    from compare.adapters.check import declared, load_file

    path = tmp_path / f"mine_{wrong_from}.py"
    path.write_text(CODE.format(wrong_from=wrong_from))
    return declared(load_file(str(path)), str(path))[0]


@pytest.mark.parametrize("wrong_from", [1, 3])
def test_the_check_stops_after_the_step_of_the_first_divergence(tmp_path, wrong_from):
    report = compare.check(implementation(tmp_path, wrong_from), spec=SPEC, data=data(), against=("scratch",))
    s = report.summary
    assert s["verdict"] == "mismatch" and s["first_divergence"]["step"] == wrong_from
    assert s["steps_completed"] == len(report.steps) == wrong_from
    assert s["stopped"] == {"step": wrong_from, "steps_asked": 8, "why": "first divergence"}
    assert report.notes.endswith(f"stopped after step {wrong_from} of 8: the first divergence decides the verdict "
                                 f"(--keep-going runs every step)")
    assert report.final_outputs                                # evaluated after the last step run, as always


def test_keep_going_runs_every_step(tmp_path):
    report = compare.check(implementation(tmp_path, 1), spec=SPEC, data=data(), against=("scratch",), keep_going=True)
    s = report.summary
    assert s["verdict"] == "mismatch" and s["first_divergence"]["step"] == 1
    assert s["steps_completed"] == 8 and "stopped" not in s


def test_no_stop_note_when_the_divergence_is_at_the_last_step_or_there_is_none(tmp_path):
    report = compare.check(implementation(tmp_path, 8), spec=SPEC, data=data(), against=("scratch",))
    assert report.summary["first_divergence"]["step"] == 8 and report.summary["steps_completed"] == 8
    assert "stopped" not in report.summary and "stopped" not in report.notes
    passing = compare.check(implementation(tmp_path, 99), spec=SPEC, data=data(), against=("scratch",))
    assert passing.summary["verdict"] == "pass" and passing.summary["steps_completed"] == 8
    assert "stopped" not in passing.summary


def test_a_kept_step_after_the_divergence_is_still_run(tmp_path):
    """keep_step=5 (the worked example of a later step) with a divergence at step 1: the run goes
    on to step 5, keeps it, and stops there (epochs: the steps asked are epochs x batches)."""
    spec = compare.Spec(sizes=[3, 4, 2], activations=["tanh", "softmax"], loss="categorical_crossentropy",
                        lr=0.1, batch_size=4, epochs=3)        # 8 examples, batches of 4: 6 steps
    report = compare.check(implementation(tmp_path, 1), spec=spec, data=data(), against=("scratch",), keep_step=5)
    assert report.summary["steps_completed"] == 5 and report.raw["kept"]["records"]
    assert report.summary["stopped"] == {"step": 5, "steps_asked": 6, "why": "first divergence"}


def test_keep_going_must_be_a_bool(tmp_path):
    with pytest.raises(InputError, match="^keep_going must be True or False, got str 'yes'$"):
        compare.check(implementation(tmp_path, 1), spec=SPEC, data=data(), against=("scratch",), keep_going="yes")


def test_cli_check_stops_and_says_so_and_keep_going_runs_on(tmp_path, capsys):
    path = tmp_path / "mine.py"
    path.write_text(CODE.format(wrong_from=2))
    argv = ["check", str(path), "--against", "scratch", "--steps", "30", "--sizes", "3,4,2",
            "--activations", "tanh,softmax", "--loss", "categorical_crossentropy", "--batch-size", "4"]
    assert cli_main([*argv, "--json", str(tmp_path / "r.json")]) == 1
    out = capsys.readouterr().out
    line = "stopped after step 2 of 30: the first divergence decides the verdict (--keep-going runs every step)"
    assert out.count(line) == 1
    assert out.count("FAIL") == 1                              # one row for one bug, not 29
    assert logical_lines(out.strip())[-1].startswith("MISMATCH: first divergence at step 2")
    summary = json.loads((tmp_path / "r.json").read_text())["summary"]
    assert (summary["steps_completed"], summary["stopped"]["step"], summary["stopped"]["steps_asked"]) == (2, 2, 30)
    assert cli_main([*argv, "--keep-going", "--json", str(tmp_path / "all.json")]) == 1
    out = capsys.readouterr().out
    assert "stopped after" not in out
    summary = json.loads((tmp_path / "all.json").read_text())["summary"]
    assert summary["steps_completed"] == 30 and "stopped" not in summary


def test_a_recipe_run_keeps_running_every_step(tmp_path, capsys):
    """python -m compare RECIPE with a mistake found at step 1 still runs every step (its report, and
    every recipe's, is what it was)."""
    assert cli_main(["toy3", "--inject-bug", "no-batch-mean", "--frameworks", "scratch,torch", "--steps", "6",
                     "--quiet", "--json", str(tmp_path / "r.json")]) == 1
    summary = json.loads((tmp_path / "r.json").read_text())["summary"]
    assert summary["first_divergence"]["step"] == 1 and summary["steps_completed"] == 6 and "stopped" not in summary
