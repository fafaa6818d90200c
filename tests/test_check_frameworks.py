"""A user's own torch nn.Module and Keras model (compare.torch_module, compare.keras_model), each with
its own optimizer and loss, checked against scratch, torch, Keras and each other; the examples/ files
run as a user runs them."""
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")
from torch import nn  # noqa: E402

import compare  # noqa: E402
from compare.adapters.check import declared, load_file  # noqa: E402
from compare.cli import main  # noqa: E402
from compare.views.text import logical_lines

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def example(name):
    path = str(EXAMPLES / name)
    return declared(load_file(path), path)


def keras_net(*layers, n_in=4):
    return keras.Sequential([keras.Input(shape=(n_in,)), *layers])


# --- the examples, as `python -m compare check FILE` runs them ---------------------------------

def test_port_with_equivalent_settings_passes(capsys):
    assert main(["check", str(EXAMPLES / "port_rmsprop.py"), "--against", "scratch", "--steps", "5", "--quiet"]) == 0
    line = [line for line in capsys.readouterr().out.strip().splitlines() if not line.startswith(" ")][-1]
    assert line.startswith("PASS")
    report = compare.check(declared(load_file(str(EXAMPLES / "port_rmsprop.py")), "port_rmsprop.py"),
                           against=("scratch",), steps=5)
    assert report.passed and "torchnet~kerasnet" in report.summary["judged_pairs"]
    assert report.summary["max_rel_err"]["torchnet~kerasnet"] <= 1e-9


def test_port_with_both_defaults_fails_naming_the_convention(capsys):
    assert main(["check", str(EXAMPLES / "port_rmsprop_defaults.py"), "--against", "scratch", "--steps", "3", "--quiet"]) == 1
    line = logical_lines(capsys.readouterr().out.strip())[-1]      # the verdict, unwrapped
    assert line.startswith("MISMATCH") and "torchnet vs kerasnet" in line
    for words in ("rho: 0.99 (torch) vs 0.9 (keras)", "eps: 1e-08 (torch) vs 1e-07 (keras)", "rmsprop-eps-placement"):
        assert words in line


def test_port_pairs_and_worst_error():
    report = compare.check(example("port_rmsprop_defaults.py"), against=("scratch",), steps=3)
    s = report.summary
    assert s["first_divergence"]["framework"] == "torchnet~kerasnet"
    assert {"torchnet~scratch", "kerasnet~scratch"} <= set(s["judged_pairs"])
    assert max(s["max_rel_err"]["torchnet~scratch"], s["max_rel_err"]["kerasnet~scratch"]) <= 1e-9
    assert "setting-rho" in s["pairs"]["torchnet~kerasnet"]["reasons"]


def test_torch_example_against_torch_and_keras():
    report = compare.check(example("torch_sequential.py"), steps=5)
    s = report.summary
    assert s["verdict"] == "pass" and set(s["judged_pairs"]) == {"torchnet~torch", "torchnet~keras"}
    assert max(s["max_rel_err"].values()) <= 1e-9
    assert any("momentum" in n for n in s["not_compared"]["torchnet~keras"])      # v vs -lr v: not compared


def test_keras_example_float32_momentum_is_named():
    report = compare.check(example("keras_sequential.py"), against=("scratch", "torch", "keras"), steps=5)
    s = report.summary
    assert s["verdict"] == "pass" and {"kerasnet~scratch", "kerasnet~keras"} <= set(s["judged_pairs"])
    assert "kerasnet~torch" not in s["judged_pairs"]
    assert "keras-float32-hyperparameters" in s["pairs"]["kerasnet~torch"]["reasons"]
    assert max(s["max_rel_err"]["kerasnet~scratch"], s["max_rel_err"]["kerasnet~keras"]) <= 1e-9


# --- what the adapters read from the user's objects --------------------------------------------

def test_torch_network_and_settings():
    model = nn.Sequential(nn.Linear(5, 7), nn.Softplus(), nn.Linear(7, 6), nn.Tanh(), nn.Linear(6, 1))
    mine = compare.torch_module(model, torch.optim.Adam(model.parameters(), lr=0.003, betas=(0.8, 0.99), eps=1e-6),
                                nn.BCEWithLogitsLoss(reduction="sum"))
    fields = mine.network()
    network = fields.pop("layers")                             # the layer list (tests/test_user_layers.py)
    assert (network.sizes, network.activations) == ([5, 7, 6, 1], ["softplus", "tanh", "sigmoid"])
    assert fields == {"sizes": [5], "loss": "binary_crossentropy", "reduction": "sum", "optimizer": "adam",
                      "lr": 0.003, "momentum": 0.0, "nesterov": False, "eps": 1e-6, "beta1": 0.8, "beta2": 0.99}
    assert mine.convention == "torch" and mine.origin.endswith(f"{Path(__file__).name}:{mine.origin.split(':')[-1]}")


