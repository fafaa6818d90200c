"""Adapters: a user's own network plugged into the lockstep harness without editing it.

    compare.functions(...)        blog-style functions: init_params, forward_prop, backward_prop, update_params
    compare.network_class(...)    a class: Nielsen's network.py (weights, biases, backprop, update_mini_batch)
                                  or cs231n's (params dict, loss(X, y) -> loss, grads)
    compare.torch_module(...)     your torch nn.Module with your own optimizer and loss
    compare.keras_model(...)      your Keras model with your own optimizer and loss
    compare.flax_module(...)      your Flax nnx.Module with your Optax optimizer and loss
    compare.jax_model(...)        your JAX params pytree and apply(params, x), with your Optax optimizer and loss

Each returns a UserImplementation (compare/adapters/base.py); `compare.check(mine, ...)` and
`python -m compare check FILE.py` run it in lockstep against scratch, torch and Keras. Every call
into the user's code goes through one door (boundary.py), and what it returns is checked (values.py).
"""
