"""How long one training step of the `mnist` network takes: scratch, torch and Keras alone, the
whole lockstep harness, and the machine's own GEMM rate, all measured in this one run.

    python bench/step_time.py [--json PATH] [--repeat N] [--threads N] [--only DTYPE/BATCH] [--code DIR]
                              [--end-to-end] [--sweep [--sweep-png PATH]]

Prints ms per step and ratios (scratch / torch, keras / torch, lockstep / sum of the three
alone, for the harness with Keras's lane in a worker process as the CLI runs it, on a thread,
and one after another), and each implementation's achieved
GFLOP/s as a fraction of a plain NumPy GEMM's. Random inputs stand in for MNIST (a step's cost
does not depend on the pixel values). --end-to-end also times whole commands (`python -m compare
mnist`, `parity`, `mnist-small`, in lanes and sequentially); --sweep the harness's cost over
widths and batch sizes (bench/sweep.py: a table and a PNG).
--only float64/128 measures one case; --code DIR imports `compare` (and scratch, reference) from
another checkout, so that two versions are measured by the same script, back to back:

    for i in 1 2 3; do python bench/step_time.py --only float64/128 --code /path/to/old
                       python bench/step_time.py --only float64/128; done
Left out: GPUs; no timing is asserted anywhere in the test suite.
"""
import argparse
import json
import os
import subprocess
import sys
import time

CODE = (sys.argv[sys.argv.index("--code") + 1] if "--code" in sys.argv[:-1]
        else os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.abspath(CODE))          # the checkout measured (--code), else this one
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from tabulate import tabulate  # noqa: E402

from compare.engine import convert, frameworks, harness, registry, worker  # noqa: E402
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


def lockstep_ms(spec, m, steps, mode="worker"):
    """ms per step of the whole harness (every runner, every comparison) on random data, timed
    between the first and the last step's callback (building the models is left out).
    mode: 'worker' (Keras's lane in a worker process, as `python -m compare` runs), 'lanes' (on a
    thread of this process), 'sequential' (one implementation after another)."""
    rng = np.random.default_rng(2)
    n = m * 4
    data = Data(X=rng.random((n, 784)), Y=one_hot(rng.integers(0, 10, n)), X_eval=rng.random((2, 784)))
    stamps = []
    subjects, references = [registry.get("scratch")], [registry.require(n) for n in ("torch", "keras")]
    if mode == "worker":
        worker.start(("keras",))
    try:
        harness.lockstep(spec.replace(steps=steps + 1, batch_size=m, shuffle=True), data, subjects, references,
                         on_step=lambda result: stamps.append(time.perf_counter()), sequential=mode == "sequential")
    finally:
        worker.discard_pending()
    return 1000 * (stamps[-1] - stamps[0]) / steps


COMMANDS = {"mnist": ["mnist"], "parity": ["parity"], "mnist-small": ["mnist-small"]}


MODES = {"worker": {}, "lanes": {"FRAMEWORK_MIRROR_WORKER": "0"}, "sequential": {"FRAMEWORK_MIRROR_SEQUENTIAL": "1"}}


