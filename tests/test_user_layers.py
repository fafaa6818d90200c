"""A user's torch and Keras models with every supported layer (issue 19): read into the layer list
in the order they run, settings as written; frozen parameters, shared weights and layers the tool
does not mirror; the running variance of a torch~Keras pair judged by its own rule; and the port
examples (examples/port_*norm*.py, port_dropout*.py) run as a user runs them."""
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")
from torch import nn  # noqa: E402

import compare  # noqa: E402
from compare.adapters import keras_model as km, torch_module as tm  # noqa: E402
from compare.cli import main  # noqa: E402
from compare.engine import diagnose, running  # noqa: E402
from compare.engine.check import cmp  # noqa: E402
from compare.engine.errors import InputError  # noqa: E402
from compare.engine.layers import Activation, BatchNorm, Dense, Dropout, LayerNorm, Network  # noqa: E402
from compare.views.text import logical_lines

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def one_line(error):
    text = str(error.value)
    assert "\n" not in text
    return text


# --- torch: what the adapter reads -------------------------------------------------------------

class Registered(nn.Module):
    """Layers registered in another order than forward runs them."""

    def __init__(self):
        super().__init__()
        self.out = nn.Linear(5, 3)
        self.drop = nn.Dropout(0.25)
        self.norm = nn.LayerNorm(5, eps=1e-6)
        self.act = nn.LeakyReLU(0.05)
        self.first = nn.Linear(4, 5, bias=False)

    def forward(self, x):
        return self.out(self.drop(self.act(self.norm(self.first(x)))))


def test_torch_layers_in_the_order_they_run_with_settings_as_written():
    net, traced = tm.read_layers(Registered(), nn.CrossEntropyLoss())
    assert net == Network(4, (Dense(5, bias=False), LayerNorm(eps=1e-6, written_in="torch"),
                              Activation("leaky_relu", 0.05), Dropout(0.25), Dense(3), Activation("softmax")))
    assert [path for path, _, _ in traced] == ["first", "norm", "act", "drop", "out"]
    model = nn.Sequential(nn.Linear(784, 64), nn.BatchNorm1d(64, momentum=0.1), nn.ReLU(), nn.Identity(),
                          nn.Linear(64, 10))
    net, _ = tm.read_layers(model, None)
    assert net.layers[1] == BatchNorm(momentum=0.1, eps=1e-5, written_in="torch")
    assert net.describe() == "784 -> Dense(64) -> BatchNorm(momentum=0.1, eps=1e-05) -> relu -> Dense(10) -> linear"


class OneReLU(nn.Module):
    """One ReLU module after each Linear (common: it holds no weights), in place, behind an Identity
    that hands the same tensor on; a Dropout module used in two blocks; a Flatten of the rows."""

    def __init__(self):
        super().__init__()
        self.flat, self.a, self.b, self.c = nn.Flatten(), nn.Linear(4, 5), nn.Linear(5, 5), nn.Linear(5, 2)
        self.same, self.relu, self.drop = nn.Identity(), nn.ReLU(inplace=True), nn.Dropout(0.3)

    def forward(self, x):
        x = self.drop(self.relu(self.same(self.a(self.flat(x)))))
        return self.c(self.drop(self.relu(self.b(x))))


def test_torch_module_without_weights_used_in_several_blocks_is_each_use(tmp_path):
    net, traced = tm.read_layers(OneReLU(), nn.MSELoss())
    assert net.describe() == "4 -> Dense(5) -> relu -> Dropout(rate=0.3) -> Dense(5) -> relu -> Dropout(rate=0.3) -> " \
                             "Dense(2) -> linear"
    assert [path for path, _, _ in traced] == ["flat", "a", "same", "relu", "drop", "b", "relu", "drop", "c"]
    model = OneReLU()
    mine = compare.torch_module(model, torch.optim.SGD(model.parameters(), lr=0.1), nn.MSELoss())
    run = mine.build(compare.Spec(sizes=[4], layers=net, loss="mse", lr=0.1, steps=1).validate(),
                     [(np.full((5, 4), 0.1), np.zeros((5, 1))), (np.eye(5), np.zeros((5, 1))),
                      (np.ones((2, 5)), np.zeros((2, 1)))], "torch")
    X = np.arange(12.0).reshape(3, 4) / 10 - 0.5
    run.set_masks({1: np.array([[1.0, 0, 1]] * 5), 2: np.array([[0.0, 1, 1]] * 5)})
    record = run.step(X, np.zeros((3, 2)))
    Z1 = np.full((5, 4), 0.1) @ X.T
    assert np.allclose(record["Z1"], Z1) and np.allclose(record["A1"], np.maximum(Z1, 0) * [1, 0, 1] / 0.7)
    assert np.allclose(record["Z2"], record["A1"]) and np.allclose(record["A2"], np.maximum(record["Z2"], 0) * [0, 1, 1] / 0.7)


