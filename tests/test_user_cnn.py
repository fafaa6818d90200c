"""The user's CNNs (issue 20, part 4): a torch module and a Keras model with Conv2d/Conv2D, ZeroPad2d/
ZeroPadding2D, max and average pooling and Flatten read into the layer list and checked in lockstep
against torch, Keras and scratch at 1e-9; what the adapters do not mirror refused in one line; and
the CNN port pair (examples/port_cnn_*.py) run as a user runs them: the fixed port passes, each of
the three classic port mistakes exits 1 at its step, layer and tensor with the mistake in words."""
import functools
import importlib.util
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")
from torch import nn  # noqa: E402

import compare  # noqa: E402
from compare.cli import main  # noqa: E402
from compare.engine import convert  # noqa: E402
from compare.engine.errors import InputError  # noqa: E402
from compare.engine.image_layers import (AvgPool2D, Conv2D, Flatten, GlobalAvgPool2D,  # noqa: E402
                                         MaxPool2D, SpatialDropout2D)
from compare.engine.layers import BatchNorm, Dropout, Network  # noqa: E402
from compare.engine.port_words import image_differences, summed_words, which_mistake  # noqa: E402
from compare.views.text import logical_lines

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def images(shape=(1, 8, 8), n=8, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, int(np.prod(shape))))
    return compare.Data(X=X, Y=np.eye(classes)[rng.integers(0, classes, n)], X_eval=X[:3])


def passes(report):
    found = report.first_divergence or {}
    why = (report.summary["verdict_reason"], found.get("tensor"), found.get("step"))
    assert report.verdict == "pass", why
    assert max(report.summary["max_rel_err"].values()) <= 1e-9
    errors = report.raw["first_step_errors"]
    return {e.name for pair in report.summary["judged_pairs"] for e in errors[pair]}


def test_a_torch_cnn_is_read_in_the_order_it_runs_and_agrees_with_torch_and_scratch():
    torch.manual_seed(0)
    model = nn.Sequential(nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(1, 3, 3, stride=2), nn.Tanh(),
                          nn.AvgPool2d(2), nn.Conv2d(3, 2, 1), nn.ReLU(), nn.Flatten(), nn.Linear(8, 3))
    mine = compare.torch_module(model, torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
                                nn.CrossEntropyLoss(), input_shape=(1, 8, 8))
    assert mine.layers.input_shape == (1, 8, 8)
    assert mine.layers.layers[:4] == (Conv2D(3, (3, 3), (2, 2), (0, 1, 0, 1), (1, 1)),
                                      compare.Activation("tanh"), AvgPool2D((2, 2), (2, 2)),
                                      Conv2D(2, (1, 1), (1, 1), "valid", (1, 1)))
    assert mine.vocabulary["W1"] == "1.weight" and mine.vocabulary["W3"] == "7.weight"
    names = passes(compare.check(mine, data=images(), against="torch,scratch", steps=2))
    assert {"Z1", "A1", "P1", "dP1", "dW1", "db1", "Z2", "dW2", "Z3", "dW3"} <= names


def test_a_keras_cnn_reads_its_input_shape_and_agrees_with_keras_and_scratch():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input(shape=(7, 6, 2)),
        keras.layers.ZeroPadding2D(((1, 0), (0, 1))),
        keras.layers.Conv2D(3, 3, strides=(2, 1), activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(3, activation="softmax"),
    ])
    mine = compare.keras_model(model, keras.optimizers.SGD(learning_rate=0.1),
                               keras.losses.CategoricalCrossentropy())
    assert mine.layers.input_shape == (2, 7, 6)                 # (H, W, C) read as (C, H, W)
    assert mine.layers.layers[0] == Conv2D(3, (3, 3), (2, 1), (1, 0, 0, 1), (1, 1))
    assert mine.layers.layers[2:4] == (MaxPool2D((2, 2), (2, 2)), Flatten())
    names = passes(compare.check(mine, data=images((2, 7, 6)), against="keras,scratch", steps=2))
    assert {"Z1", "A1", "P1", "dP1", "dW1", "Z2", "dW2"} <= names


