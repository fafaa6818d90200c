"""Convolutional networks in the layer list (issue 20): Conv2D, MaxPool2D, AvgPool2D and Flatten
run in scratch (scratch/conv.py, scratch/pool.py through scratch/image_layers.py), torch
(nn.Conv2d, NCHW) and Keras (Conv2D, channels-last) in lockstep through compare.run, every
tensor judged at 1e-9 in float64, in every combination of stride, padding (valid, same, an int,
asymmetric per side), odd and even sizes, dilation and bias; scratch's gradients of a whole CNN
against central differences; and a wrong twin (the kernel flipped: a convolution, not the
cross-correlation the frameworks compute) caught at step 1 at Z1."""
import numpy as np
import pytest

import compare
from compare import Activation, Dense
from compare.engine.image_layers import AvgPool2D, Conv2D, Flatten, MaxPool2D
from scratch import image_layers
from scratch.mlp import MLP

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")


def data(shape, n=16, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, int(np.prod(shape))))
    return compare.Data(X=X, Y=np.eye(classes)[rng.integers(0, classes, n)], X_eval=X[:3])


def spec_of(shape, layers, **changes):
    settings = dict(loss="categorical_crossentropy", optimizer="sgd", lr=0.05, momentum=0.9, batch_size=4,
                    steps=3, seed=1)
    settings.update(changes)
    return compare.Spec(input_shape=shape, layers=layers, **settings).validate()


def judged_pass(spec, shape, frameworks=("scratch", "torch", "keras")):
    report = compare.run(spec, data(shape), frameworks=frameworks)
    found = report.first_divergence or {}
    assert report.verdict == "pass", (f"{report.summary['verdict_reason']}: step {found.get('step')}, "
                                      f"{found.get('tensor')} ({found.get('max_rel_err')}): {found.get('explanation')}")
    assert len(report.summary["judged_pairs"]) == len(frameworks)        # torch~keras judged too (SGD)
    left_out = {why for pair in report.summary["not_compared"].values() for why in pair.values()}
    assert left_out <= {"the momentum buffer means different things (sgd-momentum-form)"}     # torch~keras only
    worst = max(report.summary["max_rel_err"].values())
    assert worst <= 1e-9
    names = {e.name for pair in report.summary["judged_pairs"] for e in report.raw["first_step_errors"][pair]}
    return report, names


CONV = [
    dict(strides=1, padding="valid"), dict(strides=2, padding="valid"), dict(strides=1, padding="same"),
    dict(strides=2, padding="same"), dict(strides=1, padding=1), dict(strides=2, padding=(0, 1, 1, 0)),
    dict(strides=1, padding="valid", dilation=2), dict(strides=(2, 1), padding="same", bias=False),
]


@pytest.mark.parametrize("shape", [(2, 7, 6), (1, 8, 9)], ids=["7x6", "8x9"])
@pytest.mark.parametrize("options", CONV, ids=[str(o) for o in CONV])
def test_a_conv_layer_agrees_in_scratch_torch_and_keras(shape, options):
    spec = spec_of(shape, [Conv2D(3, 3, **options), Activation("tanh"), Flatten(), Dense(3), Activation("softmax")])
    report, names = judged_pass(spec, shape)
    assert {"Z1", "A1", "dZ1", "dW1", "W1"} <= names and ("db1" in names) == options.get("bias", True)


@pytest.mark.parametrize("pool", [MaxPool2D(2), MaxPool2D(3, 2), MaxPool2D((2, 3), (1, 2)), AvgPool2D(2),
                                  AvgPool2D(3, 1)], ids=["max2", "max3s2", "max2x3s1x2", "avg2", "avg3s1"])
def test_pooling_agrees_and_its_gradient_is_judged(pool):
    shape = (2, 9, 8)
    spec = spec_of(shape, [Conv2D(3, 2, padding="same"), Activation("relu"), pool, Conv2D(2, 2), Activation("relu"),
                           Flatten(), Dense(4), Activation("relu"), Dense(3), Activation("softmax")])
    report, names = judged_pass(spec, shape)
    assert {"P1", "dP1", "Z2", "W2", "W3"} <= names


