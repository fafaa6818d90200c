"""Each framework convention scratch/conventions.py relies on, checked against the installed
torch and Keras (docs/conventions.md says where each lives in their source)."""
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")
import tensorflow as tf  # noqa: E402


@pytest.fixture(autouse=True)
def float64_keras():
    keras.config.set_floatx("float64")
    yield
    keras.config.set_floatx("float32")


def test_keras_casts_python_float_momentum_through_float32():
    v = keras.Variable(np.array([1.0]), dtype="float64")
    opt = keras.optimizers.SGD(learning_rate=0.1, momentum=0.9)
    g = tf.constant([1.0], dtype=tf.float64)
    opt.apply_gradients([(g, v)])
    opt.apply_gradients([(g, v)])
    mu32 = float(np.float32(0.9))
    expected = 1.0 + (-0.1) + (mu32 * (-0.1) - 0.1)          # v1 = -lr g; v2 = mu v1 - lr g
    assert v.numpy()[0] == pytest.approx(expected, rel=1e-16, abs=0)
    assert v.numpy()[0] != pytest.approx(1.0 - 0.1 - (0.9 * 0.1 + 0.1), rel=1e-12)
    exact = keras.Variable(np.array([1.0]), dtype="float64")
    opt64 = keras.optimizers.SGD(learning_rate=0.1, momentum=np.float64(0.9))
    opt64.apply_gradients([(g, exact)])
    opt64.apply_gradients([(g, exact)])
    assert exact.numpy()[0] == pytest.approx(1.0 - 0.1 - (0.9 * 0.1 + 0.1), rel=1e-15)


def test_keras_learning_rate_variable_takes_floatx():
    keras.config.set_floatx("float32")
    assert keras.optimizers.SGD(learning_rate=0.1).learning_rate.dtype == "float32"
    keras.config.set_floatx("float64")
    assert keras.optimizers.SGD(learning_rate=0.1).learning_rate.dtype == "float64"


def test_torch_sgd_momentum_buffer_starts_at_the_gradient():
    p = torch.nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
    opt = torch.optim.SGD([p], lr=0.1, momentum=0.9)
    for g in (1.0, 1.0):
        p.grad = torch.tensor([g], dtype=torch.float64)
        opt.step()
    assert opt.state[p]["momentum_buffer"].item() == pytest.approx(0.9 * 1.0 + 1.0, rel=1e-16)
    assert p.item() == pytest.approx(1.0 - 0.1 * 1.0 - 0.1 * 1.9, rel=1e-16)


def test_rmsprop_eps_inside_the_root_in_keras_outside_in_torch():
    eps, lr, rho, g = 1e-2, 0.1, 0.9, 0.05
    s = (1 - rho) * g * g
    p = torch.nn.Parameter(torch.tensor([0.0], dtype=torch.float64))
    opt = torch.optim.RMSprop([p], lr=lr, alpha=rho, eps=eps)
    p.grad = torch.tensor([g], dtype=torch.float64)
    opt.step()
    assert p.item() == pytest.approx(-lr * g / (math.sqrt(s) + eps), rel=1e-14)
    v = keras.Variable(np.array([0.0]), dtype="float64")
    keras.optimizers.RMSprop(learning_rate=lr, rho=rho, epsilon=eps).apply_gradients([(tf.constant([g], tf.float64), v)])
    assert v.numpy()[0] == pytest.approx(-lr * g / math.sqrt(s + eps), rel=1e-14)
    assert keras.optimizers.RMSprop().rho == 0.9 and keras.optimizers.RMSprop().epsilon == 1e-7
    defaults = torch.optim.RMSprop([p]).defaults
    assert (defaults["alpha"], defaults["eps"], defaults["lr"]) == (0.99, 1e-8, 0.01)