def test_own_weights_of_a_torch_and_a_keras_cnn_come_back_in_the_scratch_layout():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(2, 3, (3, 2)), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 5, 2))
    mine = compare.torch_module(model, input_shape=(2, 6, 6))
    (W1, b1), (W2, b2) = mine.initial_params(None)
    assert np.array_equal(W1, model[0].weight.detach().double().numpy())       # (F, C, kh, kw): torch's own
    assert np.array_equal(W2, model[3].weight.detach().double().numpy()) and b2.shape == (2, 1)
    port = keras.Sequential([keras.Input(shape=(6, 6, 2)), keras.layers.Conv2D(3, (3, 2)),
                             keras.layers.Flatten(), keras.layers.Dense(2)])
    kernel = port.layers[0].kernel.numpy()
    dense = port.layers[2].kernel.numpy()
    (K1, _), (K2, _) = compare.keras_model(port).initial_params(None)
    assert np.array_equal(K1[2, 1], kernel[:, :, 1, 2])                        # filter 2, channel 1
    # scratch column (c, h, w) of the Dense is Keras's row (h, w, c) of the flattened (H, W, C) image
    c, h, w = 2, 3, 4
    assert np.array_equal(K2[:, c * 20 + h * 5 + w], dense[(h * 5 + w) * 3 + c])


def test_a_torch_cnn_with_every_pooling_norm_and_dropout_option_agrees_with_torch_and_scratch():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3, momentum=0.2, eps=1e-4),
                          nn.ReLU(), nn.Dropout2d(0.3),
                          nn.MaxPool2d(3, 2, padding=1, ceil_mode=True),
                          nn.Conv2d(3, 4, 2), nn.ReLU(), nn.Dropout(0.2),
                          nn.AvgPool2d(2, 1, padding=1, count_include_pad=False),
                          nn.Conv2d(4, 2, 1), nn.Tanh(), nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(),
                          nn.Linear(2, 3))
    mine = compare.torch_module(model, torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
                                nn.CrossEntropyLoss(), input_shape=(1, 8, 8))
    layers = mine.layers.layers
    assert layers[1] == BatchNorm(momentum=0.2, eps=1e-4, written_in="torch")     # torch's meaning
    assert layers[3:5] == (SpatialDropout2D(0.3), MaxPool2D((3, 3), (2, 2), (1, 1), True))
    assert layers[7:9] == (Dropout(0.2), AvgPool2D((2, 2), (1, 1), (1, 1), False, False))
    assert layers[11:13] == (GlobalAvgPool2D(), compare.Dense(3))      # the Flatten: nothing
    assert mine.layers.placed[4].n_out == (3, 5, 5)                    # ceil_mode's last window
    assert mine.vocabulary["gamma1"] == "1.weight" and mine.vocabulary["var1"] == "1.running_var"
    names = passes(compare.check(mine, data=images(), against="torch,scratch", steps=2))
    assert {"N1", "dN1", "dgamma1", "dbeta1", "mean1", "var1", "A1", "P1", "dP1", "A2", "P2", "dP2",
            "P3", "dP3", "dW4"} <= names


def test_torch_pooling_padding_counts_it_by_default_and_agrees_with_torch_and_scratch():
    torch.manual_seed(3)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.AvgPool2d(3, 2, padding=1),
                          nn.Conv2d(2, 2, 1), nn.ReLU(), nn.MaxPool2d((2, 3), 1, padding=(1, 0)),
                          nn.Flatten(), nn.Linear(2 * 4 * 1, 3))
    mine = compare.torch_module(model, torch.optim.SGD(model.parameters(), lr=0.1),
                                nn.CrossEntropyLoss(), input_shape=(1, 7, 7))
    assert mine.layers.layers[2] == AvgPool2D((3, 3), (2, 2), (1, 1), False, True)  # the default
    assert mine.layers.layers[5] == MaxPool2D((2, 3), (1, 1), (1, 0), False)
    names = passes(compare.check(mine, data=images((1, 7, 7)), against="torch,scratch", steps=2))
    assert {"P1", "dP1", "P2", "dP2", "dW1"} <= names


