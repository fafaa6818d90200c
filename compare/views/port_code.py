"""A translation as code a user pastes, and its rules as one table.

    torch_code(spec) -> {"setup": [...], "optimizer": "torch.optim.NAdam(model.parameters(), ...)",
                         "loss": [...], "loop": [...]}
    keras_code(spec) -> {"setup": [...], "optimizer": "keras.optimizers.Nadam(...)", "layers": [...]}
    jax_code(spec)   -> {"setup": [...], "optimizer": "optax.chain(optax.clip(0.5), optax.adam(...))",
                         "loss": [...], "loop": [...]}
    code(spec, framework): the one of the three

The JAX side is written as reference/jax_optim.py builds its chain (clipping, coupled decay, the
optax optimizer; decoupled decay as optax.adamw's own placement), each call one of optax 0.2.8's.

Each is written from the spec exactly as reference/torch_mlp.py and reference/keras_mlp.py build
their objects (the objects translate's proof ran): every hyperparameter explicit, and in Keras each
one its TF backend would round through float32 as a Python float given as np.float64(...), unless
the spec describes Keras code that uses Python floats (keras_float32_casts). Floats are written
with repr, so the printed value is the value run. torch's `foreach` is left to its default, which
on CPU tensors is the single-tensor code the proof ran (optimizer.py _default_to_fused_or_foreach).

Left out: the model definition (Linear/Dense layers as the user has them), data loading.
"""
from scratch.conventions import JAX, KERAS, TORCH

TORCH_CLASSES = {"sgd": "SGD", "rmsprop": "RMSprop", "adam": "Adam", "adamw": "AdamW", "nadam": "NAdam",
                 "adamax": "Adamax", "adagrad": "Adagrad", "adadelta": "Adadelta"}
KERAS_CLASSES = {"sgd": "SGD", "rmsprop": "RMSprop", "adam": "Adam", "adamw": "AdamW", "nadam": "Nadam",
                 "adamax": "Adamax", "adagrad": "Adagrad", "adadelta": "Adadelta", "lion": "Lion"}


def call(name, args):
    return f"{name}({', '.join(f'{k}={v}' for k, v in args)})"


def torch_optimizer_args(spec):
    """[(keyword, code)] as reference/torch_mlp.py make_optimizer passes them."""
    h, o = spec.hyper(TORCH), spec.optimizer
    args = [("lr", repr(float(h["lr"])))]
    betas = ("betas", f"({h.get('beta1')!r}, {h.get('beta2')!r})")
    if o == "sgd":
        args += [("momentum", repr(h["momentum"])), ("nesterov", repr(h["nesterov"])),
                 ("dampening", repr(h.get("dampening", 0.0))), ("weight_decay", repr(h["weight_decay"]))]
    elif o == "rmsprop":
        args += [("alpha", repr(h["rho"])), ("eps", repr(h["eps"])), ("momentum", repr(h.get("momentum", 0.0))),
                 ("centered", repr(h.get("centered", False))), ("weight_decay", repr(h["weight_decay"]))]
    elif o in ("adam", "adamw"):
        args += [betas, ("eps", repr(h["eps"])), ("weight_decay", repr(h["weight_decay"])),
                 ("amsgrad", repr(h.get("amsgrad", False)))]
    elif o == "nadam":
        args += [betas, ("eps", repr(h["eps"])), ("momentum_decay", repr(h.get("momentum_decay", 4e-3)))]
    elif o == "adamax":
        args += [betas, ("eps", repr(h["eps"]))]
    elif o == "adagrad":
        args += [("eps", repr(h["eps"])), ("initial_accumulator_value", repr(h["initial_accumulator"]))]
    elif o == "adadelta":
        args += [("rho", repr(h["rho"])), ("eps", repr(h["eps"]))]
    return args