def end_to_end(repeat=1):
    """Wall seconds of whole commands, imports included: {command: {'worker': s, 'lanes': s,
    'sequential': s}} (the fastest of `repeat`, the modes alternated so that a busy machine slows
    them alike)."""
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = {}
    for name, argv in COMMANDS.items():
        best = {}
        for _ in range(repeat):
            for mode, settings in MODES.items():
                env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **settings)
                start = time.perf_counter()
                subprocess.run([sys.executable, "-m", "compare", *argv, "--quiet"], cwd=repo, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
                best[mode] = min(best.get(mode, float("inf")), time.perf_counter() - start)
        out[name] = best
        print(f"{name}: " + ", ".join(f"{best[mode]:.1f} s {mode}" for mode in MODES), flush=True)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", help="write the measurements here")
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--threads", type=int, help="threads per library; 0: each library's own default "
                   "(default: what `python -m compare mnist` uses)")
    p.add_argument("--end-to-end", action="store_true", help="also time whole commands (minutes)")
    p.add_argument("--sweep", action="store_true", help="also sweep widths and batch sizes (minutes)")
    p.add_argument("--sweep-png", default="bench/sweep.png", help="where the sweep's plot goes")
    p.add_argument("--sweep-widths", default="128,512,2048", help="hidden widths of the sweep")
    p.add_argument("--sweep-batches", default="32,256,4096", help="batch sizes of the sweep")
    p.add_argument("--skip-steps", action="store_true", help="only the sweep / end-to-end figures")
    p.add_argument("--only", help="one case, e.g. float64/128 (default: float64 and float32, batches 128 and 1024)")
    p.add_argument("--lockstep-steps", type=int, default=40, help="steps timed per lockstep run (default 40)")
    p.add_argument("--code", help="measure the compare package of this checkout (default: this one's)")
    args = p.parse_args(argv)
    threads = frameworks.default_threads(get("mnist").spec) if args.threads is None else (args.threads or None)
    frameworks.configure_threads(threads, ("torch", "keras"))
    base = get("mnist").spec
    result = {"ms_per_step": {}, "lockstep_ms_per_step": {}, "gemm_gflops": {}, "gflops": {},
              "lockstep_lanes_ms_per_step": {}, "lockstep_sequential_ms_per_step": {}, "threads_per_library": threads, "environment": None}
    rows = []
    cases = [(d, m) for d in ("float64", "float32") for m in (128, 1024)]
    if args.only:
        dtype, _, batch = args.only.partition("/")
        cases = [(dtype, int(batch))]
    result["code"] = os.path.abspath(CODE)
    for dtype in dict.fromkeys(d for d, _ in cases):
        result["gemm_gflops"][dtype] = peak = gemm_gflops(dtype, args.repeat)
        for m in () if args.skip_steps else [b for d, b in cases if d == dtype]:
            spec = base.replace(dtype=dtype)
            key = f"{dtype}/batch{m}"
            times = {name: best_ms(fn, args.repeat) for name, fn in implementations(spec, m, dtype).items()}
            locked, threaded, one_by_one = (lockstep_ms(spec, m, args.lockstep_steps, mode) for mode in ("worker", "lanes", "sequential"))
            result["ms_per_step"][key] = times
            result["lockstep_ms_per_step"][key] = locked
            result["lockstep_lanes_ms_per_step"][key] = threaded
            result["lockstep_sequential_ms_per_step"][key] = one_by_one
            result["gflops"][key] = {k: step_flops(m) / (t / 1000) / 1e9 for k, t in times.items()}
            alone = sum(times.values()) + times["scratch"]   # the harness runs scratch twice (two conventions)
            rows.append([key] + [f"{times.get(k, float('nan')):.2f}" for k in ("scratch", "torch", "keras")]
                        + [f"{locked:.2f}", f"{times['scratch'] / times['torch']:.2f}" if "torch" in times else "-",
                           f"{times['keras'] / times['torch']:.2f}" if "keras" in times else "-",
                           f"{locked / alone:.2f}", f"{threaded / alone:.2f}", f"{one_by_one / alone:.2f}"]
                        + [f"{result['gflops'][key][k] / peak:.0%}" for k in ("scratch", "torch", "keras") if k in times])
    result["environment"] = frameworks.environment(("scratch", "torch", "keras"))
    headers = ["dtype/batch", "scratch ms", "torch ms", "keras ms", "lockstep ms", "scratch/torch", "keras/torch",
               "lockstep/alone", "threads/alone", "sequential/alone", "scratch %GEMM", "torch %GEMM", "keras %GEMM"]
    print(tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True))
    print("GEMM GFLOP/s (numpy 1024^3): " + ", ".join(f"{k} {v:.1f}" for k, v in result["gemm_gflops"].items()))
    print("lockstep/alone: the harness's step (Keras's lane in the worker process, as the CLI runs it) over\n"
          "scratch x2 (both conventions) + torch + keras run alone; threads/alone: that lane on a thread instead")
    print(f"threads per library: {threads or 'each library default'}; code: {result['code']}")
    if args.end_to_end:
        result["end_to_end_s"] = end_to_end()
    if args.sweep:
        import sweep

        widths, batches = ([int(v) for v in text.split(",")] for text in (args.sweep_widths, args.sweep_batches))
        result["sweep"] = rows = sweep.sweep(result["gemm_gflops"]["float64"], widths, batches)
        print(sweep.table(rows))
        sweep.plot(rows, args.sweep_png)
        print(f"sweep plot: {args.sweep_png}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