def test_a_torch_cnn_with_global_average_pooling_agrees_with_keras_too():
    torch.manual_seed(2)
    model = nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Dropout2d(0.25),
                          nn.MaxPool2d(2), nn.Conv2d(3, 4, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(4, 3))
    mine = compare.torch_module(model, torch.optim.SGD(model.parameters(), lr=0.1),
                                nn.CrossEntropyLoss(), input_shape=(2, 6, 6))
    report = compare.check(mine, data=images((2, 6, 6)), against="torch,keras,scratch", steps=2)
    judged = report.summary["judged_pairs"]
    assert report.verdict == "pass" and judged == ["mine~torch", "mine~scratch"]
    assert max(report.summary["max_rel_err"][pair] for pair in judged) <= 1e-9
    errors = {e.name: e for e in report.raw["first_step_errors"]["mine~keras"]}
    assert {"N1", "dN1", "mean1", "A1", "P1", "dP1", "P2", "dP2", "dW3"} <= set(errors)
    assert max(e.max_rel for name, e in errors.items() if name != "var1") <= 1e-9
    # Keras is unjudged only by the running variance: torch folds in the unbiased variance of each
    # channel's 8 x 4 x 4 = 128 numbers (x 128/127), Keras the biased one, both with weight 0.1
    var = errors["var1"]
    assert var.ours - var.theirs == pytest.approx((var.theirs - 0.9) / 127, rel=1e-9)


@pytest.mark.parametrize("make, words", [
    (lambda: (nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(72, 2)), None),
     "takes images (it has an nn.Conv2d): give the shape of one input"),
    (lambda: (nn.Sequential(nn.Conv2d(1, 2, 3), nn.GroupNorm(1, 2), nn.Flatten(), nn.Linear(72, 2)),
              (1, 8, 8)), "1 (GroupNorm) cannot be mirrored: the adapter mirrors nn.Linear"),
    (lambda: (nn.Sequential(nn.Conv2d(1, 2, 3), nn.MaxPool2d(2, dilation=2), nn.Flatten(),
                            nn.Linear(8, 2)), (1, 8, 8)),
     "1 (MaxPool2d) dilation=2: dilated pooling is not mirrored"),
    (lambda: (nn.Sequential(nn.Conv2d(1, 2, 3), nn.MaxPool2d(2, return_indices=True), nn.Flatten(),
                            nn.Linear(18, 2)), (1, 8, 8)),
     "1 (MaxPool2d) return_indices=True: pooling that returns its indices is not mirrored"),
    (lambda: (nn.Sequential(nn.Conv2d(1, 2, 3), nn.AvgPool2d(2, divisor_override=3), nn.Flatten(),
                            nn.Linear(18, 2)), (1, 8, 8)),
     "1 (AvgPool2d) divisor_override=3: an average divided by its own divisor is not mirrored"),
    (lambda: (nn.Sequential(nn.Conv2d(1, 2, 3), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                            nn.Linear(8, 2)), (1, 8, 8)),
     "1 (AdaptiveAvgPool2d) output_size=2: AdaptiveAvgPool2d(1)"),
    (lambda: (nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2, affine=False), nn.Flatten(),
                            nn.Linear(72, 2)), (1, 8, 8)),
     "1 (BatchNorm2d) with affine=False, track_running_stats=False or momentum=None"),
    (lambda: (nn.Sequential(nn.Conv2d(1, 2, 3, groups=1, padding_mode="reflect"), nn.Flatten(), nn.Linear(72, 2)),
              (1, 8, 8)), "padding_mode='reflect': Conv2d with groups=1 and zero padding"),
    (lambda: (nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(72, 2)), (1, 8)),
     "input_shape is (channels, height, width) of one image"),
])
def test_what_the_torch_adapter_does_not_mirror_is_one_line(make, words):
    model, shape = make()
    with pytest.raises(InputError) as error:
        compare.torch_module(model, input_shape=shape)
    assert words in str(error.value) and "\n" not in str(error.value)