def torch_code(spec):
    """The torch side: setup, the optimizer, the loss terms, and the lines of the training loop."""
    setup = ["torch.set_default_dtype(torch.float64)  # NAdam keeps mu_product in the default dtype"] \
        if spec.optimizer == "nadam" else []
    optimizer = call(f"torch.optim.{TORCH_CLASSES[spec.optimizer]}",
                     [("params", "model.parameters()")] + torch_optimizer_args(spec)).replace("params=", "", 1)
    which = "model.parameters()" if spec.regularize_biases else \
        "(m.weight for m in model.modules() if isinstance(m, torch.nn.Linear))"
    loss = []
    if spec.l2:
        loss.append(f"loss = loss + {spec.l2!r} * sum(p.pow(2).sum() for p in {which})")
    if spec.l1:
        loss.append(f"loss = loss + {spec.l1!r} * sum(p.abs().sum() for p in {which})")
    loop = ["loss.backward()"]
    if spec.clip_norm is not None:
        loop.append(f"torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm={spec.clip_norm!r})")
    if spec.clip_norm_per_tensor is not None:
        loop.append(f"for p in model.parameters(): torch.nn.utils.clip_grad_norm_(p, max_norm={spec.clip_norm_per_tensor!r})")
    if spec.clip_value is not None:
        loop.append(f"torch.nn.utils.clip_grad_value_(model.parameters(), clip_value={spec.clip_value!r})")
    loop.append("optimizer.step()")
    scheduler = torch_scheduler(spec)
    if scheduler and spec.schedule_every == "step":
        loop.append("scheduler.step(loss.item())" if spec.schedule == "plateau" else "scheduler.step()")
    epoch = (["scheduler.step(epoch_mean_loss)" if spec.schedule == "plateau" else "scheduler.step()"]
             if scheduler and spec.schedule_every == "epoch" else [])
    return {"setup": setup, "optimizer": optimizer, "scheduler": scheduler, "loss": loss, "loop": loop,
            "epoch": epoch}


def torch_scheduler(spec):
    """The code of reference/torch_mlp.py make_scheduler, or None."""
    h = spec.schedule_hyper()
    name, lr_scheduler = h["schedule"], "torch.optim.lr_scheduler"
    if name == "exponential":
        return f"{lr_scheduler}.ExponentialLR(optimizer, gamma={h['gamma']!r})"
    if name == "step":
        return f"{lr_scheduler}.MultiStepLR(optimizer, milestones={h['milestones']}, gamma={h['gamma']!r})"
    if name == "cosine":
        return f"{lr_scheduler}.CosineAnnealingLR(optimizer, T_max={h['t_max']}, eta_min={h['eta_min']!r})"
    if name == "plateau":
        return (f"{lr_scheduler}.ReduceLROnPlateau(optimizer, mode='min', factor={h['gamma']!r}, "
                f"patience={h['patience']}, threshold={h['threshold']!r}, threshold_mode='abs', "
                f"cooldown={h['cooldown']}, min_lr={h['min_lr']!r}, eps=0.0)")
    return None


def keras_schedule(spec):
    """The code of reference/keras_mlp.py make_schedule (a schedule object), or None."""
    h = spec.hyper(KERAS)
    name, schedules = h["schedule"], "keras.optimizers.schedules"
    f = (lambda x: repr(float(x))) if h["float32_casts"] else (lambda x: f"np.float64({float(x)!r})")
    if name == "exponential":
        return f"{schedules}.ExponentialDecay({f(h['lr'])}, decay_steps=1, decay_rate={f(h['gamma'])})"
    if name == "step":
        values = ", ".join(f(h["lr"] * h["gamma"] ** k) for k in range(len(h["milestones"]) + 1))
        return f"{schedules}.PiecewiseConstantDecay(boundaries={[m - 1 for m in h['milestones']]}, values=[{values}])"
    if name == "cosine":
        alpha = h["eta_min"] / h["lr"] if h["eta_min"] else 0.0
        return f"{schedules}.CosineDecay({f(h['lr'])}, decay_steps={h['t_max']}, alpha={alpha!r})"
    return None


def keras_callbacks(spec):
    """The callbacks reference/keras_mlp.py make_callback builds (fit(callbacks=[...]))."""
    h = spec.hyper(KERAS)
    if h["schedule"] == "plateau":
        cooldown = h["cooldown"] + 1 if h["cooldown"] else 0
        return [f"keras.callbacks.ReduceLROnPlateau(monitor='loss', mode='min', factor={h['gamma']!r}, "
                f"patience={h['patience'] + 1}, min_delta={h['threshold']!r}, cooldown={cooldown}, "
                f"min_lr={h['min_lr']!r})"]
    if h["schedule"] is not None and h["schedule_every"] == "epoch":
        return ["keras.callbacks.LearningRateScheduler(lambda epoch, lr: float(schedule(epoch)))"]
    return []


