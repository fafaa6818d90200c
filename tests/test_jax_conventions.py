"""JAX's conventions (scratch/conventions.py JAX) measured in the installed jax, flax (nnx) and
optax, in float64 under `jax.enable_x64(True)` (a context manager: the caller's setting comes
back): each difference issue 23 lists is either followed by scratch in the JAX convention (to
1e-13 or so) or named by the report (compare/engine/conventions.py `differences(spec, pair)`)."""
import inspect
import warnings

import numpy as np
import pytest

from compare.engine.conventions import (JAX_KERAS, JAX_TORCH, TORCH_KERAS, differences,
                                       numeric_differences, unavailable)
from compare.engine.spec import Spec
from scratch import more_activations
from scratch.activations import activation_table
from scratch.conventions import DIFFERENCES, JAX, KERAS, RULE_ATTRIBUTES, TORCH, ConventionPair
from scratch.losses import loss_divisor
from scratch.optimizers import clip_gradients, make_optimizer

jax = pytest.importorskip("jax")
optax = pytest.importorskip("optax")
nnx = pytest.importorskip("flax.nnx")
jnp = jax.numpy

P0 = {"W1": np.array([[0.5, -1.0, 0.25], [2.0, 0.125, -0.75]])}
GRADS = [np.array([[0.3, -0.2, 1e-3], [-0.5, 0.05, 0.7]]), np.array([[-0.1, 0.4, 0.0], [0.2, -0.3,
                                                                                        0.9]]),
         np.array([[0.6, 0.1, -0.2], [0.0, 0.35, -0.05]])]


def x64():
    return jax.enable_x64(True)


def optax_run(tx, params=P0, grads=GRADS):
    """The params after each of Optax's steps (float64), as numpy."""
    with x64():
        p = {k: jnp.asarray(v) for k, v in params.items()}
        state, out = tx.init(p), []
        for g in grads:
            updates, state = tx.update({"W1": jnp.asarray(g)}, state, p)
            p = optax.apply_updates(p, updates)
            assert p["W1"].dtype == jnp.float64
            out.append(np.asarray(p["W1"]))
        return out


def scratch_run(name, hyper, convention, params=P0, grads=GRADS):
    opt, p, out = make_optimizer(name, hyper, convention), dict(params), []
    for g in grads:
        p = opt.step(p, {"dW1": g})
        out.append(p["W1"])
    return out


def assert_runs_close(a, b, rtol=1e-13):
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x, y, rtol=rtol, atol=1e-15)


def runs_differ(a, b, rtol=1e-9):
    return any(not np.allclose(x, y, rtol=rtol, atol=0) for x, y in zip(a, b))


def spec(**changes):
    return Spec(**{**dict(sizes=[2, 3, 2], activations=["relu", "softmax"],
                          loss="categorical_crossentropy"),
                   **changes})


# --- optimizers ----------------------------------------------------------------------------------

def defaults(fn, *names):
    params = inspect.signature(fn).parameters
    return tuple(params[n].default for n in names)


def test_optimizer_defaults_are_optaxs():
    d = JAX.optimizer_defaults
    assert defaults(optax.sgd, "momentum", "nesterov") == (None, d["sgd"]["nesterov"])
    assert d["sgd"]["momentum"] == 0.0
    assert defaults(optax.rmsprop, "decay", "eps", "initial_scale", "eps_in_sqrt") == (
        d["rmsprop"]["rho"], d["rmsprop"]["eps"], 0.0, JAX.rmsprop_eps_in_root)
    for name in ("adam", "adamw", "nadam", "adamax"):
        fn = getattr(optax, name)
        assert defaults(fn, "b1", "b2", "eps") == (d[name]["beta1"], d[name]["beta2"],
                                                   d[name]["eps"]), name
    assert defaults(optax.adam, "eps_root") == (0.0,)
    assert defaults(optax.adamw, "weight_decay", "mask") == (d["adamw"]["weight_decay"],
                                                             None) == (1e-4, None)
    assert defaults(optax.adagrad, "initial_accumulator_value",
                    "eps") == (JAX.adagrad_initial_accumulator,
                                                                           d["adagrad"]["eps"])
    assert defaults(optax.adadelta, "learning_rate", "rho", "eps") == (None, d["adadelta"]["rho"],
                                                                       d["adadelta"]["eps"])
    assert defaults(optax.lion, "b1", "b2", "weight_decay") == (d["lion"]["beta1"],
                                                                d["lion"]["beta2"],
                                                                d["lion"]["weight_decay"])
    assert optax.nadam.func is optax.adam
    assert optax.nadam.keywords == {"nesterov": True}
    assert JAX.nadam_nesterov_adam
    # no dampening anywhere in optax's SGD: refused with one line
    assert "dampening" not in inspect.signature(optax.sgd).parameters and not JAX.sgd_dampening
    refused = unavailable(spec(optimizer="sgd", momentum=0.9, dampening=0.5))
    assert set(refused) == {"keras", "jax"} and "optax.sgd has no dampening" in refused["jax"]
    assert "jax" not in unavailable(spec(optimizer="sgd", momentum=0.9))
    # threshold 0: one line, not built
    with pytest.raises(ValueError, match="rtol or atol must be positive"):
        optax.contrib.reduce_on_plateau(rtol=0.0, atol=0.0)
    assert "jax" in unavailable(spec(schedule="plateau", threshold=0.0, epochs=2))
    assert "jax" not in unavailable(spec(schedule="plateau", epochs=2))


