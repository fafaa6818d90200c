"""The torch and Keras references built from the layer list (issue 19): lists the shorthand
sizes + activations cannot express run in lockstep, torch vs Keras and each vs scratch in its
convention, and agree to float64 bounds, a
BatchNorm written in Keras's words has the same running mean in both, frozen roles get no
gradient and no update. A new layer kind in all three: tests/test_layer_kinds.py."""
import numpy as np
import pytest

from compare.engine import convert
from compare.engine.layers import Activation, BatchNorm, Dense, Dropout, LayerNorm
from compare.engine.masks import draw_masks, mask_stream
from compare.engine.spec import Spec
from scratch.initializers import Init, initial_params

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")

RTOL, ATOL = 1e-9, 1e-12          # the float64 bound of the recipes (bounds.py: 1e-9 relative)
M, STEPS = 8, 5


def spec_of(layer_list, n_in=4, **changes):
    settings = dict(loss="categorical_crossentropy", optimizer="sgd", lr=0.1, batch_size=M, steps=STEPS)
    settings.update(changes)
    return Spec(sizes=[n_in], layers=list(layer_list), **settings).validate()


def lockstep(spec, seed=0, scratch=True):
    """torch and Keras (compare/implementations) stepped STEPS times on the same batches and masks,
    and scratch in each one's convention, which must give the same tensors as that framework to the
    float64 bound, state and running statistics included. -> [(torch record, keras record)] in
    the scratch layout."""
    from compare.implementations import keras as keras_impl
    from compare.implementations import scratch as scratch_impl
    from compare.implementations import torch as torch_impl

    params = initial_params(spec.sizes, Init("normal"), Init("normal"), seed=seed)
    impls = [torch_impl.build(spec, params), keras_impl.build(spec, params)]
    if scratch:
        impls += [scratch_impl.build(spec, params, "torch"), scratch_impl.build(spec, params, "keras")]
    rng = np.random.default_rng(seed + 1)
    X = rng.normal(size=(M, spec.sizes[0]))
    Y = np.eye(spec.sizes[-1])[rng.integers(0, spec.sizes[-1], M)]
    if spec.loss == "mse":
        Y = rng.normal(size=(M, spec.sizes[-1]))
    stream, out = mask_stream(spec), []
    for _ in range(STEPS):
        masks = draw_masks(spec, stream, M)
        for impl in impls:
            impl.set_masks(masks)
        records = [impl.step(X, Y) for impl in impls]
        if scratch:
            assert_agree([(records[2], records[0]), (records[3], records[1])])
        out.append(tuple(records[:2]))
    return out


def assert_agree(records, skip=(), state=True):
    """Both give the same tensors, each within the float64 bound (the names in `skip` aside; with
    state=False the optimizer state: SGD's momentum buffer means different things in the two)."""
    for step, (t, k) in enumerate(records, start=1):
        assert set(t) == set(k), f"step {step}: only torch {set(t) - set(k)}, only Keras {set(k) - set(t)}"
        for name in set(t) - set(skip):
            if not state and "." in name:
                continue
            np.testing.assert_allclose(np.asarray(t[name]), np.asarray(k[name]), rtol=RTOL, atol=ATOL,
                                       err_msg=f"step {step}: {name}")


def test_dense_with_bias_batchnorm_relu_dense_softmax():
    """A Dense WITH a bias before its BatchNorm (the shorthand drops it): b1 and db1 recorded; the
    BatchNorm's settings written in torch's words, momentum 0.1 eps 1e-5, are Keras's 0.9 and 1e-5."""
    spec = spec_of([Dense(5, bias=True), BatchNorm(momentum=0.1, eps=1e-5, written_in="torch"), Activation("relu"),
                    Dense(3), Activation("softmax")])
    records = lockstep(spec)
    assert {"b1", "db1", "N1", "dN1", "gamma1", "dbeta1", "mean1", "var1"} <= set(records[0][0])
    assert_agree(records, skip={"var1"})                       # torch's running variance is unbiased: m / (m - 1)
    t, k = records[-1]
    assert np.abs(t["db1"]).max() < 1e-12                      # a bias before batch norm: its gradient is 0
    unbiased_ratio = (t["var1"] - 0.9 ** STEPS) / (k["var1"] - 0.9 ** STEPS)
    np.testing.assert_allclose(unbiased_ratio, M / (M - 1), rtol=1e-9)   # each step's m/(m-1), all the same m