def test_a_keras_cnn_with_same_pooling_norm_and_dropouts_agrees_with_keras_and_scratch():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input(shape=(7, 7, 2)),
        keras.layers.Conv2D(3, 3, padding="same"),
        keras.layers.BatchNormalization(axis=3, momentum=0.8, epsilon=1e-4, name="bn"),
        keras.layers.Activation("relu"),
        keras.layers.SpatialDropout2D(0.3),
        keras.layers.MaxPooling2D(2, padding="same"),
        keras.layers.Conv2D(4, 2, activation="tanh"),
        keras.layers.Dropout(0.2),
        keras.layers.AveragePooling2D(2, 1, padding="same"),
        keras.layers.Conv2D(2, 1, activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(3, activation="softmax"),
    ])
    mine = compare.keras_model(model, keras.optimizers.SGD(learning_rate=0.1, momentum=0.9),
                               keras.losses.CategoricalCrossentropy())
    layers = mine.layers.layers
    assert layers[1] == BatchNorm(momentum=0.8, eps=1e-4, written_in="keras")     # Keras's meaning
    assert layers[3:5] == (SpatialDropout2D(0.3), MaxPool2D((2, 2), (2, 2), "same"))
    assert layers[7:9] == (Dropout(0.2), AvgPool2D((2, 2), (1, 1), "same"))
    assert layers[11:13] == (GlobalAvgPool2D(), compare.Dense(3))
    assert mine.layers.placed[4].n_out == (3, 4, 4)                    # 'same': ceil(7 / 2)
    assert mine.vocabulary["var1"] == "bn.moving_variance"
    names = passes(compare.check(mine, data=images((2, 7, 7)), against="keras,scratch", steps=2))
    assert {"N1", "dN1", "dgamma1", "mean1", "var1", "A1", "P1", "dP1", "A2", "P2", "dP2", "P3",
            "dP3", "dW4"} <= names


@pytest.mark.parametrize("layer, words", [
    (keras.layers.GlobalAveragePooling2D(keepdims=True),
     "keepdims=True: GlobalAveragePooling2D() (keepdims=False"),
    (keras.layers.BatchNormalization(axis=1),
     "with axis=1, center=True, scale=True: normalization over the last axis"),
    (keras.layers.BatchNormalization(center=False), "with axis=-1, center=False"),
    (keras.layers.Dropout(0.5, noise_shape=(None, 1, 1, 2)),
     "with noise_shape=(None, 1, 1, 2): not mirrored"),
    (keras.layers.GlobalMaxPooling2D(), "cannot be mirrored: the adapter mirrors the layers Dense"),
])
def test_what_the_keras_adapter_does_not_mirror_is_one_line(layer, words):
    model = keras.Sequential([keras.Input(shape=(8, 8, 1)), keras.layers.Conv2D(2, 3), layer,
                              keras.layers.Flatten(), keras.layers.Dense(2)])
    with pytest.raises(InputError) as error:
        compare.keras_model(model)
    assert words in str(error.value) and "\n" not in str(error.value)


def test_a_pooling_the_list_cannot_hold_exits_2_in_one_line(tmp_path, capsys):
    path = tmp_path / "cnn.py"
    path.write_text("import torch\nfrom torch import nn\nimport compare\n"
                    "model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.MaxPool2d(2, dilation=2),\n"
                    "                      nn.Flatten(),\n"
                    "                      nn.Linear(8, 2))\n"
                    "mine = compare.torch_module(model, input_shape=(1, 8, 8))\n")
    assert main(["check", str(path)]) == 2
    err = logical_lines(capsys.readouterr().err.strip())
    assert len(err) == 1 and "dilation=2: dilated pooling is not mirrored" in err[0], err


def test_a_cnn_without_its_input_shape_exits_2_in_one_line(tmp_path, capsys):
    path = tmp_path / "cnn.py"
    path.write_text("import torch\nfrom torch import nn\nimport compare\n"
                    "model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(72, 2))\n"
                    "mine = compare.torch_module(model)\n")
    assert main(["check", str(path)]) == 2
    err = logical_lines(capsys.readouterr().err.strip())
    assert len(err) == 1 and "input_shape=(channels, height, width)" in err[0] and "cnn.py:5" in err[0]


# --- the port pair: words for each mistake, then the examples as a user runs them --------------

