"""Running the implementations of one lockstep step: one after another, or in two lanes at once.

NumPy, torch and TensorFlow release the interpreter lock inside their kernels, so on a machine
with two cores the step of one implementation can run while another's runs. `Lanes` splits the
runners of a run in two: the main thread runs the first lane (torch and scratch in torch's
conventions), one worker thread the second (Keras and scratch in Keras's). Each runner still
runs its own steps in order, on its own state, with the thread counts `frameworks.configure_threads`
set (TensorFlow's pools and NumPy's BLAS are process-wide; torch stays on the main thread, where
torch.set_num_threads applies), so every number is the one the sequential run computes: the
float64 report of a run is bit-identical either way (tests/test_speed.py). What can differ is
only which implementation is running when an interrupt arrives.

Lanes need one thread per library (what the CLI sets: frameworks.configure_threads(1)); with
each library's own pools of all cores, two lanes would put four spinning pools on two cores
(a Python caller who never set the threads gets the sequential harness). Only the built-in
implementations run in lanes: a user's code may share state between its objects (a global
random generator, a module-level cache) and runs one after another. So does every run with
`sequential=True` or FRAMEWORK_MIRROR_SEQUENTIAL=1, and every run on one core.

Comparisons start as soon as the runners they need are done (`first_pairs`): the pairs within
the first lane are compared while the second lane is still stepping.

With a worker process (compare/engine/worker.py, which the CLI starts), the second lane runs there
instead of on a thread: its runners are built there and step there, and their records come back
as views of shared memory.

Left out: overlapping the comparisons of step k with the compute of step k+1 (a step's non-finite
value or exception must stop the run before step k+1 changes any state the final evaluation
reads); more than two lanes (two cores).
"""
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import frameworks, registry


def concurrent_wanted(sequential):
    """Lanes unless asked not to (sequential=True, FRAMEWORK_MIRROR_SEQUENTIAL=1), on one core, or
    with the libraries' own thread pools (see above)."""
    if sequential is None:
        sequential = os.environ.get("FRAMEWORK_MIRROR_SEQUENTIAL", "") not in ("", "0")
    return not sequential and (os.cpu_count() or 1) > 1 and frameworks.CONFIGURED["threads"] == 1


