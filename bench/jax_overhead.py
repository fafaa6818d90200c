"""What JAX adds to a run: `python -m compare RECIPE` with scratch,torch,keras and then with
scratch,torch,keras,jax, back to back (each in a fresh process, as a user runs it), repeated;
prints each run's wall time and the run's own time (the report's timing.seconds: the lockstep
loop and the final evaluation, not imports or loading the data), and the ratio of the medians.

    python bench/jax_overhead.py [--recipe mnist] [--repeats 1] [--lane worker|main|both]

--lane worker (the default, as the CLI runs it) runs JAX's lane in the worker process beside
Keras's; main runs it in the main process beside torch's (FRAMEWORK_MIRROR_JAX_LANE=main); both
measures the 4-framework run each way. Real MNIST is read as the CLI reads it ($FRAMEWORK_MIRROR_MNIST or the shipped copy).
Left out: timing assertions (none anywhere in the tests); a quiet machine (say how loaded it was).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
THREE = "scratch,torch,keras"
FOUR = "scratch,torch,keras,jax"


def timed_run(recipe, frameworks, lane):
    """One `python -m compare RECIPE --frameworks F --quiet --json`. -> (wall s, run s, verdict)"""
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env["FRAMEWORK_MIRROR_JAX_LANE"] = lane
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "report.json")
        start = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "compare", recipe, "--frameworks", frameworks, "--quiet",
                                 "--json", path], cwd=REPO, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if result.returncode != 0:
            sys.exit(f"{recipe} --frameworks {frameworks} exited {result.returncode}: {result.stderr.strip()}")
        with open(path) as f:
            report = json.load(f)
    return wall, report["timing"]["seconds"], report["summary"]["verdict"]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipe", default="mnist")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--lane", choices=("main", "worker", "both"), default="worker")
    args = p.parse_args(argv)
    lanes = ("worker", "main") if args.lane == "both" else (args.lane,)
    runs = {(THREE, "main"): []} | {(FOUR, lane): [] for lane in lanes}
    print(f"{args.recipe}, {os.cpu_count()} cores, load average before: {os.getloadavg()[0]:.1f}")
    for repeat in range(args.repeats):
        for frameworks, lane in runs:
            wall, seconds, verdict = timed_run(args.recipe, frameworks, lane)
            runs[frameworks, lane].append((wall, seconds))
            jax_lane = f" (JAX's lane: {lane})" if frameworks == FOUR else ""
            print(f"  {frameworks:<22}{jax_lane:<24} wall {wall:6.1f} s   run {seconds:6.1f} s   {verdict}",
                  flush=True)
    base_wall = statistics.median(w for w, _ in runs[THREE, "main"])
    base_run = statistics.median(s for _, s in runs[THREE, "main"])
    for lane in lanes:
        wall = statistics.median(w for w, _ in runs[FOUR, lane])
        run = statistics.median(s for _, s in runs[FOUR, lane])
        print(f"4 frameworks / 3 (JAX's lane: {lane}, medians of {args.repeats}): wall {wall:.1f} / {base_wall:.1f} s "
              f"= {wall / base_wall:.2f}x, run {run:.1f} / {base_run:.1f} s = {run / base_run:.2f}x")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
