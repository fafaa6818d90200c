"""The ways a run can end, and the exit codes they map to.

    0  EXIT_OK           every judged pair agrees
    1  EXIT_MISMATCH     a judged pair disagrees, an implementation raised, or nothing could be judged
    2  EXIT_INPUT        a usage or input error: one line on stderr, no traceback (InputError)
    3  EXIT_INTERNAL     an internal error of the tool itself: one line, the traceback saved to a file
  130  EXIT_INTERRUPTED  Ctrl-C (or SIGTERM/SIGHUP); the verdict never says PASS for such a run
"""

EXIT_OK = 0
EXIT_MISMATCH = 1
EXIT_INPUT = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130


class InputError(ValueError):
    """A user mistake: bad option, bad spec, missing or corrupt data. The message is one line."""


class FrameworkUnavailable(InputError):
    """A framework the run asks for is not installed (or failed to import)."""