def test_adam_eps_placement_and_defaults():
    lr, eps, g = 0.01, 1e-3, 0.02
    p = torch.nn.Parameter(torch.tensor([0.0], dtype=torch.float64))
    opt = torch.optim.Adam([p], lr=lr, eps=eps)
    p.grad = torch.tensor([g], dtype=torch.float64)
    opt.step()
    m_hat, v_hat = g, g * g                                  # bias-corrected after one step
    assert p.item() == pytest.approx(-lr * m_hat / (math.sqrt(v_hat) + eps), rel=1e-12)
    v = keras.Variable(np.array([0.0]), dtype="float64")
    keras.optimizers.Adam(learning_rate=lr, epsilon=np.float64(eps), beta_1=np.float64(0.9),
                          beta_2=np.float64(0.999)).apply_gradients([(tf.constant([g], tf.float64), v)])
    alpha = lr * math.sqrt(1 - 0.999) / (1 - 0.9)
    assert v.numpy()[0] == pytest.approx(-alpha * (0.1 * g) / (math.sqrt(0.001 * g * g) + eps), rel=1e-12)
    assert torch.optim.Adam([p]).defaults["eps"] == 1e-8 and keras.optimizers.Adam().epsilon == 1e-7


def test_keras_cross_entropy_reads_softmax_logits_and_clips_plain_probabilities():
    z = tf.constant([[50.0, 0.0, 0.0]], dtype=tf.float64)
    y = tf.constant([[0.0, 1.0, 0.0]], dtype=tf.float64)
    cce = keras.losses.CategoricalCrossentropy(dtype="float64")
    exact = 50.0 + math.log1p(2 * math.exp(-50.0))          # -log softmax(z)[1]
    assert float(cce(y, keras.activations.softmax(z))) == pytest.approx(exact, rel=1e-15)
    plain = tf.constant(tf.nn.softmax(z).numpy())           # the same numbers, no cached logits
    assert float(cce(y, plain)) == pytest.approx(-math.log(1e-7), rel=1e-6)


def test_torch_softplus_threshold_and_tf_exact_softplus():
    z = torch.tensor([20.5, 30.0], dtype=torch.float64)
    assert torch.nn.Softplus()(z).tolist() == [20.5, 30.0]
    tf_values = keras.activations.softplus(tf.constant([20.5], dtype=tf.float64)).numpy()
    assert tf_values[0] == pytest.approx(20.5 + math.log1p(math.exp(-20.5)), rel=1e-16)
    assert tf_values[0] != 20.5


def test_relu_derivative_at_zero_is_zero_in_both():
    z = torch.tensor([0.0], dtype=torch.float64, requires_grad=True)
    torch.relu(z).sum().backward()
    assert z.grad.item() == 0.0
    zt = tf.Variable([0.0], dtype=tf.float64)
    with tf.GradientTape() as tape:
        out = tf.reduce_sum(keras.activations.relu(zt))
    assert tape.gradient(out, zt).numpy()[0] == 0.0


def test_mse_mean_reductions_agree_and_sum_reductions_differ():
    a = np.array([[0.1, 0.5], [0.9, -0.3], [0.2, 0.2]])
    y = np.zeros_like(a)
    torch_mean = torch.nn.MSELoss()(torch.from_numpy(a), torch.from_numpy(y)).item()
    keras_mean = float(keras.losses.MeanSquaredError(dtype="float64")(y, a))
    assert torch_mean == pytest.approx(keras_mean, rel=1e-15) == pytest.approx(np.mean(a**2), rel=1e-15)
    torch_sum = torch.nn.MSELoss(reduction="sum")(torch.from_numpy(a), torch.from_numpy(y)).item()
    keras_sum = float(keras.losses.MeanSquaredError(reduction="sum", dtype="float64")(y, a))
    assert torch_sum == pytest.approx(np.sum(a**2), rel=1e-15)
    assert keras_sum == pytest.approx(np.sum(a**2) / 2, rel=1e-15)   # mean over the 2 units, summed over rows


def test_default_initializer_bounds():
    layer = torch.nn.Linear(400, 300, dtype=torch.float64)
    bound = 1 / math.sqrt(400)
    assert layer.weight.abs().max().item() <= bound and layer.weight.abs().max().item() > 0.99 * bound
    assert layer.bias.abs().max().item() <= bound
    dense = keras.layers.Dense(300)
    dense.build((None, 400))
    limit = math.sqrt(6 / (400 + 300))
    kernel = dense.kernel.numpy()
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.99 * limit
    assert not dense.bias.numpy().any()