def keras_optimizer_args(spec):
    """[(keyword, code)] as reference/keras_mlp.py make_optimizer passes them."""
    h, o = spec.hyper(KERAS), spec.optimizer
    f = (lambda x: repr(float(x))) if h["float32_casts"] else (lambda x: f"np.float64({float(x)!r})")
    args = [("learning_rate", repr(float(h["lr"])))]
    betas = [("beta_1", f(h["beta1"])), ("beta_2", f(h["beta2"]))] if h.get("beta1") is not None else []
    if o == "sgd":
        args += [("momentum", f(h["momentum"])), ("nesterov", repr(h["nesterov"]))]
    elif o == "rmsprop":
        args += [("rho", f(h["rho"])), ("epsilon", f(h["eps"])), ("momentum", f(h.get("momentum", 0.0))),
                 ("centered", repr(h.get("centered", False)))]
    elif o in ("adam", "adamw"):
        args += betas + [("epsilon", f(h["eps"])), ("amsgrad", repr(h.get("amsgrad", False)))]
    elif o in ("nadam", "adamax"):
        args += betas + [("epsilon", f(h["eps"]))]
    elif o == "adagrad":
        args += [("initial_accumulator_value", f(h["initial_accumulator"])), ("epsilon", f(h["eps"]))]
    elif o == "adadelta":
        args += [("rho", repr(float(h["rho"]))), ("epsilon", f(h["eps"]))]
    elif o == "lion":
        args += betas
    if h.get("weight_decay"):
        args.append(("weight_decay", f(h["weight_decay"])))
    for key, name in (("clip_norm", "global_clipnorm"), ("clip_norm_per_tensor", "clipnorm"), ("clip_value", "clipvalue")):
        if h.get(key) is not None:
            args.append((name, repr(h[key])))
    return args


def keras_regularizer(spec):
    """The code of reference/keras_mlp.py kernel_regularizer(spec), or None."""
    if spec.l1 and spec.l2:
        return f"keras.regularizers.L1L2(l1={spec.l1!r}, l2={spec.l2!r})"
    if spec.l2:
        return f"keras.regularizers.L2({spec.l2!r})"
    if spec.l1:
        return f"keras.regularizers.L1({spec.l1!r})"
    return None


def keras_code(spec):
    """The Keras side: setup, the optimizer (clipping is its keyword), the Dense layers' regularizers."""
    setup = [f'keras.config.set_floatx("{spec.dtype}")'] if spec.dtype != "float32" else []
    args = keras_optimizer_args(spec)
    schedule = keras_schedule(spec)
    if schedule and spec.schedule_every == "step":
        args[0] = ("learning_rate", "schedule")
    optimizer = call(f"keras.optimizers.{KERAS_CLASSES[spec.optimizer]}", args)
    setup += [f"schedule = {schedule}"] if schedule else []
    layers = []
    regularizer = keras_regularizer(spec)
    if regularizer:
        biases = f", bias_regularizer={regularizer}" if spec.regularize_biases else ""
        layers.append(f"keras.layers.Dense(units, kernel_regularizer={regularizer}{biases})")
    return {"setup": setup, "optimizer": optimizer, "layers": layers, "callbacks": keras_callbacks(spec)}


