"""The user's network stays theirs (docs/data-and-defaults.md): `check --data NAME` gives it a
recipe's data alone; a recipe whose network differs from the file's is one line, exit 2, never a
silent swap; random data has enough examples for the batch and the steps; the loss, given
nowhere, is the one the output layer means (or asked for); no option is read from a prefix;
`check --help` lists every option a run takes; translate reads options in the --from framework's
words.

NumPy-only (--against scratch) where the point allows; one in-process torch check (a model that
ends in its own Softmax).
"""
import json
import re
from pathlib import Path

import pytest

import compare
from compare.adapters.base import UserImplementation
from compare.adapters.check import declared, load_file, resolve_spec
from compare.cli import main
from compare.data import recipes
from compare.engine.data import random_data, random_examples
from compare.engine.errors import InputError
from compare.engine.spec import LOSSES, OPTIMIZERS, Spec
from compare.views.text import logical_lines

REPO = Path(__file__).resolve().parent.parent
NIELSEN = str(REPO / "examples" / "nielsen_network.py")
NIELSEN_BUG = str(REPO / "examples" / "nielsen_network_bug.py")
CONFLICT = ("examples/nielsen_network.py:74: mine's network is 784-30-10 (sigmoid, sigmoid), recipe mnist's is "
            "784-128-64-10 (relu, relu, softmax): a recipe gives a check its data and training settings, never its "
            "network; for mnist's data alone give --data mnist (data='mnist')")


