"""Dropout masks, drawn once per step by the harness and handed to every implementation.

torch and Keras each draw their own masks from their own random streams, which no seed makes
equal; so the harness draws them (NumPy, seeded from the spec's seed) and every implementation
applies the same mask, each with its framework's own scaling rule (scratch/layers.py says which).
An implementation takes them through the optional `set_masks(masks)` (compare/engine/registry.py),
called before each `step`:

    masks = {l: mask}   for each block l whose Dropout layer has a rate > 0 (compare/engine/layers.py)
    mask    (n_l, m)    the scratch layout, one example per column; 1.0 kept, 0.0 dropped, spec.dtype
            (C H W, m)  a Dropout on images, one per number
            (C, m)      a SpatialDropout2D, one per channel
                        (the frameworks' layouts: compare/engine/convert.py mask_to_framework)

Left out: masks for the input or the output layer (dropout follows hidden activations only).
"""
import numpy as np


def mask_stream(spec):
    """The masks' own random stream: seeded by the spec's seed, apart from the shuffling's."""
    return np.random.default_rng([spec.seed, 2])


def draw_masks(spec, rng, m):
    """{l: (n_l, m)} for one step of m examples: each unit kept with probability 1 - p_l."""
    masks = {}
    for l, (rows, p) in spec.network.dropout_masks().items():          # block l's Dropout layer
        masks[l] = (rng.random((rows, m)) >= p).astype(spec.dtype)
    return masks


def hand_out(runners, masks):
    """Give this step's masks to every implementation that takes them."""
    for runner in runners.values():
        if hasattr(runner.implementation, "set_masks"):
            runner.implementation.set_masks(masks)