class Lanes:
    """The runners of a run split in two lanes (or one). step(Xb, Yb) -> {key: record or exception}.
    remote: a started worker (worker.py) to run the second lane in, or None (a thread)."""

    def __init__(self, runners, sequential=None, remote=None):
        self.runners = runners
        builtin = all(any(r.entry is e for e in registry.BUILTIN) for r in runners.values())
        second = [k for k, r in runners.items() if r.convention == "keras"]
        first = [k for k in runners if k not in second]
        self.lanes = [first, second] if concurrent_wanted(sequential) and builtin and first and second else [list(runners)]
        frameworks.REMOTE.clear()
        if remote is not None and (len(self.lanes) == 1 or any(runners[k].entry.name not in remote.frameworks
                                                                 and runners[k].entry.name != "scratch"
                                                                 for k in self.lanes[1])):
            remote.close(wait=0)                       # it cannot run this lane: Keras in this process after all
            if any(r.entry.name == "keras" for r in runners.values()):
                frameworks.configure_threads(frameworks.CONFIGURED["threads"], ("keras",))
            remote = None
        self.remote = remote
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="lockstep-lane") if len(self.lanes) > 1 and not remote else None

    @property
    def concurrent(self):
        return self.pool is not None or self.remote is not None

    def build(self, params, spec=None, pairs=(), rtol=None):
        """Build every runner (the second lane's in the worker, while this process builds the first's;
        the worker also compares the pairs within its lane, `second_pairs`).
        -> {key: implementation, or the exception its build raised}, in the runners' order, ending
        at the first exception (as building one after another ends)"""
        remote = [k for k in self.lanes[-1]] if self.remote is not None else []
        if remote:
            self.remote.start_build({k: self.runners[k] for k in remote}, params,
                                    (spec, self.second_pairs(pairs), rtol) if spec is not None else None)
            frameworks.REMOTE.update(self.remote.environment())
        built = {}
        for key, runner in self.runners.items():
            if key in remote:
                continue
            try:
                built[key] = runner.entry.builder()(runner.spec, [(W.copy(), b.copy()) for W, b in params],
                                                    runner.convention)
            except Exception as error:                 # noqa: BLE001 - reported in runner order below
                built[key] = error
                break
        if remote:
            built.update(self.remote.finish_build())
        ordered = {}
        for key in self.runners:
            if key in built:
                ordered[key] = built[key]
                if isinstance(built[key], Exception):
                    break
        return ordered

    def kept(self, records):
        """Records that outlive the next steps (a kept step): the worker's views copied out."""
        if self.remote is None:
            return records
        return {key: {n: np.array(v) for n, v in r.items()} if key in self.lanes[-1] else r for key, r in records.items()}

    def first_pairs(self, pairs):
        """The pairs whose two runners are both in the first lane (comparable before the second is done)."""
        if not self.concurrent:
            return []
        first = set(self.lanes[0])
        return [p for p in pairs if p.ours in first and p.theirs in first]

    def second_pairs(self, pairs):
        """The pairs whose two runners are both in the worker's lane (the worker compares them)."""
        if self.remote is None:
            return []
        second = set(self.lanes[1])
        return [p for p in pairs if p.ours in second and p.theirs in second]

    def measured(self):
        """{pair key: (errors, flips)} of the pairs the worker compared in the step just finished."""
        return self.remote.measured if self.remote is not None else {}

    def predict(self, X):
        """predict(X) of every runner that has one, the worker's while this process does its own.
        -> {key: A} in the runners' order; the first exception (in that order) is raised"""
        remote = [k for k in self.lanes[-1] if hasattr(self.runners[k].implementation, "predict")] if self.remote else []
        if remote:
            self.remote.start_predict(remote, X)
        out = {}
        for key, runner in self.runners.items():
            if key not in remote and hasattr(runner.implementation, "predict"):
                try:
                    out[key] = runner.implementation.predict(X)
                except Exception as error:                 # noqa: BLE001 - whose it is, for the report
                    error.runner = key
                    raise
        if remote:
            out.update(self.remote.finish_predict())
        ordered = {key: out[key] for key in self.runners if key in out}
        for value in ordered.values():
            if isinstance(value, Exception):
                raise value
        return ordered

    @property
    def ahead(self):
        """Whether the second lane may start the next step before this one is judged (the worker:
        see train_built in harness.py; `settle` undoes a step started for nothing)."""
        return self.remote is not None

    def settle(self, step):
        """The run stopped after `step`: a step the worker started ahead is dropped and undone."""
        if self.remote is not None:
            self.remote.rewind(step)

    def start(self, Xb, Yb, step=None):
        """Start the second lane's step (if any). -> a handle for finish()"""
        if self.remote is not None:
            return self.remote.start_step(self.lanes[1], Xb, Yb, step)
        if not self.concurrent:
            return None
        return self.pool.submit(run_lane, self.runners, self.lanes[1], Xb, Yb)

    def run_first(self, Xb, Yb):
        """The first lane's step, on this thread. -> {key: record or the exception it raised}"""
        return run_lane(self.runners, self.lanes[0], Xb, Yb)

    def finish(self, handle, done):
        """Wait for the second lane; -> every runner's outcome, in the runners' order."""
        if self.remote is not None:
            done = {**done, **self.remote.finish_step(handle)}
        elif handle is not None:
            done = {**done, **handle.result()}
        return {k: done[k] for k in self.runners if k in done}

    def close(self):
        if self.pool is not None:
            self.pool.shutdown(wait=True)          # a step in flight finishes before the run returns
        if self.remote is not None:
            self.remote.close()


def run_lane(runners, keys, Xb, Yb):
    """Step the runners `keys` in order; the first exception ends the lane (as it ends the run).
    -> {key: record, or the exception}"""
    done = {}
    with np.errstate(all="ignore"):                 # errstate is per thread: the harness's, again
        for key in keys:
            try:
                done[key] = runners[key].implementation.step(Xb, Yb)
            except Exception as error:              # noqa: BLE001 - reported by the harness, in runner order
                done[key] = error
                break
    return done