def test_each_copying_mistake_is_told_apart_from_the_numbers():
    network = Network(16, (Conv2D(2, 3), Flatten(), compare.Dense(3), compare.Activation("linear")), (1, 4, 4))
    rng = np.random.default_rng(0)
    weight = rng.normal(size=(2, 1, 3, 3))                              # torch's (out, in, kh, kw)
    assert "reshaped, not transposed: (out, in, kh, kw) -> (kh, kw, in, out) needs a transpose: " \
           "weight.transpose(2, 3, 1, 0)" in which_mistake(weight, weight.reshape(3, 3, 1, 2), "W1", network,
                                                           "torch", "keras")
    assert "transposed with .T" in which_mistake(weight, weight.T, "W1", network, "torch", "keras")
    linear = rng.normal(size=(3, 8))                                   # after Flatten of (2, 2, 2)
    assert "permute them: kernel = weight.reshape(3, 2, 2, 2).transpose(2, 3, 1, 0).reshape(8, 3)" in \
        which_mistake(linear, linear.T, "W2", network, "torch", "keras")
    right = convert.from_scratch("keras", "W2", linear, network)       # the permutation the words give
    assert np.array_equal(right, linear.reshape(3, 2, 2, 2).transpose(2, 3, 1, 0).reshape(8, 3))
    assert "9 of 18 numbers are not the original's" in which_mistake(
        weight, np.concatenate([weight.reshape(-1)[:9], weight.reshape(-1)[:9] + 1]).reshape(3, 3, 1, 2), "W1",
        network, "torch", "keras")


def test_padding_per_side_is_compared_not_as_written():
    same = Network(64, (Conv2D(2, 3, 2, "same"), Flatten(), compare.Dense(3)), (1, 8, 8))
    by_hand = Network(64, (Conv2D(2, 3, 2, (0, 1, 0, 1)), Flatten(), compare.Dense(3)), (1, 8, 8))
    symmetric = Network(64, (Conv2D(2, 3, 2, 1), Flatten(), compare.Dense(3)), (1, 8, 8))
    assert image_differences(by_hand, "torch", same, "keras") == {}
    assert image_differences(symmetric, "torch", same, "keras") == {"setting-block1-conv2d-padding": (
        "the Conv2D of block 1: torch pads 1 on every side; Keras 'same' with stride 2 pads 0 on top/left and 1 on "
        "bottom/right: use F.pad(x, (0, 1, 0, 1)) (nn.ZeroPad2d((0, 1, 0, 1)) before the Conv2d) and padding=0")}


def verdict(capsys):
    return logical_lines(capsys.readouterr().out.strip())[-1]     # the verdict, unwrapped


def test_the_fixed_cnn_port_passes_with_its_copied_weights(capsys):
    argv = ["check", str(EXAMPLES / "port_cnn_fixed.py"), "--weights", "mine", "--steps", "2", "--quiet"]
    assert main(argv) == 0
    assert verdict(capsys).startswith("PASS: 2 steps")


@pytest.mark.parametrize("name, where, words", [
    ("port_cnn_same_stride2.py", "torchnet vs kerasnet: layer 1, Z1[",
     ["torchnet's output of 0 (Conv2d), kerasnet's output of layer 'conv2d",
      "Z1 (the Dense or Conv2D output of block 1) differs: the settings of this block differ, each named "
      "below (padding in Z1)",
      "the Conv2D of block 1: torch pads 1 on every side; Keras 'same' with stride 2 pads 0 on top/left and 1 on "
      "bottom/right: use F.pad(x, (0, 1, 0, 1)) (nn.ZeroPad2d((0, 1, 0, 1)) before the Conv2d) and padding=0"]),
    ("port_cnn_flatten_order.py", "layer 2, Z2[",
     ["kerasnet's dense", ".kernel is not torchnet's 5.weight in Keras's layout: the Dense after Flatten: its rows are "
      "in torch's C,H,W order, Keras flattens H,W,C: permute them: kernel = weight.reshape(3, 4, 2, 2)"
      ".transpose(2, 3, 1, 0).reshape(16, 3)", "layer 2 is the first where the forward pass differs"]),
    ("port_cnn_kernel_reshaped.py", "layer 1, Z1[",
     ["kerasnet's conv2d", ".kernel is not torchnet's 1.weight in Keras's layout: the conv kernel was reshaped, not "
      "transposed: (out, in, kh, kw) -> (kh, kw, in, out) needs a transpose: weight.transpose(2, 3, 1, 0)"]),
])
def test_each_cnn_port_mistake_exits_1_at_its_layer_in_the_users_words(capsys, name, where, words):
    assert main(["check", str(EXAMPLES / name), "--weights", "mine", "--steps", "2", "--quiet"]) == 1
    line = verdict(capsys)
    assert line.startswith("MISMATCH: first divergence at step 1, ") and where in line, line
    for phrase in words:
        assert phrase in line, line