def test_torch_custom_module_in_order():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.hidden, self.act, self.out = nn.Linear(3, 4), nn.ReLU(inplace=True), nn.Linear(4, 2)

        def forward(self, x):
            return self.out(self.act(self.hidden(x)))

    net = Net()
    mine = compare.torch_module(net, torch.optim.SGD(net.parameters(), lr=0.2, momentum=0.5, nesterov=True),
                                nn.MSELoss(), name="net")
    assert mine.network()["layers"].activations == ["relu", "linear"]
    assert {k: v for k, v in mine.settings.items() if k not in ("sizes", "layers")} == {
        "optimizer": "sgd", "lr": 0.2, "momentum": 0.5, "nesterov": True}
    report = compare.check(mine, against=("scratch", "torch"), steps=3)    # ReLU(inplace) keeps Z intact
    assert report.summary["verdict"] == "pass"


def test_keras_network_and_settings():
    model = keras_net(keras.layers.Dense(6), keras.layers.Activation("sigmoid"), keras.layers.Dense(3), n_in=5)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01, beta_1=0.8),
                  loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    mine = compare.keras_model(model)                                  # the compiled optimizer and loss
    fields = mine.network()
    network = fields.pop("layers")
    assert (network.sizes, network.activations) == ([5, 6, 3], ["sigmoid", "softmax"])
    assert fields == {"sizes": [5], "loss": "categorical_crossentropy", "reduction": "mean", "optimizer": "adam",
                      "lr": 0.01, "keras_float32_casts": True, "momentum": 0.0, "nesterov": False,
                      "eps": 1e-7, "beta1": 0.8, "beta2": 0.999}
    report = compare.check(mine, against=("scratch", "keras"), steps=3)
    assert report.summary["verdict"] == "pass"


@pytest.mark.parametrize("build, words", [
    (lambda: compare.torch_module(nn.Sequential(nn.Linear(4, 3), nn.AlphaDropout(0.5), nn.Linear(3, 2))),
     "1 (AlphaDropout)"),
    (lambda: compare.torch_module(nn.Sequential(nn.Linear(4, 3), nn.Softmax(dim=1)), None, nn.CrossEntropyLoss()),
     "twice"),
    (lambda: compare.torch_module(nn.Sequential(nn.Conv1d(1, 1, 3))), "Conv1d"),
    (lambda: compare.keras_model(keras_net(keras.layers.Dense(3), keras.layers.Dropout(0.5))), "Dropout"),
    (lambda: compare.keras_model(keras_net(keras.layers.Dense(3, activation="softmax")), None,
                                 keras.losses.SparseCategoricalCrossentropy()), "SparseCategoricalCrossentropy"),
])
def test_unsupported_is_an_input_error_naming_it(build, words):
    with pytest.raises(compare.InputError) as error:
        build()
    assert words in str(error.value) and "\n" not in str(error.value)


def test_functional_code_between_layers_is_refused():
    class Hidden(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(3, 4), nn.Linear(4, 2)

        def forward(self, x):
            return self.b(torch.relu(self.a(x)))                    # an activation the hooks cannot see

    with pytest.raises(compare.InputError, match="b .Linear. does not read"):
        compare.torch_module(Hidden())


def test_the_users_objects_are_not_modified():
    compare.run(compare.Spec(sizes=[2, 2], activations=["sigmoid"], loss="mse", steps=1, epochs=None),
                frameworks=("scratch", "keras"))   # a float64 Keras run first: it must leave float32 as it was
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
    optimizer = torch.optim.RMSprop(model.parameters(), lr=0.01, alpha=0.9, eps=0.0)
    before = [p.detach().clone() for p in model.parameters()]
    kmodel = keras_net(keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(3, activation="softmax"))
    kbefore = [w.copy() for w in kmodel.get_weights()]
    pair = [compare.torch_module(model, optimizer, nn.CrossEntropyLoss(), name="t"),
            compare.keras_model(kmodel, keras.optimizers.RMSprop(learning_rate=0.01, rho=0.9, epsilon=0.0),
                                keras.losses.CategoricalCrossentropy(), name="k")]
    report = compare.check(pair, against=("scratch",), steps=3)
    assert report.summary["verdict"] == "pass"
    assert report.runners[:2] == ["t", "scratch"]
    for p, old in zip(model.parameters(), before):
        assert p.dtype == torch.float32 and torch.equal(p.detach(), old)
    assert not optimizer.state and optimizer.param_groups[0]["lr"] == 0.01
    assert all(np.array_equal(a, b) for a, b in zip(kmodel.get_weights(), kbefore))
    assert kmodel.layers[0].dtype == "float32"
