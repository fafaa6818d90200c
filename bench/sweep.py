"""How the harness's cost grows with the work: a sweep of hidden widths and batch sizes.

For each width w (the network 784-w-64-10) and batch size m: every implementation's step alone
(scratch in both conventions, torch, Keras), the lockstep harness's step, their ratio, and
scratch's share of this machine's GEMM rate. Written as a table (and JSON rows) and a PNG plot.

    python bench/step_time.py --sweep [--sweep-png PATH]      (or sweep.main from Python)

Left out: float32 (the sweep is float64, the equivalence mode); timing assertions.
"""
import time

import numpy as np

from compare.data.mnist import one_hot
from compare.data.recipes import Data, get
from compare.engine import convert, harness, registry
from scratch.initializers import initial_params
from scratch.mlp import MLP

WIDTHS = (128, 512, 2048)
BATCHES = (32, 256, 4096)


def flops(sizes, m):
    """Forward 2*m*sum(n_in*n_out); backward about twice that (dW and dA_prev)."""
    return 3 * 2 * m * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def best_ms(fn, repeat):
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * min(times)


def alone_ms(spec, m, repeat):
    """{scratch, scratch@keras, torch, keras: ms per step alone} on one random batch."""
    from reference.keras_mlp import KerasMLP
    from reference.torch_mlp import TorchMLP

    rng = np.random.default_rng(1)
    X, Y = rng.random((m, spec.sizes[0])), one_hot(rng.integers(0, 10, m)).astype(np.float64)
    params = initial_params(spec.sizes, spec.weight_init, spec.bias_init, 0, spec.dtype)
    Xc, Yc = convert.rows_to_batch(X), convert.rows_to_batch(Y)
    scratch, scratch_keras = MLP(spec, params, "torch"), MLP(spec, params, "keras")
    model, kmodel = TorchMLP(spec, convert.to_torch(params)), KerasMLP(spec, convert.to_keras(params))
    steps = {"scratch": lambda: scratch.train_step(Xc, Yc), "scratch@keras": lambda: scratch_keras.train_step(Xc, Yc),
             "torch": lambda: model.train_step(X, Y), "keras": lambda: kmodel.train_step(X, Y)[1].numpy()}
    return {k: best_ms(fn, repeat) for k, fn in steps.items()}


def lockstep_ms(spec, m, steps, sequential=None):
    """ms per step of the whole harness on random data, between the first and last step's callback."""
    rng = np.random.default_rng(2)
    n = m * 4
    data = Data(X=rng.random((n, spec.sizes[0])), Y=one_hot(rng.integers(0, 10, n)).astype(np.float64),
                X_eval=rng.random((2, spec.sizes[0])))
    stamps = []
    subjects, references = [registry.get("scratch")], [registry.require(k) for k in ("torch", "keras")]
    harness.lockstep(spec.replace(steps=steps + 1, epochs=None, batch_size=m, shuffle=True), data, subjects, references,
                     on_step=lambda result: stamps.append(time.perf_counter()), sequential=sequential)
    return 1000 * (stamps[-1] - stamps[0]) / steps


def sweep(gemm_rate, widths=WIDTHS, batches=BATCHES, repeat=3, steps=6):
    """-> [row dict] for every (width, batch)."""
    rows = []
    for w in widths:
        spec = get("mnist").spec.replace(sizes=[784, w, 64, 10])
        for m in batches:
            alone = alone_ms(spec, m, repeat)
            locked = lockstep_ms(spec, m, steps)
            rows.append({"width": w, "batch": m, "alone_ms": alone, "sum_alone_ms": sum(alone.values()),
                         "lockstep_ms": locked, "lockstep_over_alone": locked / sum(alone.values()),
                         "scratch_share_of_gemm": flops(spec.sizes, m) / (alone["scratch"] / 1000) / 1e9 / gemm_rate})
            print(f"  width {w:5d} batch {m:5d}: lockstep {locked:9.2f} ms, alone {sum(alone.values()):9.2f} ms", flush=True)
    return rows


def table(rows):
    from tabulate import tabulate

    return tabulate([[r["width"], r["batch"], f"{r['sum_alone_ms']:.2f}", f"{r['lockstep_ms']:.2f}",
                      f"{r['lockstep_over_alone']:.2f}", f"{r['scratch_share_of_gemm']:.0%}"] for r in rows],
                    headers=["width", "batch", "alone ms (4 steps)", "lockstep ms", "lockstep/alone", "scratch %GEMM"],
                    tablefmt="github", disable_numparse=True)


def plot(rows, path):
    """Two panels: lockstep/alone and scratch's share of the GEMM rate, against the batch size, a line per width."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for w in sorted({r["width"] for r in rows}):
        mine = [r for r in rows if r["width"] == w]
        batch = [r["batch"] for r in mine]
        left.plot(batch, [r["lockstep_over_alone"] for r in mine], "o-", label=f"width {w}")
        right.plot(batch, [100 * r["scratch_share_of_gemm"] for r in mine], "o-", label=f"width {w}")
    left.axhline(1.0, color="grey", linewidth=0.8)
    left.set(xscale="log", xlabel="batch size", ylabel="lockstep step / sum of the four alone",
             title="harness cost relative to its work")
    right.set(xscale="log", xlabel="batch size", ylabel="% of NumPy's 1024^3 GEMM rate", title="scratch step alone")
    left.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
