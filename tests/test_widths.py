"""Every line the tool prints fits 100 columns unless --wide (issue 21, "The terminal").

Each command runs here in-process with its main options (every subcommand and its --help, each
recipe family's small recipe for a few steps, a bug-zoo MISMATCH, an ERROR block, a NOTHING
JUDGED, users' mistakes, check on a user's file, trace, translate, `code all` piped), and no
line of its standard output or error may be wider than 100 columns. A message longer than that
is wrapped with a hanging indent: still one message (compare/views/text.py logical_lines joins
it back), its words kept. --wide keeps the long lines: the verdict on one line, the tables
whole, `code`'s columns as wide as the longest source line. `trace --full` prints tensors whole,
rows as wide as the tensors: the one output that is wide on request, like --wide.
"""
import contextlib
import re
from pathlib import Path

import pytest

from compare.cli import COMMANDS, main
from compare.views.sidebyside import PARTS, part_rows, rule_rows, wrap
from compare.views.text import WIDTH, hang, logical_lines

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch):
    """A terminal of 250 columns as far as $COLUMNS goes: argparse's help must not follow it."""
    monkeypatch.setenv("COLUMNS", "250")


def run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def too_wide(text):
    return [line for line in text.splitlines() if len(line) > WIDTH]


def assert_fits(argv, capsys, code_expected=None):
    code, out, err = run(argv, capsys)
    assert not too_wide(out) and not too_wide(err), (argv, too_wide(out) + too_wide(err))
    assert code_expected is None or code == code_expected, (argv, code, out[-2000:], err)
    return out, err


HELP = [["--help"], ["toy3", "--help"]] + [[name, "--help"] for name in COMMANDS if name != "list"]


@pytest.mark.parametrize("argv", HELP, ids=" ".join)
def test_help_fits_100_columns_in_a_wide_terminal(argv, capsys):
    with pytest.raises(SystemExit) if argv != ["--help"] else contextlib.nullcontext():
        main(argv)
    out, err = capsys.readouterr()
    assert out.startswith("usage: ") and not too_wide(out) and err == ""
    if argv[0] in ("toy3", "check"):            # long help texts: 100 columns filled, not 250
        assert max(len(line) for line in out.splitlines()) > 90


RECIPES = [                                     # each recipe family, small, a few steps
    ["toy3", "--steps", "2"], ["parity", "--steps", "2"], ["dosage"], ["xor", "--steps", "3"],
    ["keras-quickstart", "--steps", "2"], ["toy3-large-logits"], ["cnn-zoo", "--steps", "2"],
    ["cnn-zoo-avgpool", "--steps", "2"], ["toy3", "--norm", "batch", "--steps", "2"],
    ["toy3", "--optimizer", "adam", "--schedule", "step", "--milestones", "1", "--steps", "2"],
]


@pytest.mark.parametrize("argv", RECIPES, ids=" ".join)
def test_a_recipe_run_fits(argv, capsys):
    out, _ = assert_fits(argv, capsys, 0)
    assert logical_lines(out)[-1].startswith("PASS: ")


def test_four_frameworks_fit(capsys):
    """scratch, torch, Keras and JAX: six loss columns and two pair tables, each within 100 columns."""
    pytest.importorskip("jax")
    out, _ = assert_fits(["toy3", "--steps", "2", "--frameworks", "scratch,torch,keras,jax"], capsys, 0)
    lines = out.splitlines()
    assert any(line.split() == ["scratch", "torch", "scratch@keras", "keras", "scratch@jax", "jax"] for line in lines)
    assert any(line.split()[-2:] == ["torch~jax", "keras~jax"] for line in lines)    # the second pair table
    assert logical_lines(out)[-1].startswith("PASS: ")


def test_the_mnist_family_fits(mnist_dir, capsys):
    argv = ["mnist-batchnorm", "--steps", "2", "--data-dir", str(mnist_dir)]
    out, _ = assert_fits(argv, capsys, 0)
    assert "test predictions" in out


def test_commands_without_a_run_fit(capsys):
    for argv in (["list"], ["bugs"], ["kinks"], ["trace", "toy3"], ["trace", "cnn-zoo"],
                 ["trace", "toy3", "--full"], ["translate", "--from", "keras", "--flatten"],
                 ["translate", "--from", "torch", "--pool", "avg", "--count-include-pad", "true"]):
        out, _ = assert_fits(argv, capsys, 0)
        assert out.strip(), argv


def test_list_wraps_each_summary_under_its_column(capsys):
    out, _ = assert_fits(["list"], capsys, 0)
    from compare.data import recipes
    cnn = recipes.get("mnist-cnn").summary
    assert len(cnn) > WIDTH                     # a summary that must wrap
    at = out.index("mnist-cnn ")
    words = " ".join(line[19:].strip() for line in out[at:].splitlines()[:3])
    assert words.startswith(cnn[:150].rsplit(" ", 1)[0])