def test_scratch_gradients_of_a_cnn_match_central_differences():
    spec = spec_of((2, 6, 5), [Conv2D(3, 3, strides=2, padding="same"), Activation("tanh"), AvgPool2D(2, 1),
                               Flatten(), Dense(3), Activation("softmax")])
    rng = np.random.default_rng(4)
    params = [(rng.normal(0, 0.5, spec.network.kernels()[l][0]), rng.normal(0, 0.3, (spec.network.kernels()[l][0][0], 1)))
              for l in (1, 2)]
    net = MLP(spec, params, "keras")
    X, Y = rng.normal(size=(60, 5)), np.eye(3)[:, rng.integers(0, 3, 5)]
    grads = net.backward(net.forward(X), Y)
    for name in ("W1", "b1", "W2"):
        value, h = net.params[name], 1e-6
        numeric = np.zeros_like(value)
        for i in np.ndindex(value.shape):
            keep = value[i]
            value[i] = keep + h
            up = float(net.loss(net.forward(X), Y))
            value[i] = keep - h
            numeric[i] = (up - float(net.loss(net.forward(X), Y))) / (2 * h)
            value[i] = keep
        assert np.max(np.abs(grads["d" + name] - numeric)) <= 1e-7 * np.max(np.abs(numeric)), name


def test_a_flipped_kernel_is_caught_at_step_1_at_z1(monkeypatch):
    """A learner's convolution (the kernel rotated by 180 degrees) in scratch: Z1 differs at step 1."""
    forward = image_layers.Conv2D.forward

    def flipped(self, P, X, run):
        return forward(self, {**P, "W": P["W"][:, :, ::-1, ::-1]}, X, run)
    monkeypatch.setattr(image_layers.Conv2D, "forward", flipped)
    shape = (1, 6, 6)
    spec = spec_of(shape, [Conv2D(2, 3), Activation("relu"), Flatten(), Dense(3), Activation("softmax")])
    report = compare.run(spec, data(shape), frameworks=("scratch", "torch"))
    assert report.verdict == "mismatch"
    assert (report.first_divergence["step"], report.first_divergence["tensor"]) == (1, "Z1")


@pytest.mark.parametrize("layers, words", [
    ([Flatten(), Dense(3)], "starts with a Dense layer (or a Conv2D)"),
    ([Conv2D(2, 3), Dense(3)], "takes units: put a Flatten before it"),
    ([Conv2D(2, 3), Flatten(), Conv2D(2, 3)], "takes images"),
    ([Conv2D(2, 7), Flatten(), Dense(3)], "leaves no output"),
    ([Conv2D(2, 3), compare.LayerNorm(), Flatten(), Dense(3)], "not mirrored yet"),
    ([Conv2D(2, 3, padding="full"), Flatten(), Dense(3)], "padding is 'valid', 'same'"),
])
def test_a_cnn_the_implementations_cannot_build_is_one_line(layers, words):
    with pytest.raises(compare.InputError) as caught:
        compare.Spec(input_shape=(1, 5, 5), layers=layers, loss="mse").validate()
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_the_json_holds_the_input_shape_and_the_kinds():
    shape = (1, 5, 5)
    spec = spec_of(shape, [Conv2D(2, 3), Activation("relu"), MaxPool2D(1), Flatten(), Dense(3), Activation("softmax")])
    layers = spec.to_dict()["layers"]
    assert layers["input_shape"] == [1, 5, 5] and [l["kind"] for l in layers["layers"]][:4] == [
        "conv2d", "activation", "max_pool2d", "flatten"]
    assert spec.network.describe().startswith("1x5x5 -> Conv2D(filters=2) -> relu -> MaxPool2D(pool_size=1)")


def test_a_max_pool_tie_rounded_apart_is_a_kink_not_a_difference():
    """judge.pool_ties: two sides whose pool inputs tie within rounding but pick different maxima
    are counted; a pick that differs because the values differ is not (the forward judges it)."""
    from compare.engine import judge

    spec = spec_of((1, 2, 2), [Conv2D(1, 1), Activation("relu"), MaxPool2D(2), Flatten(), Dense(3),
                               Activation("softmax")])
    ours = np.array([[0.5], [0.7], [0.3], [0.7]])                    # (C H W, m): a 2x2 window, tied
    rounded = ours.copy()
    rounded[3, 0] = np.nextafter(0.7, 1.0)                           # the second 0.7 one ulp up: another pick
    assert judge.pool_ties(spec, {"A1": ours}, {"A1": rounded}, 1e-9) == {1: 1}
    larger = ours.copy()
    larger[3, 0] = 0.9
    assert judge.pool_ties(spec, {"A1": ours}, {"A1": larger}, 1e-9) == {1: 0}
    assert judge.pool_ties(spec, {"A1": ours}, {"A1": ours.copy()}, 1e-9) == {1: 0}


