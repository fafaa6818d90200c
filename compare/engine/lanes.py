"""How the implementations of a lockstep run step: one interface, `Lanes`, in front of the
threads, the worker process and the shared memory that run them at once.

The harness's loop (compare/engine/harness.py) asks five things of it, and nothing else:

    lanes = Lanes.for_run(runners, sequential)   the lanes of a run (the worker the CLI started, if any)
    lanes.build(params, spec, pairs, rtol)       every runner built, each from its own copy of params
    lanes.step(batch, following, measure)        every runner's step on the batch -> (outcomes, measured)
    lanes.predict(X)                             every runner's predict -> {key: A}
    lanes.kept(records), lanes.settle(step)      records that outlive the step; the run's end

Behind it, NumPy, torch and TensorFlow release the interpreter lock inside their kernels, so on a
machine with two cores the step of one implementation can run while another's runs. `Lanes`
splits the runners of a run in two: the main thread runs the first lane (torch and scratch in
torch's conventions), the second lane (Keras and scratch in Keras's) runs in the worker process
the CLI started (compare/engine/worker.py: its runners are built there, step there, and their
records come back as views of shared memory), else on one worker thread. Each runner still runs
its own steps in order, on its own state, with the thread counts `frameworks.configure_threads`
set (TensorFlow's pools and NumPy's BLAS are process-wide; torch stays on the main thread, where
torch.set_num_threads applies), so every number is the one the sequential run computes: the
float64 report of a run is bit-identical either way (tests/test_speed.py, tests/test_worker.py).
What can differ is only which implementation is running when an interrupt arrives.

Two overlaps happen inside `step`, invisible to the loop but for their results: the pairs within
the first lane are compared (`measure`, the harness's) while the second lane is still stepping,
and the worker compares the pair within its own lane; and, with the worker, the `following` batch
(when the harness allows it: same epoch, no resync, not past the end) is sent before this step is
judged, so the worker steps on meanwhile. A run that stops early undoes that step (`settle`).

Lanes need one thread per library (what the CLI sets: frameworks.configure_threads(1)); with
each library's own pools of all cores, two lanes would put four spinning pools on two cores
(a Python caller who never set the threads gets the sequential harness). Only the built-in
implementations run in lanes: a user's code may share state between its objects (a global
random generator, a module-level cache) and runs one after another. So does every run with
`sequential=True` or FRAMEWORK_MIRROR_SEQUENTIAL=1, and every run on one core.

Every runner is built from its own copy of the initial parameters; a user's implementation is
wrapped by compare/engine/guard.py (its own copies of each step's inputs, checked after the step).

Left out: overlapping the comparisons of step k with the compute of step k+1 in this process (a
step's non-finite value or exception must stop the run before step k+1 changes any state the
final evaluation reads); more than two lanes (two cores).
"""
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import frameworks, guard, masks, registry, worker
from .worker import run_lane                 # a lane's steps, in order (the worker's lane too)


def concurrent_wanted(sequential):
    """Lanes unless asked not to (sequential=True, FRAMEWORK_MIRROR_SEQUENTIAL=1), on one core, or
    with the libraries' own thread pools (see above)."""
    if sequential is None:
        sequential = os.environ.get("FRAMEWORK_MIRROR_SEQUENTIAL", "") not in ("", "0")
    return not sequential and (os.cpu_count() or 1) > 1 and frameworks.CONFIGURED["threads"] == 1