def test_torch_frozen_parameters_are_the_layers_frozen_roles():
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Tanh(), nn.Linear(4, 2))
    model[0].bias.requires_grad_(False)
    model[1].weight.requires_grad_(False)
    torchnet = compare.torch_module(model, torch.optim.SGD(model.parameters(), lr=0.1), nn.MSELoss())
    layers = torchnet.network()["layers"].layers
    assert layers[0].frozen == {"b"} and layers[1].frozen == {"gamma"} and layers[3].frozen == frozenset()
    assert torchnet.vocabulary["gamma1"] == "1.weight" and torchnet.vocabulary["var1"] == "1.running_var"
    assert torchnet.vocabulary["N1"] == "output of 1 (BatchNorm1d)"


def test_torch_shared_weights_are_one_line_naming_them():
    shared = nn.Linear(4, 4)
    with pytest.raises(InputError) as error:
        tm.read_layers(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), shared, nn.ReLU(), shared), None)
    assert one_line(error) == ("4.weight is 2.weight (shared weights: one parameter in two layers): each layer's own "
                               "parameters are mirrored")

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(3, 3), nn.Tanh()

        def forward(self, x):
            return self.b(self.a(self.b(self.a(x))))

    with pytest.raises(InputError) as error:
        tm.read_layers(Twice(), None)
    assert one_line(error).startswith("a (Linear) runs twice in forward (one module used twice: shared weights)")


def test_torch_unmirrored_module_is_one_line_naming_it_and_the_kinds():
    with pytest.raises(InputError) as error:              # Conv1d would fail on the probe batch: refused before it runs
        tm.read_layers(nn.Sequential(nn.Linear(3, 4), nn.Conv1d(1, 1, 1)), None)
    text = one_line(error)
    assert text.startswith("1 (Conv1d) cannot be mirrored: the adapter mirrors nn.Linear, nn.BatchNorm1d, nn.LayerNorm, "
                           "nn.Dropout, nn.Conv2d, nn.ZeroPad2d, nn.MaxPool2d, nn.AvgPool2d, "
                           "nn.AdaptiveAvgPool2d(1), nn.BatchNorm2d, nn.Dropout2d, nn.Flatten and "
                           "the activations ReLU, Sigmoid, Tanh")
    for module, words in ((nn.BatchNorm1d(4, affine=False), "1 (BatchNorm1d) with affine=False"),
                          (nn.LayerNorm(4, bias=False), "1 (LayerNorm) normalized_shape=(4,)"),
                          (nn.Dropout(1.0), "1 (Dropout) p=1.0: a dropout rate in [0, 1) is mirrored")):
        with pytest.raises(InputError) as error:
            tm.read_layers(nn.Sequential(nn.Linear(3, 4), module, nn.Linear(4, 2)), None)
        assert one_line(error).startswith(words)


def test_torch_layer_list_the_harness_cannot_build_names_the_users_layer():
    with pytest.raises(InputError) as error:
        tm.read_layers(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2), nn.Dropout(0.5)), None)
    assert one_line(error).startswith("3 (Dropout): Dropout(rate=0.5) after the last Dense layer")


# --- Keras: what the adapter reads -------------------------------------------------------------

def test_keras_layers_in_graph_order_with_settings_as_written():
    x = keras.Input(shape=(4,))
    hidden = keras.layers.Dense(5, activation="relu", name="hidden")
    norm = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name="bn")
    drop, out = keras.layers.Dropout(0.2, name="drop"), keras.layers.Dense(3, name="out")
    model = keras.Model(x, out(drop(norm(hidden(x)))))           # functional: the graph decides the order
    kerasnet = compare.keras_model(model, keras.optimizers.SGD(0.1),
                                   keras.losses.CategoricalCrossentropy(from_logits=True))
    net = kerasnet.network()["layers"]
    assert net == Network(4, (Dense(5), Activation("relu"), BatchNorm(momentum=0.9, eps=1e-5, written_in="keras"),
                              Dropout(0.2), Dense(3), Activation("softmax")))
    assert kerasnet.vocabulary["var1"] == "bn.moving_variance" and kerasnet.vocabulary["N1"] == "output of layer 'bn'"
    assert kerasnet.network()["layers"].layers[2].settings("torch")["momentum"] == pytest.approx(0.1)


