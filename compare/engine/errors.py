"""The ways a run can end, and the exit codes they map to.

    0  EXIT_OK           every judged pair agrees
    1  EXIT_MISMATCH     a judged pair disagrees, an implementation failed (raised, exited, gave a value
                         that is no array: UserCodeFailed), or nothing could be judged
    2  EXIT_INPUT        a usage or input error: one message on stderr, no traceback (InputError)
    3  EXIT_INTERNAL     an internal error of the tool itself: one message; traceback to a file
  130  EXIT_INTERRUPTED  Ctrl-C (or SIGTERM/SIGHUP); the verdict never says PASS for such a run

A message is one line (one_line) as the tool forms it; the terminal view wraps one longer than 100
columns with its continuation lines indented by two spaces (compare/views/text.py).
"""

import unicodedata

EXIT_OK = 0
EXIT_MISMATCH = 1
EXIT_INPUT = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130


class InputError(ValueError):
    """A user mistake: bad option, bad spec, missing or corrupt data. The message is one line."""


class UserCodeFailed(Exception):
    """The user's code failed in a way an ordinary exception does not say: it called sys.exit or
    raised a BaseException, or gave a value that cannot be what it stands for (adapters/boundary.py,
    adapters/values.py). The implementation's failure (verdict 'error', exit 1), never the tool's.
    `remote_type` and `remote_frames` are what engine.judge.describe_exception reads, as for the
    worker's exceptions: the kind shown and frames that end at the user's line."""

    def __init__(self, message, kind="error", frames=()):
        super().__init__(message)
        self.remote_type = kind
        self.remote_frames = [(f.filename, f.lineno, f.name, f.line) for f in frames]


class FrameworkUnavailable(InputError):
    """A framework the run asks for is not installed (or failed to import)."""


def one_line(text):
    """A message that holds strings of the user's (an exception's text, a name, a path) as the one
    line it must stay: line breaks, carriage returns, terminal escapes and the other control and
    format characters (ANSI colours, a bidi override) written as visible escapes (\\n, \\x1b,
    \\u202e), so no user string can add a line, move the cursor or repaint what was printed."""
    text = str(text)
    if text.isprintable():
        return text
    out = []
    for c in text:
        if c.isprintable() or c == " ":
            out.append(c)
        elif c in "\n\r\t":
            out.append({"\n": "\\n", "\r": "\\r", "\t": " "}[c])
        elif unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn") or ord(c) < 0x100:
            out.append(f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")
        else:                                       # other separators (U+00A0 and kin): a space
            out.append(" ")
    return "".join(out)
