"""python -m compare: see compare/cli/__init__.py. A signal at any time, even during the first
imports, ends it with one line, 'interrupted', and exit 130 (compare/engine/interrupts.py)."""
import sys

from .engine import interrupts

interrupts.install()
try:
    interrupts.raise_held()
    from .cli import main
    from .engine import worker
    worker.enable()                    # Keras's lane may run in a worker process (compare/engine/worker.py)
    code = main()
except KeyboardInterrupt:
    print("interrupted", file=sys.stderr)
    code = 130
sys.exit(code)
