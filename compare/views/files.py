"""Writing what a run produces (JSON, PNG, HTML): checked before the run, written atomically.

Every writer (--json, --plot, --html; `bugs --json`, `trace --json`) goes through
`check_writable` before any work and `write_atomic` after it:
  - the new file is written beside the target under a temporary name of bounded length (the
    probe before the run creates the very same kind of name), then renamed over the target:
    readers see the old file or the complete new one, never half of it;
  - only regular files are written: a FIFO, a device (/dev/null), a socket or a symlink to one
    (/proc/self/fd/1) is refused, never replaced;
  - a symlink to a regular file (or to a file not there yet) is followed: the file it points to
    is written, the link stays a link; except a symlink that the kernel's protected_symlinks rule
    would not follow (`refused_link`): one in a sticky, world-writable folder (/tmp) owned by
    neither this user nor the folder's owner. That is the temporary-folder attack (another user
    plants /tmp/report.json -> a file of yours, and your report replaces it); it is refused with
    one line, before the run and again just before the rename. Why this rule and not "replace
    the link itself" (rename over the link's own name, which never touches its target): a link
    you made on purpose (report.json -> runs/today.json) is documented to be written through,
    and the kernel's rule is the one that tells your link from a planted one; O_NOFOLLOW alone
    would refuse both. Left: another user swapping a folder of the path between that check and
    the rename;
  - paths are made absolute when the arguments are read (`absolute`): a user's file that calls
    os.chdir at import or inside its forward does not move the report;
  - a report whose run ends before its writing started (an input error found later, the user's
    code failing, an internal error) leaves no old report behind: `check_targets` notes each
    target, and `discard_unwritten` (called by the CLI on every way out) removes the old file of
    each noted target whose writing never started. A failure *while* writing (disk full, Ctrl-C)
    still leaves the previous file as it was, and says so;
  - a new file gets mode 0666 & ~umask (what `open(path, 'w')` gives); an existing file of
    ours keeps its mode (another user's, e.g. planted in /tmp, does not pass its bits on); a hard
    link to someone's file is harmless: the rename replaces the name, never writes the file;
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


MAX_LINKS = 40            # symlinks followed on one path before giving up (Linux's ELOOP limit)
STDOUT = "-"              # `--json -`: standard output, not a file; left as it is

UNWRITTEN = {}            # target (symlinks followed) -> identity() of its old file: checked, not yet written


class WriteError(InputError):
    """A report could not be written after the run (disk full, file too large, ...)."""


def absolute(path):
    """The path made absolute against the current folder now, at argument reading (before any
    user code can call os.chdir). Symlinks are not resolved here (`target_of` does that at
    writing time); None, '' and '-' are left as they are (not given, refused later, stdout)."""
    if not path or path == STDOUT:
        return path
    return os.path.abspath(path)


def target_of(path):
    """The file actually written: `path` with symlinks followed."""
    return os.path.realpath(path)


def resolve(path):
    """Follow `path` as the kernel would, one component at a time. -> (the file it names, with
    every symlink followed, as os.path.realpath gives; the first symlink that the kernel's
    fs.protected_symlinks rule would not follow, as (link, its owner's uid), or None).

    The rule (Linux, Documentation/admin-guide/sysctl/fs.rst): a symlink in a sticky,
    world-writable folder is followed only when its owner is the follower (our effective uid) or
    the folder's owner. Every symlink of the path is checked, the folders' included
    (/tmp/dir-link/report.json); we check it ourselves because root (and a kernel with the rule
    off) would follow it. The writer renames onto the file found here in the same walk, so a link
    planted after the walk is replaced itself (rename does not follow a last component), never
    followed."""
    pending = [part for part in os.path.abspath(path).split(os.sep) if part]
    current, hops = os.sep, 0
    while pending:
        name = pending.pop(0)
        if name == ".":
            continue
        if name == "..":
            current = os.path.dirname(current)
            continue
        candidate = os.path.join(current, name)
        try:
            info = os.lstat(candidate)
            if not stat.S_ISLNK(info.st_mode):
                current = candidate
                continue
            folder = os.stat(current)
            link = os.readlink(candidate)
        except OSError:                      # not there (yet), or not searchable: nothing more to follow;
            return os.path.normpath(os.path.join(candidate, *pending)), None   # the writing names the fault
        sticky_open = folder.st_mode & stat.S_ISVTX and folder.st_mode & stat.S_IWOTH
        if sticky_open and info.st_uid not in (os.geteuid(), folder.st_uid):
            return os.path.realpath(path), (candidate, info.st_uid)
        hops += 1
        if hops > MAX_LINKS:                 # a loop: the writing itself reports it
            return os.path.realpath(path), None
        if link.startswith(os.sep):
            current = os.sep
        pending[:0] = [part for part in link.split(os.sep) if part]
    return current, None


def refused_link(path):
    """The first symlink on the way to `path` that the kernel's rule would not follow, as (link,
    its owner's uid), else None (see resolve)."""
    return resolve(path)[1]


def check_link(path, what=None):
    """Raise InputError if a symlink on the way to `path` is one the kernel's rule would refuse
    (see resolve). -> the file that `path` names, symlinks followed"""
    target, found = resolve(path)
    if found:
        link, uid = found
        option = f"--{what} " if what else ""
        raise InputError(f"{option}{path}: {link} is a symlink in a sticky, world-writable folder, owned by "
                         f"another user (uid {uid}): not followed (the kernel's protected_symlinks rule); "
                         f"give another name")
    return target


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
    target = check_link(path, what)
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
    return target


def check_targets(targets):
    """check_writable for each {option: path} given (None: not asked for), and no two options
    naming the same file (one would silently overwrite the other); a name the system refuses
    (too long: ENAMETOOLONG, ELOOP, ...) is one of them. Each is noted as unwritten (see
    discard_unwritten). Raises InputError. -> {option: the path made absolute}"""
    seen = {}
    for what, path in targets.items():
        if path is None or path == STDOUT:
            continue
        try:
            target = check_writable(path, what)
        except OSError as error:
            raise InputError(f"--{what} {path[:60]}{'...' if len(path) > 60 else ''}: "
                             f"{error.strerror or error}") from None
        if target in seen:
            raise InputError(f"--{seen[target]} and --{what} both name {path}: give each its own file")
        seen[target] = what
    UNWRITTEN.update({target: identity(target) for target in seen})
    return {what: absolute(path) for what, path in targets.items()}


def identity(target):
    """(device, inode, ctime) of the file at `target`, None if there is none: a file written since
    (by this process, or by a child it forked: compare/cli/supervise.py) is another inode."""
    try:
        info = os.stat(target)
    except OSError:
        return None
    return info.st_dev, info.st_ino, info.st_ctime_ns


def discard_unwritten():
    """Remove the old file of every target noted by check_targets whose writing never started:
    a run that ended before its report was written leaves no report of an earlier run that a
    reader (a CI step) would take for this one's. Only the very file that was there at the check
    goes (same inode and ctime): a report written since, by anyone, stays. A symlink stays (its
    old target goes); a target that is not a regular file, or behind a refused symlink, is left."""
    while UNWRITTEN:
        target, old = UNWRITTEN.popitem()
        try:
            if old is not None and identity(target) == old and refused_link(target) is None \
                    and kind_of(target) is None and os.path.isfile(target):
                os.unlink(target)
        except OSError:
            pass


def new_file_mode(target):
    """An existing file's permission bits when the file is ours, else 0666 & ~umask (as open()
    would create it): the new file is ours whoever owned the old one, and another user's choice
    of bits (0666 on a file planted in /tmp) must not let that user rewrite our report."""
    try:
        info = os.stat(target)
        if info.st_uid == os.geteuid():
            return stat.S_IMODE(info.st_mode)
    except FileNotFoundError:
        pass
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def write_atomic(path, write, mode="w"):
    """Write through a temporary file beside the target, then rename it over the target.
    write(file_object); mode 'w' or 'wb'. Raises InputError for a target that is not a regular
    file, WriteError when the writing fails; the old file then stays as it was."""
    target = check_link(path)                # the same walk finds the file and checks its links
    UNWRITTEN.pop(target, None)              # its writing starts: a failure from now on keeps the old file
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
