"""Optax's side of the JAX reference: the optimizer a JAX user builds for the spec's choice.

The interface reference/jax_mlp.py calls:
    make_optimizer(spec, hyper, params) -> JaxOptimizer      hyper = spec.hyper("jax"); params: the
                                                              flat dict of TRAINABLE parameters
    JaxOptimizer.tx                optax.GradientTransformation, used inside the jitted step
    JaxOptimizer.init(params)      -> its state
    JaxOptimizer.slots(state)      -> {'W1.momentum': numpy, ...} (the scratch slot names)
    JaxOptimizer.load_slots(state, {name: array}) -> state
    JaxOptimizer.lr(state)         -> the learning rate the next step uses
    JaxOptimizer.end_epoch(state, mean_loss) -> state

This first version holds plain SGD and SGD with (Nesterov) momentum: optax.sgd(learning_rate,
momentum, nesterov) = chain(trace(decay=momentum, nesterov), scale_by_learning_rate) (optax/_src/
alias.py sgd; transform.py trace: new = g + momentum * trace, trace starting at 0, so the first
buffer is g, torch's form). The rest of the optimizers, weight decay, clipping and schedules:
issue 23's optimizer work.
"""
import jax
import numpy as np
import optax


class JaxOptimizer:
    def __init__(self, tx, hyper, names):
        self.tx, self.hyper, self.names = tx, hyper, names

    def init(self, params):
        return self.tx.init(params)

    def trace(self, state):
        """optax.trace's state (TraceState.trace), or None without momentum."""
        found = [s for s in jax.tree.leaves(state, is_leaf=lambda s: isinstance(s, optax.TraceState))
                 if isinstance(s, optax.TraceState)]
        return found[0] if found else None

    def slots(self, state):
        trace = self.trace(state)
        if trace is None:
            return {}
        return {f"{name}.momentum": np.asarray(value) for name, value in trace.trace.items()}

    def load_slots(self, state, slots):
        trace = self.trace(state)
        if trace is None:
            return state
        new = {name: slots.get(f"{name}.momentum", value) for name, value in trace.trace.items()}
        return jax.tree.map(lambda s: optax.TraceState(trace=new) if isinstance(s, optax.TraceState) else s,
                            state, is_leaf=lambda s: isinstance(s, optax.TraceState))

    def lr(self, state):
        return self.hyper["lr"]

    def end_epoch(self, state, mean_loss):
        return state


def make_optimizer(spec, hyper, params):
    name = spec.optimizer
    if name != "sgd" or hyper.get("weight_decay") or hyper.get("schedule") or hyper.get("clip_norm") \
            or hyper.get("clip_norm_per_tensor") or hyper.get("clip_value") or hyper.get("dampening"):
        raise ValueError(f"the JAX reference does not run {name} with these settings yet")
    momentum = hyper["momentum"] or None
    tx = optax.sgd(hyper["lr"], momentum=momentum, nesterov=bool(hyper["nesterov"]))
    return JaxOptimizer(tx, hyper, list(params))
