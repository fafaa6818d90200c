"""The second lane in a process of its own: Keras and JAX, and scratch in their conventions, step
in a worker process while torch and scratch step in this one.

Why a process: the two lanes of compare/engine/lanes.py share one interpreter lock. Each step of
the mnist network spends a few milliseconds of Python (torch's autograd glue, Keras's function
call, reading the records, the comparisons) holding it, so two threads ran a step in 0.7 of the
time of one, not 0.5; and importing TensorFlow (3.5 s) and torch with the modules its optimizers
load (3.7 s) is pure Python, one after the other in one process. In a worker, TensorFlow imports
while torch does, and the Keras lane steps while the torch lane steps.

Nothing about the numbers changes: the worker runs the same implementations (compare/implementations),
built from the same spec and initial parameters (pickled: exact), with the same one thread per
library (frameworks.configure_threads), on the same batches; the records come back as the very
bits the worker computed. The float64 report is bit-identical to the sequential harness's
(tests/test_speed.py runs the CLI both ways).

How the data moves: control messages are pickled over a socket pair; the arrays do not travel
through it. A step's batch is written by this process into a shared-memory block the worker reads
(a whole-batch run writes it once), and the worker writes its runners' records end to end into
one of two blocks that this process reads in place (two, since the harness still reads the
previous step's records while the next step runs). A block is a file in /dev/shm (or the temp
directory where /dev/shm is small), unlinked as soon as the other side has mapped it.

The worker ignores the terminal's Ctrl-C (it runs in a session of its own): this process turns the
signal into an 'interrupted' report and stops the worker; if this process dies, the worker reads
the end of the socket and exits.

When: `python -m compare` starts one (`start`) for a run of the built-in implementations with Keras
and torch or JAX named, one thread per library, two or more cores, no injected bug, and not
FRAMEWORK_MIRROR_SEQUENTIAL=1 or FRAMEWORK_MIRROR_WORKER=0; the run's lanes take it
(lanes.Lanes.for_run, `take`) and fall back to a thread (importing Keras in this process) where
they cannot use it. Only lanes.py talks to the worker: the harness's loop sees `Lanes` alone. The Python
API and in-process calls of compare.cli.main run without one (a test may patch Keras there).

The worker's two built-ins share the batch, the masks and predict's inputs; it hands them read-only
views (guard.py trusts the built-ins; a write would raise at once).

Left out: Windows (os.fork is the sign of a POSIX system here: the threads of lanes.py run there);
user implementations in the worker (a user's code may share state between its objects).
"""
import json
import mmap
import os
import pickle
import socket
import subprocess
import sys
import tempfile
import traceback
from multiprocessing.connection import Connection

import numpy as np

ALIGN = 64                    # bytes: every array in a block starts on a cache line
PENDING = []                  # the worker the CLI started, until the harness takes it
ENABLED = []                  # [True] once `python -m compare` runs (enable); in-process main() calls
                              # (tests, scripts) keep Keras in this process, where they can patch it


def enable():
    """Let CLI runs of this process use a worker (compare/__main__.py)."""
    ENABLED[:] = [True]


class WorkerFailed(RuntimeError):
    """The worker process itself failed (not an implementation inside it): an internal error."""


class RemoteError(Exception):
    """An exception raised inside an implementation in the worker that could not be pickled:
    its type's name, message and frames."""

    def __init__(self, type_name, message):
        super().__init__(message)
        self.remote_type = type_name


# ---------------------------------------------------------------- shared-memory blocks

def block_directory(size):
    """/dev/shm where it has room (memory), else the temp directory (disk, through the page cache)."""
    for directory in ("/dev/shm", tempfile.gettempdir()):
        try:
            stat = os.statvfs(directory)
        except OSError:
            continue
        if stat.f_bavail * stat.f_frsize > 2 * size + (256 << 20):
            return directory
    raise OSError(f"no room for a {size / 2**20:.0f} MiB shared block in /dev/shm or {tempfile.gettempdir()}")


def create_block(size):
    """A new shared block of `size` bytes. -> (path, mmap)"""
    size = max(size, ALIGN)
    fd, path = tempfile.mkstemp(prefix="framework-mirror-", dir=block_directory(size))
    try:
        os.ftruncate(fd, size)
        return path, mmap.mmap(fd, size)
    finally:
        os.close(fd)