def cli(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def verdict(out):
    return logical_lines(out.rstrip("\n"))[-1]       # the last line, with its wrapped continuation


class Declared(UserImplementation):
    """A stand-in declaration: the Spec fields a file's code would give (network())."""

    def __init__(self, **fields):
        self.fields, self.name, self.origin = fields, "mine", "my_net.py:9"

    def network(self):
        return dict(self.fields)


# --- --data NAME: a recipe's data, the network the file's -------------------------------------------

def test_nielsen_network_checks_on_mnist_with_data_alone(mnist_dir, monkeypatch, capsys, tmp_path):
    """examples/nielsen_network.py (784-30-10 sigmoid, batches of 4, eta 3.0) on MNIST with --data mnist:
    the network and the settings are the file's, the data MNIST's, the verdict PASS."""
    monkeypatch.setenv("FRAMEWORK_MIRROR_MNIST", str(mnist_dir))
    path = tmp_path / "report.json"
    code, out, err = cli(["check", NIELSEN, "--data", "mnist", "--against", "scratch", "--steps", "3",
                          "--json", str(path)], capsys)
    assert code == 0 and err == "", out + err
    assert verdict(out).startswith("PASS: 3 steps, ")
    assert f"data: mnist's (60,000 training examples, 10,000 test, from {mnist_dir})" in out.splitlines()
    config = json.loads(path.read_text())["config"]
    assert (config["sizes"], config["activations"]) == ([784, 30, 10], ["sigmoid", "sigmoid"])
    assert (config["batch_size"], config["lr"], config["loss"], config["steps"]) == (4, 3.0, "mse", 3)
    assert (config["data"]["recipe"], config["data"]["train"], config["data"]["test"]) == ("mnist", 60000, 10000)


def test_nielsen_bug_on_mnist_is_the_factor_of_m(mnist_dir, monkeypatch, capsys):
    monkeypatch.setenv("FRAMEWORK_MIRROR_MNIST", str(mnist_dir))
    code, out, err = cli(["check", NIELSEN_BUG, "--data", "mnist", "--against", "scratch", "--steps", "2",
                          "--quiet"], capsys)
    assert code == 1 and err == ""
    line = verdict(out)
    assert line.startswith("MISMATCH: first divergence at step 1, mine vs scratch: layer 1, W1[")
    assert "the update of W1: a factor of m = 4, the batch size" in line


def test_the_api_takes_a_recipes_name_as_data(mnist_dir):
    item = declared(load_file(NIELSEN), NIELSEN)[0]
    report = compare.check(item, data="mnist", against=("scratch",), steps=2, data_dir=str(mnist_dir))
    assert report.verdict == "pass"
    assert report.spec.sizes == [784, 30, 10] and report.config["data"]["recipe"] == "mnist"


def test_data_whose_widths_are_not_the_networks_is_one_line(capsys):
    code, out, err = cli(["check", NIELSEN, "--data", "parity", "--against", "scratch"], capsys)
    assert (code, out) == (2, "")
    assert logical_lines(err) == ["error: the data of parity has 1 input and 1 target per example; mine's "
                                  "network (784-30-10) takes 784 and gives 10"]


def test_an_unknown_data_name_is_one_line(capsys):
    code, out, err = cli(["check", NIELSEN, "--data", "mnits"], capsys)
    assert (code, out) == (2, "")
    assert err.startswith("error: --data: unknown recipe 'mnits'; choose one of: parity, ")
    assert len(logical_lines(err)) == 1


# --- --recipe NAME: data and training settings, never the network -------------------------------------

def test_a_recipe_whose_network_differs_is_one_line_exit_2(monkeypatch, capsys):
    """Before: the 784-30-10 network was silently replaced by mnist's 784-128-64-10 and the verdict
    named 'layer 3, A3' of a two-layer network."""
    monkeypatch.chdir(REPO)
    code, out, err = cli(["check", "examples/nielsen_network.py", "--recipe", "mnist"], capsys)
    assert (code, out, logical_lines(err)) == (2, "", [f"error: {CONFLICT}"])


def test_the_api_refuses_the_swap_too():
    item = declared(load_file(NIELSEN), NIELSEN)[0]
    with pytest.raises(InputError) as caught:
        compare.check(item, recipe="mnist", against=("scratch",))
    assert str(caught.value) == CONFLICT.replace("examples/nielsen_network.py", NIELSEN)


def test_a_dropout_the_file_does_not_have_is_a_different_network():
    mine = Declared(sizes=[784, 128, 64, 10], activations=["relu", "relu", "softmax"])
    with pytest.raises(InputError) as caught:
        resolve_spec([mine], None, recipes.get("mnist-dropout"), None, {})
    assert str(caught.value) == (
        "my_net.py:9: mine's network is 784-128-64-10 (relu, relu, softmax), recipe mnist-dropout's is "
        "784 -> Dense(128) -> relu -> Dropout(rate=0.2) -> Dense(64) -> relu -> Dropout(rate=0.2) -> Dense(10) -> "
        "softmax: a recipe gives a check its data and training settings, never its network; for mnist-dropout's "
        "data alone give --data mnist-dropout (data='mnist-dropout')")


def test_a_recipe_fills_only_what_the_file_does_not_declare():
    """The same network as the recipe's: the file's settings win (lr 0.5), the recipe gives the rest
    (its loss, optimizer, momentum, batch size, length, initializers), the options win over both."""
    mine = Declared(sizes=[784, 128, 64, 10], activations=["relu", "relu", "softmax"], lr=0.5)
    recipe = recipes.get("mnist")
    spec = resolve_spec([mine], None, recipe, None, {"batch_size": 32, "dropout": None})
    assert (spec.lr, spec.batch_size) == (0.5, 32)
    assert (spec.loss, spec.optimizer, spec.momentum, spec.epochs) == ("categorical_crossentropy", "sgd", 0.9, 2)
    assert spec.weight_init == recipe.spec.weight_init and spec.sizes == [784, 128, 64, 10]
    plain = Declared()                                       # a file that declares no network takes the recipe's
    assert resolve_spec([plain], None, recipe, 3, {}).sizes == [784, 128, 64, 10]


def test_the_options_network_applies_to_both_sides():
    """--dropout 0.2 on a file whose network is mnist's and with --recipe mnist: the same network."""
    mine = Declared(sizes=[784, 128, 64, 10], activations=["relu", "relu", "softmax"])
    spec = resolve_spec([mine], None, recipes.get("mnist"), 2, {"dropout": 0.2})
    assert spec.dropout == 0.2 and spec.steps == 2


# --- random data: enough for the batch and the steps ---------------------------------------------------

@pytest.mark.parametrize("sizes, batch_size, steps, epochs, examples", [
    ([784, 30, 10], 10, 20, None, 200),        # Nielsen's batch of 10 (before: 8 examples, the batch refused)
    ([784, 30, 10], 4, 20, None, 80),          # examples/nielsen_network.py (before: 8)
    ([784, 30, 10], None, 20, None, 8),        # a full batch
    ([3, 3, 3], 4, 1, None, 8),                # at least 8
    ([784, 128, 10], 128, 1000, None, 9984),   # at most 10,000: whole batches (78 of 128)
    ([5000, 10, 5000], 64, 1000, None, 832),   # at most 64 MiB of float64
    ([3, 3, 3], 32, None, 2, 32),              # counted in epochs: one batch
    ([3, 3, 3], 20000, 3, None, 20000),        # never less than one batch
])
def test_random_data_has_enough_examples(sizes, batch_size, steps, epochs, examples):
    spec = Spec(sizes=sizes, activations=["sigmoid"] * (len(sizes) - 1), batch_size=batch_size, steps=steps,
                epochs=epochs)
    assert random_examples(spec) == examples


def test_random_data_says_what_it_is():
    spec = Spec(sizes=[4, 3], activations=["softmax"], loss="categorical_crossentropy", batch_size=5, steps=4)
    data = random_data(spec, seed=7)
    assert data.X.shape == (20, 4) and data.Y.shape == (20, 3) and data.X_eval.shape == (8, 4)
    assert data.info == {"source": "random", "examples": 20, "seed": 7, "inputs": "N(0, 1)",
                         "targets": "one-hot over 3 classes"}


def test_a_nielsen_batch_of_10_runs_and_the_output_says_on_what(capsys):
    """Before: 'error: batch size 10 is larger than the 8 training examples', exit 2."""
    code, out, err = cli(["check", NIELSEN, "--against", "scratch", "--batch-size", "10", "--steps", "3"], capsys)
    assert code == 0 and err == "", out + err
    assert "data: 30 random examples (seed 0): inputs N(0, 1), targets N(0, 1); --data RECIPE for a recipe's" \
        in out.splitlines()
    assert verdict(out).startswith("PASS: 3 steps, ")


# --- the loss follows the output layer --------------------------------------------------------------

@pytest.mark.parametrize("sizes, activations, loss", [
    ([4, 8, 3], ["relu", "softmax"], "categorical_crossentropy"),
    ([4, 8, 1], ["relu", "sigmoid"], "binary_crossentropy"),
    ([4, 8, 2], ["tanh", "linear"], "mse"),
])
def test_the_loss_given_nowhere_is_the_one_the_output_means(sizes, activations, loss):
    assert resolve_spec([Declared(sizes=sizes, activations=activations)], None, None, None, {}).loss == loss


@pytest.mark.parametrize("sizes, activations, words", [
    ([4, 8, 3], ["relu", "tanh"], "(tanh, 3 units)"),
    ([4, 8, 3], ["relu", "sigmoid"], "(sigmoid, 3 units)"),
    ([4, 1], ["relu"], "(relu, 1 unit)"),
])
def test_a_loss_the_output_does_not_decide_is_asked_for(sizes, activations, words):
    with pytest.raises(InputError) as caught:
        resolve_spec([Declared(sizes=sizes, activations=activations)], None, None, None, {})
    assert str(caught.value) == (f"mine's loss is not given and its output layer {words} does not decide it: give "
                                 f"--loss NAME (compare.check: overrides=dict(loss=NAME)), one of {', '.join(LOSSES)}")
    given = resolve_spec([Declared(sizes=sizes, activations=activations)], None, None, None, {"loss": "mse"})
    assert given.loss == "mse"


def test_the_file_or_the_option_names_the_loss_first():
    softmax = dict(sizes=[4, 3], activations=["softmax"])
    assert resolve_spec([Declared(**softmax, loss="kld")], None, None, None, {}).loss == "kld"
    assert resolve_spec([Declared(**softmax)], None, None, None, {"loss": "mse"}).loss == "mse"


def test_the_cli_asks_for_the_loss(tmp_path, capsys):
    path = tmp_path / "tanh_out.py"
    path.write_text("import numpy as np\nimport compare\n\n\ndef forward(W1, b1, X):\n    Z1 = W1 @ X + b1\n"
                    "    A1 = np.tanh(Z1)\n    return Z1, A1\n\n\ndef backward(Z1, A1, X, Y):\n"
                    "    dZ1 = (A1 - Y) * (1 - A1 ** 2)\n    dW1 = dZ1 @ X.T\n    db1 = dZ1.sum(axis=1, keepdims=True)\n"
                    "    return dZ1, dW1, db1\n\n\n"
                    "mine = compare.functions(forward, backward, network=dict(sizes=[4, 3], activations=['tanh']))\n")
    code, out, err = cli(["check", str(path), "--against", "scratch"], capsys)
    assert (code, out) == (2, "")
    assert len(logical_lines(err)) == 1 and logical_lines(err)[0].startswith(
        "error: mine's loss is not given and its output layer (tanh, 3 units) does not decide it: "
        "give --loss NAME")


def test_a_torch_model_ending_in_softmax_without_a_loss_gets_cross_entropy(tmp_path, capsys):
    """Before: mse under the softmax (PASS, on a loss nobody meant)."""
    pytest.importorskip("torch")
    path = tmp_path / "softmax_out.py"
    path.write_text("from torch import nn\nimport compare\n\n"
                    "model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3), nn.Softmax(dim=1))\n"
                    "net = compare.torch_module(model)\n")
    report = tmp_path / "r.json"
    code, out, err = cli(["check", str(path), "--against", "torch", "--steps", "3", "--quiet", "--json", str(report)],
                         capsys)
    assert code == 0 and err == "", out + err
    config = json.loads(report.read_text())["config"]
    assert (config["loss"], config["probabilities"]) == ("categorical_crossentropy", False)


# --- no option is read from a prefix -------------------------------------------------------------------

@pytest.mark.parametrize("argv, unrecognized", [
    (["check", NIELSEN, "--data-d", "x"], "--data-d x"),             # was --data-dir
    (["check", NIELSEN, "--norm-mom", "0.1"], "--norm-mom 0.1"),     # was --norm-momentum
    (["check", NIELSEN, "--batch", "10"], "--batch 10"),             # was --batch-size
    (["toy3", "--epoch", "1"], "--epoch 1"),
    (["toy3", "--label-smooth", "0.1"], "--label-smooth 0.1"),
    (["translate", "--from", "keras", "--norm-mom", "0.1"], "--norm-mom"),   # 0.1 is read as the recipe
    (["trace", "toy3", "--ste", "2"], "--ste 2"),
    (["code", "--wid", "80"], "--wid"),                                      # 80 is read as the part
    (["bugs", "--js", "x.json"], "--js x.json"),
    (["kinks", "--js", "x.json"], "--js x.json"),
])
def test_no_option_is_read_from_a_prefix(argv, unrecognized, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)                     # were a prefix read, nothing is written in the checkout
    code, out, err = cli(argv, capsys)
    assert (code, out, err) == (2, "", f"error: unrecognized arguments: {unrecognized}\n")


def test_every_commands_parser_refuses_abbreviations():
    """Every parser of compare/cli is a common.Parser, and a Parser never reads an abbreviation."""
    from compare.cli.common import Parser

    folder = REPO / "compare" / "cli"
    for path in folder.glob("*.py"):
        text = path.read_text()
        if path.name != "common.py":
            assert "ArgumentParser(" not in text and "allow_abbrev" not in text, path.name
    assert Parser(prog="x").allow_abbrev is False and Parser(prog="x", allow_abbrev=True).allow_abbrev is False


# --- check --help lists every option a run takes ---------------------------------------------------

def help_text(parser):
    return re.sub(r"\s+", " ", parser.format_help())


def test_check_help_lists_every_loss_optimizer_and_layer_option():
    from compare.cli.check import parser

    text = help_text(parser())
    for name in (*LOSSES, *OPTIMIZERS):
        assert re.search(rf"\b{name}\b", text), name
    for option in ("--norm {batch,layer}", "--norm-momentum", "--norm-eps", "--dropout RATE", "--epochs", "--reduction",
                   "--label-smoothing", "--delta", "--probabilities", "--slope", "--data RECIPE"):
        assert option in text, option
    # the defaults the README states for check
    assert "steps to run (default 20, or the recipe's)" in text
    assert "(default torch,keras)" in text


def test_check_takes_every_option_a_recipe_run_takes():
    from compare.cli.check import parser
    from compare.cli.run import recipe_parser

    def options(p):
        return {s for action in p._actions for s in action.option_strings}

    recipe_only = {"--frameworks", "--inject-bug", "--activation"}      # check has --activations (one per layer)
    assert options(recipe_parser()) - recipe_only <= options(parser())


# --- options in the --from framework's words -------------------------------------------------------

@pytest.mark.parametrize("source, momentum, torch_words, keras_words, spec_momentum", [
    ("keras", "0.1", "BatchNorm1d(momentum=0.9, eps=0.001)", "BatchNormalization(momentum=0.1, epsilon=0.001)", 0.9),
    ("torch", "0.9", "BatchNorm1d(momentum=0.9, eps=1e-05)", "BatchNormalization(momentum=0.1, epsilon=1e-05)", 0.9),
    ("torch", "0.1", "BatchNorm1d(momentum=0.1, eps=1e-05)", "BatchNormalization(momentum=0.9, epsilon=1e-05)", 0.1),
    ("keras", None, "BatchNorm1d(momentum=0.01, eps=0.001)", "BatchNormalization(momentum=0.99, epsilon=0.001)", 0.01),
])
def test_translate_reads_norm_momentum_in_the_from_frameworks_words(source, momentum, torch_words, keras_words,
                                                                    spec_momentum):
    """Before: --from keras --norm-momentum 0.1 was torch's 0.1, printed as Keras's 0.9 and torch's
    0.09999999999999998 (--from torch 0.9 likewise printed Keras's 0.09999999999999998)."""
    from compare.cli.translate import parser, read_spec
    from compare.engine.translate import translate

    args = parser().parse_args(["--from", source, "--norm", "batch", *(["--norm-momentum", momentum] if momentum else [])])
    spec = read_spec(args, recipes.get(args.recipe))
    translation = translate(spec, source)
    row = next(r for r in translation.rows if r.rule == "network-pieces")
    words = {"torch": torch_words, "keras": keras_words}
    assert (row.source, row.target) == (words[source], words["keras" if source == "torch" else "torch"])
    assert translation.specs["torch"].norm_momentum == spec_momentum
