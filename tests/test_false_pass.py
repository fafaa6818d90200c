"""No false PASS: three kinds of user code that once passed while their network did not match.

1. Code that changes an input in place (a torch forward doing x.mul_(10), NumPy's X /= 255, a
   backward scaling Y, a predict that changes its inputs, a custom adapter writing into its
   dropout masks): each implementation computes on its own copy, and the change is reported as its
   failure, naming the input (compare/engine/guard.py). The built-ins leave every input as it was.
2. Names that collide with a built-in runner's key ('scratch@keras', 'torch~keras', 'keras/mine',
   'scratch'): refused with one line; a pair of one implementation with itself, or a check in which
   no reference ran, is never judged (harness.unjudge).
3. Values that are not real numbers (complex, bool, strings, objects, None): refused, naming the
   tensor and the dtype; float32 or float16 tensors in a float64 run are judged, and the divergence
   says "your dW1 is float32 in a float64 run", not "a formula differs".

Each class runs once through `python -m compare check FILE.py` (a subprocess, --against torch) and
through compare.check; the network is 4-8-3 on 8 random examples, 2 steps.
"""
import re
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

from compare.views.text import logical_lines

import compare
from compare.adapters.check import declared, load_file
from compare.engine import guard, harness, registry
from compare.engine.errors import InputError
from compare.engine.run import random_data, run_lockstep
from scratch.initializers import initial_params

REPO = Path(__file__).resolve().parent.parent
NET = dict(sizes=[4, 8, 3], activations=["relu", "softmax"], loss="categorical_crossentropy")
SPEC = compare.Spec(sizes=[4, 8, 3], activations=["relu", "softmax"], loss="categorical_crossentropy",
                    optimizer="sgd", lr=0.1, epochs=None, steps=2, batch_size=None)

# A correct two-layer network in blog style (one example per column, the 1/m in dW and db); the
# tests below change one line of it. FORWARD/BACKWARD/UPDATE: the lines that may be replaced.
CODE = '''
import numpy as np
import compare


def forward(W1, b1, W2, b2, X):
    {forward_extra}
    Z1 = W1 @ X + b1
    A1 = np.maximum(Z1, 0)
    Z2 = W2 @ A1 + b2
    e = np.exp(Z2 - Z2.max(axis=0, keepdims=True))
    A2 = e / e.sum(axis=0, keepdims=True)
    return Z1, A1, Z2, A2


def backward(Z1, A1, Z2, A2, W1, W2, X, Y):
    m = X.shape[1]
    dZ2 = A2 - Y
    dW2 = dZ2 @ A1.T / m
    db2 = dZ2.sum(axis=1, keepdims=True) / m
    dZ1 = W2.T @ dZ2 * (Z1 > 0)
    dW1 = dZ1 @ X.T / m
    db1 = dZ1.sum(axis=1, keepdims=True) / m
    {backward_extra}
    return dZ1, dW1, db1, dZ2, dW2, db2


def update(W1, b1, W2, b2, dW1, db1, dW2, db2, lr):
    W1 = W1 - lr * dW1
    b1 = b1 - lr * db1
    W2 = W2 - lr * dW2
    b2 = b2 - lr * db2
    return W1, b1, W2, b2


mine = compare.functions(forward, backward, update, name={name!r},
                         network=dict(sizes=[4, 8, 3], activations=["relu", "softmax"],
                                      loss="categorical_crossentropy"))
'''

TORCH_CODE = '''
import torch
from torch import nn
import compare


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))

    def forward(self, x):
        {forward_extra}
        return self.body(x)


torch.manual_seed(0)
model = Net()
mine = compare.torch_module(model, torch.optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss())
'''


def write(tmp_path, text, file="mine.py", **fill):
    fill = {"forward_extra": "pass", "backward_extra": "pass", "name": "mine", **fill}
    path = tmp_path / file
    path.write_text(textwrap.dedent(text).format(**fill))
    return str(path)


def load(path):
    return declared(load_file(path), path)[0]


def data():
    return random_data(SPEC, n=8, seed=0)


def check(item, against=("torch",), **options):
    return compare.check(item, spec=SPEC, data=options.pop("data", None) or data(), against=against, **options)