def attach_block(path, size):
    """Map a block the other process created, and unlink its file (the mapping stays). -> mmap"""
    fd = os.open(path, os.O_RDWR)
    try:
        return mmap.mmap(fd, size)
    finally:
        os.close(fd)
        os.unlink(path)


def layout_of(arrays):
    """{name: (offset, dtype, shape, order)} for arrays laid end to end, each aligned; a transposed
    view (Keras's kernels in the scratch layout) keeps its column-major order: written as it lies
    in memory, not transposed (7x faster for a 784 x 128 matrix). -> (layout, total bytes)"""
    layout, offset = {}, 0
    for name, array in arrays.items():
        order = "F" if array.flags.f_contiguous and not array.flags.c_contiguous else "C"
        layout[name] = (offset, array.dtype.str, array.shape, order)
        offset += -(-array.nbytes // ALIGN) * ALIGN
    return layout, offset


def write_arrays(buffer, layout, arrays):
    for name, array in arrays.items():
        offset, dtype, shape, order = layout[name]
        np.copyto(np.ndarray(shape, dtype, buffer, offset, order=order), array, casting="no")


def read_arrays(buffer, layout):
    """Views into the block, no copy: {name: array}."""
    return {name: np.ndarray(shape, dtype, buffer, offset, order=order)
            for name, (offset, dtype, shape, order) in layout.items()}


class Outbox:
    """Blocks this side writes arrays into for the other side (slots: how many can be in use at
    once). put(arrays) -> a message part: (path or None if the other side has the block mapped,
    size, layout)."""

    def __init__(self, slots):
        self.blocks = [None] * slots              # [(path, size, mmap)]
        self.turn = 0

    def put(self, arrays):
        arrays = {name: np.asarray(a) for name, a in arrays.items()}
        layout, size = layout_of(arrays)
        slot, self.turn = self.turn, (self.turn + 1) % len(self.blocks)
        fresh = None
        if self.blocks[slot] is None or self.blocks[slot][1] < size:
            path, memory = create_block(size + size // 4)
            self.blocks[slot] = (path, len(memory), memory)
            fresh = path
        path, capacity, memory = self.blocks[slot]
        write_arrays(memory, layout, arrays)
        return (slot, fresh, capacity, layout)

    def discard(self):
        """Unlink the files the other side never mapped (it died, or the run ended first)."""
        for block in self.blocks:
            if block is not None and os.path.exists(block[0]):
                try:
                    os.unlink(block[0])
                except OSError:
                    pass


class Inbox:
    """The other side's blocks, mapped as they arrive. get(part) -> {name: view}"""

    def __init__(self):
        self.blocks = {}

    def get(self, part):
        slot, fresh, capacity, layout = part
        if fresh is not None:
            self.blocks[slot] = attach_block(fresh, capacity)
        return read_arrays(self.blocks[slot], layout)


# ---------------------------------------------------------------- this process's side

# The frameworks whose lane runs in the worker (their runners and scratch in their conventions);
# the others run in this process. JAX's lane runs there, beside Keras's: this process keeps torch's
# lane and the judging, the worker compares the pairs within its lane (keras, jax, keras~jax).
# FRAMEWORK_MIRROR_JAX_LANE=main keeps it here, beside torch's (docs/performance.md measures both).
WORKER_FRAMEWORKS = ("keras",) if os.environ.get("FRAMEWORK_MIRROR_JAX_LANE") == "main" else ("keras", "jax")
BUILTINS = {"scratch", "torch", "keras", "jax"}


def remote_frameworks(frameworks):
    """The frameworks of a run whose lane is the second one (the worker's, or a thread's):
    WORKER_FRAMEWORKS named in `frameworks`, Keras's alone where the rest would leave this
    process nothing but scratch (scratch,keras,jax: JAX stays here)."""
    remote = tuple(f for f in WORKER_FRAMEWORKS if f in frameworks)
    if not set(frameworks) - set(remote) - {"scratch"} and "keras" in remote:
        remote = ("keras",)
    return remote


def wanted(frameworks, threads, inject_bug):
    """Whether a CLI run should start a worker (see the module docstring): built-ins only, Keras
    and at least one framework that stays in this process named."""
    from . import frameworks as fw

    names = set(frameworks)
    remote = set(remote_frameworks(names))
    if not ENABLED or not remote or not names - remote - {"scratch"} or not names <= BUILTINS or inject_bug:
        return False
    if os.environ.get("FRAMEWORK_MIRROR_SEQUENTIAL", "") not in ("", "0") or os.environ.get("FRAMEWORK_MIRROR_WORKER") == "0":
        return False
    if (threads or fw.MINI_BATCH_THREADS) != 1 or (os.cpu_count() or 1) < 2 or not hasattr(os, "fork"):
        return False
    import importlib.util
    return all(importlib.util.find_spec(m) is not None for m in ("tensorflow", "keras"))


def start(frameworks=("keras",), preload=()):
    """Start a worker that imports `frameworks` (registry names) now, while this process goes on;
    the next lockstep run takes it. preload: modules the worker imports first (tests). -> Worker"""
    worker = Worker(tuple(frameworks), tuple(preload))
    PENDING[:] = [worker]
    return worker


def take():
    """The worker the CLI started for this run, or None."""
    if not PENDING:
        return None
    worker = PENDING.pop()
    return worker


def pending_frameworks():
    """The frameworks the pending worker imports (this process need not). -> tuple"""
    return PENDING[0].frameworks if PENDING else ()


def discard_pending():
    """Stop a worker no run took (the run ended before it started: a wrong option, a signal)."""
    while PENDING:
        PENDING.pop().close(wait=0)


class Worker:
    """The worker process and the channel to it."""

    def __init__(self, frameworks, preload=()):
        ours, theirs = socket.socketpair()
        boot = ("import sys, json; sys.path[:0] = json.loads(sys.argv[1]); "
                "from compare.engine.worker import serve; serve(int(sys.argv[2]), json.loads(sys.argv[3]))")
        config = {"frameworks": list(frameworks), "preload": list(preload)}
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", boot, json.dumps([p for p in sys.path if p]), str(theirs.fileno()),
                 json.dumps(config)],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=None if os.environ.get("FRAMEWORK_MIRROR_WORKER_STDERR") else subprocess.DEVNULL,
                start_new_session=True, close_fds=True)
        finally:
            theirs.close()
        self.socket = ours
        self.conn = Connection(os.dup(ours.fileno()))
        self.frameworks, self.ready = frameworks, None
        self.outbox, self.inbox = Outbox(2), Inbox()
        self.inputs = Outbox(1)                      # predict's inputs (the test set: written once)
        self.sent_batch = self.sent_inputs = None    # the arrays last written (kept: `is` tells a resend)
        self.masks = {}                              # runner key -> this step's dropout masks
        self.in_flight = None                        # (keys, step) of a step sent and not yet received
        self.measured = {}                           # the pairs the worker compared in the last step
        self.origins = {}                            # id(record) -> (record, runner key, step): the last step's
        self.closed = False

    # -- the channel
    def ask(self, *message):
        self.send(*message)
        return self.receive()

    def send(self, *message):
        try:
            self.conn.send(message)
        except OSError as error:
            raise WorkerFailed(f"the worker process is gone ({self.gone()}): {error}") from None

    def receive(self):
        try:
            kind, value = self.conn.recv()
        except (EOFError, OSError):
            raise WorkerFailed(f"the worker process ended unexpectedly ({self.gone()})") from None
        if kind == "internal":
            raise WorkerFailed(f"the worker process failed: {value}")
        return value

    def gone(self):
        code = self.process.poll()
        return "still running" if code is None else f"exit status {code}"

    def wait_ready(self):
        """The worker's imports: {'unavailable': {name: why}, 'environment': {...}}."""
        if self.ready is None:
            self.ready = self.receive()
        return self.ready

    def unavailable(self, name):
        """Why the worker could not import framework `name` (the text registry.require gives), or None."""
        return self.wait_ready()["unavailable"].get(name)

    # -- the harness's calls
    def prepare(self, runners, spec):
        """Build `runners` ({key: Runner}) from `spec`'s initial parameters as soon as the worker's
        imports are done, before the harness asks (the CLI knows the spec first); start_build then
        finds them built if it asks for the very same (name, convention, spec and parameters), and
        builds afresh otherwise. A small message: it must not wait for the busy worker to read it."""
        self.send("prepare", [(key, r.entry.name, r.convention, r.spec) for key, r in runners.items()], spec)

    def start_build(self, runners, params, judge=None):
        """Start building `runners` ({key: Runner}) in the worker (it builds while this process
        builds its own). judge: (spec, [Pair] within these runners, rtol): pairs the worker
        compares after each step. Raises FrameworkUnavailable (exit 2) where the worker could not
        import one."""
        from .errors import FrameworkUnavailable

        for runner in runners.values():
            why = self.unavailable(runner.entry.name)
            if why:
                raise FrameworkUnavailable(why)
        self.send("build", [(key, r.entry.name, r.convention, r.spec) for key, r in runners.items()], params, judge)

    def finish_build(self):
        """-> {key: RemoteImplementation, or the exception its build raised (the first one ends the build)}"""
        return {key: RemoteImplementation(self, key, value["methods"]) if "methods" in value else value["error"]
                for key, value in self.receive().items()}

    def start_step(self, keys, Xb, Yb, step):
        """Send step `step` to the worker (it starts at once). -> a handle for finish_step"""
        if self.sent_batch is not None and self.sent_batch[0] is Xb and self.sent_batch[1] is Yb:
            batch = None                             # the whole batch again: the worker still has it
        else:
            batch = self.outbox.put({"X": Xb, "Y": Yb})
            self.sent_batch = (Xb, Yb)
        masks, self.masks = self.masks, {}
        self.send("step", list(keys), batch, masks, step)
        self.in_flight = (list(keys), step)
        return self.in_flight

    def finish_step(self, handle):
        """-> {key: record (views into a shared block) or the exception its step raised}; the pairs
        the worker compared are in self.measured ({pair key: (errors, flips)})"""
        keys, _ = handle
        part, outcomes, self.measured = self.receive()
        self.in_flight = None
        self.origins = {}
        arrays = self.inbox.get(part) if part is not None else {}
        done = {}
        for key in keys:
            if key not in outcomes:
                continue
            if outcomes[key] is None:                # a record: its arrays, named '<key>\0<tensor>' in the block
                prefix = key + "\0"
                done[key] = {name[len(prefix):]: value for name, value in arrays.items() if name.startswith(prefix)}
                self.origins[id(done[key])] = (done[key], key, handle[1])
            else:
                done[key] = outcomes[key]            # the exception its step raised
        return done

    def rewind(self, step):
        """Undo a step sent ahead (its result is dropped): every runner back to its state after
        `step`, as the final evaluation must see it."""
        if self.in_flight is not None:
            self.finish_step(self.in_flight)
            self.ask("rewind", step)

    def start_predict(self, keys, X):
        """Start predict(X) of the remote implementations `keys` (X written to shared memory once)."""
        if self.sent_inputs is None or self.sent_inputs[0] is not X:
            self.sent_inputs = (X, self.inputs.put({"X": X}))
            part = self.sent_inputs[1]
        else:
            part = (0, None) + self.sent_inputs[1][2:]          # mapped already on the other side
        self.send("predict", list(keys), part)

    def finish_predict(self):
        """-> {key: predict's value, or the exception it raised}"""
        return self.receive()

    def predict(self, key, X):
        self.start_predict([key], X)
        value = self.finish_predict()[key]
        if isinstance(value, Exception):
            raise value
        return value

    def resync(self, key, record):
        """The remote implementation's resync(record); a record of the worker's own last step is
        not sent back: the worker takes its own copy of it (the same numbers)."""
        origin = self.origins.get(id(record))
        if origin is not None and origin[0] is record:
            kind, value = self.ask("resync_from", key, origin[1], origin[2])
            if kind == "error":
                raise value
            return value
        return self.call(key, "resync", record)

    def call(self, key, method, *args):
        """A method of a remote implementation; its exception is raised here, as a local one would be."""
        kind, value = self.ask("call", key, method, args)
        if kind == "error":
            raise value
        return value

    def environment(self):
        return self.wait_ready()["environment"]

    def close(self, wait=0.02):
        """Stop the worker (given `wait` seconds to finish what it is doing), and clean up."""
        if self.closed:
            return
        self.closed = True
        try:
            self.conn.send(("close",))
        except OSError:
            pass
        try:
            self.process.wait(timeout=wait)
        except subprocess.TimeoutExpired:                # its interpreter's teardown (TensorFlow's) is not worth waiting for
            self.process.kill()
            self.process.wait()
        for closing in (self.conn.close, self.socket.close):
            try:
                closing()
            except OSError:
                pass
        self.outbox.discard()