def test_adadelta_without_a_learning_rate_climbs_the_gradient():
    """optax.adadelta's learning_rate=None is scale_by_learning_rate(None) = identity: no -1."""
    up = optax_run(optax.adadelta(), grads=GRADS[:1])[0]
    down = optax_run(optax.adadelta(1.0), grads=GRADS[:1])[0]
    # every weight moved WITH its gradient
    assert np.all((up - P0["W1"]) * GRADS[0] > 0)
    # (rounding of p - p0)
    np.testing.assert_allclose(up - P0["W1"], -(down - P0["W1"]), rtol=1e-12)


def test_rmsprop_eps_inside_the_root_and_momentum_after_the_lr():
    # a large eps: inside vs outside shows at once
    lr, rho, eps, mu = 0.05, 0.9, 0.25, 0.5
    g = GRADS[0]
    first = optax_run(optax.rmsprop(lr, decay=rho, eps=eps), grads=[g])[0]
    s = (1 - rho) * g * g
    np.testing.assert_allclose(first, P0["W1"] - lr * g / np.sqrt(s + eps), rtol=1e-15)
    assert not np.allclose(first, P0["W1"] - lr * g / (np.sqrt(s) + eps), rtol=1e-6)
    started = optax_run(optax.rmsprop(lr, decay=rho, eps=eps, initial_scale=2.0), grads=[g])[0]
    np.testing.assert_allclose(started, P0["W1"] - lr * g / np.sqrt(rho * 2.0 + s + eps),
                               rtol=1e-15)  # where s starts
    hyper = dict(lr=lr, rho=rho, eps=eps, momentum=mu, centered=False)
    ours = optax_run(optax.rmsprop(lr, decay=rho, eps=eps, momentum=mu))
    assert_runs_close(scratch_run("rmsprop", hyper, JAX), ours)
    # Keras's form, lr in the buffer
    assert_runs_close(scratch_run("rmsprop", hyper, KERAS), ours)
    assert runs_differ(scratch_run("rmsprop", hyper, TORCH), ours)
    found = differences(spec(optimizer="rmsprop", momentum=mu, rho=rho, eps=eps), JAX_TORCH)
    assert {"rmsprop-eps-placement", "rmsprop-momentum-form"} <= set(found)
    keras_like = spec(optimizer="rmsprop", momentum=mu, rho=rho, eps=eps)
    # the buffer's sign alone
    assert set(differences(keras_like, JAX_KERAS)) <= {"rmsprop-momentum-sign"}
    assert numeric_differences(keras_like, JAX_KERAS) == {}


def test_adam_eps_placement_is_torchs():
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 0.05
    hyper = dict(lr=lr, beta1=b1, beta2=b2, eps=eps, amsgrad=False)
    ours = optax_run(optax.adam(lr, b1, b2, eps))
    assert_runs_close(scratch_run("adam", hyper, JAX), ours)
    assert_runs_close(scratch_run("adam", hyper, TORCH), ours)
    assert runs_differ(scratch_run("adam", hyper, KERAS), ours)             # epsilon-hat
    s = spec(optimizer="adam", eps=eps)
    assert "adam-eps-placement" not in differences(s, JAX_TORCH)
    assert "adam-eps-placement" in differences(s, JAX_KERAS)
    # judged: the same numbers
    assert numeric_differences(s, JAX_TORCH) == {}


