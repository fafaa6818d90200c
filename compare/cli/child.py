"""The child's side of check's supervision (compare/cli/supervise.py has the whole design): what
the process that imports the user's file and runs the check tells its supervisor, and how.

  - on the status pipe (lines of JSON, each written whole): the last words (`say`: the verdict and
    what went wrong after it, printed by the supervisor once the child has ended), the reports
    written (`written`), how the user's code ended the process (`ended`: os._exit, a SystemExit or
    BaseException that left the check, with the user's file and line), and the exit code the tool
    chose (`exit`, from compare/__main__.py);
  - in a block of shared memory (`publish`, `read_state`): the calls into the user's code in
    flight (which implementation, build or step, since when) and the steps completed: a memory
    write per call, so thousands of steps a second cost nothing; the supervisor reads it to name
    a hang, a crash, or a call past --step-timeout;
  - `os._exit` is replaced by `user_exit`, which says who called it first; faulthandler writes a
    fatal signal's frames (and, on SIGUSR1, the frames of a hang) to a file the supervisor reads.

Outside the child (recipe runs, in-process calls, the supervisor) every function here does what
the unsupervised command did: `say` prints, `leave` exits, the rest does nothing.

Left out: deciding anything (the supervisor decides the exit code and writes the lines).
"""
import json
import os
import signal
import sys
import time

from ..engine import interrupts
from ..engine.errors import EXIT_MISMATCH
from ..views.text import hang

REAL_EXIT = os._exit
ROOTS = []                  # the folders of code that is not the user's (tool_roots), once known
STATE_BYTES = 1 << 16       # the block of shared memory holding the child's state
CHILD = {}                  # in the child: its pid, status pipe, shared block, saved stdout, state


def in_child():
    return CHILD.get("pid") == os.getpid()


def send(**message):
    """One message to the supervisor: a line of JSON on the status pipe (written whole). Only the
    tool speaks here: a call from the user's code (`child.say('PASS', verdict='pass')`) is dropped."""
    if not in_child() or from_user(2):
        return
    data = (json.dumps(message) + "\n").encode()
    try:
        while data:
            data = data[os.write(CHILD["fd"], data):]
    except OSError:                          # the supervisor is gone (the lifeline ends this process)
        pass


def say(text, stream=None, verdict=None):
    """Print the run's last words (the verdict, what went wrong after it): here, or in the child
    through the supervisor, which prints them after the child has ended."""
    stream = stream or sys.stdout
    if not in_child() or from_user(2):         # the user's code printing a verdict of its own: a print
        print(hang(text) if stream is sys.stderr else text, file=stream)   # an error: 100 columns
        return
    send(say=text, stream="err" if stream is sys.stderr else "out", verdict=verdict)


def leave(code):
    """End the process with `code` (compare/__main__.py); in the child, tell the supervisor first
    that the tool chose it."""
    if from_user(2):                           # the user's code choosing the tool's exit code: its os._exit
        user_exit(code, depth=2)
    send(exit=code)
    REAL_EXIT(code)


def escaped(error):
    """A SystemExit or BaseException that left the check in the child: your code ended it. Say
    where, end the child without an exit code of the tool's (the supervisor says the rest)."""
    import traceback

    frames = traceback.extract_tb(error.__traceback__)
    frame = next((f for f in reversed(frames) if is_user(f.filename)), None)
    what = f"{type(error).__name__}({error.code!r})" if isinstance(error, SystemExit) else \
        f"{type(error).__name__}: {error} (a BaseException, not an Exception)"
    send(ended=what, where=place(frame.filename, frame.lineno) if frame else None,
         function=frame.name if frame else None)
    flush_quietly()
    REAL_EXIT(EXIT_MISMATCH)


def from_user(depth):
    """Whether the function `depth` frames up (1: the caller of the function calling this) is the
    user's code."""
    try:
        return is_user(sys._getframe(depth).f_code.co_filename)
    except ValueError:                          # no such frame
        return False


def user_exit(status, depth=1):
    """os._exit in the child: say who called it and from where, then end the process."""
    if in_child():
        frame = sys._getframe(depth)
        send(ended=f"os._exit({status!r})", where=place(frame.f_code.co_filename, frame.f_lineno),
             function=frame.f_code.co_name)
    REAL_EXIT(status)


def calling(implementation, what, step=None):
    """`with calling('mine', 'step', 3):` the supervisor knows what runs (for a hang, a crash)."""
    return Calling(implementation, what, step)


class Calling:
    """A call into the user's code, noted in the shared state block while it runs."""

    def __init__(self, implementation, what, step):
        self.implementation, self.what, self.step = implementation, what, step

    def __enter__(self):
        if in_child():
            CHILD["active"][self.implementation] = (self.what, self.step, time.monotonic())
            publish()

    def __exit__(self, kind, error, tb):
        if in_child() and (kind is None or issubclass(kind, Exception)):   # not a SystemExit ending the
            CHILD["active"].pop(self.implementation, None)               # process: where it was stays
            publish()
        return False


def completed(step):
    """The harness completed step `step` (the child's on_step); published with the next call."""
    if in_child():
        CHILD["completed"] = step