def test_norm_after_the_activation():
    """Dense -> relu -> BatchNorm -> Dense: N1 is the normalized A-side output, A1 the relu's (the
    block's activation comes first), and both references agree; LayerNorm likewise."""
    for norm in (BatchNorm(momentum=0.1, eps=1e-5), LayerNorm(eps=1e-5)):
        spec = spec_of([Dense(5), Activation("relu"), norm, Dense(2)], loss="mse")
        records = lockstep(spec)
        t, _ = records[0]
        assert np.array_equal(t["A1"], np.maximum(t["Z1"], 0)) and "N1" in t   # A1 is the relu's, before the norm
        assert_agree(records, skip={"var1"})


def test_dropout_before_the_activation():
    """Dense -> Dropout -> relu -> Dense: the harness's mask for block 1 applied before the relu; A1
    is the relu's output (zero wherever the mask dropped a unit)."""
    spec = spec_of([Dense(6), Dropout(0.5), Activation("relu"), Dense(3), Activation("softmax")])
    records = lockstep(spec)
    masks = draw_masks(spec, mask_stream(spec), M)
    t, _ = records[0]
    assert np.all(t["A1"][masks[1] == 0] == 0) and np.any(masks[1] == 0)
    np.testing.assert_allclose(t["A1"], np.maximum(t["Z1"] * masks[1] / 0.5, 0), rtol=1e-15)
    assert_agree(records)


def test_frozen_weight_gets_no_gradient_and_no_update():
    """Dense(frozen={'W'}): W1 keeps its initial value, no dW1 nor W1's optimizer state is recorded,
    b1 still has its gradient; a frozen BatchNorm's gamma and beta too, its running mean still moves in both
    (Keras's layer stays trainable: batch statistics in training, as torch's)."""
    spec = spec_of([Dense(5, frozen=frozenset({"W"})), BatchNorm(momentum=0.1, eps=1e-5,
                                                                 frozen=frozenset({"gamma", "beta"})),
                    Activation("tanh"), Dense(3), Activation("softmax")], momentum=0.9)
    records = lockstep(spec)
    params = initial_params(spec.sizes, Init("normal"), Init("normal"), seed=0)
    for t, k in records:
        for record in (t, k):
            assert "dW1" not in record and "W1.momentum" not in record and "dgamma1" not in record
            assert np.array_equal(record["W1"], params[0][0]) and np.array_equal(record["gamma1"], np.ones((5, 1)))
            assert {"dW2", "db1", "W2.momentum", "b1.momentum"} <= set(record)
    assert not np.allclose(records[-1][0]["W2"], params[1][0])          # the rest trains
    assert np.abs(records[-1][0]["mean1"]).max() > 1e-3
    assert_agree(records, skip={"var1"}, state=False)


def test_batchnorm_in_keras_words_has_the_same_running_mean():
    """BatchNorm(momentum=0.99, written_in='keras') is torch's BatchNorm1d momentum 1 - 0.99, computed
    as the layer says: the same running mean after every step, in both."""
    layer = BatchNorm(momentum=0.99, eps=1e-3, written_in="keras")
    spec = spec_of([Dense(5), layer, Activation("relu"), Dense(3), Activation("softmax")])
    from compare.implementations import torch as torch_impl

    built = torch_impl.build(spec, initial_params(spec.sizes, Init("normal"), Init("normal"), seed=0))
    assert built.model.parts[1].module.momentum == 1 - 0.99 and built.model.parts[1].module.eps == 1e-3
    records = lockstep(spec)
    for t, k in records:
        np.testing.assert_allclose(t["mean1"], k["mean1"], rtol=1e-12, atol=1e-15)
    assert np.abs(records[-1][0]["mean1"]).max() > 1e-4        # it moved