def test_adamw_decay_multiplied_by_lr_default_1e_4_and_its_mask():
    lr, wd = 0.1, 0.5
    # no Adam step: the decay alone
    zero = [np.zeros_like(P0["W1"])]
    np.testing.assert_allclose(optax_run(optax.adamw(lr, weight_decay=wd), grads=zero)[0],
                               # p (1 - lr wd), not p (1 - wd)
                               P0["W1"] * (1 - lr * wd), rtol=1e-15)
    np.testing.assert_allclose(optax_run(optax.adamw(lr), grads=zero)[0],
                               P0["W1"] * (1 - lr * 1e-4), rtol=1e-15)
    params = {"W1": P0["W1"], "b1": np.array([1.0, -2.0])}
    with x64():
        tx = optax.adamw(lr, weight_decay=wd, mask={"W1": True, "b1": False})
        p = {k: jnp.asarray(v) for k, v in params.items()}
        updates, _ = tx.update({k: jnp.zeros_like(v) for k, v in p.items()}, tx.init(p), p)
        new = optax.apply_updates(p, updates)
        # masked out: not decayed
        assert np.array_equal(np.asarray(new["b1"]), params["b1"])
        np.testing.assert_allclose(np.asarray(new["W1"]), P0["W1"] * (1 - lr * wd), rtol=1e-15)
    hyper = dict(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8, amsgrad=False, weight_decay=wd)
    assert_runs_close(scratch_run("adamw", hyper, JAX), optax_run(optax.adamw(0.01,
                                                                              weight_decay=wd)))
    s = spec(optimizer="adamw", weight_decay=wd)
    assert "adamw-decay-form" not in differences(s, JAX_TORCH)
    assert "adamw-decay-form" in differences(s, JAX_KERAS)
    assert spec(optimizer="adamw").hyper(JAX)["weight_decay"] == 1e-4


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum_and_nesterov_are_torchs(nesterov):
    hyper = dict(lr=0.1, momentum=0.9, nesterov=nesterov)
    ours = optax_run(optax.sgd(0.1, momentum=0.9, nesterov=nesterov))
    assert_runs_close(scratch_run("sgd", hyper, JAX), ours)
    assert_runs_close(scratch_run("sgd", hyper, TORCH), ours)
    assert "sgd-momentum-form" not in JAX_TORCH.rules and "sgd-momentum-form" in JAX_KERAS.rules


def test_adamax_eps_inside_the_max_adagrad_inside_the_root_adadelta_torchs_order():
    hyper = dict(lr=0.02, beta1=0.9, beta2=0.999, eps=0.05)
    ours = optax_run(optax.adamax(0.02, eps=0.05))
    assert_runs_close(scratch_run("adamax", hyper, JAX), ours)
    assert_runs_close(scratch_run("adamax", hyper, TORCH), ours)
    assert runs_differ(scratch_run("adamax", hyper, KERAS), ours)
    hyper = dict(lr=0.1, eps=0.05, initial_accumulator=0.1)
    ours = optax_run(optax.adagrad(0.1, eps=0.05))
    assert_runs_close(scratch_run("adagrad", hyper, JAX), ours)
    assert runs_differ(scratch_run("adagrad", dict(hyper, initial_accumulator=0.1), TORCH), ours)
    hyper = dict(lr=1.0, rho=0.9, eps=1e-6)
    assert_runs_close(scratch_run("adadelta", hyper, JAX), optax_run(optax.adadelta(1.0)))


def test_nadam_is_adam_with_a_nesterov_look_ahead_named_for_both_pairs():
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    m, v, p, out = 0.0, 0.0, P0["W1"], []
    # optax/_src/transform.py scale_by_adam
    for t, g in enumerate(GRADS, start=1):
        m, v = (1 - b1) * g + b1 * m, (1 - b2) * g * g + b2 * v
        m_hat = b1 * m / (1 - b1 ** (t + 1)) + (1 - b1) * g / (1 - b1 ** t)
        p = p - lr * m_hat / (np.sqrt(v / (1 - b2 ** t)) + eps)
        out.append(p)
    assert_runs_close(optax_run(optax.nadam(lr, b1, b2, eps)), out, rtol=1e-12)
    s = spec(optimizer="nadam")
    assert "nadam-nesterov-adam" in numeric_differences(s, JAX_TORCH)
    assert "nadam-nesterov-adam" in numeric_differences(s, JAX_KERAS)
    assert "nadam-nesterov-adam" not in differences(s, TORCH_KERAS)


def test_clip_by_global_norm_has_no_eps():
    grads = {"W1": np.array([[3.0, 0.0]]), "b1": np.array([4.0])}          # global norm 5
    with x64():
        tx = optax.clip_by_global_norm(5.0)
        at_c, _ = tx.update({k: jnp.asarray(v) for k, v in grads.items()}, tx.init(grads))
        tx = optax.clip_by_global_norm(2.5)
        halved, _ = tx.update({k: jnp.asarray(v) for k, v in grads.items()}, tx.init(grads))
    # at norm = c: (t / norm) c, an ulp at most from t (XLA divides by the scalar norm through its
    # reciprocal:
    # 3 * fl(1/5) * 5 = 3.0000000000000004); torch's 5 / (5 + 1e-6) would move it by 2e-7
    assert all(np.allclose(np.asarray(at_c[k]), grads[k], rtol=5e-16, atol=0) for k in grads)
    assert all(np.allclose(np.asarray(halved[k]), grads[k] / 2, rtol=5e-16, atol=0) for k in grads)
    assert JAX.clip_norm_eps is None
    ours = clip_gradients({"dW1": grads["W1"], "db1": grads["b1"]}, {"clip_norm": 2.5}, JAX)
    assert all(np.allclose(ours["d" + k], grads[k] / 2, rtol=1e-15, atol=0) for k in grads)
    s = spec(optimizer="sgd", clip_norm=1.0)
    assert "clip-norm-eps" in differences(s, JAX_TORCH)
    assert "clip-norm-eps" not in differences(s, JAX_KERAS)