def cli(path, *options):
    """`python -m compare check path --against torch --steps 2` in a subprocess. -> (code, stdout, stderr)"""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "compare", "check", path, "--against", "torch", "--steps", "2",
                           *options], capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    return done.returncode, done.stdout, done.stderr


def verdict_line(out):
    """The verdict, its wrapped lines joined (compare/views/text.py); an ERROR block's head alone,
    without its rows ('  step            1': a label padded to 15 columns)."""
    lines = out.splitlines()
    verdicts = ("PASS", "MISMATCH", "ERROR", "NOTHING")
    at = next(i for i, line in enumerate(lines) if line.startswith(verdicts))
    head = [lines[at]]
    for line in lines[at + 1:]:
        if not line.startswith("  ") or re.match(r"  \S+ {2,}", line):
            break
        head.append(line.strip())
    return " ".join(head)


# --- 1. inputs changed in place ------------------------------------------------------------------

def test_cli_torch_forward_that_scales_its_input_in_place_is_an_error(tmp_path):
    path = write(tmp_path, TORCH_CODE, forward_extra="x.mul_(10)")
    code, out, err = cli(path)
    assert code == 1, err
    assert verdict_line(out) == ("ERROR: mine: your code changed its input X (the batch) in place (step 1): compute "
                                 "on a new array (X = X / 255, not X /= 255 or x.div_(255))")
    assert "PASS" not in out and err == ""
    assert f"at              {path}:19" in out        # where the implementation was declared


@pytest.mark.parametrize("extra, where, line", [
    ("X /= 255", "forward", "X (the batch)"),
    ("X[X < 0] = 0", "forward", "X (the batch)"),
    ("np.multiply(Y, 2, out=Y)", "backward", "Y (the targets)"),
])
def test_numpy_code_that_changes_an_input_in_place_is_an_error(tmp_path, extra, where, line):
    item = load(write(tmp_path, CODE, **{f"{where}_extra": extra}))
    given = data()
    X, Y = given.X.copy(), given.Y.copy()
    report = check(item, data=given)
    s = report.summary
    assert s["verdict"] == "error" and not report.passed
    hint = "X = X / 255, not X /= 255 or x.div_(255)" if line.startswith("X") else "never write into it"
    assert s["verdict_reason"] == (f"mine: your code changed its input {line} in place (step 1): compute on a new "
                                   f"array ({hint})")
    assert s["error"]["step"] == 1 and s["steps_completed"] == 0
    assert np.array_equal(given.X, X) and np.array_equal(given.Y, Y)     # the caller's data untouched


def test_torch_module_that_changes_its_input_in_place_and_the_references_do_not_see_it(tmp_path):
    """The references compute on the harness's batch, not on the one the user's forward scaled:
    the user's own copy is what changed (it ran first)."""
    item = load(write(tmp_path, TORCH_CODE, forward_extra="x.mul_(10)"))
    given = data()
    report = check(item, against=("torch", "scratch"), data=given)
    assert report.summary["verdict"] == "error"
    fault = report.summary["error"]["fault"]
    assert fault.startswith("mine: your code changed its input X (the batch) in place (step 1)")
    clean = compare.run(SPEC.replace(steps=1), given, frameworks=("scratch", "torch"))
    assert clean.passed                                 # the same batch, unchanged, for whoever runs next


def test_torch_predict_that_changes_its_input_is_an_error(tmp_path):
    """Only predict (no gradient) scales its input: the steps pass, the evaluation after them does not."""
    item = load(write(tmp_path, TORCH_CODE, forward_extra="if not torch.is_grad_enabled(): x.mul_(2)"))
    report = check(item)
    s = report.summary
    assert s["verdict"] == "error" and s["steps_completed"] == 2
    assert s["verdict_reason"] == ("mine: your code changed its input X (the inputs of predict) in place (predict, "
                                   "after step 2): compute on a new array (X = X / 255, not X /= 255 or x.div_(255))")