def jax_optimizer(spec, learning_rate):
    """The optax optimizer reference/jax_optim.py builds (its `build`), as code."""
    h, o = spec.hyper(JAX), spec.optimizer
    lr, wd = learning_rate, h.get("weight_decay") or 0.0
    decoupled = o == "adamw" or (h["decay"] == "decoupled" and wd and o in ("sgd", "rmsprop", "adam"))
    clip = jax_clip(h)
    head = [clip] if clip else []
    betas = f"b1={h.get('beta1')!r}, b2={h.get('beta2')!r}"
    if decoupled and o == "adamw" and not h.get("amsgrad"):
        return chain(head + [f"optax.adamw({lr}, {betas}, eps={h['eps']!r}, weight_decay={wd!r}, mask=None)"])
    if decoupled:                                # adamw's placement: the decay between scaling and lr
        scale, after = [], []
        if o == "sgd" and h["momentum"]:
            scale = [f"optax.trace(decay={h['momentum']!r}, nesterov={h['nesterov']!r})"]
        elif o == "rmsprop":
            by = "scale_by_stddev" if h.get("centered") else "scale_by_rms"
            scale = [f"optax.{by}(decay={h['rho']!r}, eps={h['eps']!r}, initial_scale=0.0, eps_in_sqrt=True)"]
            after = [f"optax.trace(decay={h['momentum']!r})"] if h.get("momentum") else []
        elif o in ("adam", "adamw"):
            by = "scale_by_amsgrad" if h.get("amsgrad") else "scale_by_adam"
            scale = [f"optax.{by}({betas}, eps={h['eps']!r})"]
        return chain(head + scale + [f"optax.add_decayed_weights({wd!r})",
                                     f"optax.scale_by_learning_rate({lr})"] + after)
    if wd and o != "lion":
        head.append(f"optax.add_decayed_weights({wd!r})")          # coupled: g + wd p first
    if o == "sgd":
        alias = f"optax.sgd({lr}, momentum={h['momentum'] or None!r}, nesterov={h['nesterov']!r})"
    elif o == "rmsprop":
        alias = (f"optax.rmsprop({lr}, decay={h['rho']!r}, eps={h['eps']!r}, initial_scale=0.0, eps_in_sqrt=True, "
                 f"centered={h.get('centered', False)!r}, momentum={h.get('momentum') or None!r})")
    elif o == "adam":
        alias = f"optax.{'amsgrad' if h.get('amsgrad') else 'adam'}({lr}, {betas}, eps={h['eps']!r})"
    elif o in ("nadam", "adamax"):
        alias = f"optax.{o}({lr}, {betas}, eps={h['eps']!r})"
    elif o == "adagrad":
        alias = f"optax.adagrad({lr}, initial_accumulator_value={h['initial_accumulator']!r}, eps={h['eps']!r})"
    elif o == "adadelta":
        alias = f"optax.adadelta({lr}, rho={h['rho']!r}, eps={h['eps']!r})"
    else:
        alias = f"optax.lion({lr}, {betas}, weight_decay={wd!r})"
    return chain(head + [alias])


def chain(parts):
    return parts[0] if len(parts) == 1 else f"optax.chain({', '.join(parts)})"


def jax_clip(h):
    """optax.clip_by_global_norm, optax.clip, or clip_by_global_norm on each leaf alone (optax has no
    per-tensor norm clip: reference/jax_optim.py per_tensor_clip)."""
    if h.get("clip_norm") is not None:
        return f"optax.clip_by_global_norm({h['clip_norm']!r})"
    if h.get("clip_norm_per_tensor") is not None:
        return ("optax.stateless_with_tree_map(lambda g, _: optax.clip_by_global_norm("
                f"{h['clip_norm_per_tensor']!r}).update(g, optax.EmptyState())[0])")
    if h.get("clip_value") is not None:
        return f"optax.clip({h['clip_value']!r})"
    return None


def jax_schedule(spec):
    """The optax schedule reference/jax_optim.py make_schedule builds, or None (optax/schedules/
    _schedule.py): piecewise_constant_schedule scales from count = boundary on (torch's milestone:
    compare/engine/translate.py milestone_in)."""
    h = spec.schedule_hyper()
    name, lr = h["schedule"], float(spec.lr)
    if name == "exponential":
        return f"optax.exponential_decay({lr!r}, transition_steps=1, decay_rate={h['gamma']!r})"
    if name == "step":
        from compare.engine.translate import milestone_in

        scales = {milestone_in(JAX, m): h["gamma"] for m in h["milestones"]}
        return f"optax.piecewise_constant_schedule({lr!r}, boundaries_and_scales={scales})"
    if name == "cosine":
        alpha = h["eta_min"] / lr if h["eta_min"] else 0.0
        return f"optax.cosine_decay_schedule({lr!r}, decay_steps={h['t_max']}, alpha={alpha!r})"
    return None