def test_piecewise_schedule_decays_at_its_milestone_and_cosine_stays():
    sched = optax.piecewise_constant_schedule(1.0, {3: 0.1})
    assert [float(sched(c)) for c in range(5)] == pytest.approx([1.0, 1.0, 1.0, 0.1, 0.1], rel=1e-7)
    # torch's: step m already decayed
    assert JAX.schedule_milestone_inclusive
    cosine = optax.cosine_decay_schedule(1.0, decay_steps=4, alpha=0.25)
    assert float(cosine(4)) == float(cosine(9)) == pytest.approx(0.25) and not JAX.cosine_restarts


# --- activations ---------------------------------------------------------------------------------

JAX_ACTIVATIONS = {"relu": "relu", "leaky_relu": "leaky_relu", "elu": "elu", "selu": "selu",
                   "celu": "celu",
                   "relu6": "relu6", "hard_sigmoid": "hard_sigmoid", "hard_silu": "hard_silu",
                   "hard_tanh": "hard_tanh", "silu": "silu", "softplus": "softplus", "mish": "mish",
                   "log_sigmoid": "log_sigmoid", "softsign": "soft_sign"}


def test_activations_and_their_kinks_are_jaxs():
    """scratch's table in the JAX convention against jax.nn and jax.grad, on ordinary inputs and
    on every kink (scratch/more_activations.py KINKS): leaky_relu'(0) is 1 in JAX, the slope
    elsewhere."""
    # the slope bound: JAX's 0.01
    table = activation_table(JAX)
    z = np.array([-3.0, -1.0, -0.3, 0.0, 0.7, 1.0, 3.0, 6.0, 25.0])
    fns = {name: getattr(jax.nn, jname) for name, jname in JAX_ACTIVATIONS.items() if name in table}
    # one compile for all of them
    with x64():
        measured = jax.jit(lambda v: {n: (f(v), jax.vmap(jax.grad(f))(v)) for n,
                                      f in fns.items()})(jnp.asarray(z))
        at_zero = float(jax.grad(jax.nn.leaky_relu)(0.0))
    Z = z.reshape(1, -1)
    for name, (values, grads) in measured.items():
        g, dg = table[name]
        np.testing.assert_allclose(g(Z).ravel(), np.asarray(values), rtol=1e-13, atol=1e-15,
                                   err_msg=name)
        np.testing.assert_allclose(dg(Z, g(Z)).ravel(), np.asarray(grads), rtol=1e-13, atol=1e-15,
                                   err_msg=name)
    assert len(measured) == len(JAX_ACTIVATIONS) and set(more_activations.KINKS) <= set(measured)
    assert at_zero == 1.0
    assert JAX.leaky_relu_grad_one_at_zero
    assert not TORCH.leaky_relu_grad_one_at_zero
    slope = inspect.signature(jax.nn.leaky_relu).parameters["negative_slope"].default
    assert slope == JAX.leaky_relu_slope
    s = spec(activations=["leaky_relu", "softmax"])
    assert "leaky-relu-kink" in differences(s, JAX_TORCH)
    assert "leaky-relu-kink" not in numeric_differences(s, JAX_TORCH)


def test_softplus_is_exact_beyond_20():
    with x64():
        z = jnp.asarray([21.0, 30.0])
        assert np.all(np.asarray(jax.nn.softplus(z)) != np.asarray(z))
        assert JAX.softplus_threshold is None


def test_gelu_is_the_tanh_form_by_default():
    assert inspect.signature(jax.nn.gelu).parameters["approximate"].default is True
    assert JAX.gelu_approximate_by_default
    table = more_activations.table(JAX)
    Z = np.linspace(-4, 4, 17).reshape(1, -1)
    with x64():
        default = np.asarray(jax.nn.gelu(jnp.asarray(Z)))
        exact = np.asarray(jax.nn.gelu(jnp.asarray(Z), False))
    np.testing.assert_allclose(table["gelu_tanh"][0](Z), default, rtol=1e-13, atol=1e-16)
    np.testing.assert_allclose(table["gelu"][0](Z), exact, rtol=1e-13, atol=1e-16)
    # a port that says gelu gets the tanh form
    assert np.max(np.abs(default - exact)) > 1e-4
    assert "gelu-float32-constant" not in JAX_TORCH.rules
    assert "gelu-float32-constant" in JAX_KERAS.rules


# --- losses --------------------------------------------------------------------------------------