class RemoteImplementation:
    """An implementation living in the worker, as the harness sees it: the optional methods of the
    protocol (compare/engine/protocol.py) where the real one has them (hasattr answers as for the
    real one); its steps go through Worker.start_step, not through `step`."""

    def __init__(self, worker, key, methods):
        self.worker, self.key, self.methods = worker, key, set(methods)

    def __getattr__(self, name):
        if name.startswith("__") or name not in self.__dict__.get("methods", ()):
            raise AttributeError(name)
        if name == "set_masks":
            return lambda masks: self.worker.masks.__setitem__(self.key, masks)
        if name == "predict":
            return lambda X: self.worker.predict(self.key, X)
        if name == "resync":
            return lambda record: self.worker.resync(self.key, record)
        return lambda *args: self.worker.call(self.key, name, *args)


def copied(record):
    """A record that outlives the next two steps (a kept step): the views copied out."""
    return {name: np.array(value) for name, value in record.items()}


# ---------------------------------------------------------------- the worker's side

def serve(fd, config):
    """The worker process: import the frameworks, then answer messages until 'close' or the end."""
    conn = Connection(fd)
    try:
        for module in config.get("preload", ()):
            __import__(module)
        from . import check, frameworks as fw
        from . import registry

        unavailable = {}
        for name in config["frameworks"]:
            try:
                registry.require(name)
            except Exception as error:              # noqa: BLE001 - reported to the harness as require would
                unavailable[name] = str(error)
        fw.configure_threads(fw.MINI_BATCH_THREADS, [n for n in config["frameworks"] if n not in unavailable])
        check.load_kernel_in_background()          # the first steps' pairs are compared by the harness meanwhile
        env = fw.environment(config["frameworks"])
        conn.send(("ready", {"unavailable": unavailable,
                             "environment": {k: v for k, v in env.items() if k in config["frameworks"]}}))
    except BaseException:                           # noqa: BLE001 - the harness reports it as an internal error
        send_quietly(conn, ("internal", traceback.format_exc(limit=-3)))
        return
    Server(conn).loop()


