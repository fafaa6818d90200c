"""The command line: `python -m compare RECIPE [options]`, and the commands in COMMANDS.

One module per command, each with `main(argv) -> exit code`, all registered in the one list
below and imported only when run (so `list` imports no framework). Exit codes are those of
compare/engine/errors.py: 0 agree, 1 disagree / an implementation failed (the user's code raised,
exited or gave what is no array, even while its file was imported) / nothing judged,
2 usage or input error (one message on stderr), 3 internal error (one message; traceback saved),
130 interrupted. A message longer than 100 columns is wrapped with its continuation lines indented
by two spaces (compare/views/text.py): still one message, whose first line starts `error:`.

Left out: the work itself (compare/engine), what is printed (compare/views).
"""
import importlib
import sys

from ..engine import caller_state
from ..engine.errors import (EXIT_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_MISMATCH, EXIT_OK, InputError,
                             UserCodeFailed, one_line)
from ..views.text import hang

# name -> (module in compare/cli, one-line description); a recipe name runs compare/cli/run.py
COMMANDS = {
    "list": ("listing", "list the recipes and the frameworks"),
    "check": ("check", "check your own network (a Python file) against scratch, torch, Keras and JAX"),
    "bugs": ("bugs", "list the classic mistakes --inject-bug can put in the scratch code"),
    "trace": ("trace", "print one training step as a worked example, all frameworks side by side"),
    "code": ("code", "show the scratch, torch and Keras source of one part side by side"),
    "kinks": ("kinks", "each activation's derivative at its kinks: scratch, torch, scratch@keras, Keras"),
    "translate": ("translate", "translate training settings between torch and Keras, and prove it"),
}


def usage():
    from ..data import recipes

    lines = ["usage: python -m compare RECIPE [options]    (python -m compare RECIPE --help)",
             "       python -m compare COMMAND [options]", "", "commands:"]
    lines += [f"  {name:10s} {description}" for name, (_, description) in COMMANDS.items()]
    lines += ["", hang("recipes: " + ", ".join(recipes.names()))]
    return "\n".join(lines)


@caller_state.kept                     # called in-process, a command leaves the caller's settings as they were
def dispatch(argv):
    if not argv:
        print(usage())                 # usage on stdout; the one-line error on stderr; exit 2
        print("error: give a recipe or a command (python -m compare list)", file=sys.stderr)
        return EXIT_INPUT
    if argv[0] in ("-h", "--help"):
        print(usage())
        return EXIT_OK
    if argv[0] == "--version":         # the package's version (compare/engine/version.py)
        from ..engine.version import version
        print(f"framework-mirror {version()}")
        return EXIT_OK
    if argv[0] in COMMANDS:
        module = importlib.import_module(f"{__name__}.{COMMANDS[argv[0]][0]}")
        return module.main(argv[1:])
    return importlib.import_module(f"{__name__}.run").main(argv)


def main(argv=None):
    """Run a command. -> exit code. SIGTERM and SIGHUP act as Ctrl-C while it runs; a full or
    closed standard output is one line (or, for a reader that left, nothing), never a traceback."""
    from ..engine import interrupts

    argv = sys.argv[1:] if argv is None else list(argv)
    previous = interrupts.install()
    try:
        code = dispatch(argv)
        try:
            sys.stdout.flush()             # a full disk shows here, not at the interpreter's exit
        except BrokenPipeError:            # the reader left after the work was done: its verdict stands
            silence_stdout()
        return code
    except InputError as error:
        print(hang(f"error: {one_line(error)}"), file=sys.stderr)
        return EXIT_INPUT
    except UserCodeFailed as error:    # the user's code failed outside a run (while its file was imported)
        print(hang(f"error: {one_line(error)}"), file=sys.stderr)
        return EXIT_MISMATCH
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:            # `python -m compare code | head`: the reader left; not an error
        silence_stdout()
        return EXIT_OK
    except OSError as error:
        if not stdout_failed(error):
            return internal_error(error)
        silence_stdout()
        why = one_line(error.strerror or error)
        print(hang(f"error: cannot write to standard output: {why}"), file=sys.stderr)
        return EXIT_INPUT
    except Exception as error:         # noqa: BLE001 - the tool's own bug: one line, traceback to a file
        return internal_error(error)
    finally:
        discard_unwritten()                # no old report left behind by a run that ended before writing it
        interrupts.restore(previous)


def discard_unwritten():
    """compare/views/files.py's, if that module was loaded (a command that wrote nothing never loads it)."""
    files = sys.modules.get("compare.views.files")
    if files is not None:
        files.discard_unwritten()


def stdout_failed(error):
    """Whether `error` is standard output refusing what is printed (a full disk, /dev/full, a
    file-size limit, a dead terminal): no file named (files the tool writes are named in their
    errors: compare/views/files.py), and an error of writing, not of opening."""
    import errno

    return error.filename is None and error.errno in (errno.ENOSPC, errno.EFBIG, errno.EIO, errno.EDQUOT)


def silence_stdout():
    """Point standard output at /dev/null, so that what is still buffered is dropped quietly at exit."""
    import os

    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def internal_error(error):
    """An exception the tool did not expect: save the traceback, print one line naming the file. -> 3"""
    import tempfile
    import traceback

    text = "".join(traceback.format_exception(error))
    where = traceback.extract_tb(error.__traceback__)[-1] if error.__traceback__ else None
    place = f" at {where.filename}:{where.lineno}" if where else ""
    try:
        fd, path = tempfile.mkstemp(prefix="framework-mirror-crash-", suffix=".txt")
        with open(fd, "w") as f:
            f.write(text)
        saved = f"; traceback saved to {path}"
    except OSError:
        saved = ""
    line = f"internal error of framework-mirror (not your code): {type(error).__name__}: {error}"
    line += place
    print(hang(one_line(line + saved)), file=sys.stderr)
    return EXIT_INTERNAL
