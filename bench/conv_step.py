"""How fast scratch's convolutions are against torch's: each conv layer of `mnist-cnn` forward and
backward on one batch, scratch (scratch/image_layers.Conv2D, im2col in scratch/conv.py) and torch
(nn.Conv2d + autograd), float64, back to back in one process; then the whole training step of the
network (scratch, torch, and Keras with --keras) the same way.

    python bench/conv_step.py [--batch-size 64] [--repeat 200] [--threads N] [--keras] [--json PATH]
                              [--code DIR] [--lockstep STEPS]

Each repetition times scratch's call, then torch's, on the same arrays, so a shared machine's load
falls on both alike; the ratio is of the medians (and of the fastest). Each layer's backward is the
one the network runs: the first conv's input gradient is not computed (nothing consumes it: scratch
need_dX=False, torch's input has requires_grad False), the second's is. Random inputs stand in for
MNIST (the cost does not depend on the values). Prints the machine (CPU model, cores, threads).
--lockstep STEPS: where the harness's step goes instead: mnist-cnn's lockstep (all four runners,
one after another, sequential=True, so that each part's time is its own) on random data, mean ms
per step of each runner's step, the comparisons (judge.cmp), the max-pool tie check
(judge.pool_ties) and the rest (records checked, conversions, bookkeeping), the first third of the
steps left out (warm-up). In `python -m compare` the Keras lane (Keras, scratch@keras and their
comparison) runs in a worker process beside the rest, so a step takes about the longer lane.
--code DIR imports compare, scratch and reference from another checkout (an older commit's
worktree), so that two versions are measured by the same script, one after the other.

Left out: timing assertions (none anywhere in the tests); float32 (the equivalence mode is float64).
"""
import argparse
import json
import os
import platform
import sys
import time

CODE = (sys.argv[sys.argv.index("--code") + 1] if "--code" in sys.argv[:-1]
        else os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.abspath(CODE))          # the checkout measured (--code), else this one
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from tabulate import tabulate  # noqa: E402

from compare.data.mnist import one_hot  # noqa: E402
from compare.data.recipes import get  # noqa: E402
from compare.engine import frameworks, registry  # noqa: E402
from scratch.initializers import initial_params  # noqa: E402


def machine():
    """CPU model and count, and the threads each library was given."""
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
                 platform.processor()) if os.path.exists("/proc/cpuinfo") else platform.processor()
    from threadpoolctl import threadpool_info
    blas = [f"{p['internal_api']} {p['version']} ({p['num_threads']} threads)" for p in threadpool_info()
            if p["user_api"] == "blas"]
    import torch
    return {"cpu": model, "cores": os.cpu_count(), "numpy": np.__version__, "blas": blas,
            "torch": f"{torch.__version__} ({torch.get_num_threads()} threads)"}


def timed_pair(fns, repeat):
    """{name: [seconds]}: each callable once per repetition, in turn, after two warm-up rounds."""
    for _ in range(2):
        for fn in fns.values():
            fn()
    times = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def conv_layers(spec, m, rng):
    """[(label, scratch fn, torch fn)]: each Conv2D of the spec, forward + backward on a batch of m."""
    import torch

    from scratch import image_layers

    out = []
    for p in spec.network.placed:
        if p.layer.kind != "conv2d":
            continue
        kernel, strides, dilation, padding = p.layer.geometry(p.n_in)
        first = p.index == 0
        X = rng.random((int(np.prod(p.n_in)), m))                     # scratch's columns (C H W, m)
        if not first:
            X = np.maximum(X - 0.5, 0.0)                              # a ReLU'd pooling output
        W, b = rng.normal(size=(p.layer.filters, p.n_in[0], *kernel)) * 0.1, rng.normal(size=(p.layer.filters, 1))
        layer, P = image_layers.Conv2D(p.n_in, strides, padding, dilation), {"W": W, "b": b}
        dZ = rng.normal(size=(int(np.prod(p.n_out)), m))

        def scratch_step(layer=layer, P=P, X=X, dZ=dZ, need_dX=not first):
            _, kept = layer.forward(P, X, None)
            return layer.backward(P, kept, dZ, need_dX)

        top, bottom, left, right = padding
        assert top == bottom and left == right, "mnist-cnn's convolutions pad symmetrically"
        conv = torch.nn.Conv2d(p.n_in[0], p.layer.filters, kernel, strides, (top, left), dilation, dtype=torch.float64)
        with torch.no_grad():
            conv.weight.copy_(torch.from_numpy(W))
            conv.bias.copy_(torch.from_numpy(b[:, 0]))
        x = torch.from_numpy(np.ascontiguousarray(X.T.reshape(m, *p.n_in))).requires_grad_(not first)
        dz = torch.from_numpy(np.ascontiguousarray(dZ.T.reshape(m, *p.n_out)))

        def torch_step(conv=conv, x=x, dz=dz):
            conv.zero_grad(set_to_none=True)
            x.grad = None
            conv(x).backward(dz)

        label = f"conv {p.block}: {'x'.join(map(str, p.n_in))} -> {'x'.join(map(str, p.n_out))}"
        out.append((label, scratch_step, torch_step))
    return out


def training_steps(spec, m, rng, keras):
    """{name: one training step} of the whole network: scratch, torch (and Keras) as the harness
    builds them, from one set of initial weights, on the same batch."""
    params = initial_params(spec.sizes, spec.weight_init, spec.bias_init, spec.seed, spec.dtype,
                            spec.fixed_params, kernels=spec.network.kernels())
    X, Y = rng.random((m, int(np.prod(spec.input_shape)))), one_hot(rng.integers(0, 10, m))
    steps = {}
    for name, convention in [("scratch", "torch"), ("torch", "torch")] + ([("keras", "keras")] if keras else []):
        built = registry.require(name).build(spec, [(W.copy(), b.copy()) for W, b in params], convention)
        steps[name] = lambda built=built: built.step(X, Y)
    return steps