def test_keras_frozen_dense_shared_layer_and_unmirrored_layer():
    frozen = keras.layers.Dense(4, activation="tanh")
    frozen.trainable = False
    model = keras.Sequential([keras.Input(shape=(3,)), frozen, keras.layers.LayerNormalization(),
                              keras.layers.Dense(1, activation="sigmoid")])
    net, _ = km.read_layers(model)
    assert net.layers[0].frozen == {"W", "b"} and net.layers[2] == LayerNorm(eps=1e-3, written_in="keras")

    x = keras.Input(shape=(3,))
    shared = keras.layers.Dense(3, name="shared")
    with pytest.raises(InputError) as error:
        km.read_layers(keras.Model(x, shared(shared(x))))
    assert one_line(error) == ("layer 'shared' (Dense) is used 2 times (shared weights): a chain of layers, each used "
                               "once, is mirrored")

    noisy = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(3), keras.layers.GaussianNoise(0.1, name="n")])
    with pytest.raises(InputError) as error:
        km.read_layers(noisy)
    assert one_line(error) == ("layer 'n' (GaussianNoise) cannot be mirrored: the adapter mirrors the layers Dense, "
                               "BatchNormalization, LayerNormalization, Dropout, Activation, Conv2D, MaxPooling2D, "
                               "AveragePooling2D, Flatten, ZeroPadding2D, GlobalAveragePooling2D, "
                               "SpatialDropout2D")

    bn = keras.layers.BatchNormalization(name="bn")
    bn.trainable = False
    with pytest.raises(InputError) as error:
        km.read_layers(keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(3), bn, keras.layers.Dense(1)]))
    assert one_line(error).startswith("layer 'bn' (BatchNormalization) is frozen (trainable=False): Keras 3 then runs "
                                      "it in inference mode")


# --- the two ports: settings named with their rule ----------------------------------------------

def test_layer_differences_name_both_settings_as_written_and_the_rule():
    torch_net = Network(784, (Dense(64), BatchNorm(momentum=0.1, eps=1e-5, written_in="torch"), Activation("relu"),
                              Dense(10), Activation("softmax")))
    keras_net = Network(784, (Dense(64), BatchNorm(momentum=0.1, eps=1e-3, written_in="keras"), Activation("relu"),
                              Dense(10), Activation("softmax")))
    found = diagnose.layer_differences(torch_net, "torch", keras_net, "keras")
    assert found == {
        "setting-block1-batch_norm-momentum": "the batch norm after Dense 1: momentum 0.1 (torch) vs 0.1 (keras): torch "
        "momentum 0.1 weights the new batch; Keras momentum 0.1 weights the old one: Keras's 0.9 is torch's 0.1",
        "setting-block1-batch_norm-eps": "the batch norm after Dense 1: eps 1e-05 (torch) vs 0.001 (keras) (torch's "
        "default is 1e-5, Keras's 1e-3)"}
    fixed = Network(784, (Dense(64), BatchNorm(momentum=0.9, eps=1e-5, written_in="keras"), Activation("relu"),
                          Dense(10), Activation("softmax")))
    assert diagnose.layer_differences(torch_net, "torch", fixed, "keras") == {}
    drop_a = Network(4, (Dense(3), Activation("relu"), Dropout(0.2), Dense(1)))
    drop_b = Network(4, (Dense(3), Activation("relu"), Dropout(0.8), Dense(1)))
    words = diagnose.layer_differences(drop_a, "torch", drop_b, "keras")["setting-block1-dropout-rate"]
    assert words.startswith("the dropout after Dense 1: rate 0.2 (torch) vs 0.8 (keras): torch's Dropout(p) and "
                            "Keras's Dropout(rate) both take the rate DROPPED, not the keep probability")
    assert words.endswith("scaled by 1/(1 - rate): 1.25 vs 5)")


# --- the running variance of a torch~Keras pair ---------------------------------------------------

def running_records(momentum_torch, momentum_keras, bias_torch=True, steps=3, m=8, n=5, seed=0):
    """Each side's var1 over `steps` steps from the same batches, as torch (unbiased, momentum the new
    batch's weight) and Keras (biased, momentum the old average's weight) keep it."""
    rng = np.random.default_rng(seed)
    torch_var, keras_var, out = np.ones((n, 1)), np.ones((n, 1)), []
    for _ in range(steps):
        Z = rng.normal(size=(n, m)) * rng.uniform(0.5, 2, size=(n, 1))
        s2 = Z.var(axis=1, keepdims=True)
        torch_var = (1 - momentum_torch) * torch_var + momentum_torch * s2 * (m / (m - 1) if bias_torch else 1)
        keras_var = momentum_keras * keras_var + (1 - momentum_keras) * s2
        out.append(({"Z1": Z, "var1": torch_var.copy()}, {"Z1": Z, "var1": keras_var.copy()}))
    return out


