"""The one door between this package and a user's code: every call into it goes through a Boundary.

    door = Boundary(seed, owner)                     # one per user implementation run (and per import)
    with door.calling("forward_prop", forward_prop):
        result = forward_prop(W1, b1, W2, b2, X)

What the door guarantees, whatever the user's code does:

- **It cannot end the run.** `sys.exit(0)`, `exit()`, `raise SystemExit(2)` and any other
  BaseException (a class of the user's own that derives from BaseException) raised inside become
  UserCodeFailed, an ordinary Exception: the implementation's failure (verdict 'error', exit 1),
  reported as "your forward_prop called sys.exit(0)" at the user's file and line. KeyboardInterrupt
  passes through (Ctrl-C is the person's, not the code's: exit 130). os._exit and signals cannot be
  caught inside the process: the supervising parent process handles those.
- **It cannot take the verdict's voice.** A sys.stdout or sys.stderr the call closed or replaced
  is put back after it (and the file descriptors 1 and 2, if the call closed or redirected them),
  and the owner's `events` note what was put back.
- **It draws its own random numbers, reproducibly.** Inside the door NumPy's global generator
  (np.random.*), Python's `random` and torch's global generator (when torch is imported) hold the
  door's own states, seeded once from the run's seed; after the call the door keeps the states the
  user's code left and puts the caller's back. So an unseeded `np.random.rand` in init_params gives
  the same weights run after run (the stream the user's program would see after np.random.seed(seed)),
  and the caller's generators are as they were.
- **It cannot replace the judge's tools.** Python's builtins replaced inside are put back as the
  call ends, and the name is reported as the implementation's failure; the rest of what the judge
  is made of (NumPy, this package) is compared after each step (compare/engine/integrity.py).
- **Its failures are told at the user's line.** An exception leaving the user's code is marked with
  the frames up to the last one in the user's own files (`remote_frames`, read by
  engine.judge.describe_exception as it reads the worker's), so the report names the user's line,
  never one inside NumPy, torch or this package.

Two checks running on two threads take turns at the door (a lock): each call's swap of the global
generators and streams is whole, so each check's draws are its own.

Left out: generators the user makes (np.random.default_rng() with no seed draws from the
operating system's entropy); TensorFlow's global seed; threads the user's code starts.
"""
import contextlib
import linecache
import os
import random
import sys
import sysconfig
import threading
import traceback

import numpy as np

from ..engine import integrity
from ..engine.errors import UserCodeFailed  # noqa: F401 - raised here, defined with the other endings

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGE_DIRS = tuple(os.path.join(ROOT, name) + os.sep for name in ("compare", "scratch", "reference"))