def test_backward_that_updates_the_parameters_in_place_is_not_a_pass(tmp_path):
    """W1 -= ... inside backward, then update: the parameters are the implementation's own copies
    (never the harness's or another's), so the double update shows as a mismatch of W1."""
    item = load(write(tmp_path, CODE, backward_extra="W1 -= 0.1 * dW1"))
    report = check(item)
    d = report.summary["first_divergence"]
    assert report.summary["verdict"] == "mismatch"
    assert (d["step"], d["tensor"]) == (1, "W1")
    assert "the update of W1: a factor of 2" in d["explanation"]
    expected = initial_params(SPEC.sizes, SPEC.weight_init, SPEC.bias_init, SPEC.seed, SPEC.dtype, SPEC.fixed_params)
    assert all(np.array_equal(W, W0) and np.array_equal(b, b0)
               for (W, b), (W0, b0) in zip(report.raw["initial_params"], expected))     # the harness's own, unchanged


class Masked:
    """A built implementation whose step writes into its dropout mask (a custom adapter's bug)."""

    def __init__(self, spec, params):
        from compare.implementations.scratch import build
        self.inner = build(spec, params)

    def set_masks(self, masks):
        self.masks = masks
        self.inner.set_masks(masks)

    def step(self, X, Y):
        record = self.inner.step(X, Y)
        self.masks[1][0, 0] = 1 - self.masks[1][0, 0]
        return record


class MaskedCode(compare.UserImplementation):
    convention = "torch"

    def build(self, spec, params, convention):
        return Masked(spec, params)


def test_a_custom_adapter_that_writes_into_its_dropout_mask_is_an_error():
    spec = SPEC.replace(dropout=0.5)
    mine = MaskedCode()
    mine.name = "custom"
    report = compare.check(mine, spec=spec, data=data(), against=("scratch",))
    assert report.summary["verdict_reason"] == (
        "custom: your code changed its input mask1 (the dropout mask of layer 1) in place (step 1): compute on a new "
        "array (never write into it)")


def test_the_built_ins_leave_their_inputs_as_they_were(monkeypatch):
    """The built-ins are not guarded (no copy, no cost): they read the shared batch and masks and
    must leave them as they were. Whole batch, no shuffle: they are handed the data's own arrays."""
    pytest.importorskip("keras")
    handed = []
    real = harness.dropout.hand_out

    def spy(runners, masks):
        handed.append((masks, {l: m.copy() for l, m in masks.items()}))
        real(runners, masks)

    monkeypatch.setattr(harness.dropout, "hand_out", spy)
    spec = SPEC.replace(dropout=0.5, steps=3)
    given = data()
    X, Y, X_eval = given.X.copy(), given.Y.copy(), given.X_eval.copy()
    report = compare.run(spec, given, frameworks=("scratch", "torch", "keras"))
    assert report.summary["steps_completed"] == 3
    assert np.array_equal(given.X, X) and np.array_equal(given.Y, Y) and np.array_equal(given.X_eval, X_eval)
    assert len(handed) == 3 and all(np.array_equal(m[1], c[1]) for m, c in handed)


def test_guarded_hands_copies_and_answers_hasattr_as_the_implementation():
    class Plain:
        def step(self, X, Y):
            return {"Z1": X.T.copy()}

    runner = harness.Runner("mine", registry.Entry("mine", ("torch",), build=lambda *a: Plain()), "torch", SPEC)
    wrapped = guard.wrap(runner, Plain())
    assert not hasattr(wrapped, "predict") and not hasattr(wrapped, "set_masks")
    X = np.ones((2, 4))
    assert np.array_equal(wrapped.step(X, np.zeros((2, 3)))["Z1"], X.T)
    builtin = harness.Runner("scratch", registry.get("scratch"), "torch", SPEC)
    assert guard.wrap(builtin, Plain()).__class__ is Plain       # the built-ins: not wrapped


# --- 2. runner keys that collide -----------------------------------------------------------------

def test_cli_a_name_like_a_built_in_runner_key_is_refused(tmp_path):
    code, out, err = cli(write(tmp_path, CODE, name="scratch@keras"))
    assert code == 2 and "PASS" not in out
    assert logical_lines(err) == [
        "error: an implementation may not be called 'scratch@keras': '@' is reserved for the report's keys "
        "(scratch@keras, torch/mine, mine~torch, torch,keras): use letters, digits, '-' and '_'"]


@pytest.mark.parametrize("name, message", [
    ("torch~keras", "'~' is reserved"), ("keras/mine", "'/' is reserved"), ("mine@torch", "'@' is reserved"),
    ("a,b", "',' is reserved"), ("scratch", "(a built-in framework's name)"), ("Keras ", "(a built-in framework's name)"),
    ("x~y@z", "'~' and '@' are reserved"), ("  ", "must be a non-empty string"),
])
def test_names_that_could_collide_with_a_runner_key_are_refused(tmp_path, name, message):
    item = load(write(tmp_path, CODE, name=name))
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")) as error:
        check(item)
    assert "\n" not in str(error.value)