def test_the_tie_check_runs_only_where_an_output_gradient_fails(monkeypatch):
    """judge.measure_pair looks for max-pool ties only when an output gradient (dZ, dP) fails the
    tolerance: then the tie explains it (reported, not judged), and dW is judged still; where
    every output gradient agrees, nothing is left unjudged and the windows are not scanned."""
    from compare.engine import judge
    from compare.engine.plan import Pair

    spec = spec_of((1, 2, 2), [Conv2D(1, 1), Activation("relu"), MaxPool2D(2), Flatten(), Dense(3),
                               Activation("softmax")])
    ours = np.array([[0.5], [0.7], [0.3], [0.7]])                    # (C H W, m): a 2x2 window, tied
    rounded = ours.copy()
    rounded[3, 0] = np.nextafter(0.7, 1.0)                           # the other pick
    dZ, moved = np.array([[0.0], [0.25], [0.0], [0.0]]), np.array([[0.0], [0.0], [0.0], [0.25]])
    dW = np.array([[[[0.175]]]])
    calls = []
    monkeypatch.setattr(judge, "pool_ties", lambda *a: calls.append(a) or {1: 1})
    pair = Pair("torch", "scratch", "torch")

    def measured(theirs_dZ):
        records = {"scratch": {"A1": ours, "dZ1": dZ, "dW1": dW},
                   "torch": {"A1": rounded, "dZ1": theirs_dZ, "dW1": dW.copy()}}
        errors, _ = judge.measure_pair(spec, pair, records, None, {}, 1e-9)
        return {e.name: e for e in errors}

    agreeing = measured(dZ.copy())
    assert calls == [] and not agreeing["dZ1"].tied and agreeing["dZ1"].max_rel == 0.0
    split = measured(moved)                                          # the gradient went to the other 0.7
    assert len(calls) == 1 and split["dZ1"].tied and split["dZ1"].max_rel == 1.0
    assert not split["dW1"].tied and split["dW1"].max_rel == 0.0    # dW judged still


def test_mnist_cnn_small_passes_with_every_weight_gradient_judged(mnist_dir, monkeypatch):
    """The recipe on real MNIST: PASS in all four at 1e-9; where a max-pool tie moved a gradient
    (MNIST's blank background ties), dW and db of every layer are still judged that step."""
    from compare.data import recipes

    monkeypatch.setenv("FRAMEWORK_MIRROR_MNIST", str(mnist_dir))
    recipe = recipes.get("mnist-cnn-small")
    report = compare.run(recipe.spec.replace(steps=4), recipe.load(), frameworks=("scratch", "torch", "keras"))
    assert report.verdict == "pass", report.summary["verdict_reason"]
    assert max(report.summary["max_rel_err"].values()) <= 1e-9
    first = {e.name: e for e in report.raw["first_step_errors"]["torch"]}
    assert {f"dW{l}" for l in range(1, 6)} <= set(first) and not any(first[f"dW{l}"].tied for l in range(1, 6))
    assert report.config["layers"]["input_shape"] == [1, 28, 28]


def test_mnist_cnn_anneals_over_its_epoch_on_standardized_pixels(mnist_dir):
    """The recipe's settings (compare/data/mnist_cnn.py): the cosine schedule's length is the
    epoch's steps, ceil(60,000 / 64) = 938, and the run is those steps; Adadelta with rho and eps
    written out, so no rule keeps torch~keras from being judged (momentum SGD under a changing lr
    would: momentum-lr-schedule); the pixels are (x / 255 - 0.1307) / 0.3081 in new arrays, the
    cached MNIST left as it was; the test set and the evaluation inputs alike."""
    from compare.data import mnist_cnn, recipes
    from compare.data.mnist import mnist_data
    from compare.engine.conventions import numeric_differences

    spec = recipes.get("mnist-cnn").spec
    assert (spec.schedule, spec.t_max, spec.steps, spec.optimizer, spec.lr, spec.rho, spec.eps) == \
        ("cosine", -(-60000 // 64), -(-60000 // 64), "adadelta", 2.0, 0.95, 1e-6)
    assert numeric_differences(spec) == {}
    assert "momentum-lr-schedule" in numeric_differences(spec.replace(optimizer="sgd", momentum=0.9))
    raw = mnist_data(str(mnist_dir))
    data = mnist_cnn.standardized_mnist_data(str(mnist_dir))
    assert np.array_equal(data.X[:5], (raw.X[:5] - 0.1307) / 0.3081) and np.array_equal(data.Y, raw.Y)
    assert np.array_equal(data.X_test[:10], data.X_eval) and np.array_equal(data.Y_test, raw.Y_test)
    assert abs(float(data.X.mean())) < 1e-3 and abs(float(data.X.std()) - 1) < 1e-3     # MNIST's own mean, std
    assert raw.X.min() == 0.0 and raw.X.max() == 1.0                                   # the shared copy unchanged