def library_dirs():
    """Folders of the interpreter's own and installed code (the standard library, site-packages,
    dist-packages): a frame there is not the user's. Not the prefixes themselves: a user's project
    may live under /usr/local."""
    paths = {sysconfig.get_paths().get(key) for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    paths |= {p for p in sys.path if os.path.basename(p.rstrip(os.sep)) in ("site-packages", "dist-packages")}
    return tuple(os.path.abspath(p) + os.sep for p in paths if p)


LIBRARY_DIRS = library_dirs()
DOOR_LOCK = threading.RLock()     # two checks on two threads: each door's swap of the global generators is whole


def is_user_file(filename):
    """Whether a frame's file is the user's: not this package, not the standard library or an
    installed package, not a frozen or generated module."""
    if not filename or filename.startswith("<"):
        return False
    path = os.path.abspath(filename)
    return not path.startswith(PACKAGE_DIRS) and not path.startswith(LIBRARY_DIRS)


def user_frames(tb):
    """The traceback's frames up to the last one in the user's files ([] when there is none)."""
    frames = traceback.extract_tb(tb)
    last = max((i for i, f in enumerate(frames) if is_user_file(f.filename)), default=None)
    return [] if last is None else frames[:last + 1]


def place(frame):
    return f"{frame.filename}:{frame.lineno}"


def describe_exit(error, role, frames):
    """"forward_prop called sys.exit(0)" / "forward_prop raised MyStop (a BaseException)", at the line."""
    at = f" at {place(frames[-1])}" if frames else ""
    if isinstance(error, SystemExit):
        call = "exit() or sys.exit()" if error.code is None else f"sys.exit({error.code!r})"
        return f"your {role} called {call}{at}: the implementation ended instead of returning"
    return f"your {role} raised {type(error).__name__} (a BaseException, not an Exception){at}"


def code_of(function):
    """The code object behind a function, a method, a functools.partial or a callable object; or None."""
    for _ in range(4):
        code = getattr(getattr(function, "__func__", function), "__code__", None)
        if code is not None:
            return code
        function = getattr(function, "func", None) or getattr(type(function), "__call__", None)
        if function is None:
            return None
    return None


def function_place(function):
    """'file.py:line' of a function's definition, or None (a builtin)."""
    code = code_of(function)
    return f"{code.co_filename}:{code.co_firstlineno}" if code is not None else None


def function_frames(function, line=None):
    """One frame at the function's definition (or at `line` of its file): where a bad value it
    returned is reported."""
    code = code_of(function)
    if code is None:
        return []
    lineno = line or code.co_firstlineno
    return [traceback.FrameSummary(code.co_filename, lineno, code.co_name,
                                   line=linecache.getline(code.co_filename, lineno).strip())]


class Streams:
    """sys.stdout / sys.stderr and file descriptors 1 and 2 as they were before a call; put back after."""

    def __init__(self):
        self.objects = (sys.stdout, sys.stderr)
        self.fds = {}
        for fd in (1, 2):
            try:
                self.fds[fd] = (os.dup(fd), identity(fd))
            except OSError:                        # not open before the call: nothing to put back
                pass

    def restore(self):
        """-> [what was put back, in words]"""
        changed = []
        for fd, (copy, before) in self.fds.items():
            try:
                if identity(fd) != before:
                    os.dup2(copy, fd)
                    changed.append(f"file descriptor {fd} ({'stdout' if fd == 1 else 'stderr'})")
                os.close(copy)
            except OSError:                        # the call closed our copy too (a loop closing every fd)
                changed.append(f"file descriptor {fd} ({'stdout' if fd == 1 else 'stderr'}: closed, with the copy "
                               f"kept to put it back)")
        for name, before in zip(("stdout", "stderr"), self.objects):
            now = getattr(sys, name)
            if now is not before:
                setattr(sys, name, before)
                changed.append(f"sys.{name} (replaced)")
            if getattr(before, "closed", False):
                setattr(sys, name, reopened(before, 1 if name == "stdout" else 2))
                changed.append(f"sys.{name} (closed)")
        return changed


def identity(fd):
    """What a file descriptor points at (device, inode), or None when it is closed."""
    try:
        st = os.fstat(fd)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def reopened(stream, fd):
    """A new text stream on `fd` with the closed one's encoding and buffering."""
    return open(fd, "w", closefd=False, encoding=getattr(stream, "encoding", None) or "utf-8",
                errors=getattr(stream, "errors", None) or "strict",
                buffering=1 if getattr(stream, "line_buffering", False) else -1)


class Generators:
    """The states of the global generators a user's code may draw from: NumPy's, Python's random's,
    torch's (only when torch is imported: a NumPy-only check never imports it)."""

    @staticmethod
    def current():
        torch = sys.modules.get("torch")
        return (np.random.get_state(), random.getstate(),
                torch.get_rng_state() if torch is not None and hasattr(torch, "get_rng_state") else None)

    @staticmethod
    def seeded(seed):
        torch = sys.modules.get("torch")
        state = None
        if torch is not None and hasattr(torch, "Generator"):
            state = torch.Generator().manual_seed(int(seed)).get_state()
        return (np.random.RandomState(int(seed)).get_state(), random.Random(int(seed)).getstate(), state)

    @staticmethod
    def install(states):
        numpy_state, python_state, torch_state = states
        np.random.set_state(numpy_state)
        random.setstate(python_state)
        torch = sys.modules.get("torch")
        if torch_state is not None and torch is not None:
            torch.set_rng_state(torch_state)


class Boundary:
    """The door to one user implementation's code (see the module docstring). seed: the run's seed
    (None: the generators are left alone). owner: an object with an `events` list (what the door
    put back), or None."""

    def __init__(self, seed=None, owner=None):
        self.seed, self.owner = seed, owner
        self.states = Generators.seeded(seed) if seed is not None else None

    @contextlib.contextmanager
    def calling(self, role, function=None):
        """Run the with-block as a call into the user's code named `role` ('forward_prop').
        function: the user's function the failure is told at when none of the traceback's frames is
        in the user's files (torch's loss refusing the shape of what the user's forward returned)."""
        with DOOR_LOCK:                            # the generators and streams are the process's: one door at a time
            with self.opened(role, function):
                yield

    @contextlib.contextmanager
    def opened(self, role, function):
        """calling's work, under the lock."""
        caller_states = None
        if self.states is not None:
            caller_states = Generators.current()
            if self.states[2] is None and caller_states[2] is not None:    # torch imported since: seeded too
                self.states = (*self.states[:2], Generators.seeded(self.seed)[2])
            Generators.install(self.states)
        streams = Streams()
        try:
            yield
        except (KeyboardInterrupt, UserCodeFailed):
            raise
        except Exception as error:
            mark(error, function)
            raise
        except BaseException as error:            # sys.exit, exit(), a user's BaseException subclass
            frames = user_frames(error.__traceback__)
            raise UserCodeFailed(describe_exit(error, role, frames), type(error).__name__, frames) from None
        finally:
            integrity.put_back()                   # Python's builtins, which the lines below use (integrity.py)
            if self.states is not None:
                self.states = Generators.current()
                Generators.install(caller_states)
            changed = streams.restore()
            if changed and self.owner is not None:
                note = f"your {role} closed or replaced {', '.join(changed)}: put back after the call"
                if note not in self.owner.events:
                    self.owner.events.append(note)

    def call(self, role, function, *args, **kwargs):
        with self.calling(role):
            return function(*args, **kwargs)


def mark(error, function=None):
    """An ordinary exception from the user's code: its frames up to the user's last line kept as
    remote_frames (the report names that line, not one inside NumPy or this package); with no
    frame of the user's, the definition of `function` (if given)."""
    if getattr(error, "remote_frames", None):
        return
    frames = user_frames(error.__traceback__) or (function_frames(function) if function is not None else [])
    if frames and len(frames) < len(traceback.extract_tb(error.__traceback__)) + (not user_frames(error.__traceback__)):
        try:
            error.remote_frames = [(f.filename, f.lineno, f.name, f.line) for f in frames]
        except (AttributeError, TypeError):        # an exception that takes no attributes: left as it is
            pass