def jax_code(spec):
    """The JAX side: setup (x64), the optax optimizer, the loss terms, the loop's lines."""
    setup = ['jax.config.update("jax_enable_x64", True)'] if spec.dtype == "float64" else []
    schedule = jax_schedule(spec)
    per_step = schedule and spec.schedule_every == "step"
    setup += [f"schedule = {schedule}"] if schedule else []
    optimizer = jax_optimizer(spec, "schedule" if per_step else repr(float(spec.lr)))
    epoch = []
    if schedule and not per_step:                       # the rate set from schedule(epoch) each epoch
        optimizer = (f"optax.inject_hyperparams(lambda learning_rate: "
                     f"{jax_optimizer(spec, 'learning_rate')})(learning_rate={float(spec.lr)!r})")
        epoch = ["opt_state.hyperparams['learning_rate'] = schedule(epoch + 1)"]
    which = "params.values()" if spec.regularize_biases else "(w for name, w in params.items() if name[0] == 'W')"
    loss = []
    if spec.l2:
        loss.append(f"loss = loss + {spec.l2!r} * sum(jnp.sum(w ** 2) for w in {which})")
    if spec.l1:
        loss.append(f"loss = loss + {spec.l1!r} * sum(jnp.sum(jnp.abs(w)) for w in {which})")
    loop = ["loss, grads = jax.value_and_grad(loss_fn)(params)",
            "updates, opt_state = optimizer.update(grads, opt_state, params)",
            "params = optax.apply_updates(params, updates)"]
    return {"setup": setup, "optimizer": optimizer, "loss": loss, "loop": loop, "epoch": epoch}


def code(spec, framework):
    """The code of one framework's side: torch_code, keras_code or jax_code."""
    return {"torch": torch_code, "keras": keras_code, "jax": jax_code}[framework](spec)


def code_lines(code, framework):
    """The code of one side as the lines printed, the optimizer assigned."""
    lines = list(code["setup"]) + [f"optimizer = {code['optimizer']}"]
    if framework == "jax":
        lines += [f"# in the loss: {line}" for line in code["loss"]]
        lines += ["# each step: " + "; ".join(code["loop"][1:])]
        lines += ["# each epoch's end: " + "; ".join(code["epoch"])] if code.get("epoch") else []
    elif framework == "torch":
        lines += [f"scheduler = {code['scheduler']}"] if code.get("scheduler") else []
        lines += [f"# in the loss: {line}" for line in code["loss"]]
        lines += ["# each step: " + "; ".join(code["loop"])] if len(code["loop"]) > 2 else []
        lines += ["# each epoch's end: " + "; ".join(code["epoch"])] if code.get("epoch") else []
    else:
        lines += [f"# layers: {line}" for line in code["layers"]]
        lines += [f"# fit(..., callbacks=[{line}])" for line in code.get("callbacks", [])]
    return lines


def wrap(line, width=96, indent="    "):
    """Break a long line of code after commas, continuation lines indented."""
    out, current = [], line
    while len(current) > width:
        cut = current.rfind(", ", 0, width)
        if cut <= len(indent):
            break
        out.append(current[:cut + 1])
        current = indent * 2 + current[cut + 2:]
    return out + [current]


def rules_table(rows, source, target):
    """One line per rule that applied: name, the source's setting, the target's, and how exact."""
    from tabulate import tabulate

    body = [[row.rule, row.source, row.target, row.kind] for row in rows]
    return tabulate(body, headers=["rule", source, target, "mapping"], tablefmt="simple",
                    maxcolwidths=[None, 26, 32, None])


def short_name(spec, framework):
    """'AdamW(lr=0.1)' / 'AdamW(learning_rate=0.1)' / 'optax.adamw(0.1)': the class and its learning
    rate, for the proof line."""
    if framework == "jax":
        return f"optax.{'amsgrad' if spec.optimizer == 'adam' and spec.amsgrad else spec.optimizer}({spec.lr!r})"
    if framework == "torch":
        return f"{TORCH_CLASSES[spec.optimizer]}(lr={spec.lr!r})"
    return f"{KERAS_CLASSES[spec.optimizer]}(learning_rate={spec.lr!r})"