def publish():
    """Write the child's state into the block the supervisor reads: a memory write, no system
    call (a few microseconds a call). Layout: 4 bytes of length, then lines of text: the steps
    completed, then one line per call in flight, `implementation (JSON) TAB what TAB step TAB
    since`; the supervisor keeps the last state it could read whole."""
    names = CHILD["names"]
    with CHILD["lock"]:
        lines = [str(CHILD["completed"])]
        for implementation, (what, step, since) in list(CHILD["active"].items()):
            if implementation not in names:
                names[implementation] = json.dumps(implementation)
            lines.append(f"{names[implementation]}\t{what}\t{step or 0}\t{since!r}")
        data = "\n".join(lines).encode()[:STATE_BYTES - 4]
        block = CHILD["block"]
        block[4:4 + len(data)] = data
        block[:4] = len(data).to_bytes(4, "little")


def read_state(block):
    """The child's state from the shared block (publish), or None if it is being written.
    -> (steps completed, {implementation: (what, step or None, since)})"""
    size = int.from_bytes(block[:4], "little")
    if not 0 < size <= STATE_BYTES - 4:
        return None
    try:
        first, *calls = bytes(block[4:4 + size]).decode().split("\n")
        active = {}
        for line in calls:
            name, what, step, since = line.split("\t")
            active[json.loads(name)] = (what, int(step) or None, float(since))
        return int(first), active
    except ValueError:
        return None


def watched(items):
    """Mark every call into the user's implementations (their build, init, steps, predictions)
    for the supervisor: `with calling(...)` around each. Nothing changes outside the child."""
    if not in_child():
        return items
    for item in items:
        for name in ("network", "initial_params", "build"):
            wrap_method(item, name, item.name, built=name == "build")
    return items


def wrap_method(owner, name, implementation, built=False):
    method = getattr(owner, name, None)
    if not callable(method):
        return
    count = [0]

    def wrapper(*args, **kwargs):
        count[0] += 1
        with calling(implementation, name, count[0] if name == "step" else None):
            result = method(*args, **kwargs)
        if built:
            for inner in ("step", "predict", "end_epoch", "resync"):
                wrap_method(result, inner, implementation)
        return result
    try:
        setattr(owner, name, wrapper)
    except (AttributeError, TypeError):        # an object that takes no attributes: not watched
        pass


def become_child(status_w, life_r, dump, block, quiet_stdout):
    """The child's setup, right after the fork: before any of the user's code runs."""
    import faulthandler
    import threading

    CHILD.update(fd=status_w, pid=os.getpid(), block=block, lock=threading.Lock(), active={}, completed=0,
                 names={})
    interrupts.install()                        # KeyboardInterrupt again (the supervisor's handlers forward)
    try:
        os.setpgid(0, 0)                        # a group of its own: the terminal's Ctrl-C reaches the supervisor
    except OSError:
        pass
    if quiet_stdout:                            # --json - or --quiet: everything printed goes to the standard error
        os.dup2(2, 1)
    CHILD["stdout"] = (sys.stdout, os.dup(1))
    faulthandler.enable(file=dump, all_threads=True)
    faulthandler.register(signal.SIGUSR1, file=dump, all_threads=True, chain=False)
    os._exit = user_exit
    threading.Thread(target=lifeline, args=(life_r,), name="supervisor-lifeline", daemon=True).start()


def lifeline(fd):
    """In the child: end the child's whole group when the supervisor dies (its end of the pipe closes)."""
    try:
        if os.read(fd, 1) == b"":
            os.killpg(0, signal.SIGKILL)
    except OSError:                            # the user's code closed the fd: nothing left to watch
        pass


def own_stdout():
    """In the child, before the tool prints: a standard output the user's code closed or replaced
    is put back (the fd too, if it was closed), so the tables and the verdict are not lost."""
    if not in_child():
        return
    original, saved = CHILD["stdout"]
    try:
        os.fstat(1)
    except OSError:
        os.dup2(saved, 1)
    if sys.stdout is not original or getattr(sys.stdout, "closed", True):
        sys.stdout = original if not original.closed else open(os.dup(saved), "w", buffering=1)


def flush_quietly():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass


# ---------------------------------------------------------------- where in the user's code

def tool_roots():
    import sysconfig

    import scratch

    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    roots = {here, os.path.dirname(os.path.abspath(scratch.__file__))}
    paths = sysconfig.get_paths()
    roots |= {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    return tuple(os.path.realpath(r) + os.sep for r in roots)


def is_user(filename):
    """Whether a frame's file is the user's (not this package, scratch, the standard library or
    an installed package)."""
    if not filename or filename.startswith("<"):
        return False
    if not ROOTS:
        ROOTS.append(tool_roots())
    return not os.path.realpath(filename).startswith(ROOTS[0])


def place(filename, line):
    return f"{filename}:{line}" if line else filename


def last_user_frame(text):
    """The first of the user's frames in a faulthandler dump (most recent call first). -> (place, function)"""
    import re

    for match in re.finditer(r'^\s+File "(.*)", line (\d+) in (\S+)', text, re.M):
        if is_user(match.group(1)):
            return place(match.group(1), int(match.group(2))), match.group(3)
    return None, None
