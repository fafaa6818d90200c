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