def verdict_of(out):
    return logical_lines(out.rstrip("\n"))[-1]


def test_a_mismatch_is_wrapped_with_a_hanging_indent_and_wide_keeps_it_whole(capsys):
    """toy3 with no-batch-mean: a 390-column MISMATCH line, wrapped; --wide: one line, the same
    words."""
    out, _ = assert_fits(["toy3", "--steps", "2", "--inject-bug", "no-batch-mean"], capsys, 1)
    tail = out.rstrip("\n").splitlines()
    start = max(i for i, line in enumerate(tail) if line.startswith("MISMATCH: "))
    assert len(tail) - start >= 3
    assert all(line.startswith("  ") and line[2] != " " for line in tail[start + 1:])
    verdict = verdict_of(out)
    assert verdict.startswith("MISMATCH: first divergence at step 1, scratch vs torch: layer 2, "
                              "dZ2[")
    assert "a factor of m = 4" in verdict
    code, wide, _ = run(["toy3", "--steps", "2", "--inject-bug", "no-batch-mean", "--wide"], capsys)
    assert code == 1 and wide.rstrip("\n").splitlines()[-1] == verdict and len(verdict) > 3 * WIDTH
    assert max(len(line) for line in wide.splitlines()) > 150          # the one wide step table


def test_a_cnn_bug_zoo_entry_fits(capsys):
    out, _ = assert_fits(["cnn-zoo", "--inject-bug", "conv-padding-before"], capsys, 1)
    assert verdict_of(out).startswith("MISMATCH: first divergence at step 1, scratch vs torch: "
                                      "layer 2, Z2[")


def test_nothing_judged_fits(capsys):
    argv = ["toy3", "--steps", "2", "--frameworks", "torch,keras", "--optimizer", "adam"]
    out, _ = assert_fits(argv, capsys, 1)
    verdict = verdict_of(out)
    assert verdict.startswith("NOTHING JUDGED: no pair could be judged: torch~keras is reported, "
                              "not judged (")
    assert "adam-eps-placement" in verdict and len(verdict) > WIDTH


def test_an_error_block_wraps_each_row_under_its_value(capsys):
    out, _ = assert_fits(["toy3", "--steps", "2", "--inject-bug", "rows-times-weights"], capsys, 1)
    block = out[out.rindex("ERROR: "):].splitlines()
    assert block[0].startswith("ERROR: an exception inside an implementation")
    assert [line.split()[0] for line in block[1:] if not line.startswith(" " * 18)] == \
        ["step", "implementation", "exception", "at", "code"]


