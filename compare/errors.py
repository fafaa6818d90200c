"""The two ways a run can fail, and the exit codes they map to.

InputError: the user asked for something that cannot be done (exit 2, one line, no traceback).
Mismatch: the implementations disagree (exit 1). Success exits 0.
"""

EXIT_OK = 0
EXIT_MISMATCH = 1
EXIT_INPUT = 2


class InputError(ValueError):
    """A user mistake: bad option, bad spec, missing or corrupt data. The message is one line."""


class FrameworkUnavailable(InputError):
    """A framework the run asks for is not installed (or failed to import)."""