def send_quietly(conn, message):
    try:
        conn.send(message)
    except OSError:
        pass


class Server:
    def __init__(self, conn):
        self.conn, self.implementations = conn, {}
        self.outbox, self.inbox, self.inputs = Outbox(3), Inbox(), Inbox()
        self.batch = None
        self.history = {}                            # step -> {key: record}, the last two steps
        self.judge, self.layouts = None, {}          # (spec, pairs, rtol) the worker compares; their layouts
        self.prepared = {}                           # runners built before the harness asked (prepare)

    def loop(self):
        while True:
            try:
                message = self.conn.recv()
            except (EOFError, OSError):
                break
            if message[0] == "close":
                break
            if message[0] == "prepare":              # no answer: the harness's build asks later
                try:
                    from scratch.initializers import initial_params

                    plan, spec = message[1:]
                    self.prepared = self.build_all(plan, initial_params(
                        spec.sizes, spec.weight_init, spec.bias_init, spec.seed, spec.dtype, spec.fixed_params,
        kernels=spec.network.kernels()))
                except Exception:                   # noqa: BLE001 - the build proper will say what is wrong
                    self.prepared = {}
                continue
            try:
                reply = getattr(self, "on_" + message[0])(*message[1:])
            except BaseException:                   # noqa: BLE001 - the harness's side reports it
                send_quietly(self.conn, ("internal", traceback.format_exc(limit=-3)))
                break
            try:
                self.conn.send(("reply", reply))
            except OSError:
                break
        self.outbox.discard()

    def build_all(self, plan, params):
        """-> {key: ((name, convention, spec), params, implementation or the exception its build raised)}"""
        from . import registry

        built = {}
        for key, name, convention, spec in plan:
            try:
                implementation = registry.get(name).builder()(spec, [(W.copy(), b.copy()) for W, b in params], convention)
            except Exception as error:              # noqa: BLE001 - described by the harness, as a local one is
                built[key] = ((name, convention, spec), params, portable(error))
                break
            built[key] = ((name, convention, spec), params, implementation)
        return built

    def on_build(self, plan, params, judge):
        from . import protocol

        self.judge, self.layouts = judge, {}
        prepared, self.prepared = self.prepared, {}
        same = len(prepared) == len(plan) and all(
            key in prepared and prepared[key][0] == (name, convention, spec) and same_params(prepared[key][1], params)
            for key, name, convention, spec in plan)
        built = prepared if same else self.build_all(plan, params)
        out = {}
        for key, (_, _, implementation) in built.items():
            if isinstance(implementation, Exception):
                out[key] = {"error": implementation}
                break
            self.implementations[key] = implementation
            out[key] = {"methods": protocol.optional(implementation)}      # hasattr answered as there
        return out

    def on_step(self, keys, batch, masks, step):
        if batch is not None:
            arrays = self.inbox.get(batch)
            self.batch = (read_only(arrays["X"]), read_only(arrays["Y"]))
        for key, mask in masks.items():
            self.implementations[key].set_masks({l: read_only(m) for l, m in mask.items()})
        done = run_lane({k: Runner(v) for k, v in self.implementations.items()}, keys, *self.batch)
        records = {key: value for key, value in done.items() if not isinstance(value, Exception)}
        self.history = {s: r for s, r in self.history.items() if s == step - 1}
        self.history[step] = records
        part = self.outbox.put({f"{key}\0{name}": value for key, record in records.items()
                                for name, value in record.items()}) if records else None
        outcomes = {key: portable(value) if isinstance(value, Exception) else None for key, value in done.items()}
        return part, outcomes, self.measure(records, len(records) == len(done))

    def measure(self, records, complete):
        """The pairs within this lane compared, as the harness compares them (judge.measure_pair):
        {pair key: (errors, flips)}; {} where a record fails its checks (the harness reports it)."""
        from . import convert, names
        from .judge import measure_pair

        from .check import kernel_ready

        if not self.judge or not complete or not kernel_ready():
            return {}
        spec, pairs, rtol = self.judge
        try:
            for key, record in records.items():
                names.check_record(record, spec.n_layers, key)
            Y_columns = convert.rows_to_batch(self.batch[1])
            return {pair.key: measure_pair(spec, pair, records, Y_columns, self.layouts, rtol) for pair in pairs}
        except Exception:                           # noqa: BLE001 - the harness compares and reports it
            return {}

    def on_resync_from(self, key, source, step):
        return self.on_call(key, "resync", (self.history[step][source],))

    def on_rewind(self, step):
        for key, record in self.history[step].items():
            self.implementations[key].restore(record)

    def on_predict(self, keys, part):
        X, out = read_only(self.inputs.get(part)["X"]), {}
        for key in keys:
            try:
                out[key] = self.implementations[key].predict(X)
            except Exception as error:              # noqa: BLE001 - raised again on the harness's side
                out[key] = portable(error)
                break
        return out

    def on_call(self, key, method, args):
        try:
            return "value", getattr(self.implementations[key], method)(*args)
        except Exception as error:                  # noqa: BLE001 - raised again on the harness's side
            return "error", portable(error)


def read_only(array):
    """The array, read-only: the worker's built-ins share the batch, the masks and predict's inputs
    (guard.py trusts the built-ins; here a write would raise at once, at no cost)."""
    array.flags.writeable = False
    return array


def same_params(a, b):
    """Two lists of (W, b) equal in every bit (and dtype)."""
    return len(a) == len(b) and all(x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y)
                                    for pa, pb in zip(a, b) for x, y in zip(pa, pb))


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


class Runner:
    """What run_lane needs of a runner."""

    def __init__(self, implementation):
        self.implementation = implementation


def portable(error):
    """The exception as it can travel: itself with its frames attached, or a RemoteError."""
    frames = [(f.filename, f.lineno, f.name, f.line) for f in traceback.extract_tb(error.__traceback__)]
    try:
        error.remote_frames = frames
        pickle.dumps(error)
        return error
    except Exception:                               # noqa: BLE001 - an exception that does not pickle
        stand_in = RemoteError(type(error).__name__, str(error))
        stand_in.remote_frames = frames
        return stand_in