def test_leaky_relu_slope_of_the_layer():
    """The Activation layer's own slope reaches both frameworks (their defaults, 0.01 and 0.2, differ;
    0.25 is exact in float32, through which Keras rounds it)."""
    spec = spec_of([Dense(5), Activation("leaky_relu", slope=0.25), Dense(3), Activation("softmax")])
    records = lockstep(spec)
    t, _ = records[0]
    np.testing.assert_allclose(t["A1"], np.where(t["Z1"] > 0, t["Z1"], 0.25 * t["Z1"]), rtol=1e-15)
    assert_agree(records)


def test_framework_initial_layouts():
    """One place for the layouts: W (out, in) is torch's as is and Keras's transposed; b, gamma, beta
    (n, 1) are (n,) in both; a Dense without bias has no b."""
    network = spec_of([Dense(5, bias=False), BatchNorm(), Activation("relu"), Dense(3), Activation("softmax")]).network
    params = initial_params(network.sizes, Init("normal"), Init("normal"), seed=3)
    t, k = convert.framework_initial("torch", network, params), convert.framework_initial("keras", network, params)
    assert set(t) == set(k) == {"W1", "gamma1", "beta1", "W2", "b2"}
    assert np.array_equal(t["W1"], params[0][0]) and np.array_equal(k["W1"], params[0][0].T)
    assert t["gamma1"].shape == k["beta1"].shape == (5,) and np.array_equal(t["gamma1"], np.ones(5))
    assert convert.to_scratch("keras", "W1", k["W1"], network).shape == (5, 4)
    assert convert.to_scratch("torch", "mean1", np.zeros(5), network).shape == (5, 1)
    with pytest.raises(AssertionError, match=r"keras gamma1: expected shape \(5,\)"):
        convert.to_scratch("keras", "gamma1", np.zeros((5, 1)), network)


def test_the_harness_runs_a_layer_list_and_evaluates_it():
    """Through the harness (toy3's data, 20 steps): scratch~torch and scratch@keras~keras judged
    within 1e-9 on a list with the norm after the activation and dropout before it, and the final
    outputs of evaluation mode (running statistics, no dropout) agree too."""
    from compare.data import recipes
    from compare.engine import harness, registry

    recipe = recipes.get("toy3")
    spec = recipe.spec.replace(steps=20, epochs=None, activations=None, sizes=[3], layers=[
        Dense(4), Dropout(0.25), Activation("relu"), BatchNorm(momentum=0.1, eps=1e-5), Dense(3), Activation("softmax")])
    out = harness.lockstep(spec, recipe.load(), [registry.get("scratch")], [registry.get("torch"), registry.get("keras")],
                           sequential=True)
    assert "error" not in out and len(out["steps"]) == 20
    for pair in ("torch", "keras"):
        assert max(step.max_rel.get(pair, 0.0) for step in out["steps"]) <= 1e-9
        assert {"N", "dN", "mean"} <= set(out["worst_by_kind"][pair])
    outputs = out["final_outputs"]
    for ours, theirs in (("scratch", "torch"), ("scratch@keras", "keras")):
        assert np.max(np.abs(outputs[ours] - outputs[theirs])) <= 1e-9 * np.max(np.abs(outputs[theirs]))


@pytest.mark.parametrize("norm, judged, reasons", [
    (BatchNorm(momentum=0.9, written_in="keras"), False, {"norm-default-eps", "batchnorm-running-variance"}),
    (LayerNorm(), False, {"norm-default-eps"}),
    (LayerNorm(eps=1e-5), True, set()),
])
def test_a_layer_lists_defaults_are_each_frameworks_not_a_false_alarm(norm, judged, reasons):
    """A norm layer leaving eps (or momentum) to each framework's default runs two different
    networks in torch and Keras: that pair is reported with the rule, not judged, and the verdict is
    PASS (each agrees with scratch in its convention); with every setting given it is judged."""
    import compare

    spec = spec_of([Dense(8), norm, Activation("relu"), Dense(3), Activation("softmax")], steps=4)
    report = compare.run(spec)
    assert report.verdict == "pass", report.summary["verdict_reason"]
    cross = report.summary["torch_vs_keras"]
    assert (cross["judged"], set(cross["reasons"])) == (judged, reasons)
    assert report.summary["max_rel_err"]["torch"] <= 1e-9 and report.summary["max_rel_err"]["keras"] <= 1e-9
    assert (report.summary["max_rel_err"]["torch~keras"] <= 1e-9) == judged