@pytest.mark.parametrize("argv, words", [
    (["nosuch"], "error: unknown recipe 'nosuch'; choose one of: parity, dosage, xor, "),
    (["code", "nosuch"], "error: unknown part 'nosuch'; choose one of: forward, loss, "),
    (["toy3", "--lr", "abc"], "error: argument --lr: expected a number, got 'abc'"),
    (["check", "examples/xor_dict.py", "--steps", "2"],
     "the network of mine cannot be read from its code: give a spec (compare.Spec), a recipe "
     "(--recipe), or --sizes and --activations"),
], ids=lambda a: " ".join(a) if isinstance(a, list) else None)
def test_a_users_mistake_is_one_message_within_100_columns(argv, words, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    code, out, err = run(argv, capsys)
    assert code == 2 and not too_wide(err) and out == ""
    message = logical_lines(err)
    assert len(message) == 1 and message[0].startswith("error: ") and words in message[0]


def test_check_on_a_users_file_fits_and_many_implementations_split_the_tables(capsys, monkeypatch):
    """port_cnn_flatten_order.py: four implementations, seven losses and five pairs: the tables
    split into column groups within 100 columns; --wide: one table each."""
    monkeypatch.chdir(REPO)
    argv = ["check", "examples/port_cnn_flatten_order.py", "--steps", "2"]
    out, _ = assert_fits(argv, capsys, 1)
    assert out.count("worst rel err ") == 2 and "kerasnet~keras/kerasnet" in out
    verdict = verdict_of(out)
    assert verdict.startswith("MISMATCH: first divergence at step 1, kerasnet vs torch/kerasnet: "
                              "layer 2, Z2[")
    code, wide, _ = run(argv + ["--wide"], capsys)
    keras_name = lambda text: re.sub(r"\bdense_\d+\b", "dense", text)  # noqa: E731 - Keras counts
    assert code == 1 and wide.count("verdict (rtol") == 1
    assert keras_name(wide.rstrip("\n").splitlines()[-1]) == keras_name(verdict)


def test_a_check_that_fails_fits(capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    out, _ = assert_fits(["check", "examples/nielsen_network_bug.py", "--steps", "2"], capsys, 1)
    assert verdict_of(out).startswith("MISMATCH: first divergence at step 1, mine vs torch: "
                                      "layer 1, W1[")


def test_translate_fits_and_wide_keeps_its_verdict_whole(capsys):
    argv = ["translate", "--from", "torch", "--optimizer", "adam", "--steps", "3"]
    out, _ = assert_fits(argv, capsys, 1)
    verdict = next(line for line in logical_lines(out) if line.startswith("NOT PROVEN"))
    assert "adam-eps-placement" in verdict and len(verdict) > WIDTH
    code, wide, _ = run(argv + ["--wide"], capsys)
    assert code == 1 and verdict in wide.splitlines()


def test_trace_full_prints_large_tensors_whole(capsys):
    """--full asks for every value: a conv kernel's rows as wide as they are (documented)."""
    code, out, _ = run(["trace", "cnn-zoo", "--full"], capsys)
    assert code == 0 and too_wide(out)


# --- code: the terminal's width, 100 when piped, wrapped at token boundaries ---------------------

IDENTIFIER = re.compile(r"\w")


def test_code_all_piped_fits_100_columns(capsys, monkeypatch):
    monkeypatch.delenv("COLUMNS")                # capsys: no terminal, so 100
    out, _ = assert_fits(["code", "all"], capsys, 0)
    assert [line.split()[1] for line in out.splitlines() if line.startswith("--- ")] == \
        ["scratch", "torch", "keras"] * len(PARTS)
    for rule in ("adam", "conv", "schedule-plateau"):
        assert_fits(["code", rule], capsys, 0)


def test_code_follows_the_terminals_width(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "180")
    code, out, _ = run(["code", "backward"], capsys)
    assert code == 0 and max(len(line) for line in out.splitlines()) == 180 and " | " in out
    monkeypatch.setenv("COLUMNS", "120")
    code, out, _ = run(["code", "backward"], capsys)
    assert code == 0 and max(len(line) for line in out.splitlines()) <= 120


def test_code_wide_keeps_every_source_line_whole(capsys):
    code, out, _ = run(["code", "adam", "--wide"], capsys)
    rows, _ = rule_rows("adam")
    longest = max(len(cell) for row in rows for cell in row.cells.values())
    assert code == 0 and longest > 100
    assert max(len(line) for line in out.splitlines()) >= 3 * longest
    for row in rows:
        for cell in row.cells.values():
            assert not cell.strip() or cell in out, cell


def source_lines():
    lines = [cell for part in PARTS for row in part_rows(part)[0] for cell in row.cells.values()]
    lines += [cell for rule in ("adam", "nadam", "conv", "pool", "schedule-cosine")
              for row in rule_rows(rule)[0] for cell in row.cells.values()]
    return sorted({line for line in lines if len(line) > 40})


@pytest.mark.parametrize("width", [40, 48, 100])
def test_code_wraps_at_token_boundaries_never_inside_a_name(width):
    """Every source line wrapped: each piece within the width, nothing lost, no cut between two
    characters of a name or a number, each continuation indented past the line's own indent."""
    lines = source_lines()
    assert len(lines) > 50
    for line in lines:
        pieces = wrap(line, width)
        assert all(len(piece) <= width for piece in pieces), pieces
        squeeze = lambda text: re.sub(r"\s|#|↪", "", text)  # noqa: E731
        assert squeeze("".join(pieces)) == squeeze(line), pieces
        lead = min(len(line) - len(line.lstrip()), width // 3)
        at = 0                                   # where each piece lies in the line
        for i, piece in enumerate(pieces):
            if i:
                assert len(piece) - len(piece.lstrip()) > lead or lead >= width // 3, pieces
            if i or lead == width // 3:
                while line[at] == " ":
                    at += 1
                piece = piece.lstrip()
                if piece.startswith("# ") and not line.startswith("#", at):
                    piece = piece[2:]            # a comment's continuation
            if piece.startswith("↪ "):           # the rest of a token longer than the line
                piece = piece[2:]
            assert line.startswith(piece, at), (line, pieces)
            at += len(piece)
            if i + 1 < len(pieces) and pieces[i + 1].lstrip().startswith("↪ "):  # the last resort
                token = re.search(r"\S*$", line[:at]).group() + re.match(r"\S*", line[at:]).group()
                assert len(token) > width // 2, (token, pieces)     # only a token too long to fit
            elif i + 1 < len(pieces):            # the cut: never between two characters of a name
                inside = IDENTIFIER.match(line[at - 1]) and IDENTIFIER.match(line[at])
                assert not inside, (line, pieces)


def test_hang_and_logical_lines_are_inverse():
    text = "MISMATCH: " + " ".join(f"word{i}" for i in range(60))
    wrapped = hang(text)
    assert len(wrapped.splitlines()) > 1 and not too_wide(wrapped)
    assert all(line.startswith("  ") for line in wrapped.splitlines()[1:])
    assert logical_lines(wrapped) == [text] and hang(text, wide=True) == text
