"""python -m compare: see compare/cli/__init__.py. A signal at any time, even during the first
imports, ends it with one line, 'interrupted', and exit 130 (compare/engine/interrupts.py)."""
import sys

from .cli import child, supervise
from .engine import interrupts

interrupts.install()
try:
    interrupts.raise_held()
    from .cli import main
    from .engine import worker
    worker.enable()                    # Keras's lane may run in a worker process (compare/engine/worker.py)
    supervise.enable()                 # check runs the user's code in a supervised child (compare/cli/supervise.py)
    code = main()
except KeyboardInterrupt:
    print("interrupted", file=sys.stderr)
    code = 130
except BaseException as error:         # in check's child: the user's code ended it (SystemExit, ...)
    if not child.in_child():
        raise
    child.escaped(error)                # says where, and ends the child

# The work is done and said: leave without the interpreter's teardown (torch's, TensorFlow's and
# numba's take about a second, during which a Ctrl-C would kill the process silently and turn the
# exit status into 130 after a verdict was printed). Every file is closed; the worker is stopped.
try:
    sys.stdout.flush()
    sys.stderr.flush()
except (OSError, ValueError):                  # a closed or broken pipe: nothing left to say there
    pass
child.leave(code if isinstance(code, int) else 1)   # in check's child: says first that the tool chose it