def test_a_registered_implementation_may_not_take_a_built_in_name():
    """compare.register replaces an entry of the same name, but never a built-in's: a report that
    says 'torch' means torch."""
    with pytest.raises(InputError, match=r"may not be called 'torch' \(a built-in framework's name\)"):
        compare.register(compare.Entry("torch", ("torch",), build=lambda *a: None))
    with pytest.raises(InputError, match="'@' is reserved"):
        compare.register(compare.Entry("scratch@keras", ("keras",), build=lambda *a: None))
    assert registry.get("torch") is registry.BUILTIN[1]


def test_a_pair_of_one_implementation_with_itself_is_never_judged():
    scratch = registry.get("scratch")
    runners, pairs = harness.plan(SPEC, [scratch], [scratch], cross=False)
    assert [(p.key, p.judged) for p in pairs] == [("scratch", False)]
    assert "same-implementation" in pairs[0].reasons
    report = run_lockstep(SPEC, data(), [scratch], [scratch], cross=False)
    assert report.summary["verdict"] == "nothing-judged"


def test_two_implementations_with_one_key_are_refused():
    one = registry.Entry("mine", ("torch",), build=lambda *a: None)
    two = registry.Entry("mine", ("torch",), build=lambda *a: None)
    with pytest.raises(InputError, match="two implementations would both run as 'mine'"):
        harness.plan(SPEC, [one, two], [registry.get("scratch")], cross=False)


def test_a_check_in_which_no_reference_ran_is_never_a_pass(tmp_path):
    """Two of the user's implementations (the same code) and no reference: reported, not judged."""
    a, b = load(write(tmp_path, CODE, "a.py", name="a")), load(write(tmp_path, CODE, "b.py", name="b"))
    report = run_lockstep(SPEC, data(), [a.entry(), b.entry()], [], cross=False)
    s = report.summary
    assert s["verdict"] == "nothing-judged" and s["pairs"]["a~b"]["judged"] is False
    assert "no-reference" in s["pairs"]["a~b"]["reasons"]


class Shared(compare.UserImplementation):
    """Builds one shared object for every name (a user's cache): two names, one implementation."""
    convention = "torch"
    built = {}

    def build(self, spec, params, convention):
        from compare.implementations.scratch import build
        return Shared.built.setdefault("one", build(spec, params))


def test_two_names_on_one_built_object_are_never_judged_against_each_other():
    a, b = Shared(), Shared()
    a.name, b.name = "a", "b"
    Shared.built.clear()
    report = compare.check([a, b], spec=SPEC, data=data(), against=("scratch",))
    assert report.summary["pairs"]["a~b"]["judged"] is False
    assert "same-implementation" in report.summary["pairs"]["a~b"]["reasons"]


# --- 3. values that are not real numbers ----------------------------------------------------------

def test_cli_a_complex_gradient_is_refused(tmp_path):
    code, out, err = cli(write(tmp_path, CODE, backward_extra="dW1 = dW1 + 0j"))
    assert code == 1 and "PASS" not in out
    assert verdict_line(out) == "ERROR: mine: dW1 is complex128: give real numbers (an array of floats)"
    assert "Warning" not in err and "internal error" not in err


@pytest.mark.parametrize("extra, line", [
    ("dW1 = dW1 + 0j", "mine: dW1 is complex128: give real numbers (an array of floats)"),
    ("dW2 = dW2.astype(np.complex64)", "mine: dW2 is complex64: give real numbers (an array of floats)"),
    ("db2 = db2 > 0", "mine: db2 is bool: give real numbers (an array of floats)"),
    ("dW1 = dW1.astype(object)", "mine raised TypeError: your backward gave dW1 as an array of dtype object, not "
                                 "an array of numbers"),     # the door to the user's code refuses it first
])
def test_values_that_are_not_real_numbers_are_refused(tmp_path, extra, line):
    item = load(write(tmp_path, CODE, backward_extra=extra))
    with warnings.catch_warnings():
        warnings.simplefilter("error")                  # no ComplexWarning, no other warning
        report = check(item)
    assert report.summary["verdict"] == "error" and report.summary["verdict_reason"].startswith(line)