class Lanes:
    """The runners of a run split in two lanes (or one): see the module docstring.
    remote: a started worker (worker.py) to run the second lane in, or None (a thread)."""

    def __init__(self, runners, sequential=None, remote=None):
        self.runners = runners
        builtin = all(any(r.entry is e for e in registry.BUILTIN) for r in runners.values())
        remote_names = worker.remote_frameworks({r.entry.name for r in runners.values()})
        second = [k for k, r in runners.items() if r.convention in remote_names]
        first = [k for k in runners if k not in second]
        self.lanes = [first, second] if concurrent_wanted(sequential) and builtin and first and second else [list(runners)]
        frameworks.REMOTE.clear()
        if remote is not None and (len(self.lanes) == 1 or any(runners[k].entry.name not in remote.frameworks
                                                                 and runners[k].entry.name != "scratch"
                                                                 for k in self.lanes[1])):
            remote.close(wait=0)                       # it cannot run this lane: Keras in this process after all
            local = [n for n in remote.frameworks if any(r.entry.name == n for r in runners.values())]
            if local:
                frameworks.configure_threads(frameworks.CONFIGURED["threads"], local)
            remote = None
        self.remote = remote
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="lockstep-lane") if len(self.lanes) > 1 and not remote else None
        self.pairs = []                                # the run's pairs (given to build)
        self.ahead = None                              # (batch, handle): the second lane's step started ahead

    @classmethod
    def for_run(cls, runners, sequential=None):
        """The lanes of a run, the second in the worker process the CLI started for it, if any."""
        return cls(runners, sequential, remote=worker.take())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def concurrent(self):
        return self.pool is not None or self.remote is not None

    def build(self, params, spec=None, pairs=(), rtol=None):
        """Build every runner (the second lane's in the worker, while this process builds the first's;
        the worker also compares the pairs within its lane, `second_pairs`).
        -> {key: implementation, or the exception its build raised}, in the runners' order, ending
        at the first exception (as building one after another ends)"""
        self.pairs = list(pairs)
        remote = [k for k in self.lanes[-1]] if self.remote is not None else []
        if remote:
            self.remote.start_build({k: self.runners[k] for k in remote}, params,
                                    (spec, self.second_pairs(pairs), rtol) if spec is not None else None)
            frameworks.REMOTE.update(self.remote.environment())
        built = {}
        for key, runner in self.runners.items():
            if key in remote:
                continue
            try:                                       # its own copy of the initial parameters; a user's code guarded
                built[key] = guard.wrap(runner, runner.entry.builder()(
                    runner.spec, [(W.copy(), b.copy()) for W, b in params], runner.convention))
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

    def step(self, batch, following=None, measure=None):
        """Every runner's step on `batch` (harness.Batch: step, X, Y, masks), its dropout masks
        handed out first. following: the next batch, when it may start before this one is judged
        (the worker then steps on while the harness judges). measure(records, pairs, batch) ->
        {pair key: (errors, flips)}: the harness's comparison, run on the first lane's pairs while
        the second lane still steps.
        -> ({key: record, or the exception its step raised} in the runners' order, ending at the
        first exception; {pair key: (errors, flips)} of the pairs compared already)"""
        if self.ahead is not None and self.ahead[0] is batch:
            handle = self.ahead[1]
        else:
            handle = self.start(batch)
        self.ahead = None
        done = run_lane(self.runners, self.lanes[0], batch.X, batch.Y)
        measured = {}
        first = self.first_pairs(self.pairs)
        if measure is not None and first and all(not isinstance(v, Exception) for v in done.values()):
            measured = measure(done, first, batch)
        outcomes = self.finish(handle, done)
        measured.update(self.measured())           # the pairs the worker process compared
        if (following is not None and self.remote is not None
                and not any(isinstance(v, Exception) for v in outcomes.values())):
            self.ahead = (following, self.start(following))
        return outcomes, measured

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
        -> {key: A} in the runners' order; the first exception (in that order) is raised, its
        runner's key in its `runner` attribute"""
        remote = [k for k in self.lanes[-1] if hasattr(self.runners[k].implementation, "predict")] if self.remote else []
        if remote:
            self.remote.start_predict(remote, X)
        out = {}
        for key, runner in self.runners.items():
            if key not in remote and hasattr(runner.implementation, "predict"):
                try:
                    out[key] = runner.implementation.predict(X)
                except Exception as error:             # noqa: BLE001 - raised below, in runner order
                    out[key] = error
                    break
        if remote:
            out.update(self.remote.finish_predict())
        ordered = {key: out[key] for key in self.runners if key in out}
        for key, value in ordered.items():
            if isinstance(value, Exception):
                value.runner = key
                raise value
        return ordered

    def settle(self, step):
        """The run stopped after `step`: a step the worker started ahead is dropped and undone
        (its runners `restore` the records of `step`), as the final evaluation must see them."""
        self.ahead = None
        if self.remote is not None:
            self.remote.rewind(step)

    def start(self, batch):
        """Hand out the batch's dropout masks and start the second lane's step (if any). -> a handle for finish()"""
        if batch.masks is not None:                # the same dropout masks for everyone (masks.py)
            masks.hand_out(self.runners, batch.masks)
        if self.remote is not None:
            return self.remote.start_step(self.lanes[1], batch.X, batch.Y, batch.step)
        if not self.concurrent:
            return None
        return self.pool.submit(run_lane, self.runners, self.lanes[1], batch.X, batch.Y)

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