def test_optax_losses_are_per_element_and_l2_loss_is_half():
    rng = np.random.default_rng(0)
    A, Y = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    T = np.eye(3)[[0, 2, 1, 0]]
    with x64():
        a, y, t = jnp.asarray(A), jnp.asarray(Y), jnp.asarray(T)
        l2, se = np.asarray(optax.losses.l2_loss(a, y)), np.asarray(optax.losses.squared_error(a,
                                                                                               y))
        huber = np.asarray(optax.losses.huber_loss(a, y, delta=0.5))
        bce = np.asarray(optax.losses.sigmoid_binary_cross_entropy(a, t))
        ce = np.asarray(optax.losses.softmax_cross_entropy(a, t))
        kl = np.asarray(optax.losses.kl_divergence(jax.nn.log_softmax(a), t))
        cos = np.asarray(optax.losses.cosine_similarity(a, y))
    np.testing.assert_allclose(l2, 0.5 * (A - Y) ** 2, rtol=1e-15)          # half the squared error
    np.testing.assert_allclose(se, (A - Y) ** 2, rtol=1e-15)
    assert l2.shape == se.shape == huber.shape == bce.shape == (4, 3)       # one value per element
    # one per example: the user reduces
    assert ce.shape == kl.shape == cos.shape == (4,)
    logp = A - np.log(np.exp(A).sum(axis=1, keepdims=True))
    # 0 log 0 = 0, no clipping
    np.testing.assert_allclose(kl, -(T * logp).sum(axis=1), rtol=1e-14)
    # one-hot: KL is the cross-entropy
    np.testing.assert_allclose(ce, kl, rtol=1e-14)
    assert not JAX.kld_clips
    assert not JAX.kld_mean_per_element
    assert not JAX.sum_reduction_averages_units
    assert loss_divisor("mse", "sum", JAX, 3, 4) == 1
    assert loss_divisor("kld", "mean", JAX, 3, 4) == 4
    cosine = inspect.signature(optax.losses.cosine_similarity).parameters["epsilon"].default
    assert cosine == JAX.cosine_eps == 0.0
    # user-written
    assert not hasattr(optax.losses, "poisson") and not hasattr(optax.losses, "poisson_loss")
    assert "kld-mean-reduction" in differences(spec(loss="kld"), JAX_TORCH)
    assert "kld-target-clip" in differences(spec(loss="kld"), JAX_KERAS)


# --- Flax layers ---------------------------------------------------------------------------------

def test_flax_linear_kernel_is_in_out_lecun_normal_bias_zeros():
    with x64():
        layer = nnx.Linear(300, 200, rngs=nnx.Rngs(0), param_dtype=jnp.float64)
        kernel, bias = np.asarray(layer.kernel[...]), np.asarray(layer.bias[...])
        x = np.random.default_rng(1).normal(size=(2, 300))
        np.testing.assert_allclose(np.asarray(layer(jnp.asarray(x))), x @ kernel + bias, rtol=1e-13)
    assert kernel.shape == (300, 200) and JAX.dense_weight_in_out and JAX.dense_weight == "kernel"
    assert np.all(bias == 0)
    # lecun: variance 1 / fan_in
    sigma = 1 / np.sqrt(300)
    assert abs(kernel.std() / sigma - 1) < 0.02
    assert np.abs(kernel).max() <= 2 * sigma / 0.87962566103423978 + 1e-12  # truncated at 2 stddev
    from flax.nnx.nn import linear
    init = inspect.signature(nnx.Linear.__init__).parameters["kernel_init"].default
    assert init is linear.default_kernel_init


def test_flax_conv_kernel_nhwc_and_same_padding_by_default():
    with x64():
        conv = nnx.Conv(2, 4, kernel_size=(3, 3), rngs=nnx.Rngs(0), param_dtype=jnp.float64)
        out = conv(jnp.ones((1, 5, 5, 2)))
        pads = jax.lax.padtype_to_pads((4, 4), (3, 3), (2, 2), "SAME")
    assert conv.kernel[...].shape == (3, 3, 2, 4)
    assert out.shape == (1, 5, 5, 4)
    assert conv.padding == "SAME"
    assert [tuple(p) for p in pads] == [(0, 1), (0, 1)]
    assert JAX.same_padding_strided
    assert JAX.channels_last


def test_flax_batchnorm_momentum_is_keras_eps_1e_5_biased_and_fast_variance():
    bn = nnx.BatchNorm(1, rngs=nnx.Rngs(0))
    assert (bn.momentum, bn.epsilon, bn.use_fast_variance) == (0.99, 1e-5, True)
    layer_eps = nnx.LayerNorm(1, rngs=nnx.Rngs(0)).epsilon
    assert JAX.norm_defaults == {"batch": {"momentum": bn.momentum, "eps": bn.epsilon},
                                 "layer": {"eps": layer_eps}}
    assert JAX.fast_variance
    # mean 4, biased var 9.5, unbiased 12.67
    x = np.array([[1.0], [2.0], [4.0], [9.0]])
    with x64():
        bn = nnx.BatchNorm(1, momentum=0.25, rngs=nnx.Rngs(0), param_dtype=jnp.float64)
        bn(jnp.asarray(x))
        mean, var = float(bn.mean[...][0]), float(bn.var[...][0])
    # Keras's meaning: the old average's weight
    new = 1 - 0.25
    assert not JAX.norm_momentum_weights_new and JAX.norm_momentum(new) == 0.25
    # 3.0 and 7.375: exact in float32 too
    assert mean == new * x.mean() and var == 0.25 * 1.0 + new * x.var()
    assert not JAX.running_var_unbiased and JAX.default_new_batch_weight == pytest.approx(0.01)
    s = spec(norm="batch", batch_size=4)
    assert set(differences(s, JAX_TORCH)) == {"batchnorm-default-momentum", "norm-default-eps",
                                              "batchnorm-running-variance", "norm-fast-variance",
                                              "batchnorm-float32-running-stats"}
    assert set(differences(s, JAX_KERAS)) == {"norm-default-eps", "norm-fast-variance",
                                              "batchnorm-float32-running-stats"}


