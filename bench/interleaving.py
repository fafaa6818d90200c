"""Where the lockstep harness's step goes: mean ms per step of each runner and of the
comparisons, measured inside `harness.lockstep` on the mnist network (random data).

    python bench/interleaving.py [--threads N] [--batch-size M] [--steps S]

--threads 0 keeps each library's default thread count; the default is what the CLI uses.
Left out: timing assertions (none anywhere in the tests).
"""
import argparse
import os
import sys
import time
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from compare.engine import frameworks, harness, judge, registry  # noqa: E402
from compare.implementations.reference import ReferenceImplementation  # noqa: E402
from compare.implementations.scratch import ScratchImplementation  # noqa: E402
from compare.data.mnist import one_hot  # noqa: E402
from compare.data.recipes import Data, get  # noqa: E402


def timed(times, key_of, function):
    """Wrap `function` so that each call's duration is added to times[key_of(args)]."""
    def wrapper(*args):
        start = time.perf_counter()
        result = function(*args)
        times[key_of(args)].append(time.perf_counter() - start)
        return result
    return wrapper


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=150)
    args = p.parse_args(argv)
    spec = get("mnist").spec.replace(batch_size=args.batch_size, steps=args.steps)
    threads = frameworks.default_threads(spec) if args.threads is None else (args.threads or None)
    frameworks.configure_threads(threads, ("torch", "keras"))
    times = defaultdict(list)
    ScratchImplementation.step = timed(times, lambda a: "scratch" if a[0].model.convention == "torch" else "scratch@keras",
                                       ScratchImplementation.step)
    ReferenceImplementation.step = timed(times, lambda a: a[0].framework, ReferenceImplementation.step)
    judge.cmp = timed(times, lambda a: "comparisons", judge.cmp)
    rng = np.random.default_rng(2)
    n = args.batch_size * (args.steps + 1)
    data = Data(X=rng.random((n, 784)), Y=one_hot(rng.integers(0, 10, n)), X_eval=rng.random((2, 784)))
    stamps = []
    harness.lockstep(spec, data, [registry.get("scratch")], [registry.require(n) for n in ("torch", "keras")],
                     on_step=lambda r: stamps.append(time.perf_counter()))
    skip = args.steps // 3                                       # warm-up: tracing, first allocations
    measured = len(stamps) - 1 - skip
    whole = 1000 * (stamps[-1] - stamps[skip]) / measured
    per_step = {k: 1000 * sum(v[len(v) * skip // args.steps:]) / measured for k, v in times.items()}
    print(f"threads per library: {threads or 'library defaults'}, batch {args.batch_size}, "
          f"{measured} steps measured: whole step {whole:.2f} ms; "
          + ", ".join(f"{k} {v:.2f}" for k, v in per_step.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