def lockstep_parts(spec, steps):
    """{part: mean ms per step} inside harness.lockstep, run sequentially on random data."""
    from collections import defaultdict

    from compare.data.recipes import Data
    from compare.engine import harness, judge
    from compare.implementations.reference import ReferenceImplementation
    from compare.implementations.scratch import ScratchImplementation

    times = defaultdict(float)

    def timed(key_of, function):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            result = function(*args, **kwargs)
            if counting:
                times[key_of(args)] += time.perf_counter() - start
            return result
        return wrapper

    saved = ScratchImplementation.step, ReferenceImplementation.step, judge.cmp, judge.pool_ties
    ScratchImplementation.step = timed(lambda a: "scratch" if a[0].model.convention == "torch" else "scratch@keras",
                                       ScratchImplementation.step)
    ReferenceImplementation.step = timed(lambda a: a[0].framework, ReferenceImplementation.step)
    judge.cmp = timed(lambda a: "comparisons", judge.cmp)
    judge.pool_ties = timed(lambda a: "max-pool tie check", judge.pool_ties)
    rng = np.random.default_rng(2)
    n = spec.batch_size * steps
    data = Data(X=rng.random((n, int(np.prod(spec.input_shape)))), Y=one_hot(rng.integers(0, 10, n)),
                X_eval=rng.random((2, int(np.prod(spec.input_shape)))))
    skip, stamps, counting = steps // 3, [], False

    def on_step(result):
        nonlocal counting
        stamps.append(time.perf_counter())
        counting = len(stamps) > skip
    try:
        harness.lockstep(spec.replace(steps=steps), data, [registry.get("scratch")],
                         [registry.require(name) for name in ("torch", "keras")], on_step=on_step, sequential=True)
    finally:
        ScratchImplementation.step, ReferenceImplementation.step, judge.cmp, judge.pool_ties = saved
    measured = len(stamps) - 1 - skip
    whole = 1000 * (stamps[-1] - stamps[skip]) / measured
    out = {key: 1000 * value / measured for key, value in times.items()}
    out["rest"] = whole - sum(out.values())
    out["whole step"] = whole
    return out


def row(label, times, against="torch"):
    ms = {name: 1000 * np.median(t) for name, t in times.items()}
    best = {name: 1000 * min(t) for name, t in times.items()}
    cells = [label]
    for name in times:
        cells.append(f"{ms[name]:.2f} ({best[name]:.2f})")
    cells.append(f"{ms['scratch'] / ms[against]:.2f} ({best['scratch'] / best[against]:.2f})")
    return cells, {"median_ms": ms, "best_ms": best, "ratio_median": ms["scratch"] / ms[against],
                   "ratio_best": best["scratch"] / best[against]}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--repeat", type=int, default=200)
    p.add_argument("--threads", type=int, help="threads per library (default: the CLI's, 1)")
    p.add_argument("--keras", action="store_true", help="time Keras's whole training step too")
    p.add_argument("--json", help="write the measurements here")
    p.add_argument("--code", help="the checkout whose code is measured (default: this one)")
    p.add_argument("--lockstep", type=int, metavar="STEPS", help="time the parts of the harness's step instead")
    args = p.parse_args(argv)
    spec = get("mnist-cnn").spec.replace(batch_size=args.batch_size)
    threads = frameworks.default_threads(spec) if args.threads is None else args.threads
    frameworks.configure_threads(threads, ("torch", "keras") if args.keras or args.lockstep else ("torch",))
    rng = np.random.default_rng(0)
    env = machine()
    print(f"code: {os.path.abspath(CODE)}")
    print(f"{env['cpu']}, {env['cores']} cores; NumPy {env['numpy']} {', '.join(env['blas'])}; "
          f"torch {env['torch']}; float64, batch {args.batch_size}, {args.repeat} repetitions, "
          f"load average {os.getloadavg()[0]:.1f}")
    if args.lockstep:
        parts = lockstep_parts(spec, args.lockstep)
        print(tabulate([[k, f"{v:.2f}", f"{100 * v / parts['whole step']:.0f}%"] for k, v in parts.items()],
                       ["part of the lockstep step", "ms", "share"]))
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"code": os.path.abspath(CODE), "machine": env, "lockstep_ms": parts}, f, indent=1)
        return 0
    rows, result = [], {"code": os.path.abspath(CODE), "machine": env, "batch_size": args.batch_size, "repeat": args.repeat, "rows": {}}
    layers = conv_layers(spec, args.batch_size, rng)
    every = {"scratch": [], "torch": []}
    for label, scratch_step, torch_step in layers:
        times = timed_pair({"scratch": scratch_step, "torch": torch_step}, args.repeat)
        cells, result["rows"][label] = row(label, times)
        rows.append(cells)
        for name in every:
            every[name].append(times[name])
    both = {name: [sum(t) for t in zip(*every[name])] for name in every}   # the conv layers of one step
    cells, result["rows"]["conv step (all conv layers)"] = row("conv step (all conv layers)", both)
    rows.append(cells)
    print(tabulate(rows, ["forward + backward", "scratch ms", "torch ms", "scratch / torch"]))
    print("median (fastest) of each; the conv step is each repetition's layers added up\n")
    steps = training_steps(spec, args.batch_size, rng, args.keras)
    times = timed_pair(steps, max(20, args.repeat // 4))
    cells, result["rows"]["training step"] = row("training step", times)
    head = ["whole network", *[f"{name} ms" for name in steps], "scratch / torch"]
    print(tabulate([cells], head))
    print("one training step of mnist-cnn as the harness builds each (records included), median (fastest)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