def test_flax_batchnorm_running_statistics_are_float32_in_a_float64_run():
    """nnx.BatchNorm creates mean and var as float32 whatever param_dtype (flax/nnx/nn/
    normalization.py BatchNorm.__init__: jnp.zeros(feature_shape, jnp.float32)), and each update
    is stored back rounded."""
    x = np.array([[0.1], [-1.3], [0.4], [1.7]])
    with x64():
        bn = nnx.BatchNorm(1, momentum=0.0, rngs=nnx.Rngs(0), param_dtype=jnp.float64,
                           dtype=jnp.float64)
        out = bn(jnp.asarray(x))
        assert bn.var[...].dtype == jnp.float32
        assert out.dtype == jnp.float64
        assert bn.scale[...].dtype == jnp.float64
        assert float(bn.var[...][0]) == float(np.float32(x.var())) != x.var()
    assert JAX.float32_running_stats
    assert not TORCH.float32_running_stats
    assert not KERAS.float32_running_stats
    # named; the JAX reference keeps the
    explicit = spec(norm="batch", norm_eps=1e-5, norm_momentum=0.1)
    # run's dtype: configured
    assert "batchnorm-float32-running-stats" in differences(explicit, JAX_KERAS)
    assert "batchnorm-float32-running-stats" not in numeric_differences(explicit, JAX_KERAS)


def test_fast_variance_changes_the_last_bits_and_loses_digits_on_a_large_mean():
    """E[x^2] - E[x]^2 against E[(x - mean)^2] (flax/nnx/nn/normalization.py _compute_stats):
    the last bits on small numbers, a relative ~1e-9 at mean 1e4 and spread 1, every digit at
    mean 1e8 (0)."""
    from flax.nnx.nn.normalization import _compute_stats
    spread = np.array([[0.1], [-1.3], [0.4], [1.7], [-0.2], [0.9]])
    two_pass = spread.var()

    def error(shift, fast):
        with x64():
            _, var = _compute_stats(jnp.asarray(shift + spread), (0,), None, use_fast_variance=fast)
        return abs(float(var[0]) - two_pass) / two_pass

    assert error(0.0, False) < 1e-15 and error(0.0, True) < 1e-14
    # digits lost to the mean
    assert error(1e4, False) < 1e-11 < error(1e4, True) < 1e-7
    # max(0, ...) = 0: all of them
    assert error(1e8, True) == 1.0 and error(1e8, False) < 1e-6
    outputs = {}
    with x64():
        for fast in (True, False):
            for kind in ("batch", "layer"):
                norm = (nnx.BatchNorm(1, use_fast_variance=fast, rngs=nnx.Rngs(0),
                                      param_dtype=jnp.float64)
                        if kind == "batch" else
                        nnx.LayerNorm(6, use_fast_variance=fast, rngs=nnx.Rngs(0),
                                      param_dtype=jnp.float64))
                x = 1e4 + (spread if kind == "batch" else spread.T)
                outputs[fast, kind] = np.asarray(norm(jnp.asarray(x))).ravel()
    # the normalized outputs move too
    for kind in ("batch", "layer"):
        assert 1e-12 < np.max(np.abs(outputs[True, kind] - outputs[False, kind])) < 1e-6, kind
    assert "norm-fast-variance" in differences(spec(norm="layer"), JAX_TORCH)
    # judged at 1e-9
    assert "norm-fast-variance" not in numeric_differences(spec(norm="layer"), JAX_TORCH)