def test_a_cnn_port_with_the_batch_norm_momentum_copied_literally_exits_1_at_mean1(capsys,
                                                                                     tmp_path):
    path = EXAMPLES / "port_cnn_batchnorm.py"
    assert main(["check", str(path), "--weights", "mine", "--steps", "2", "--quiet"]) == 1
    line = verdict(capsys)
    assert line.startswith("MISMATCH: first divergence at step 1, torchnet vs kerasnet: layer 1, "
                           "mean1["), line
    for phrase in ["(torchnet's 1.running_mean, kerasnet's batch_normalization",
                   "Z1, N1 agree", "torchnet's mean1 is 0.111111 x kerasnet's",
                   "the batch norm after Conv2D 1: momentum 0.1 (torch) vs 0.1 (keras): torch "
                   "momentum 0.1 weights the new batch; Keras momentum 0.1 weights the old one: "
                   "Keras's 0.9 is torch's 0.1"]:
        assert phrase in line, line
    # the fix the words give passes: the running variances judged as the batch variance each folded
    # in, torch's unbiased over each channel's m H W numbers (compare/engine/running.py)
    fixed = tmp_path / "port_cnn_batchnorm_fixed.py"
    fixed.write_text(path.read_text().replace("BatchNormalization(momentum=0.1,",
                                              "BatchNormalization(momentum=0.9,"))
    assert main(["check", str(fixed), "--weights", "mine", "--steps", "2", "--quiet"]) == 0
    assert verdict(capsys).startswith("PASS: 2 steps")


# --- cs231n-style layer functions (compare.layer_functions) -------------------------------------

def test_the_cs231n_layer_functions_pass_every_tensor_at_1e_9(capsys):
    assert main(["check", str(EXAMPLES / "cnn_cs231n.py"), "--steps", "2", "--quiet"]) == 0
    assert verdict(capsys).startswith("PASS: 2 steps")


def test_a_conv_bias_gradient_not_summed_over_the_positions_is_found_at_db1(capsys):
    assert main(["check", str(EXAMPLES / "cnn_cs231n_bug.py"), "--steps", "2", "--quiet"]) == 1
    line = verdict(capsys)
    assert line.startswith("MISMATCH: first divergence at step 1, mine vs torch: layer 1, db1 (mine's conv_backward's "
                           "db (block 1)) shapes differ: mine (4, 8, 8), torch (4, 1); mine's db1 "
                           "has the output map's shape (4, 8, 8): summed over the examples but not "
                           "over the positions (db = dZ.sum(axis=(0, 2, 3)))"), line


def test_a_bias_gradient_summed_over_too_few_axes_is_named_by_its_shape():
    conv = Network(3 * 8 * 8, (Conv2D(4, 3, padding=1), compare.Activation("relu"), Flatten(),
                               compare.Dense(5), compare.Activation("softmax")), (3, 8, 8))
    m = 6
    assert summed_words("db1", (4, 8, 8), (4, 1), "mine", "torch", conv, m) == (
        "mine's db1 has the output map's shape (4, 8, 8): summed over the examples but not over "
        "the positions (db = dZ.sum(axis=(0, 2, 3)))")
    assert "(8, 8, 4): summed over the examples but not over the positions (db = dZ.sum(axis=" \
           "(0, 1, 2)))" in summed_words("db1", (4,), (8, 8, 4), "torch", "mine", conv, m)
    assert "dZ's shape (6, 4, 8, 8): summed over neither the examples nor the positions" in \
        summed_words("db1", (6, 4, 8, 8), (4,), "mine", "torch", conv, m)
    assert "(6, 4), one per example: summed over the positions but not over the examples" in \
        summed_words("db1", (6, 4), (4, 1), "mine", "torch", conv, m)
    assert summed_words("db2", (5, 6), (5, 1), "mine", "torch", conv, m) == (
        "mine's db2 has Z2's shape (5, 6), one per example: not summed over the examples "
        "(db = dZ.sum(axis=1, keepdims=True))")
    assert summed_words("db1", (4, 7, 8), (4, 1), "mine", "torch", conv, m) == ""   # no such map
    assert summed_words("dW1", (4, 3, 3, 3, 8), (4, 3, 3, 3), "mine", "torch", conv, m) == ""


