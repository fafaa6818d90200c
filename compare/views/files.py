"""Writing what a run produces (JSON, PNG, HTML): checked before the run, written atomically.

Every writer (--json, --plot, --html; `bugs --json`, `trace --json`) goes through
`check_writable` before any work and `write_atomic` after it:
  - the new file is written beside the target under a temporary name of bounded length (the
    probe before the run creates the very same kind of name), then renamed over the target:
    readers see the old file or the complete new one, never half of it;
  - only regular files are written: a FIFO, a device (/dev/null), a socket or a symlink to one
    (/proc/self/fd/1) is refused, never replaced;
  - a symlink to a regular file (or to a file not there yet) is followed: the file it points to
    is written, the link stays a link;
  - a new file gets mode 0666 & ~umask (what `open(path, 'w')` gives); an existing file keeps
    its mode;
  - a failure while writing (disk full, file-size limit) raises WriteError, one line naming the
    file and the reason; the old file is left as it was and no temporary file stays behind.

Left out: what is written (compare/engine/report.py, compare/views/plots.py, compare/views/html.py).
"""
import json
import os
import stat
import tempfile

from ..engine.errors import InputError

TEMP_PREFIX = ".tmp-"
TEMP_NAME_KEEPS = 40      # characters of the target's name kept in the temporary name: a legal
                          # name (255 bytes) always leaves room for the prefix and the random part


class WriteError(InputError):
    """A report could not be written after the run (disk full, file too large, ...)."""


def target_of(path):
    """The file actually written: `path` with symlinks followed."""
    return os.path.realpath(path)


def kind_of(path):
    """'a FIFO', 'a device', ... for what is at `path` when it is not a regular file; else None.
    The kernel follows the symlinks (a link to /proc/self/fd/1 is whatever stdout is)."""
    if target_of(path).startswith(("/proc/", "/sys/")) and os.path.exists(path):
        return "a file of the kernel's (/proc, /sys)"
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    for stream in (1, 2):                     # `> report.json` and --json /dev/stdout: the same file
        try:
            if os.path.samestat(info, os.fstat(stream)):
                return "this program's own output"
        except OSError:
            pass
    mode = info.st_mode
    if stat.S_ISREG(mode):
        return None
    kinds = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a device"),
             (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket"))
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def make_temp(target):
    """A new empty temporary file beside `target`, mode 0600. -> (fd, path)"""
    name = os.path.basename(target)[:TEMP_NAME_KEEPS]
    return tempfile.mkstemp(dir=os.path.dirname(target), prefix=TEMP_PREFIX, suffix=f"-{name}")


def check_writable(path, what):
    """Fail before training, not after it, if `path` cannot be written. Raises InputError."""
    if not path:
        raise InputError(f"--{what} needs a file name, got ''")
    target = target_of(path)
    folder = os.path.dirname(target)
    if os.path.isdir(target):
        raise InputError(f"--{what} {path} is a directory; give a file name")
    if not os.path.isdir(folder):
        raise InputError(f"--{what} {path}: folder {folder} does not exist")
    kind = kind_of(path)
    if kind:
        raise InputError(f"--{what} {path} is {kind}: reports are written to regular files only")
    try:
        fd, probe = make_temp(target)          # the very name pattern write_atomic uses
        os.close(fd)
        os.unlink(probe)
    except OSError as error:
        raise InputError(f"--{what} {path} is not writable: {error.strerror}") from None
    if os.path.exists(target) and not os.access(target, os.W_OK):
        raise InputError(f"--{what} {path} is not writable: permission denied")


def check_targets(targets):
    """check_writable for each {option: path} given (None: not asked for), and no two options
    naming the same file (one would silently overwrite the other). Raises InputError; a name the
    system refuses (too long: ENAMETOOLONG, ELOOP, ...) is one of them."""
    seen = {}
    for what, path in targets.items():
        if path is None:
            continue
        try:
            check_writable(path, what)
        except OSError as error:
            raise InputError(f"--{what} {path[:60]}{'...' if len(path) > 60 else ''}: "
                             f"{error.strerror or error}") from None
        target = target_of(path)
        if target in seen:
            raise InputError(f"--{seen[target]} and --{what} both name {path}: give each its own file")
        seen[target] = what


def new_file_mode(target):
    """An existing file's permission bits, else 0666 & ~umask (as open() would create it)."""
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        umask = os.umask(0o022)
        os.umask(umask)
        return 0o666 & ~umask


def write_atomic(path, write, mode="w"):
    """Write through a temporary file beside the target, then rename it over the target.
    write(file_object); mode 'w' or 'wb'. Raises InputError for a target that is not a regular
    file, WriteError when the writing fails; the old file then stays as it was."""
    target = target_of(path)
    kind = kind_of(path)
    if kind:
        raise InputError(f"{path} is {kind}: reports are written to regular files only; not replaced")
    permissions = new_file_mode(target)
    tmp = None
    try:
        fd, tmp = make_temp(target)
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fchmod(f.fileno(), permissions)
        os.replace(tmp, target)
    except BaseException as error:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(error, OSError):
            raise WriteError(f"could not write {path}: {error.strerror or error}; "
                             f"{'the previous file is unchanged' if os.path.exists(target) else 'nothing written'}"
                             ) from None
        raise


def write_json(report, path):
    write_atomic(path, lambda f: json.dump(report.to_json(), f, indent=1, allow_nan=False))