def test_flax_dropout_writes_a_division_xla_computes_torchs_product():
    """flax/nnx/nn/stochastic.py Dropout.__call__ writes inputs / keep_prob, keep_prob a Python
    float: XLA on the CPU divides by that constant through its reciprocal, so the kept units are
    x * fl(1 / keep), torch's and Keras's, bit for bit (an array divided by an array stays a true
    division)."""
    rate = 0.3
    x = np.linspace(0.01, 3.0, 400)
    with x64():
        out = np.asarray(nnx.Dropout(rate, rngs=nnx.Rngs(3))(jnp.asarray(x)))
        divide = jax.jit(lambda a, b: a / b)                            # an array by an array
        true_division = np.asarray(divide(jnp.asarray(x), jnp.full_like(x, 1 - rate)))
    kept = out != 0
    assert 0 < kept.sum() < x.size
    # torch's and Keras's product
    assert np.array_equal(out[kept], x[kept] * (1 / (1 - rate)))
    assert not np.array_equal(out[kept], x[kept] / (1 - rate))              # not NumPy's division
    assert np.array_equal(true_division, x / (1 - rate))
    assert not JAX.dropout_divides
    s = spec(sizes=[2, 4, 2], dropout=0.5)
    assert "dropout-divides" not in differences(s, JAX_TORCH)
    assert "dropout-divides" not in differences(s, JAX_KERAS)


def test_flax_pooling_counts_padding_no_ceil_mode_first_maximum_and_nhwc_flatten():
    import flax.linen as linen
    assert inspect.signature(linen.avg_pool).parameters["count_include_pad"].default is True
    assert "ceil_mode" not in inspect.signature(linen.max_pool).parameters
    assert not JAX.pool_ceil_mode_available
    with x64():
        img = jnp.arange(16.0).reshape(1, 4, 4, 1)
        avg = np.asarray(linen.avg_pool(img, (3, 3), strides=(2, 2), padding="SAME"))[0, :, :, 0]
        ties = jnp.asarray([[1.0, 3.0], [3.0, 3.0]]).reshape(1, 2, 2, 1)
        pooled = lambda v: linen.max_pool(v, (2, 2), strides=(2, 2)).sum()   # noqa: E731
        grad = np.asarray(jax.grad(pooled)(ties))[0, :, :, 0]
        flat = np.asarray(jnp.arange(12.0).reshape(1, 2, 3, 2).reshape(1, -1))
    # pads counted
    assert avg[0, 1] == pytest.approx((2 + 3 + 6 + 7 + 10 + 11) / 9) and JAX.avgpool_counts_padding
    # the first maximum
    assert grad.tolist() == [[0.0, 1.0], [0.0, 0.0]] and JAX.maxpool_grad_to_first_max
    # H.W.C: a reshape of NHWC
    assert flat.ravel().tolist() == list(range(12))


# --- float64
# ---------------------------------------------------------------------------------------

def test_float64_without_x64_is_silently_float32():
    with jax.enable_x64(False):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            x = jnp.asarray(np.array([0.1]), dtype=jnp.float64)
        assert x.dtype == jnp.float32 and float(x[0]) == float(np.float32(0.1)) != 0.1
        # a float64 array, truncated, no warning
        assert jnp.asarray(np.array([0.1])).dtype == jnp.float32
        # a warning, never an error
        assert any("float64" in str(w.message) for w in caught)
    with x64():
        assert jnp.asarray(np.array([0.1])).dtype == jnp.float64
        assert float(jnp.asarray([0.1])[0]) == 0.1
    assert JAX.x64_opt_in and not TORCH.x64_opt_in


def test_default_matmul_precision_on_cpu_is_exact_in_float64():
    rng = np.random.default_rng(2)
    A, B = rng.normal(size=(40, 50)), rng.normal(size=(50, 30))
    assert jax.config.jax_default_matmul_precision is None
    with x64():
        product = np.asarray(jnp.asarray(A) @ jnp.asarray(B))
    if jax.default_backend() == "cpu":
        np.testing.assert_allclose(product, A @ B, rtol=1e-13, atol=1e-13)


# --- pairs
# -----------------------------------------------------------------------------------------

# jax~torch: every rule where optax/Flax take Keras's side, the ones where JAX is a third form, and
# the
# decay-form rule (JAX writes both, torch one: named only between two one-form frameworks, see
# below).
JAX_TORCH_RULES = {
    # optax.rmsprop: Keras's forms
    "rmsprop-eps-placement", "rmsprop-momentum-form",
    # no mu_t schedule at all
    "nadam-momentum-schedule", "nadam-nesterov-adam",
    "adagrad-eps-placement", "adagrad-initial-accumulator",                 # optax.adagrad: Keras's
    "default-hyperparameters", "clip-norm-eps", "weight-decay-form",
    "softplus-threshold", "hard-sigmoid-float32-slope", "hard-tanh-kink",   # jax.nn: Keras's
    # optax's schedules: closed forms
    "schedule-every-epoch", "schedule-recursive-form", "plateau-counts",
    "momentum-lr-schedule", "cosine-after-t-max", "kld-mean-reduction",
    # Flax BatchNorm: Keras's
    "batchnorm-default-momentum", "norm-default-eps", "batchnorm-running-variance",
    # NHWC, lax 'SAME', no ceil_mode
    "same-padding-strided", "flatten-order", "pool-ceil-mode",
    "norm-fast-variance", "leaky-relu-kink", "batchnorm-float32-running-stats",   # JAX's own
}
# jax~keras: every rule where optax/jax.nn take torch's side, Keras's float32 casts, and JAX's own.
JAX_KERAS_RULES = {
    # optax: torch's
    "sgd-momentum-form", "adam-eps-placement", "adamw-decay-form", "adamax-eps-placement",
    "keras-float32-hyperparameters", "keras-float32-regularizer", "keras-float32-schedule",
    "keras-float32-leaky-slope", "gelu-float32-constant", "gelu-tanh-float32-constant",
    "default-hyperparameters", "weight-decay-form", "schedule-step-boundary",
    "plateau-float32-comparison",
    "momentum-lr-schedule", "mse-sum-reduction", "kld-target-clip", "poisson-eps",
    "probabilities-clipping",
    "leaky-relu-default-slope", "selu-kink", "celu-kink", "norm-default-eps",
    "avgpool-padding-count",
    "nadam-nesterov-adam", "norm-fast-variance", "leaky-relu-kink",
    "batchnorm-float32-running-stats",
}


