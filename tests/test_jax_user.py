"""A user's own JAX models (compare.flax_module: a Flax nnx.Module; compare.jax_model: a params
pytree and apply(params, x)), each with its Optax optimizer and loss, checked against scratch,
torch and Keras; torch -> Flax ports with one classic mistake each, found and named; the examples/
files run as a user runs them."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

jax = pytest.importorskip("jax")
nnx = pytest.importorskip("flax.nnx")
optax = pytest.importorskip("optax")
torch = pytest.importorskip("torch")
pytest.importorskip("keras")
import jax.numpy as jnp  # noqa: E402

import compare  # noqa: E402
from compare.adapters.check import declared, load_file  # noqa: E402
from compare.adapters.jax_common import read_optimizer  # noqa: E402
from compare.cli import main  # noqa: E402
from compare.engine.errors import InputError  # noqa: E402
from compare.views.text import logical_lines  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def example(name):
    path = str(EXAMPLES / name)
    return declared(load_file(path), path)


def verdict(capsys):
    return logical_lines(capsys.readouterr().out.strip())[-1]     # the verdict, unwrapped


class MLP(nnx.Module):
    def __init__(self, rngs, n_in=4, hidden=8, n_out=3, activation=jax.nn.tanh, **linear):
        self.l1 = nnx.Linear(n_in, hidden, rngs=rngs, **linear)
        self.l2 = nnx.Linear(hidden, n_out, rngs=rngs)
        self.activation = activation

    def __call__(self, x):
        return self.l2(self.activation(self.l1(x)))


# --- the examples, as `python -m compare check FILE` runs them ---------------------------------

def test_the_flax_example_passes_against_scratch_torch_and_keras():
    report = compare.check(example("jax_flax_mlp.py"), against=("scratch", "torch", "keras"),
                           steps=3)
    s = report.summary
    assert s["verdict"] == "pass"
    assert set(s["judged_pairs"]) == {"flaxnet~scratch", "flaxnet~torch", "flaxnet~keras"}
    assert max(s["max_rel_err"][k] for k in s["judged_pairs"]) <= 1e-9
    assert jax.config.jax_enable_x64 is False                    # the caller's setting, given back


@pytest.mark.parametrize("name, tensor, words", [
    ("jax_port_rmsprop.py", "W1", ["rmsprop-eps-placement"]),
    ("jax_port_gelu.py", "A1", ["the activation after Dense 1: gelu (torch) vs gelu_tanh (jax)",
                                "jax.nn.gelu(x) is approximate=True"]),
    ("jax_port_batchnorm.py", "mean1", ["momentum 0.1 (torch) vs 0.1 (jax): torch momentum 0.1 "
                                        "weights the new batch; Flax momentum 0.1 weights the old "
                                        "one: Flax's 0.9 is torch's 0.1"]),
    ("jax_port_kernel.py", "Z1", ["flaxnet's l1.kernel is not torchnet's 0.weight in Flax's "
                                  "layout: the Dense kernel was copied without transposing it: "
                                  "(out, in) -> (in, out) needs weight.T"]),
])
def test_each_port_mistake_exits_1_at_its_tensor_naming_the_rule(capsys, name, tensor, words):
    assert main(["check", str(EXAMPLES / name), "--against", "scratch", "--steps", "2",
                 "--quiet"]) == 1
    line = verdict(capsys)
    # the copied kernel: flaxnet runs from its own weights, everyone else from torchnet's: the first
    # pair to see it may be flaxnet vs scratch@jax
    pairs = ["torchnet vs flaxnet"] + (["flaxnet vs scratch@jax"] if "kernel" in name else [])
    starts = [f"MISMATCH: first divergence at step 1, {pair}: layer 1, {tensor}[" for pair in pairs]
    assert any(line.startswith(start) for start in starts), line
    for phrase in words:
        assert phrase in line


@pytest.mark.parametrize("name", ["jax_port_rmsprop_fixed.py", "jax_port_gelu_fixed.py",
                                  "jax_port_batchnorm_fixed.py", "jax_port_kernel_fixed.py"])
def test_each_fixed_port_passes(capsys, name):
    assert main(["check", str(EXAMPLES / name), "--against", "scratch", "--steps", "2",
                 "--quiet"]) == 0
    assert verdict(capsys).startswith("PASS: 2 steps")


def test_the_plain_function_example_passes_and_reads_its_layers_from_the_jaxpr():
    jaxnet = example("jax_functions_mlp.py")[0]
    assert jaxnet.layers.describe() == "4 -> Dense(8) -> relu -> Dense(3) -> softmax"
    assert jaxnet.loss_fields == {"loss": "categorical_crossentropy", "reduction": "mean"}
    assert jaxnet.vocabulary["W1"] == "params['hidden']['w']"
    report = compare.check(jaxnet, against=("scratch", "torch"), steps=3)
    s = report.summary
    assert s["verdict"] == "pass" and max(s["max_rel_err"][k] for k in s["judged_pairs"]) <= 1e-9


# --- what the adapters read ------------------------------------------------------------------

@pytest.mark.parametrize("tx, fields", [
    (optax.sgd(0.1, momentum=0.9, nesterov=True),
     dict(optimizer="sgd", lr=0.1, momentum=0.9, nesterov=True)),
    (optax.rmsprop(0.01, decay=0.95, eps=1e-6),
     dict(optimizer="rmsprop", lr=0.01, rho=0.95, eps=1e-6)),
    (optax.adam(0.003, b1=0.8, b2=0.99, eps=1e-7),
     dict(optimizer="adam", lr=0.003, beta1=0.8, beta2=0.99, eps=1e-7)),
    (optax.inject_hyperparams(optax.rmsprop)(learning_rate=0.01, decay=0.9),
     dict(optimizer="rmsprop", lr=0.01, rho=0.9, eps=1e-8)),
])
def test_the_optimizers_settings_are_read_from_the_optax_object(tx, fields):
    read, convention = read_optimizer(tx)
    assert {k: read[k] for k in fields} == fields and convention == "jax"


def test_rmsprop_with_eps_outside_the_root_follows_torchs_rule():
    assert read_optimizer(optax.rmsprop(0.01, eps_in_sqrt=False))[1] == "torch"


@pytest.mark.parametrize("tx, words", [
    (optax.adamw(0.01), "optax's add_decayed_weights is not mirrored"),
    (optax.chain(optax.clip_by_global_norm(1.0), optax.sgd(0.1)),
     "optax's clip_by_global_norm is not mirrored"),
    (optax.sgd(optax.exponential_decay(0.1, 10, 0.9)), "optax's scale_by_schedule is not mirrored"),
])
def test_what_cannot_be_read_asks_for_the_settings_in_one_line(tx, words):
    with pytest.raises(InputError) as error:
        read_optimizer(tx)
    assert str(error.value).startswith(words) and "settings=dict(optimizer=" in str(error.value)


def test_a_flax_model_reads_its_layers_as_they_run_with_settings_as_written():
    class Net(nnx.Module):
        def __init__(self, rngs):
            self.out = nnx.Linear(6, 2, rngs=rngs)            # registered first, runs last
            self.inp = nnx.Linear(3, 6, rngs=rngs)
            self.bn = nnx.BatchNorm(6, momentum=0.9, epsilon=1e-3, rngs=rngs)
            self.drop = nnx.Dropout(0.25, rngs=rngs)

        def __call__(self, x):
            return jax.nn.sigmoid(self.out(self.drop(jax.nn.leaky_relu(self.bn(self.inp(x))))))

    net = Net(nnx.Rngs(0))
    optimizer = nnx.Optimizer(net, optax.sgd(0.5), wrt=nnx.Param)
    mine = compare.flax_module(net, optimizer, optax.squared_error)
    assert mine.layers.describe() == ("3 -> Dense(6) -> BatchNorm(momentum=0.9, eps=0.001) -> "
                                      "leaky_relu(slope=0.01) -> Dropout(rate=0.25) -> Dense(2) -> "
                                      "sigmoid")
    assert mine.layers.layers[1].written_in == "jax"
    assert mine.settings["optimizer"] == "sgd" and mine.settings["lr"] == 0.5
    assert mine.vocabulary["W1"] == "inp.kernel" and mine.vocabulary["mean1"] == "bn.mean"


def test_a_flax_model_with_norms_and_dropout_agrees_with_scratch_and_the_users_objects_are_kept():
    class Net(nnx.Module):
        def __init__(self, rngs):
            self.l1 = nnx.Linear(4, 8, rngs=rngs)
            self.bn = nnx.BatchNorm(8, momentum=0.9, rngs=rngs)
            self.drop = nnx.Dropout(0.25, rngs=rngs)
            self.l2 = nnx.Linear(8, 6, rngs=rngs)
            self.ln = nnx.LayerNorm(6, rngs=rngs)
            self.l3 = nnx.Linear(6, 3, rngs=rngs)

        def __call__(self, x):
            x = self.drop(jax.nn.relu(self.bn(self.l1(x))))
            return self.l3(jax.nn.gelu(self.ln(self.l2(x)), approximate=False))

    model = Net(nnx.Rngs(0))
    kernel = np.array(model.l1.kernel[...])
    mine = compare.flax_module(model, optax.adam(0.01), optax.softmax_cross_entropy)
    report = compare.check(mine, against=("scratch", "torch"), steps=3)
    s = report.summary
    assert s["verdict"] == "pass" and max(s["max_rel_err"][k] for k in s["judged_pairs"]) <= 1e-9
    assert "mine~scratch" in s["judged_pairs"]            # scratch in JAX's conventions: judged
    # torch keeps the unbiased running variance: the pair is reported with its rule
    assert "batchnorm-running-variance" in s["pairs"]["mine~torch"]["reasons"]
    assert np.array_equal(np.asarray(model.l1.kernel[...]), kernel)     # the user's model: kept
    assert model.l1.kernel[...].dtype == jnp.float32


def test_a_plain_function_model_with_out_in_weights_and_no_bias_agrees_with_torch():
    rng = np.random.default_rng(1)
    params = [jnp.asarray(rng.normal(size=(8, 4))),                     # (out, in)
              jnp.asarray(rng.normal(size=(2, 8)))]

    def apply(params, x):
        return jax.nn.sigmoid(jnp.tanh(x @ params[0].T) @ params[1].T)

    def loss(p, y):
        return jnp.mean((p - y) ** 2)

    mine = compare.jax_model(params, apply, optax.sgd(0.1), loss)
    assert mine.layers.describe() == ("4 -> Dense(8, bias=False) -> tanh -> Dense(2, bias=False) "
                                      "-> sigmoid")
    assert mine.loss_fields == {"loss": "mse", "reduction": "mean"}
    W1 = mine.initial_params(None)[0][0]
    assert np.array_equal(W1, np.asarray(params[0]))          # (out, in) is scratch's own layout
    report = compare.check(mine, against=("torch",), steps=3)
    s = report.summary
    assert s["verdict"] == "pass" and s["max_rel_err"]["mine~torch"] <= 1e-9


# --- the user's mistakes: one line, exit 2 -----------------------------------------------------

MISTAKES = {
    "not_flax": ("import compare, torch\nmine = compare.flax_module(torch.nn.Linear(2, 2))\n",
                 "flax_module needs a Flax nnx.Module, got Linear"),
    "not_optax": ("import compare, torch, jax\nfrom flax import nnx\n"
                  "class M(nnx.Module):\n    def __init__(self):\n"
                  "        self.l = nnx.Linear(2, 1, rngs=nnx.Rngs(0))\n"
                  "    def __call__(self, x):\n        return self.l(x)\n"
                  "m = M()\n"
                  "sgd = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)\n"
                  "mine = compare.flax_module(m, sgd)\n",
                  "the optimizer is a SGD, not an Optax GradientTransformation"),
    "float32": ("import compare, jax, jax.numpy as jnp, optax\nfrom flax import nnx\n"
                "class M(nnx.Module):\n    def __init__(self):\n"
                "        self.l = nnx.Linear(2, 1, dtype=jnp.float32, rngs=nnx.Rngs(0))\n"
                "    def __call__(self, x):\n        return self.l(x)\n"
                "mine = compare.flax_module(M(), optax.sgd(0.1), optax.squared_error)\n",
                "l (Linear, dtype=float32) computes in that dtype whatever it is given: the check "
                "runs in float64"),
}


@pytest.mark.parametrize("name", MISTAKES)
def test_a_users_mistake_is_one_line_and_exit_2(tmp_path, capsys, name):
    source, words = MISTAKES[name]
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    assert main(["check", str(path), "--against", "torch", "--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and words in " ".join(err.split())


def test_jax_missing_is_one_line_naming_the_extra(tmp_path):
    path = tmp_path / "no_jax.py"
    path.write_text("import compare\nmine = compare.flax_module(object())\n")
    code = ("import sys; sys.modules['jax'] = None\n"                # JAX not installed
            "from compare.cli import main\n"
            f"sys.exit(main(['check', {str(path)!r}, '--against', 'torch', '--steps', '1']))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)
    err = " ".join(done.stderr.split())
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "jax is not installed" in err and "pip install -e '.[jax]'" in err


def test_import_compare_does_not_import_jax():
    done = subprocess.run([sys.executable, "-c", "import sys, compare; print('jax' in sys.modules, "
                           "'flax_module' in compare.__all__, 'jax_model' in compare.__all__)"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.stdout.split() == ["False", "True", "True"]


def test_a_flax_model_passed_as_it_is_runs_with_the_specs_optimizer_and_loss():
    model = MLP(nnx.Rngs(0), activation=jax.nn.sigmoid)

    class Softmax(nnx.Module):
        def __init__(self):
            self.net = model

        def __call__(self, x):
            return jax.nn.softmax(self.net(x))

    report = compare.check(Softmax(), against=("scratch",), steps=2)
    s = report.summary
    assert s["verdict"] == "pass" and set(s["judged_pairs"]) == {"flaxnet~scratch"}
    assert max(s["max_rel_err"].values()) <= 1e-9
    assert report.config["loss"] == "categorical_crossentropy"