def image_spec(layers, shape=(2, 8, 8)):
    from compare.engine.spec import Spec
    return Spec(input_shape=shape, layers=layers, loss="categorical_crossentropy").validate()


def test_conv_rules_are_named_only_for_a_spec_whose_layers_can_show_them():
    """same-padding-strided only for 'same' with a stride > 1; flatten-order only when a Flatten
    takes a many-channel, many-position image and a Dense follows; both configured (still judged)."""
    from compare import Activation, Dense
    from compare.engine.conventions import differences, numeric_differences
    from compare.engine.image_layers import AvgPool2D, Conv2D, Flatten, MaxPool2D

    head = [Flatten(), Dense(3), Activation("softmax")]
    cases = [
        ([Conv2D(3, 3, strides=2, padding="same"), Activation("relu")] + head, {"same-padding-strided", "flatten-order"}),
        ([Conv2D(3, 3, strides=(1, 2), padding="same")] + head, {"same-padding-strided", "flatten-order"}),
        ([Conv2D(3, 3, padding="same"), MaxPool2D(2)] + head, {"flatten-order"}),          # stride 1: no rule
        ([Conv2D(3, 3, strides=2, padding="valid"), AvgPool2D(2)] + head, set()),   # pooled to 1 x 1
        ([Conv2D(3, 3), AvgPool2D(2)] + head, {"flatten-order"}),
        ([Conv2D(1, 3, strides=2, padding=1)] + head, set()),           # one channel: C.H.W = H.W.C
        ([Conv2D(4, 8)] + head, set()),                                 # a 1 x 1 image: one order
        ([Conv2D(3, 3), AvgPool2D(3, 2, padding=1)] + head, {"avgpool-padding-count", "flatten-order"}),
        ([Conv2D(1, 2), MaxPool2D(2, 2, ceil_mode=True)] + head, {"pool-ceil-mode"}),  # 7x7 -> 4x4, not 3x3
        ([Conv2D(1, 3), MaxPool2D(2, 2, ceil_mode=True)] + head, set()),  # 6x6 -> 3x3: ceil adds no window
    ]
    for layers, expected in cases:
        found = differences(image_spec(layers))
        image_rules = {"same-padding-strided", "flatten-order", "avgpool-padding-count", "pool-ceil-mode"}
        assert set(found) & image_rules == expected, (layers, sorted(found))
        # the references mirror them (pool-ceil-mode: Keras is left out, not judged against torch)
        assert not set(numeric_differences(image_spec(layers))) & image_rules - {"pool-ceil-mode"}
    assert set(differences(image_spec([Conv2D(3, 3, padding="same"), Flatten(), Activation("relu"), Dense(3),
                                       Activation("softmax")]))) == {"flatten-order"}


def test_torch_refuses_strided_same_padding_and_keras_pads_the_extra_at_the_end():
    """The rule same-padding-strided rests on, measured: torch's Conv2d(padding='same') raises for
    stride 2; Keras's 'same' stride 2 on 6 columns with k = 3 pads 0 before and 1 after."""
    with pytest.raises(ValueError, match="padding='same' is not supported for strided convolutions"):
        torch.nn.Conv2d(1, 1, 3, stride=2, padding="same")
    x = np.arange(6.0).reshape(1, 6, 1, 1)                             # NHWC, one column of 6 rows
    layer = keras.layers.Conv2D(1, (3, 1), strides=(2, 1), padding="same", use_bias=False,
                                kernel_initializer=keras.initializers.Constant(np.array([1.0, 10.0, 100.0])
                                                                               .reshape(3, 1, 1, 1)))
    out = layer(x).numpy()[0, :, 0, 0]
    # pad_total = (ceil(6 / 2) - 1) 2 + 3 - 6 = 1: top 0, bottom 1, so windows start at rows 0, 2, 4
    assert out.tolist() == [0 + 10 * 1 + 100 * 2, 2 + 10 * 3 + 100 * 4, 4 + 10 * 5 + 100 * 0]
