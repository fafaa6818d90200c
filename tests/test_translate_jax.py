"""`python -m compare translate` to and from JAX (issue 23, point 4): each rule converted by what
the two conventions hold (scratch/conventions.py TORCH, KERAS, JAX), the Optax/Flax code printed,
and the proof: both frameworks' own references in lockstep with their side's settings (toy3,
float64).

The settings' tests need no framework (fast); the proofs and the printed code's evaluation need JAX.
"""
import json
import re

import numpy as np
import pytest

from compare.cli import main
from compare.data import recipes
from compare.engine.translate import translate
from compare.views.port_code import code_lines, jax_code, torch_code
from compare.views.text import logical_lines

TOY3 = recipes.get("toy3")


def rows(translation):
    return {row.rule: row for row in translation.rows}


def jax_lines(translation):
    return "\n".join(code_lines(jax_code(translation.specs["jax"]), "jax"))


def run(capsys, *argv):
    code = main(["translate", *argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def proof_line(out):
    return next(line for line in logical_lines(out) if line.startswith(("PROVEN", "NOT PROVEN")))


def measured(line):
    return float(re.search(r"worst relative error ([0-9.e+-]+)", line)[1])


# ----- the settings each direction emits (no framework runs) -------------------------------------

def test_rmsprop_eps_moves_inside_the_root_from_torch_and_stays_from_keras():
    """torch adds eps outside the root, Keras and optax.rmsprop (eps_in_sqrt=True) inside: torch's
    eps 1e-8 becomes 1e-16 (equal where s starts, 0); Keras's 1e-7 is optax's own placement: no
    row; the names: torch's alpha, Keras's rho, optax's decay."""
    t = translate(TOY3.spec.replace(optimizer="rmsprop"), "torch", "jax")
    row = rows(t)["rmsprop-eps-placement"]
    assert row.kind == "closest" and row.target == "eps=1e-16" and "eps_in_sqrt=False" in row.why
    assert ("optax.rmsprop(0.1, decay=0.99, eps=1e-16, initial_scale=0.0, eps_in_sqrt=True"
            in jax_lines(t))
    k = translate(TOY3.spec.replace(optimizer="rmsprop"), "keras", "jax")
    assert "rmsprop-eps-placement" not in rows(k) and k.specs["jax"].eps == 1e-7
    assert rows(k)["same-hyperparameters"].target == "learning_rate=0.1, decay=0.9"
    back = translate(TOY3.spec.replace(optimizer="rmsprop"), "jax", "torch")
    assert rows(back)["same-hyperparameters"].target == "lr=0.1, alpha=0.9"
    assert rows(back)["rmsprop-eps-placement"].kind == "closest"


@pytest.mark.parametrize("changes", [{}, dict(momentum=0.5, centered=True, eps=1e-3)])
def test_the_exact_optax_rmsprop_printed_beside_is_torch_s_rmsprop(changes):
    """optax.rmsprop(eps_in_sqrt=False), printed beside the closest eps the JAX reference runs,
    takes torch.optim.RMSprop's steps: the same parameters after 10 steps on the same random
    gradients."""
    optax = pytest.importorskip("optax")
    import jax
    import jax.numpy as jnp
    import torch

    t = translate(TOY3.spec.replace(optimizer="rmsprop", **changes), "torch", "jax")
    exact = rows(t)["rmsprop-eps-placement"].exact_code
    assert "eps_in_sqrt=False" in exact and f"eps={t.specs['torch'].eps!r}" in exact
    rng = np.random.default_rng(1)
    start = rng.normal(size=(3, 4))
    p = torch.nn.Parameter(torch.tensor(start))
    printed = torch_code(t.specs["torch"])["optimizer"]             # torch's side, as printed
    theirs = eval(printed, {"torch": torch, "model": torch.nn.ParameterList([p])})
    with jax.enable_x64(True):
        tx = eval(exact, {"optax": optax})
        params = jnp.asarray(start)
        state = tx.init(params)
        for _ in range(10):
            g = rng.normal(size=start.shape)
            p.grad = torch.tensor(g)
            theirs.step()
            updates, state = tx.update(jnp.asarray(g), state, params)
            params = optax.apply_updates(params, updates)
        mine, torch_p = np.asarray(params), p.detach().numpy()
    assert np.max(np.abs(mine - torch_p)) <= 1e-14 * np.max(np.abs(torch_p))      # rounding only


def test_adam_eps_is_torch_s_placement_in_optax_and_keras_s_is_named():
    t = translate(TOY3.spec.replace(optimizer="adam"), "torch", "jax")
    assert "adam-eps-placement" not in rows(t)
    assert "optimizer = optax.adam(0.1, b1=0.9, b2=0.999, eps=1e-08)" in jax_lines(t)
    for source, target in (("keras", "jax"), ("jax", "keras")):
        t = translate(TOY3.spec.replace(optimizer="adam"), source, target)
        row = rows(t)["adam-eps-placement"]
        assert row.kind == "closest" and row.fix == {"eps": 0.0} and "sqrt(v_hat)" in row.why


@pytest.mark.parametrize("source, target, decay", [("torch", "jax", 0.01), ("keras", "jax", 0.004),
                                                   ("jax", "torch", 1e-4), ("jax", "keras", 1e-4)])
def test_adamw_default_decay_is_the_source_s_written_out(source, target, decay):
    t = translate(TOY3.spec.replace(optimizer="adamw"), source, target)
    assert t.specs[target].weight_decay == decay
    assert rows(t)["adamw-decoupled-decay"].kind == "exact"
    assert f"weight_decay={decay!r}" in rows(t)["default-hyperparameters"].source
    if target == "jax":
        eps = t.specs["jax"].eps
        words = f"optax.adamw(0.1, b1=0.9, b2=0.999, eps={eps!r}, weight_decay={decay!r}"
        assert words in jax_lines(t)


def test_keras_adam_weight_decay_is_optax_adamw():
    spec = TOY3.spec.replace(optimizer="adam", weight_decay=0.004, decay="decoupled")
    t = translate(spec, "keras", "jax")
    assert t.specs["jax"].optimizer == "adamw" and rows(t)["adamw-decoupled-decay"].target == \
        "optax.adamw(weight_decay=0.004)"


def test_coupled_decay_clipping_and_nesterov_in_optax_words():
    spec = TOY3.spec.replace(momentum=0.9, nesterov=True, weight_decay=0.01, clip_norm=1.0)
    t = translate(spec, "torch", "jax")
    assert ("optax.chain(optax.clip_by_global_norm(1.0), optax.add_decayed_weights(0.01), "
            "optax.sgd(0.1, momentum=0.9, nesterov=True))") in jax_lines(t).replace("\n", "")
    assert rows(t)["coupled-decay"].kind == "exact" and rows(t)["clip-norm-eps"].kind == "closest"
    assert "sgd-momentum-form" not in rows(t)         # optax.trace is torch's buffer: v = g + mu v
    k = translate(TOY3.spec.replace(clip_norm=1.0, clip_value=None), "keras", "jax")
    assert rows(k)["clip-norm"].kind == "exact"                 # neither adds an eps to the norm
    assert "sgd-momentum-form" in rows(translate(TOY3.spec.replace(momentum=0.9), "keras", "jax"))


def test_network_pieces_in_flax_words():
    """torch's BatchNorm1d momentum 0.1 is Flax's 0.9 (the old average's weight); Flax's defaults
    (0.99, eps 1e-5; LayerNorm 1e-6) written out for torch and Keras; jax.nn.gelu's tanh default
    named."""
    t = translate(TOY3.spec.replace(norm="batch"), "torch", "jax")
    row = rows(t)["network-pieces"]
    assert row.target == "nnx.BatchNorm(n, momentum=0.9, epsilon=1e-05, rngs=rngs)"
    assert "use_fast_variance" in row.why
    assert "unbiased" in row.why
    nnx = pytest.importorskip("flax.nnx")
    built = eval(row.target, {"nnx": nnx, "n": 3, "rngs": nnx.Rngs(0)})      # pasteable Flax
    assert (built.momentum, built.epsilon) == (0.9, 1e-05)
    back = translate(TOY3.spec.replace(norm="batch"), "jax", "torch")
    assert rows(back)["network-pieces"].target == "BatchNorm1d(momentum=0.01, eps=1e-05)"
    assert back.specs["torch"].norm_momentum == 0.01
    layer = translate(TOY3.spec.replace(norm="layer"), "jax", "keras")
    assert rows(layer)["network-pieces"].target == "LayerNormalization(epsilon=1e-06)"
    spec = TOY3.spec.replace(sizes=[2, 4, 1], activations=["gelu", "linear"], loss="mse")
    gelu = rows(translate(spec, "torch", "jax"))["network-pieces"]
    assert gelu.target == "jax.nn.gelu(x, approximate=False)"
    spec = TOY3.spec.replace(sizes=[2, 4, 1], activations=["leaky_relu", "linear"], loss="mse")
    leaky = translate(spec, "jax", "keras")
    assert rows(leaky)["network-pieces"].target == "leaky_relu(negative_slope=0.01)"
    assert leaky.specs["keras"].slope == 0.01 and rows(leaky)["network-pieces"].kind == "closest"


def test_norm_momentum_is_read_in_flax_s_words():
    """--from jax --norm-momentum 0.9 is nnx.BatchNorm's (the old average's weight): torch's 0.1."""
    from compare.cli.translate import parser, read_spec

    args = parser().parse_args(["--from", "jax", "--to", "torch", "--norm", "batch", "--norm-momentum", "0.9"])
    t = translate(read_spec(args, TOY3), "jax", "torch")
    assert t.specs["torch"].norm_momentum == 0.1
    assert rows(t)["network-pieces"].target == "BatchNorm1d(momentum=0.1, eps=1e-05)"


def test_schedules_in_optax_words():
    """MultiStepLR milestones are optax.piecewise_constant_schedule's boundaries (it scales from
    count = boundary on), Keras's boundary b is optax's b + 1; ExponentialLR is exponential_decay(
    transition_steps=1), whose float32 count is named."""
    spec = TOY3.spec.replace(schedule="step", milestones=[30, 60], gamma=0.5)
    t = translate(spec, "torch", "jax")
    assert ("optax.piecewise_constant_schedule(0.1, boundaries_and_scales={30: 0.5, 60: 0.5})"
            in jax_lines(t))
    assert "optax.sgd(schedule, momentum=None, nesterov=False)" in jax_lines(t)
    k = translate(TOY3.spec.replace(schedule="step", milestones=[29], gamma=0.5), "keras", "jax")
    assert "boundaries_and_scales={30: 0.5}" in jax_lines(k)
    e = translate(TOY3.spec.replace(schedule="exponential", gamma=0.97), "torch", "jax")
    assert "optax.exponential_decay(0.1, transition_steps=1, decay_rate=0.97)" in jax_lines(e)
    assert rows(e)["exponential-float32-count"].kind == "closest"
    c = translate(TOY3.spec.replace(schedule="cosine", steps=100), "keras", "jax")
    assert "optax.cosine_decay_schedule(0.1, decay_steps=100, alpha=0.0)" in jax_lines(c)
    assert "cosine-after-t-max" not in rows(c)


def test_amsgrad_s_corrected_maximum_is_named():
    t = translate(TOY3.spec.replace(optimizer="adam", amsgrad=True), "torch", "jax")
    assert rows(t)["amsgrad-corrected-max"].kind == "closest"
    assert "optax.amsgrad(0.1, b1=0.9, b2=0.999, eps=1e-08)" in jax_lines(t)


def test_nadam_and_dampening_are_closest_and_named():
    t = translate(TOY3.spec.replace(optimizer="nadam"), "torch", "jax")
    assert rows(t)["nadam-nesterov-adam"].kind == "closest"
    assert t.specs["jax"].momentum_decay is None
    d = translate(TOY3.spec.replace(momentum=0.9, dampening=0.5), "torch", "jax")
    assert rows(d)["sgd-dampening"].target == "learning_rate=0.05"
    assert d.specs["jax"].dampening == 0.0


@pytest.mark.parametrize("changes", [dict(momentum=0.9, nesterov=True),
                                     dict(optimizer="adam", amsgrad=True), dict(optimizer="adamw"),
                                     dict(optimizer="adagrad", eps=0.0),
                                     dict(weight_decay=0.5, clip_value=0.1)])
def test_round_trip_torch_jax_torch_gives_the_original_settings(changes):
    there = translate(TOY3.spec.replace(**changes), "torch", "jax")
    back = translate(there.specs["jax"], "jax", "torch")
    assert back.specs["torch"].hyper("torch") == there.specs["torch"].hyper("torch")


# ----- input mistakes: exit 2, one line ---------------------------------------------------------

@pytest.mark.parametrize("argv, words", [
    (["--from", "jax"], "--from jax needs --to torch or --to keras"),
    (["--from", "jax", "--to", "jax"], "nothing to translate"),
    (["--from", "jax", "--to", "torch", "--momentum", "0.9", "--dampening", "0.5"],
     "JAX's SGD has no dampening"),
    (["--from", "jax", "--to", "torch", "--optimizer", "nadam", "--momentum-decay", "1"],
     "momentum_decay"),
    (["--from", "jax", "--to", "keras", "--keras-float32-casts"], "--from keras"),
    (["--from", "torch", "--to", "jax", "--schedule", "plateau"], "plateau"),
    (["--from", "torch", "--to", "jax", "--optimizer", "lion"],
     "torch has no Lion: translate it --from keras or jax"),
    (["--from", "jax", "--to", "keras", "--optimizer", "lion"],
     "JAX's Lion with weight_decay=0.001 (its default): Lion is mirrored without weight decay"),
    (["--from", "torch", "--to", "jax", "--weight-decay", "0.1", "--decay", "decoupled"],
     "torch's sgd has no decoupled weight decay"),
])
def test_input_errors_exit_2_in_one_line(capsys, argv, words):
    code, out, err = run(capsys, *argv)
    assert code == 2 and len(logical_lines(err.strip())) == 1 and words in err, err


# ----- the printed Optax code is the reference's optimizer --------------------------------------

@pytest.mark.parametrize("source, changes", [
    ("torch", dict(momentum=0.9, nesterov=True, weight_decay=0.01, clip_norm=1.0)),
    ("keras", dict(optimizer="rmsprop", momentum=0.5)),
    ("torch", dict(optimizer="adamw", clip_value=0.05)),
    ("keras", dict(optimizer="adam", weight_decay=0.004, decay="decoupled")),
    ("torch", dict(schedule="step", milestones=[2], gamma=0.5)),
])
def test_printed_optax_code_computes_the_reference_s_updates(source, changes):
    """The optimizer line evaluated (optax in scope) and the JAX reference's own optimizer
    (reference/jax_optim.py) take the same 4 steps on the same random gradients: equal updates."""
    pytest.importorskip("jax")
    optax = pytest.importorskip("optax")
    import jax
    import jax.numpy as jnp

    from reference.jax_optim import make_optimizer

    t = translate(TOY3.spec.replace(**changes), source, "jax")
    spec, code = t.specs["jax"], jax_code(t.specs["jax"])
    rng = np.random.default_rng(0)
    with jax.enable_x64(True):
        params = {"W1": jnp.asarray(rng.normal(size=(2, 3))), "b1": jnp.asarray(rng.normal(size=3))}
        scope = {"optax": optax, "jnp": jnp}
        for line in code["setup"]:
            if line.startswith("schedule = "):
                scope["schedule"] = eval(line.split(" = ", 1)[1], scope)
        printed = eval(code["optimizer"], scope)
        reference = make_optimizer(spec, spec.hyper("jax"), params)
        mine, theirs = printed.init(params), reference.init(params)
        p_mine = p_theirs = params
        for _ in range(4):
            grads = {k: jnp.asarray(rng.normal(size=v.shape)) for k, v in params.items()}
            u_mine, mine = printed.update(grads, mine, p_mine)
            u_theirs, theirs = reference.tx.update(grads, theirs, p_theirs)
            p_mine = optax.apply_updates(p_mine, u_mine)
            p_theirs = optax.apply_updates(p_theirs, u_theirs)
            for k in params:                                    # rounding only, of the largest |p|
                a, b = np.asarray(p_mine[k]), np.asarray(p_theirs[k])
                assert np.max(np.abs(a - b)) <= 1e-14 * np.max(np.abs(b)), k


# ----- the proofs: both references in lockstep --------------------------------------------------

@pytest.mark.parametrize("argv, words, printed", [
    (["--from", "torch", "--to", "jax", "--momentum", "0.9", "--nesterov", "--activation", "gelu"],
     "PROVEN: torch SGD(lr=0.1) == jax optax.sgd(0.1)",
     ["optimizer = optax.sgd(0.1, momentum=0.9, nesterov=True)",
      "jax.nn.gelu(x, approximate=False)"]),
    (["--from", "jax", "--to", "keras", "--momentum", "0.9", "--norm", "batch"],
     "PROVEN: keras SGD(learning_rate=0.1) == jax optax.sgd(0.1)",
     ["keras.optimizers.SGD(learning_rate=0.1, momentum=np.float64(0.9), nesterov=False)",
      "BatchNormalization(momentum=0.99, epsilon=1e-05)"]),
    (["--from", "torch", "--to", "jax", "--optimizer", "adamw", "--clip-value", "0.05",
      "--norm", "batch"],
     "PROVEN: torch AdamW(lr=0.1) == jax optax.adamw(0.1)",
     ["optax.chain(optax.clip(0.05), optax.adamw(0.1, b1=0.9, b2=0.999, eps=1e-08, "
      "weight_decay=0.01,",
      "nnx.BatchNorm(n, momentum=0.9, epsilon=1e-05, rngs=rngs)"]),
    (["--from", "keras", "--to", "jax", "--optimizer", "rmsprop"],
     "PROVEN: keras RMSprop(learning_rate=0.1) == jax optax.rmsprop(0.1)",
     ["optax.rmsprop(0.1, decay=0.9, eps=1e-07, initial_scale=0.0, eps_in_sqrt=True,"]),
    (["--from", "jax", "--to", "torch", "--optimizer", "adam", "--schedule", "step",
      "--milestones", "10"],
     "PROVEN: torch Adam(lr=0.1) == jax optax.adam(0.1)",
     ["torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[10], gamma=0.1)"]),
])
def test_exact_translations_with_jax_are_proven(capsys, tmp_path, argv, words, printed):
    """Each direction with JAX, the code and the rules printed, and the proof: both references in
    lockstep, every tensor within 1e-12 relative over 20 steps."""
    pytest.importorskip("jax")
    path = tmp_path / "t.json"
    code, out, _ = run(capsys, *argv, "--steps", "20", "--json", str(path))
    line = proof_line(out)
    assert code == 0 and line.startswith(words) and "over 20 steps of toy3" in line, line
    assert measured(line) < 1e-12
    code_printed = re.sub(r",\n +", ", ", out)                 # the code lines unwrapped
    rules = json.loads(path.read_text())["translation"]["rules"]
    for text in printed:
        assert text in code_printed or any(text in r["source"] + r["target"] for r in rules), text


def test_keras_adam_into_optax_names_the_eps_and_proves_eps_0(capsys):
    """Keras's epsilon-hat against optax's torch-like placement: NOT PROVEN, the rule named and its
    distance measured; eps=0 in Keras is the exact port, proven."""
    pytest.importorskip("jax")
    argv = ["--from", "keras", "--to", "jax", "--optimizer", "adam", "--steps", "20"]
    code, out, _ = run(capsys, *argv)
    line = proof_line(out)
    assert code == 1 and "adam-eps-placement" in line and 1e-9 < measured(line) < 1e-2
    fixed = re.search(r"exact with epsilon=0 in keras: PROVEN over 20 steps, worst relative error "
                      r"([0-9.e-]+)",
                      " ".join(logical_lines(out)))
    assert fixed and float(fixed[1]) < 1e-12
