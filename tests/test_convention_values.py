"""The conventions as values (scratch/conventions.py Convention, TORCH, KERAS, ConventionPair):
each value read back from the installed frameworks' own objects where they expose it, and a pair's
differences for a few specs as the DIFFERENCES table states them."""
import dataclasses
import inspect

import numpy as np
import pytest

from compare.engine.conventions import TORCH_KERAS, differences
from compare.engine.spec import Spec
from scratch.activations import activation_table
from scratch.conventions import (DIFFERENCES, KERAS, NORM_DEFAULTS, RULE_ATTRIBUTES, TORCH, ConventionPair,
                                 as_convention)
from scratch.optimizers import make_optimizer

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")


# --- the values against the frameworks' own defaults -------------------------------------------

def test_normalization_defaults_and_meanings_are_the_frameworks():
    bn, ln = torch.nn.BatchNorm1d(3), torch.nn.LayerNorm(3)
    assert TORCH.norm_defaults == {"batch": {"momentum": bn.momentum, "eps": bn.eps}, "layer": {"eps": ln.eps}}
    kbn, kln = keras.layers.BatchNormalization(), keras.layers.LayerNormalization()
    assert KERAS.norm_defaults == {"batch": {"momentum": kbn.momentum, "eps": kbn.epsilon}, "layer": {"eps": kln.epsilon}}
    # one training step on a batch of 4 from running mean 0 / variance 1, momentum 0.25 in each one's own meaning
    x = np.array([[1.0], [2.0], [4.0], [9.0]])
    mu, biased, unbiased = x.mean(), x.var(), x.var(ddof=1)
    tbn = torch.nn.BatchNorm1d(1, momentum=0.25).double()
    tbn.train()(torch.tensor(x))
    kbn = keras.layers.BatchNormalization(momentum=0.25, dtype="float64")
    kbn(x, training=True)
    for convention, mean, var in ((TORCH, tbn.running_mean.item(), tbn.running_var.item()),
                                  (KERAS, float(kbn.moving_mean.numpy()[0]), float(kbn.moving_variance.numpy()[0]))):
        new = 0.25 if convention.norm_momentum_weights_new else 0.75          # the new batch's weight
        batch_var = unbiased if convention.running_var_unbiased else biased
        assert mean == pytest.approx(new * mu, rel=1e-12), convention
        assert var == pytest.approx((1 - new) * 1.0 + new * batch_var, rel=1e-12), convention
    assert TORCH.default_new_batch_weight == 0.1 and KERAS.default_new_batch_weight == pytest.approx(0.01)
    assert TORCH.norm_momentum(0.1) == 0.1 and KERAS.norm_momentum(0.1) == 0.9


def torch_defaults(cls):
    return cls([torch.nn.Parameter(torch.zeros(1))]).defaults


