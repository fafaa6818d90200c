"""Property: for any valid spec (depth 1-4, widths 1-16, every activation, a loss that suits the
output, every optimizer, full or mini batches, any seed), scratch, torch and Keras agree in float64
for a few steps. Hypothesis profiles ('ci', 'dev') live in tests/conftest.py."""
import dataclasses

import pytest
from hypothesis import given, note
from hypothesis import strategies as st

import compare
from compare import Init, Spec
from compare.engine.run import random_data

pytest.importorskip("torch")
pytest.importorskip("keras")

HIDDEN = ["linear", "relu", "sigmoid", "tanh", "softplus"]
N_EXAMPLES = 8
# RMSprop and Adam step each weight by about lr / sqrt(1 - rho) (1.0 for torch's RMSprop at lr 0.1)
# whatever the gradient: larger rates drive tanh/sigmoid units into saturation within 3 steps, where
# 1 - a^2 cancels and a 1-ulp difference in tanh between libraries becomes a 1e-7 relative difference.
LEARNING_RATES = {"sgd": [0.01, 0.03, 0.1], "rmsprop": [0.001, 0.003, 0.01], "adam": [0.001, 0.003, 0.01]}


@st.composite
def specs(draw):
    """A valid Spec, drawn field by field so a shrunk failure reads as a small spec."""
    depth = draw(st.integers(1, 4))
    loss = draw(st.sampled_from(["mse", "binary_crossentropy", "categorical_crossentropy"]))
    sizes = draw(st.lists(st.integers(1, 16), min_size=depth + 1, max_size=depth + 1))
    if loss == "categorical_crossentropy":
        sizes[-1] = max(sizes[-1], 2)
    output = {"binary_crossentropy": "sigmoid", "categorical_crossentropy": "softmax"}.get(loss)
    if output is None:
        output = draw(st.sampled_from(HIDDEN + (["softmax"] if sizes[-1] >= 2 else [])))
    activations = draw(st.lists(st.sampled_from(HIDDEN), min_size=depth - 1, max_size=depth - 1)) + [output]
    optimizer = draw(st.sampled_from(["sgd", "rmsprop", "adam"]))
    momentum, nesterov = 0.0, False
    if optimizer == "sgd":
        momentum = draw(st.sampled_from([0.0, 0.5, 0.9]))
        nesterov = momentum > 0 and draw(st.booleans())
    weight_init = draw(st.sampled_from([Init("kaiming_uniform"), Init("glorot_uniform"), Init("normal", scale=0.5)]))
    return Spec(sizes=sizes, activations=activations, loss=loss,
                reduction=draw(st.sampled_from(["mean", "sum"])),
                optimizer=optimizer, lr=draw(st.sampled_from(LEARNING_RATES[optimizer])),
                momentum=momentum, nesterov=nesterov, weight_init=weight_init,
                batch_size=draw(st.sampled_from([None, 1, 3, N_EXAMPLES])), shuffle=draw(st.booleans()),
                steps=3, epochs=None, seed=draw(st.integers(0, 2**16)), dtype="float64").validate()


def readable(spec):
    fields = {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)
              if getattr(spec, f.name) != f.default and f.name not in ("weight_init", "fixed_params")}
    return f"Spec({', '.join(f'{k}={v!r}' for k, v in fields.items())}, weight_init={spec.weight_init!r})"


@given(spec=specs())
def test_all_three_agree_in_float64(spec):
    note(readable(spec))
    data = random_data(spec, n=N_EXAMPLES, seed=spec.seed)
    compare.assert_equivalent(spec, data, steps=3)


OPTIMIZER_RATES = {"sgd": 0.05, "rmsprop": 0.003, "adam": 0.003, "adamw": 0.003, "nadam": 0.003, "adamax": 0.003,
                   "adagrad": 0.03, "adadelta": 0.5, "lion": 0.001}


@st.composite
def rule_specs(draw):
    """A small tanh network with the training rules drawn: every optimizer, weight decay in either
    form, L1/L2, one kind of clipping, a schedule moved every step or every epoch."""
    optimizer = draw(st.sampled_from(sorted(OPTIMIZER_RATES)))
    rules = {}
    if optimizer in ("sgd", "rmsprop", "adam", "adamw") and draw(st.booleans()):
        rules.update(weight_decay=draw(st.sampled_from([0.01, 0.05])),
                     decay=draw(st.sampled_from(["coupled", "decoupled"])))
    if draw(st.booleans()):
        rules[draw(st.sampled_from(["l1", "l2"]))] = draw(st.sampled_from([0.001, 0.01]))
    clip = draw(st.sampled_from([None, "clip_norm", "clip_norm_per_tensor", "clip_value"]))
    if clip:
        rules[clip] = draw(st.sampled_from([0.05, 0.5]))
    schedule = draw(st.sampled_from([None, "exponential", "step", "cosine", "plateau"]))
    if schedule:
        rules.update(schedule=schedule, schedule_every=draw(st.sampled_from(["step", "epoch"])))
        rules.update({"exponential": dict(gamma=0.9), "step": dict(milestones=[2, 4], gamma=0.5),
                      "cosine": dict(t_max=12), "plateau": dict(patience=0, threshold=0.01)}[schedule])
    if optimizer == "sgd":
        rules["momentum"] = draw(st.sampled_from([0.0, 0.9]))
    return Spec(sizes=[3, draw(st.integers(2, 6)), 2], activations=["tanh", "softmax"],
                loss="categorical_crossentropy", optimizer=optimizer, lr=OPTIMIZER_RATES[optimizer],
                batch_size=2, steps=10, epochs=None, seed=draw(st.integers(0, 2**16)), dtype="float64",
                weight_init=Init("normal", scale=0.5), **rules).validate()


@given(spec=rule_specs())
def test_training_rules_agree_in_float64(spec):
    """Each implementation that can express the rules agrees with its scratch twin over 10 steps."""
    note(readable(spec))
    data = random_data(spec, n=N_EXAMPLES, seed=spec.seed)
    compare.assert_equivalent(spec, data, steps=10)