@functools.cache
def cs231n_functions():
    """examples/cnn_cs231n.py's layer functions, as a module."""
    spec = importlib.util.spec_from_file_location("cnn_cs231n_functions", EXAMPLES / "cnn_cs231n.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_layer_functions_get_cs231n_layouts_and_every_tensor_is_theirs():
    f = cs231n_functions()
    seen = {}

    def affine_forward(x, w, b):
        seen.setdefault("affine", (x.shape, w.shape, b.shape))
        return f.affine_forward(x, w, b)

    def conv_forward(x, w, b, conv_param):
        seen.setdefault("conv", (x.shape, w.shape, b.shape, dict(conv_param)))
        return f.conv_forward_naive(x, w, b, conv_param)

    mine = compare.layer_functions(
        [compare.Conv2D(3, 3, strides=2, padding=1), compare.Activation("relu"), compare.MaxPool2D(2, 1),
         compare.Flatten(), compare.Dense(4), compare.Activation("relu"), compare.Dense(3),
         compare.Activation("softmax")], input_shape=(2, 7, 7),
        conv=(conv_forward, f.conv_backward_naive), max_pool=(f.max_pool_forward_naive, f.max_pool_backward_naive),
        affine=(affine_forward, f.affine_backward), relu=(f.relu_forward, f.relu_backward), loss=f.softmax_loss)
    names = passes(compare.check(mine, data=images((2, 7, 7)), against="torch,keras", steps=2))
    assert seen["conv"] == ((8, 2, 7, 7), (3, 2, 3, 3), (3,), {"stride": 2, "pad": 1})     # NCHW, (F, C, HH, WW)
    assert seen["affine"] == ((8, 3, 3, 3), (27, 4), (4,))                                 # x 4-D, w (D, M)
    assert {"Z1", "A1", "P1", "dP1", "dZ1", "dW1", "db1", "Z2", "A2", "dZ2", "dW2", "Z3", "dZ3", "dW3",
            "loss"} <= names


@pytest.mark.parametrize("layers, words", [
    ([compare.Conv2D(2, 3, strides=(2, 1)), compare.Flatten(), compare.Dense(3), compare.Activation("softmax")],
     "cs231n's conv_param holds one 'stride' and one 'pad' for every side"),
    ([compare.Conv2D(2, 3, padding="same", strides=2), compare.Flatten(), compare.Dense(3),
      compare.Activation("softmax")], "give Conv2D a square stride and an int padding"),
    ([compare.Conv2D(2, 3), compare.Activation("tanh"), compare.Flatten(), compare.Dense(3),
      compare.Activation("softmax")], "relu between layers and softmax (your softmax_loss) at the end"),
    ([compare.Conv2D(2, 3), compare.AvgPool2D(2), compare.Flatten(), compare.Dense(3), compare.Activation("softmax")],
     "needs avg_pool=(forward, backward)"),
])
def test_what_cs231n_functions_cannot_express_is_one_line(layers, words):
    f = cs231n_functions()
    with pytest.raises(InputError) as error:
        compare.layer_functions(layers, input_shape=(1, 8, 8), conv=(f.conv_forward_naive, f.conv_backward_naive),
                                affine=(f.affine_forward, f.affine_backward), relu=(f.relu_forward, f.relu_backward),
                                loss=f.softmax_loss)
    assert words in str(error.value) and "\n" not in str(error.value)


# --- a from-scratch CNN as a class: cs231n's ThreeLayerConvNet (compare.network_class) ----------

class ThreeLayerConvNet:
    """cs231n's assignment-2 cnn.py: conv - relu - 2x2 max pool - affine - relu - affine - softmax."""

    def __init__(self, input_dim=(1, 8, 8), num_filters=3, filter_size=3, hidden_dim=5, num_classes=3,
                 db_over_positions=True):
        C, H, W = input_dim
        rng = np.random.default_rng(0)
        self.filter_size, self.reg, self.sum_db = filter_size, 0.0, db_over_positions
        self.params = {"W1": rng.normal(size=(num_filters, C, filter_size, filter_size)),
                       "b1": np.zeros(num_filters),
                       "W2": rng.normal(size=(num_filters * H // 2 * W // 2, hidden_dim)),
                       "b2": np.zeros(hidden_dim),
                       "W3": rng.normal(size=(hidden_dim, num_classes)), "b3": np.zeros(num_classes)}

    def loss(self, X, y=None):
        f, p = cs231n_functions(), self.params
        conv_param = {"stride": 1, "pad": (self.filter_size - 1) // 2}
        pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
        z1, c1 = f.conv_forward_naive(X, p["W1"], p["b1"], conv_param)
        a1, r1 = f.relu_forward(z1)
        p1, m1 = f.max_pool_forward_naive(a1, pool_param)
        z2, c2 = f.affine_forward(p1, p["W2"], p["b2"])
        a2, r2 = f.relu_forward(z2)
        scores, c3 = f.affine_forward(a2, p["W3"], p["b3"])
        if y is None:
            return scores
        loss, dscores = f.softmax_loss(scores, y)
        grads = {}
        da2, grads["W3"], grads["b3"] = f.affine_backward(dscores, c3)
        dp1, grads["W2"], grads["b2"] = f.affine_backward(f.relu_backward(da2, r2), c2)
        dz1 = f.relu_backward(f.max_pool_backward_naive(dp1, m1), r1)
        _, grads["W1"], grads["b1"] = f.conv_backward_naive(dz1, c1)
        if not self.sum_db:                                     # a bug: db1 averaged over the 8 x 8 positions
            grads["b1"] = grads["b1"] / 64
        return loss, grads


LENET = [compare.Conv2D(3, 3, padding=1), compare.Activation("relu"), compare.MaxPool2D(2), compare.Flatten(),
         compare.Dense(5), compare.Activation("relu"), compare.Dense(3), compare.Activation("softmax")]


def test_a_cs231n_cnn_class_agrees_with_torch_and_keras_from_its_own_weights_too():
    mine = compare.network_class(ThreeLayerConvNet(), style="cs231n",
                                 network=dict(layers=LENET, input_shape=(1, 8, 8)))
    names = passes(compare.check(mine, data=images(), against="torch,keras", steps=2))
    assert {"Z3", "dW1", "db1", "dW2", "dW3", "W1", "b1", "loss"} <= names
    net = ThreeLayerConvNet()
    report = compare.check(mine, data=images(), against="torch", steps=1, weights="mine")
    passes(report)
    W1 = report.raw["initial_params"][0][0]                    # the class's own kernel, (F, C, HH, WW) as torch's
    assert np.array_equal(W1, net.params["W1"])
    W2 = report.raw["initial_params"][1][0]                    # affine's (D, M) is the transpose of scratch's W
    assert np.array_equal(W2, net.params["W2"].T)


def test_a_cs231n_cnn_class_with_db_averaged_over_positions_is_found_at_db1():
    mine = compare.network_class(ThreeLayerConvNet(db_over_positions=False), style="cs231n",
                                 network=dict(layers=LENET, input_shape=(1, 8, 8)))
    report = compare.check(mine, data=images(), against="torch", steps=2)
    found = report.first_divergence
    assert report.verdict == "mismatch" and (found["step"], found["tensor"]) == (1, "db1")
    assert np.allclose(found["values"]["mine"] * 64, found["values"]["torch"], rtol=1e-12)


def test_a_port_holding_the_originals_weights_is_checked_with_them_by_default(capsys):
    """A port file whose Keras model holds the torch model's numbers (copied, here wrongly): by
    default the copy is what is checked (exit 1 at Z1); --weights spec overwrites it (PASS) and the
    note says the copy was not checked."""
    assert main(["check", str(EXAMPLES / "port_cnn_kernel_reshaped.py"), "--steps", "1"]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert ("note, kerasnet: kerasnet holds torchnet's weights (copied): the copy is checked, torchnet's "
            "weights are the run's (--weights spec: every model from the harness's weights instead)") in out
    assert "layer 1, Z1[" in out and "reshaped, not transposed" in out
    assert main(["check", str(EXAMPLES / "port_cnn_kernel_reshaped.py"), "--steps", "1",
                 "--weights", "spec"]) == 0                                       # copy overwritten
    out = " ".join(capsys.readouterr().out.split())
    assert ("note, kerasnet: kerasnet holds torchnet's weights (copied): each model starts from the harness's "
            "weights here (--weights spec), so the copy is not checked: leave --weights out, or give "
            "--weights mine (weights='mine'), to check it") in out