def test_optimizer_defaults_are_the_frameworks():
    t, k = TORCH.optimizer_defaults, KERAS.optimizer_defaults
    assert t["sgd"] == {k_: torch_defaults(torch.optim.SGD)[k_] for k_ in ("momentum", "nesterov")}
    rms = torch_defaults(torch.optim.RMSprop)
    assert t["rmsprop"] == {"rho": rms["alpha"], "eps": rms["eps"]}
    for name, cls in (("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW), ("nadam", torch.optim.NAdam),
                      ("adamax", torch.optim.Adamax)):
        d = torch_defaults(cls)
        assert (t[name]["beta1"], t[name]["beta2"], t[name]["eps"]) == (*d["betas"], d["eps"]), name
    assert t["adamw"]["weight_decay"] == torch_defaults(torch.optim.AdamW)["weight_decay"]
    assert t["adam"]["amsgrad"] == torch_defaults(torch.optim.Adam)["amsgrad"]
    ada = torch_defaults(torch.optim.Adagrad)
    assert (t["adagrad"]["eps"], TORCH.adagrad_initial_accumulator) == (ada["eps"], ada["initial_accumulator_value"])
    delta = torch_defaults(torch.optim.Adadelta)
    assert t["adadelta"] == {"rho": delta["rho"], "eps": delta["eps"]}
    assert TORCH.nadam_momentum_decay == torch_defaults(torch.optim.NAdam)["momentum_decay"]
    assert "dampening" in torch_defaults(torch.optim.SGD) and TORCH.sgd_dampening
    assert not hasattr(torch.optim, "Lion") and "lion" not in t

    o = keras.optimizers
    assert k["sgd"] == {"momentum": o.SGD().momentum, "nesterov": o.SGD().nesterov}
    assert k["rmsprop"] == {"rho": o.RMSprop().rho, "eps": o.RMSprop().epsilon}
    for name, cls in (("adam", o.Adam), ("adamw", o.AdamW), ("nadam", o.Nadam), ("adamax", o.Adamax)):
        opt = cls()
        assert (k[name]["beta1"], k[name]["beta2"], k[name]["eps"]) == (opt.beta_1, opt.beta_2, opt.epsilon), name
    assert k["adamw"]["weight_decay"] == o.AdamW().weight_decay and k["adam"]["amsgrad"] == o.Adam().amsgrad
    assert (k["adagrad"]["eps"], KERAS.adagrad_initial_accumulator) == (o.Adagrad().epsilon,
                                                                       o.Adagrad().initial_accumulator_value)
    assert k["adadelta"] == {"rho": o.Adadelta().rho, "eps": o.Adadelta().epsilon}
    assert k["lion"] == {"beta1": o.Lion().beta_1, "beta2": o.Lion().beta_2}
    assert "dampening" not in inspect.signature(o.SGD).parameters and not KERAS.sgd_dampening


def test_activation_and_loss_values_are_the_frameworks():
    assert TORCH.leaky_relu_slope == torch.nn.LeakyReLU().negative_slope
    assert KERAS.leaky_relu_slope == inspect.signature(keras.activations.leaky_relu).parameters["negative_slope"].default
    assert TORCH.softplus_threshold == torch.nn.Softplus().threshold and KERAS.softplus_threshold is None
    assert TORCH.poisson_eps == torch.nn.PoissonNLLLoss().eps and KERAS.poisson_eps == keras.config.epsilon()
    assert TORCH.cosine_eps == torch.nn.CosineSimilarity().eps and KERAS.cosine_eps == keras.config.epsilon()


def test_clip_norm_eps_is_torchs():
    """torch's clip_grad_norm_ scales a gradient of norm exactly c by c / (c + eps): eps is measured."""
    p = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    p.grad = torch.tensor([3.0, 4.0], dtype=torch.float64)
    torch.nn.utils.clip_grad_norm_([p], max_norm=5.0)
    assert p.grad[0].item() == 3.0 * (5.0 / (5.0 + TORCH.clip_norm_eps)) and KERAS.clip_norm_eps is None


def test_layouts_are_the_frameworks():
    linear = torch.nn.Linear(3, 5)
    dense = keras.layers.Dense(5)
    dense.build((None, 3))
    weights = {TORCH: getattr(linear, TORCH.dense_weight).shape, KERAS: tuple(getattr(dense, KERAS.dense_weight).shape)}
    for convention, shape in weights.items():
        assert tuple(shape) == ((3, 5) if convention.dense_weight_in_out else (5, 3)), convention
    assert TORCH.examples_per_row and tuple(linear(torch.zeros(2, 3)).shape) == (2, 5)
    assert KERAS.examples_per_row and tuple(dense(np.zeros((2, 3))).shape) == (2, 5)


# --- names and values, and a pair's differences -------------------------------------------------

def test_a_name_and_its_value_are_the_same_convention():
    assert as_convention("torch") is TORCH and as_convention(KERAS) is KERAS
    assert as_convention("own", default=TORCH) is TORCH and as_convention("own", default="keras") is KERAS
    with pytest.raises(ValueError, match="unknown convention 'mxnet': one of 'torch', 'keras', 'jax'"):
        as_convention("mxnet")
    assert str(KERAS) == "keras" and repr(TORCH) == "Convention('torch')"
    spec = Spec(sizes=[2, 3, 2], activations=["relu", "softmax"], optimizer="rmsprop", norm="batch", norm_momentum=0.2)
    for name, value in (("torch", TORCH), ("keras", KERAS)):
        assert spec.hyper(name) == spec.hyper(value) and spec.norm_settings(name) == spec.norm_settings(value)
    assert spec.hyper(KERAS)["rho"] == 0.9 and spec.hyper(TORCH)["rho"] == 0.99
    assert spec.norm_settings(KERAS) == {"momentum": 0.8, "eps": 1e-3}


def test_torch_keras_pair_differs_by_every_rule_and_a_convention_by_none():
    assert set(RULE_ATTRIBUTES) == set(DIFFERENCES)
    jax_only = ("nadam-nesterov-adam", "dropout-divides", "norm-fast-variance",   # torch and Keras agree
                "decay-in-update", "rmsprop-momentum-sign", "amsgrad-corrected-max", "exponential-float32-count")
    assert TORCH_KERAS.rules == tuple(k for k in DIFFERENCES if k not in jax_only)
    assert TORCH_KERAS.rules == ConventionPair("keras", "torch").rules
    assert TORCH.differences(TORCH).rules == () and str(TORCH.differences(KERAS)) == "torch~keras"


@pytest.mark.parametrize("changes, expected", [
    (dict(optimizer="adam"), {"adam-eps-placement", "default-hyperparameters"}),
    (dict(optimizer="sgd", momentum=0.9, clip_norm=1.0), {"sgd-momentum-form", "clip-norm-eps"}),
    (dict(optimizer="rmsprop", momentum=0.5, rho=0.9, eps=1e-7),
     {"rmsprop-eps-placement", "rmsprop-momentum-form"}),
    (dict(norm="batch", batch_size=4), {"batchnorm-default-momentum", "norm-default-eps", "batchnorm-running-variance"}),
    (dict(norm="layer", norm_eps=1e-5), set()),
    (dict(activations=["leaky_relu", "softmax"], slope=0.25), set()),
    (dict(activations=["leaky_relu", "softmax"]), {"leaky-relu-default-slope", "keras-float32-leaky-slope"}),
])
def test_a_pairs_differences_for_a_spec_are_the_tables(changes, expected):
    spec = Spec(**{**dict(sizes=[2, 3, 2], activations=["relu", "softmax"], loss="categorical_crossentropy"),
                   **changes})
    found = differences(spec, TORCH_KERAS)
    assert found == {key: DIFFERENCES[key][1] for key in expected}
    assert differences(spec, ConventionPair(TORCH, TORCH)) == {}
    assert differences(spec, ConventionPair(KERAS, KERAS)) == {}


def test_a_convention_differing_in_one_rule_differs_by_that_rule_alone():
    """A stand-in convention: torch's, but with Keras's biased running variance (flax's choice)."""
    biased = dataclasses.replace(TORCH, name="torch-biased", running_var_unbiased=False)
    pair = ConventionPair(TORCH, biased)
    assert pair.rules == ("batchnorm-running-variance",)
    spec = Spec(sizes=[2, 3, 2], activations=["relu", "softmax"], norm="batch", batch_size=4)
    assert differences(spec, pair) == {"batchnorm-running-variance": DIFFERENCES["batchnorm-running-variance"][1]}
    assert NORM_DEFAULTS["torch"] == biased.norm_defaults


def test_scratch_reads_the_rules_not_the_name():
    """torch's convention with Keras's RMSprop rules steps exactly as Keras's RMSprop; torch's with Keras's
    softplus and leaky slope computes Keras's activations: the code asks the rule, never the name."""
    hyper = dict(lr=0.01, rho=0.9, eps=1e-3, momentum=0.5, centered=False, float32_casts=False)
    mixed = dataclasses.replace(TORCH, name="mixed", rmsprop_eps_in_root=True, rmsprop_lr_in_momentum=True)
    half = dataclasses.replace(TORCH, name="half", rmsprop_eps_in_root=True)      # a form no framework has
    with pytest.raises(ValueError, match="no RMSprop here has eps inside the root and lr outside the momentum"):
        make_optimizer("rmsprop", hyper, half)
    p, g = {"W1": np.array([[0.5, -1.0]])}, {"dW1": np.array([[0.3, 0.2]])}
    runs = {}
    for convention in (TORCH, KERAS, mixed):
        opt = make_optimizer("rmsprop", hyper, convention)
        q = p
        for _ in range(3):
            q = opt.step(q, g)
        runs[convention.name] = q["W1"]
    assert np.array_equal(runs["mixed"], runs["keras"]) and not np.array_equal(runs["mixed"], runs["torch"])
    z = np.array([[-2.0, 21.0, 30.0]])
    like_keras = dataclasses.replace(TORCH, name="like-keras", softplus_threshold=None, leaky_relu_slope=0.2,
                                     float32_activation_constants=True)
    for name in ("softplus", "leaky_relu"):
        g_mixed, g_keras = activation_table(like_keras)[name][0], activation_table(KERAS)[name][0]
        assert np.array_equal(g_mixed(z), g_keras(z)), name
    assert not np.array_equal(activation_table(TORCH)["softplus"][0](z), activation_table(KERAS)["softplus"][0](z))