class Returns(compare.UserImplementation):
    """A custom adapter whose record holds `value` for dW1 (after scratch's own step)."""
    convention = "torch"

    def __init__(self, value):
        self.value, self.name, self.vocabulary = value, "custom", {"dW1": "grads['w1']"}

    def build(self, spec, params, convention):
        from compare.implementations.scratch import build
        inner, value = build(spec, params), self.value

        class Run:
            def step(self, X, Y):
                return {**inner.step(X, Y), "dW1": value}
        return Run()


@pytest.mark.parametrize("value, what", [(None, "None"), ("0.5", "a string"), (True, "bool"), (1j, "complex128"),
                                         ([[1.0, 2.0], [3.0]], "a list NumPy cannot read as an array")])
def test_a_custom_adapter_handing_back_non_numbers_is_refused_in_its_own_words(value, what):
    report = compare.check(Returns(value), spec=SPEC, data=data(), against=("scratch",))
    reason = report.summary["verdict_reason"]
    assert reason == f"custom: grads['w1'] (dW1) is {what}: give real numbers (an array of floats)"


@pytest.mark.parametrize("extra, words", [
    ("dW1 = dW1.astype(np.float32)", "your dW1 is float32 in a float64 run: a difference of"),
    ("dW1 = dW1.astype(np.float32).astype(np.float64)",
     "your dW1 holds float32 numbers in a float64 array (computed in float32, then cast): a difference of"),
])
def test_a_float32_tensor_in_a_float64_run_is_named_not_called_a_formula(tmp_path, extra, words):
    item = load(write(tmp_path, CODE, backward_extra=extra))
    report = check(item)
    d = report.summary["first_divergence"]
    assert report.summary["verdict"] == "mismatch" and (d["step"], d["tensor"]) == (1, "dW1")
    assert 1e-9 < d["max_rel_err"] < 1e-6                      # float32 rounding, judged
    assert d["explanation"].startswith(words)
    assert d["explanation"].endswith("is within what float32 rounding explains (0.0003), not a formula: compute "
                                     "and hand back float64 arrays")
    line = compare.engine.run.describe_divergence(d)
    assert "a formula differs" not in line and "jump" not in line


def test_a_float16_tensor_with_a_wrong_formula_too_says_both(tmp_path):
    item = load(write(tmp_path, CODE, backward_extra="db1 = (3 * db1).astype(np.float16)"))
    d = check(item).summary["first_divergence"]
    assert d["tensor"] == "db1"
    assert re.match(r"your db1 is float16 in a float64 run, but a difference of 0\.\d+ is more than float16 "
                    r"rounding explains \(0\.01\): a formula differs too; dZ1 agrees but db1 does not", d["explanation"])
    assert abs(d["values"]["mine"] - 3 * d["values"]["torch"]) <= 1e-2 * abs(d["values"]["torch"]) + 1e-3  # 3x, in float16


class Odd(compare.UserImplementation):
    """A custom adapter whose step gives `step_value` (when not None) or whose predict gives its
    outputs one example per row (transposed)."""
    convention = "torch"

    def __init__(self, step_value=None):
        self.step_value, self.name = step_value, "custom"

    def build(self, spec, params, convention):
        from compare.implementations.scratch import build
        inner, odd = build(spec, params), self

        class Run:
            def step(self, X, Y):
                record = inner.step(X, Y)
                return record if odd.step_value is None else odd.step_value

            def predict(self, X):
                return inner.predict(X).T
        return Run()


def test_a_step_that_gives_no_dict_and_a_predict_of_the_wrong_shape_are_the_implementations_errors():
    report = compare.check(Odd([1.0, 2.0]), spec=SPEC, data=data(), against=("scratch",))
    assert report.summary["verdict_reason"] == "custom: its step returned list, not a dict of named tensors"
    report = compare.check(Odd(), spec=SPEC, data=data(), against=("scratch",))
    assert report.summary["verdict"] == "error" and report.summary["steps_completed"] == 2
    assert report.summary["verdict_reason"] == ("custom: predict gave outputs of shape (8, 3) for 8 examples, "
                                                "not (3, 8) (units, examples)")
