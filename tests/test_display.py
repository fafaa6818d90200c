"""What a newcomer reads: the first line, the config, the tables (100 columns unless --wide), the
notes, trace's layout, the HTML of an --inject-bug run, the JSON's evaluation inputs, --nesterov.
In-process runs of small recipes, mostly without Keras to stay fast."""
import json
import re

import numpy as np
import pytest

from compare.cli import main
from compare.cli.common import resolve_spec
from compare.cli.run import recipe_parser
from compare.data import recipes
from compare.views.text import logical_lines

FAST = ["--frameworks", "scratch,torch"]


def run(capsys, argv):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def config_value(out, field):
    """The value column of a row of the config table."""
    return next(line.split(None, 1)[1] for line in out.splitlines() if line.startswith(field + " "))


# 1. the first line describes what runs, overrides included --------------------------------------

def test_first_line_describes_the_resolved_spec(capsys):
    code, out, _ = run(capsys, ["toy3", "--optimizer", "adam", "--lr", "0.01", "--steps", "1"] + FAST)
    assert code == 0
    first = out.splitlines()[0]
    assert first == "recipe toy3: 3-3-3 tanh/softmax, cross-entropy, Adam lr 0.01, batches of 4, 1 step"
    assert recipes.get("toy3").summary not in out and "SGD" not in first


# 2. the config says what resync and keras_float32_casts mean; fields that do not apply are hidden

def test_config_explains_resync_and_hides_what_does_not_apply(capsys):
    _, out, _ = run(capsys, ["toy3", "--dtype", "float32", "--steps", "1"] + FAST)
    assert config_value(out, "resync").startswith("on (float32: each step restarts torch and Keras")
    assert "keras_float32_casts" not in out            # no Keras in this run
    assert "nesterov" not in out and "rho" not in out   # plain SGD
    _, out, _ = run(capsys, ["toy3", "--steps", "1"] + FAST)
    assert config_value(out, "resync").startswith("off")


# 3. pairs named ours~theirs; accuracy only for classification; "1 step" -------------------------

def test_regression_run_names_pairs_and_shows_no_accuracy(capsys):
    code, out, _ = run(capsys, ["dosage"] + FAST)
    assert code == 0
    assert "scratch~torch" in out and "rel err torch" not in out
    assert "accuracy" not in out and "0.8333" not in out        # mse: an accuracy would mean nothing
    assert out.splitlines()[-1].startswith("PASS: 1 step, ")
    _, out, _ = run(capsys, ["toy3", "--steps", "2"] + FAST)
    assert "accuracy" in out and out.splitlines()[-1].startswith("PASS: 2 steps, ")


# 4. 100 columns (all frameworks), --wide for the full tables ------------------------------------

@pytest.mark.parametrize("argv", [["toy3"], ["parity"], ["xor", "--steps", "5"], ["dosage"],
                                  ["keras-quickstart", "--steps", "3"]], ids=lambda a: " ".join(a))
def test_output_fits_100_columns(capsys, argv):
    code, out, _ = run(capsys, argv)
    assert code == 0
    too_wide = [line for line in out.splitlines() if len(line) > 100]
    assert not too_wide, "\n".join(too_wide)


def test_wide_prints_the_full_tables(capsys):
    _, out, _ = run(capsys, ["toy3", "--wide"] + FAST)
    assert "loss scratch    loss torch    rel err scratch~torch" in out
    assert "0.698864605681, 0.0384125761852, 0.262722818134" in out      # final outputs in full


# 5. trace: each tensor once, the others' differences beside it; --full for all ------------------

def test_trace_shows_each_tensor_once_and_full_shows_all(capsys, tmp_path):
    path = tmp_path / "t.json"
    code, out, _ = run(capsys, ["trace", "parity", "--step", "1", "--json", str(path)] + FAST)
    assert code == 0
    lines = out.splitlines()
    assert len(lines) <= 80 and max(map(len, lines)) <= 100
    z1 = lines[lines.index("Z1 = W1 · A0 + b1") + 1]
    assert z1.strip().startswith("[-0.2842089") and z1.endswith("identical in the others")
    assert set(json.loads(path.read_text())["tensors"]["Z1"]) == {"scratch", "torch"}   # JSON keeps all
    code, full, _ = run(capsys, ["trace", "parity", "--step", "1", "--full"] + FAST)
    assert code == 0 and len(re.findall(r"^torch ", full, re.M)) >= 20 and len(full.splitlines()) > len(lines)


# 6. notes printed and in the HTML; the HTML of an --inject-bug run names it and shows its code ---

def test_notes_are_printed_wrapped(capsys):
    _, out, _ = run(capsys, ["toy3", "--steps", "1"] + FAST)
    assert "notes: Square layers (3 -> 3 -> 3)" in out


def test_html_of_an_injected_bug_names_it_and_shows_its_source(capsys, tmp_path):
    path = tmp_path / "bug.html"
    assert main(["toy3", "--inject-bug", "ascent", "--html", str(path), "--quiet"] + FAST) == 1
    text = path.read_text()
    assert "injected bug ascent: the update added instead of subtracted" in text
    marked = re.findall(r'<span class="bugline">(.*?)</span>', text)
    assert [line.split("#")[0].strip() for line in marked] == ["return p + self.lr * g"]
    assert 'id="notes"' in text and "Square layers" in text


# 7. xor's notes give a command that learns it ---------------------------------------------------

def test_xor_notes_give_the_command_that_learns_it():
    notes = recipes.get("xor").notes
    command = re.search(r"python -m compare (xor [-\w. ]+)", notes).group(1).split()
    spec = resolve_spec(recipes.get("xor"), recipe_parser().parse_args(command))
    assert (spec.lr, spec.epochs) == (1.0, 5000)      # measured: accuracy 1.0, outputs within 0.004


# 8. the JSON and the outputs table say which inputs the final outputs are of --------------------

def test_final_outputs_name_their_inputs(capsys, tmp_path):
    path = tmp_path / "r.json"
    _, out, _ = run(capsys, ["dosage", "--json", str(path)] + FAST)
    report = json.loads(path.read_text())
    np.testing.assert_array_equal(report["evaluation_inputs"], np.linspace(0, 1, 11).reshape(-1, 1))
    assert len(report["final_outputs"]["scratch"]) == 11 and "summary" in report and "steps" in report
    table = out.split("final outputs on the evaluation inputs")[1].splitlines()
    rows = [line.split()[0] for line in table[4:15]]                 # after the two header lines and the rule
    assert table[1].startswith("input ") and rows == [f"{x:g}" for x in np.linspace(0, 1, 11)]


# 9. --nesterov ----------------------------------------------------------------------------------

def test_nesterov_option(capsys, tmp_path):
    path = tmp_path / "r.json"
    code, out, _ = run(capsys, ["toy3", "--momentum", "0.9", "--nesterov", "--json", str(path)] + FAST)
    assert code == 0 and json.loads(path.read_text())["config"]["nesterov"] is True
    assert "SGD Nesterov momentum 0.9 lr 0.1" in out.splitlines()[0]
    code, _, err = run(capsys, ["toy3", "--nesterov"] + FAST)
    assert code == 2 and "nesterov needs momentum > 0" in err
    assert len(logical_lines(err.strip())) == 1
