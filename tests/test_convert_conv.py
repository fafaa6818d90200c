"""The image and conv-kernel layouts of compare/engine/convert.py, proven on the frameworks
themselves: a network Conv2D -> ReLU -> Flatten -> Dense is built in torch (NCHW) and in Keras
(channels-last) from ONE set of scratch-layout weights, converted by convert.py alone; on the same
images (scratch's C*H*W columns) both give the same outputs, the same conv maps and the same
gradients once converted back, to float64 rounding. Without the Flatten permutation the Keras
Dense sees its inputs in another order and the outputs differ (what a port that copies the
kernel as it is gets)."""
import numpy as np
import pytest

from compare.engine import convert
from scratch.conventions import KERAS, TORCH

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

C, H, W, F, K, UNITS, M = 3, 6, 5, 4, 3, 2, 7
MAP = (F, H - K + 1, W - K + 1)                       # the conv's output image (valid padding, stride 1)


def weights(seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(F, C, K, K)), rng.normal(size=(F,)), rng.normal(size=(UNITS, int(np.prod(MAP)))),
            rng.normal(size=(UNITS,)), rng.normal(size=(C * H * W, M)))


def torch_run(kernel, bias, dense, dense_bias, images):
    conv = torch.nn.Conv2d(C, F, K).double()
    linear = torch.nn.Linear(int(np.prod(MAP)), UNITS).double()
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(convert.conv_kernel_to_framework(TORCH, kernel)))
        conv.bias.copy_(torch.from_numpy(bias))
        linear.weight.copy_(torch.from_numpy(convert.flattened_weight_to_framework(TORCH, dense, MAP)))
        linear.bias.copy_(torch.from_numpy(dense_bias))
    X = torch.from_numpy(convert.images_to_framework(TORCH, images, (C, H, W)))
    Z = conv(X)
    Z.retain_grad()
    out = linear(torch.flatten(torch.relu(Z), 1))
    out.sum().backward()
    return {"out": out.detach().numpy(), "Z": convert.images_to_scratch(TORCH, Z.detach().numpy(), MAP),
            "dZ": convert.images_to_scratch(TORCH, Z.grad.numpy(), MAP),
            "dK": convert.conv_kernel_to_scratch(TORCH, conv.weight.grad.numpy(), (F, C, K, K)),
            "dW": convert.flattened_weight_to_scratch(TORCH, linear.weight.grad.numpy(), MAP, UNITS)}


def keras_run(kernel, bias, dense, dense_bias, images, permute=True):
    conv = keras.layers.Conv2D(F, K, dtype="float64")
    linear = keras.layers.Dense(UNITS, dtype="float64")
    conv.build((None, H, W, C))
    linear.build((None, int(np.prod(MAP))))
    conv.kernel.assign(convert.conv_kernel_to_framework(KERAS, kernel))
    conv.bias.assign(bias)
    linear.kernel.assign(convert.flattened_weight_to_framework(KERAS, dense, MAP) if permute else dense.T)
    linear.bias.assign(dense_bias)
    X = tf.constant(convert.images_to_framework(KERAS, images, (C, H, W)))
    with tf.GradientTape() as tape:
        Z = conv(X)
        tape.watch(Z)
        out = linear(keras.layers.Flatten(dtype="float64")(tf.nn.relu(Z)))
        total = tf.reduce_sum(out)
    dZ, dK, dW = tape.gradient(total, [Z, conv.kernel, linear.kernel])
    return {"out": out.numpy(), "Z": convert.images_to_scratch(KERAS, Z.numpy(), MAP),
            "dZ": convert.images_to_scratch(KERAS, dZ.numpy(), MAP),
            "dK": convert.conv_kernel_to_scratch(KERAS, dK.numpy(), (F, C, K, K)),
            "dW": convert.flattened_weight_to_scratch(KERAS, dW.numpy(), MAP, UNITS)}


def test_one_set_of_weights_gives_the_same_network_in_torch_and_keras():
    t, k = torch_run(*weights()), keras_run(*weights())
    for name in ("out", "Z", "dZ", "dK", "dW"):
        np.testing.assert_allclose(k[name], t[name], rtol=1e-12, atol=1e-12, err_msg=name)
    assert t["Z"].shape == (int(np.prod(MAP)), M) and t["dK"].shape == (F, C, K, K)


def test_the_keras_dense_after_flatten_copied_unpermuted_is_another_network():
    t, k = torch_run(*weights()), keras_run(*weights(), permute=False)
    np.testing.assert_allclose(k["Z"], t["Z"], rtol=1e-12, atol=1e-12)      # the conv agrees
    assert np.max(np.abs(k["out"] - t["out"])) > 1e-2                          # the Dense does not


def test_the_layouts_round_trip_and_flatten_orders_hwc_in_keras():
    rng = np.random.default_rng(3)
    images, kernel, dense = rng.normal(size=(C * H * W, M)), rng.normal(size=(F, C, K, K)), rng.normal(size=(2, C * H * W))
    for convention in (TORCH, KERAS):
        back = convert.images_to_scratch(convention, convert.images_to_framework(convention, images, (C, H, W)), (C, H, W))
        assert np.array_equal(back, images)
        again = convert.conv_kernel_to_scratch(convention, convert.conv_kernel_to_framework(convention, kernel),
                                               kernel.shape)
        assert np.array_equal(again, kernel)
        assert np.array_equal(convert.flattened_weight_to_scratch(
            convention, convert.flattened_weight_to_framework(convention, dense, (C, H, W)), (C, H, W), 2), dense)
    assert np.array_equal(convert.flatten_order(TORCH, (C, H, W)), np.arange(C * H * W))
    hwc = convert.flatten_order(KERAS, (C, H, W))
    assert hwc[:C].tolist() == [0, H * W, 2 * H * W]                 # the channels of pixel (0, 0) first
    assert convert.conv_kernel_to_framework(KERAS, kernel).shape == (K, K, C, F)
    with pytest.raises(AssertionError, match=r"channels-last conv kernel .* expected shape \(3, 3, 3, 4\)"):
        convert.conv_kernel_to_scratch(KERAS, kernel, kernel.shape)        # torch's layout given for Keras's


def test_channels_last_is_the_installed_frameworks_value():
    """Keras's default data_format is channels_last (its Conv2D kernel (kh, kw, in, out)); torch's
    Conv2d weight is (out, in, kh, kw) and its images NCHW."""
    assert KERAS.channels_last == (keras.config.image_data_format() == "channels_last")
    assert tuple(torch.nn.Conv2d(C, F, K).weight.shape) == (F, C, K, K) and not TORCH.channels_last
    layer = keras.layers.Conv2D(F, K)
    layer.build((None, H, W, C))
    assert tuple(layer.kernel.shape) == (K, K, C, F)
