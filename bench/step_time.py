"""How long one training step of the `mnist` network takes: scratch, torch and Keras alone, the
whole lockstep harness, and the machine's own GEMM rate, all measured in this one run.

    python bench/step_time.py [--json PATH] [--repeat N] [--threads N]

Prints ms per step and ratios (scratch / torch, keras / torch, lockstep / sum of the three
alone), and each implementation's achieved GFLOP/s as a fraction of a plain NumPy GEMM's.
Random inputs stand in for MNIST (a step's cost does not depend on the pixel values).
Left out: GPUs; no timing is asserted anywhere in the test suite.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from tabulate import tabulate  # noqa: E402

from compare.engine import convert, frameworks, harness, registry  # noqa: E402
from compare.data.mnist import one_hot  # noqa: E402
from compare.data.recipes import Data, get  # noqa: E402
from scratch.initializers import initial_params  # noqa: E402
from scratch.mlp import MLP  # noqa: E402

SIZES = [784, 128, 64, 10]


def step_flops(m):
    """Forward 2*m*sum(n_in*n_out); backward about twice that (dW and dA_prev)."""
    weights = sum(a * b for a, b in zip(SIZES[:-1], SIZES[1:]))
    return 3 * 2 * m * weights


def best_ms(fn, repeat):
    """The fastest of `repeat` timed calls, in ms (after two warm-up calls)."""
    fn()
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * min(times)


def gemm_gflops(dtype, repeat):
    """NumPy's matmul rate on a 1024^3 product: what this machine's BLAS can do."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((1024, 1024)).astype(dtype), rng.standard_normal((1024, 1024)).astype(dtype)
    return 2 * 1024**3 / (best_ms(lambda: a @ b, repeat) / 1000) / 1e9


def implementations(spec, m, dtype):
    """{name: one-step callable} for scratch, torch and Keras alone, on the same batch."""
    rng = np.random.default_rng(1)
    X = rng.random((m, 784)).astype(dtype)
    Y = one_hot(rng.integers(0, 10, m)).astype(dtype)
    params = initial_params(SIZES, spec.weight_init, spec.bias_init, 0, dtype)
    scratch = MLP(spec, params)
    Xc, Yc = convert.rows_to_batch(X), convert.rows_to_batch(Y)
    steps = {"scratch": lambda: scratch.train_step(Xc, Yc)}
    if registry.available("torch"):
        from reference.torch_mlp import TorchMLP
        model = TorchMLP(spec, convert.to_torch(params))
        steps["torch"] = lambda: model.train_step(X, Y)
    if registry.available("keras"):
        from reference.keras_mlp import KerasMLP
        kmodel = KerasMLP(spec, convert.to_keras(params))
        steps["keras"] = lambda: kmodel.train_step(X, Y)[1].numpy()     # wait for the result
    return steps


def lockstep_ms(spec, m, steps):
    """ms per step of the whole harness (every runner, every comparison) on random data, timed
    between the first and the last step's callback (building the models is left out)."""
    rng = np.random.default_rng(2)
    n = m * 4
    data = Data(X=rng.random((n, 784)), Y=one_hot(rng.integers(0, 10, n)), X_eval=rng.random((2, 784)))
    stamps = []
    subjects, references = [registry.get("scratch")], [registry.require(n) for n in ("torch", "keras")]
    harness.lockstep(spec.replace(steps=steps + 1, batch_size=m, shuffle=True), data, subjects, references,
                     on_step=lambda result: stamps.append(time.perf_counter()))
    return 1000 * (stamps[-1] - stamps[0]) / steps


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", help="write the measurements here")
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--threads", type=int, help="threads per library; 0: each library's own default "
                   "(default: what `python -m compare mnist` uses)")
    args = p.parse_args(argv)
    threads = frameworks.default_threads(get("mnist").spec) if args.threads is None else (args.threads or None)
    frameworks.configure_threads(threads, ("torch", "keras"))
    base = get("mnist").spec
    result = {"ms_per_step": {}, "lockstep_ms_per_step": {}, "gemm_gflops": {}, "gflops": {},
              "threads_per_library": threads, "environment": None}
    rows = []
    for dtype in ("float64", "float32"):
        result["gemm_gflops"][dtype] = peak = gemm_gflops(dtype, args.repeat)
        for m in (128, 1024):
            spec = base.replace(dtype=dtype)
            key = f"{dtype}/batch{m}"
            times = {name: best_ms(fn, args.repeat) for name, fn in implementations(spec, m, dtype).items()}
            locked = lockstep_ms(spec, m, 30)
            result["ms_per_step"][key] = times
            result["lockstep_ms_per_step"][key] = locked
            result["gflops"][key] = {k: step_flops(m) / (t / 1000) / 1e9 for k, t in times.items()}
            alone = sum(times.values()) + times["scratch"]   # the harness runs scratch twice (two conventions)
            rows.append([key] + [f"{times.get(k, float('nan')):.2f}" for k in ("scratch", "torch", "keras")]
                        + [f"{locked:.2f}", f"{times['scratch'] / times['torch']:.2f}" if "torch" in times else "-",
                           f"{times['keras'] / times['torch']:.2f}" if "keras" in times else "-",
                           f"{locked / alone:.2f}"]
                        + [f"{result['gflops'][key][k] / peak:.0%}" for k in ("scratch", "torch", "keras") if k in times])
    result["environment"] = frameworks.environment(("scratch", "torch", "keras"))
    headers = ["dtype/batch", "scratch ms", "torch ms", "keras ms", "lockstep ms", "scratch/torch", "keras/torch",
               "lockstep/alone", "scratch %GEMM", "torch %GEMM", "keras %GEMM"]
    print(tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True))
    print("GEMM GFLOP/s (numpy 1024^3): " + ", ".join(f"{k} {v:.1f}" for k, v in result["gemm_gflops"].items()))
    print("lockstep/alone: the harness's step over scratch x2 (both conventions) + torch + keras run alone")
    print(f"threads per library: {threads or 'each library default'}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