def judge_var(records, keras_momentum_written, judged=True):
    runners = {"t": SimpleNamespace(convention="torch", spec=SimpleNamespace(network=Network(5, (
                   Dense(5), BatchNorm(momentum=0.1, written_in="torch"), Dense(1))))),
               "k": SimpleNamespace(convention="keras", spec=SimpleNamespace(network=Network(5, (
                   Dense(5), BatchNorm(momentum=keras_momentum_written, written_in="keras"), Dense(1)))))}
    pair = SimpleNamespace(ours="t", theirs="k", judged=judged)
    previous, worst = None, 0.0
    for t_record, k_record in records:
        now = {"t": t_record, "k": k_record}
        raw = [cmp("var1", t_record["var1"], k_record["var1"])]
        judged_errors = running.rejudge(raw, pair, runners, now, previous)
        worst = max(worst, judged_errors[0].max_rel)
        previous = now
    return worst, raw[0].max_rel


def test_running_variance_judged_by_its_own_rule_not_hidden():
    worst, raw = judge_var(running_records(0.1, 0.9), 0.9)
    assert worst < 1e-14                       # torch's 0.1 and Keras's 0.9: the same statistics, by the rule
    assert raw > 1e-3                          # as stored they differ (unbiased vs biased): never compared raw
    worst, _ = judge_var(running_records(0.1, 0.9, bias_torch=False), 0.9)
    assert worst > 0.1                         # a torch side folding in the biased variance fails (m/(m-1) - 1)
    _, raw_left = judge_var(running_records(0.1, 0.9), 0.9, judged=False)
    assert raw_left > 1e-3                     # an unjudged pair (a report) keeps the numbers as stored


# --- the port examples, as `python -m compare check FILE` runs them ------------------------------

def verdict(capsys):
    return logical_lines(capsys.readouterr().out.strip())[-1]     # the verdict, unwrapped


@pytest.mark.parametrize("name, tensor, words", [
    ("port_batchnorm.py", "N1", ["momentum 0.1 (torch) vs 0.1 (keras): torch momentum 0.1 weights the new batch; Keras "
                                 "momentum 0.1 weights the old one: Keras's 0.9 is torch's 0.1",
                                 "eps 1e-05 (torch) vs 0.001 (keras)", "(momentum in mean1, eps in N1)",
                                 "torchnet's output of 1 (BatchNorm1d), kerasnet's output of layer 'batch_normalization"]),
    ("port_layernorm.py", "N1", ["the layer norm after Dense 1: eps 1e-05 (torch) vs 0.001 (keras)"]),
    ("port_dropout.py", "A1", ["rate 0.2 (torch) vs 0.8 (keras)", "not the keep probability",
                               "torchnet's A1 is 0.25 x kerasnet's"]),
])
def test_port_examples_fail_naming_the_layer_settings_and_rule(capsys, name, tensor, words):
    assert main(["check", str(EXAMPLES / name), "--against", "scratch", "--steps", "2", "--quiet"]) == 1
    line = verdict(capsys)
    assert line.startswith(f"MISMATCH: first divergence at step 1, torchnet vs kerasnet: layer 1, {tensor}[")
    for phrase in words:
        assert phrase in line


@pytest.mark.parametrize("name", ["port_batchnorm_fixed.py", "port_layernorm_fixed.py", "port_dropout_fixed.py"])
def test_fixed_port_examples_pass(capsys, name):
    assert main(["check", str(EXAMPLES / name), "--against", "scratch", "--steps", "2", "--quiet"]) == 0
    assert verdict(capsys).startswith("PASS: 2 steps")


def test_fixed_batchnorm_port_passes_against_both_frameworks_naming_the_running_variance_rule(capsys):
    assert main(["check", str(EXAMPLES / "port_batchnorm_fixed.py"), "--against", "torch,keras", "--steps", "2"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "PASS: 2 steps" in out
    assert re.search(r"note, kerasnet var1: batch_normalization(_\d+)?\.moving_variance is Keras's moving average of "
                     r"the biased batch variance; against a run of the other framework's convention it is compared as "
                     r"the batch variance it folded in", out)
    assert "note, torchnet var1: 1.running_var is torch's running variance of the UNBIASED batch variance" in out


def test_momentum_alone_shows_in_the_running_mean_named_with_its_rule(tmp_path, capsys):
    source = (EXAMPLES / "port_batchnorm.py").read_text().replace(
        "BatchNormalization(momentum=0.1)", "BatchNormalization(momentum=0.1, epsilon=1e-5)")
    path = tmp_path / "momentum_only.py"
    path.write_text(source)
    assert main(["check", str(path), "--against", "scratch", "--steps", "2", "--quiet"]) == 1
    line = verdict(capsys)
    assert line.startswith("MISMATCH: first divergence at step 1, torchnet vs kerasnet: layer 1, mean1[")
    assert "mean1 (the running mean of block 1) differs: Z1, N1 agree, the settings of this block differ" in line
    assert "(momentum in mean1)" in line and "eps" not in line.split("settings that differ:")[1]
    assert "Keras's 0.9 is torch's 0.1" in line