# optax's own forms, added by the optimizer work in their block (tests/test_jax_optim.py measures
# them):
# JAX-only, so in both pairs once they are in the table
OPTAX_RULES = {"decay-in-update", "rmsprop-momentum-sign", "amsgrad-corrected-max",
               "exponential-float32-count"}


def test_jax_pairs_differ_by_the_rules_the_measurements_give():
    optax_rules = OPTAX_RULES & set(DIFFERENCES)
    assert set(JAX_TORCH.rules) == JAX_TORCH_RULES | optax_rules
    assert set(JAX_KERAS.rules) == JAX_KERAS_RULES | optax_rules
    assert ConventionPair("torch", "jax").rules == JAX_TORCH.rules
    assert set(RULE_ATTRIBUTES) == set(DIFFERENCES)
    assert str(JAX_TORCH) == "jax~torch" and JAX.differences(JAX).rules == ()
    # every rule torch and Keras share is one JAX differs from both on
    jax_only = {"nadam-nesterov-adam", "norm-fast-variance", "leaky-relu-kink",
                "batchnorm-float32-running-stats"}
    shared = set(JAX_TORCH.rules) & set(JAX_KERAS.rules) - set(TORCH_KERAS.rules)
    assert shared == jax_only | optax_rules


def test_a_pair_names_only_what_applies_and_names_may_stand_for_conventions():
    s = spec(optimizer="sgd", momentum=0.9, weight_decay=0.01, schedule="exponential")
    assert differences(s, ("jax", "torch")) == differences(s, JAX_TORCH)
    # JAX writes the coupled form too
    assert "weight-decay-form" not in differences(s, JAX_TORCH)
    assert "weight-decay-form" in differences(s, TORCH_KERAS)
    # optax.sgd's trace: torch's form
    assert "momentum-lr-schedule" not in differences(s, JAX_TORCH)
    assert "momentum-lr-schedule" in differences(s, JAX_KERAS)
    texts = [DIFFERENCES[k][1] for k in JAX_TORCH.rules + JAX_KERAS.rules]
    # each names JAX's side
    assert all("JAX" in t or "jax" in t or "optax" in t or "Flax" in t for t in texts)


def test_a_batchnorm_written_in_flax_reads_as_keras_and_the_words_name_flax():
    from compare.engine.diagnose import eps_words, momentum_words
    from compare.engine.layers import BatchNorm
    layer = BatchNorm(momentum=0.9, written_in="jax")                       # Flax's momentum 0.9
    assert layer.settings("torch") == {"momentum": pytest.approx(0.1), "eps": 1e-5}
    assert layer.settings("keras") == {"momentum": 0.9, "eps": 1e-3}
    assert layer.settings("jax")["momentum"] == 0.9
    # a port that kept the number
    words = momentum_words((0.9, "jax", 0.1), (0.9, "torch", 0.9))
    assert words == ("momentum 0.9 (jax) vs 0.9 (torch): torch momentum 0.9 weights the new batch; "
                     "Flax momentum 0.9 weights the old one: Flax's 0.1 is torch's 0.9")
    assert momentum_words((None, "jax", 0.01), (0.99, "keras",
                                                0.01)).endswith("(both in jax's meaning)")
    assert eps_words((None, "jax", 1e-6), (None, "torch", 1e-5), "layer").endswith(
        "(torch's default is 1e-5, Flax's 1e-6)")


def test_gelu_against_gelu_tanh_names_jaxs_default():
    from compare.engine.diagnose import gelu_words
    from compare.engine.layers import Activation
    words = gelu_words(Activation("gelu"), Activation("gelu_tanh"), "torch", "jax")
    assert "jax.nn.gelu(x) is approximate=True" in words and "approximate=False" in words
    # Keras: exact by default
    assert gelu_words(Activation("gelu"), Activation("gelu_tanh"), "torch", "keras") == ""
