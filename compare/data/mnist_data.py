"""MNIST from the four canonical IDX files: found, verified, parsed with NumPy.

Where the files come from, in order:
    1. `data_dir` (the CLI's --data-dir): must hold the files; nothing is downloaded into it;
    2. the folder in $FRAMEWORK_MIRROR_MNIST, likewise;
    3. the user cache (pooch.os_cache('framework-mirror')/mnist, under $XDG_CACHE_HOME on Linux),
       when it holds all four files;
    4. the copy shipped inside the package (compare/data/mnist_files, licence in its README.md);
    5. only if that copy is missing (an install without it): a download into the user cache from
       public mirrors, unless offline. pooch writes a download to a temporary file and moves it
       into place only once its SHA-256 matches, so a partial or corrupt download never replaces
       a good file; its own log lines are silenced (a failure is our one line).
Every file is checked against its canonical SHA-256, whatever its form: a .gz file against the
.gz's (FILES), an uncompressed IDX file against the uncompressed file's (RAW_FILES). A file that
does not match is refused (one line: DataMismatch), unless allow_other_data (the CLI's
--allow-other-data): then it is used, and `Mnist.other` lists the files that are not the
canonical MNIST, for the report and the printed verdict to say so. (verify=False skips the check,
for tests that build their own files; the shipped copy is always checked.) The cost: hashing the
shipped .gz files takes ~0.015-0.025 s here, the 55 MB of uncompressed files ~0.035-0.07 s
(SHA-NI; a CPU without it several times that), next to ~0.2 s of decompressing or reading them,
and on the CLI's data-loading thread, under the framework imports (docs/files-and-data.md has the
numbers). A digest is kept for the process (`sha256`: keyed on the file's ctime, which no user
can set back), not on disk. The IDX header is checked too:
magic number, counts (at least one image), 28x28, and the file's length must be exactly what
the header implies. Every fault (a missing, unreadable or corrupt file, a folder that cannot be
read or created) is one InputError line naming the file or folder.

Shapes: images (N, 784) float64 in [0, 1] (pixels / 255), labels (N,) int64 in 0..9.

Left out: other datasets, EMNIST/Fashion-MNIST, augmentation.
"""
import dataclasses
import functools
import gzip
import hashlib
import logging
import math
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..engine.errors import InputError

ENV_VAR = "FRAMEWORK_MIRROR_MNIST"
FILES = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
# SHA-256 of the canonical files uncompressed (the same name without .gz). Computed by
# decompressing the shipped .gz files (compare/data/mnist_files; /work/shared/data/mnist gives the
# same): their decompressed MD5s are the published MD5s of the uncompressed canonical files
# (compare/data/mnist_files/SOURCE.md, the table), so these are the canonical files' SHA-256s.
RAW_FILES = {
    "train-images-idx3-ubyte.gz": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte.gz": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte.gz": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte.gz": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/")
IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049
HINT = "pass --data-dir DIR holding the four MNIST IDX .gz files"
BUNDLED = Path(__file__).resolve().parent / "mnist_files"   # the copy shipped with the package


@dataclass
class Mnist:
    train_images: np.ndarray  # (60000, 784) float64 in [0, 1]
    train_labels: np.ndarray  # (60000,) int64
    test_images: np.ndarray   # (10000, 784)
    test_labels: np.ndarray   # (10000,)
    source: str               # the folder the files were read from
    origin: str = ""          # how it was found: option | env | cache | bundled | downloaded
    other: tuple = ()         # the files that are not the canonical MNIST (allow_other_data), else ()


class DataMismatch(InputError):
    """An MNIST file whose SHA-256 is not the canonical one."""


def resolve_data_dir(data_dir=None, cache_dir=None):
    """-> (folder, how it was chosen: 'option' | 'env' | 'cache')"""
    if data_dir is not None:
        return Path(data_dir).expanduser(), "option"
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser(), "env"
    if cache_dir is None:
        import pooch

        cache_dir = pooch.os_cache("framework-mirror") / "mnist"
    return Path(cache_dir), "cache"


def reason(error):
    """An OSError (or other) -> its short reason: 'Permission denied', 'Not a directory'."""
    return getattr(error, "strerror", None) or str(error) or type(error).__name__


DIGESTS = {}              # (path, device, inode, size, mtime, ctime) -> SHA-256, for this process


def sha256(path):
    """The file's SHA-256, hashed once per process for a file that has not changed since. The key
    holds the ctime, which every write, chmod or utime sets to the present and no user can set
    back: a file rewritten (even to the same size and mtime) is hashed again."""
    info = os.stat(path)
    key = (str(path), info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
    if key not in DIGESTS:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        DIGESTS[key] = digest.hexdigest()
    return DIGESTS[key]


def read_bytes(path):
    """The decompressed bytes of an IDX file (.gz or plain). Raises InputError if unreadable."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as error:
        raise InputError(f"MNIST file {path} is unreadable or corrupt ({reason(error)}); replace it or {HINT}") from None


def read_idx(path, expect_magic=None):
    """An IDX file -> uint8 array shaped by its header (N, rows, cols) or (N,)."""
    path = Path(path)
    raw = read_bytes(path)
    if len(raw) < 8:
        raise InputError(f"MNIST file {path} is truncated: {len(raw)} bytes, shorter than an IDX header")
    magic = int.from_bytes(raw[0:4], "big")
    if magic not in (IMAGES_MAGIC, LABELS_MAGIC) or (expect_magic and magic != expect_magic):
        raise InputError(f"MNIST file {path} has magic number {magic}, expected {expect_magic or '2051 or 2049'}")
    ndim = raw[3]
    header = 4 + 4 * ndim
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    expected = header + math.prod(dims)             # Python ints: np.prod would wrap at 2**63
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "longer than its header says"
        raise InputError(f"MNIST file {path} is {what}: {len(raw)} bytes, the header {dims} implies {expected}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def folder_names(folder, source):
    """The names in a folder the user named. Raises InputError if it is missing or unreadable."""
    try:
        return set(os.listdir(folder))
    except FileNotFoundError:
        raise InputError(f"MNIST folder {folder} (from {source}) does not exist; {HINT}") from None
    except OSError as error:
        raise InputError(f"MNIST folder {folder} (from {source}) cannot be read ({reason(error)}); {HINT}") from None


def find_file(folder, name, names):
    """The .gz file, or its uncompressed twin (same name without .gz); None if neither is in `names`."""
    for candidate in (name, name[:-3]):
        if candidate in names:
            return folder / candidate
    return None


def download(folder, name):
    """Fetch one file into the cache folder with its SHA-256 checked. Raises InputError on failure."""
    import pooch

    logger = pooch.get_logger()            # pooch logs 'Downloading ...' and its failures to stderr
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    errors = []
    try:
        for mirror in MIRRORS:
            try:
                pooch.retrieve(mirror + name, known_hash=f"sha256:{FILES[name]}", fname=name, path=folder,
                               progressbar=False)
                return folder / name
            except Exception as error:                # network, HTTP, checksum or disk: try the next mirror
                errors.append(f"{mirror}: {type(error).__name__}")
    finally:
        logger.setLevel(level)
    raise InputError(f"could not download MNIST file {name} ({'; '.join(errors)}); {HINT}")


def bundled_files():
    """{name: path} of the copy shipped in the package, or None if any file is missing."""
    try:
        names = set(os.listdir(BUNDLED))
    except OSError:
        return None
    paths = {name: find_file(BUNDLED, name, names) for name in FILES}
    return paths if all(p is not None and p.suffix == ".gz" for p in paths.values()) else None


def locate(folder, how, offline):
    """-> ({name: path} for the four files, the folder, origin: option | env | cache | bundled | downloaded).
    The cache is used when it holds all four, else the shipped copy, else a download into the cache."""
    if how != "cache":
        source = "--data-dir" if how == "option" else f"${ENV_VAR}"
        names = folder_names(folder, source)
        paths = {name: find_file(folder, name, names) for name in FILES}
        for name, path in paths.items():
            if path is None:
                raise InputError(f"MNIST file {name} not found in {folder}; {HINT}")
        return paths, folder, how
    try:
        names = set(os.listdir(folder))
    except OSError:                                   # no cache yet, or an unusable one: look further
        names = set()
    paths = {name: find_file(folder, name, names) for name in FILES}
    if all(paths.values()):
        return paths, folder, "cache"
    bundled = bundled_files()
    if bundled:
        return bundled, BUNDLED, "bundled"
    missing = [name for name, path in paths.items() if path is None]
    if offline:
        raise InputError(f"MNIST file {missing[0]} not found in {folder} and --offline forbids downloading; {HINT}")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"MNIST cache folder {folder} cannot be created ({reason(error)}); set XDG_CACHE_HOME "
                         f"to a writable folder or {HINT}") from None
    for name in missing:
        paths[name] = download(folder, name)
    return paths, folder, "downloaded"


def check_sha256(path, name):
    """The file (`name`'s .gz, or its uncompressed twin) has its canonical SHA-256, or DataMismatch."""
    expected = FILES[name] if path.suffix == ".gz" else RAW_FILES[name]
    try:
        actual = sha256(path)
    except OSError as error:
        raise InputError(f"MNIST file {path} cannot be read ({reason(error)}); {HINT}") from None
    if actual != expected:
        raise DataMismatch(f"MNIST file {path} fails its SHA-256 check (expected {expected[:12]}..., "
                           f"got {actual[:12]}...): it is not the canonical MNIST; replace it, {HINT}, "
                           f"or pass --allow-other-data (allow_other_data=True) to run on it anyway")


def load_mnist(data_dir=None, *, offline=False, cache_dir=None, verify=True, allow_other_data=False):
    """The four MNIST files -> Mnist. Raises InputError (one line) for anything wrong with them;
    with allow_other_data, a file that is not the canonical one is used and named in Mnist.other."""
    folder, how = resolve_data_dir(data_dir, cache_dir)
    paths, folder, origin = locate(folder, how, offline)
    other = []
    if verify or origin == "bundled":
        for name, path in paths.items():
            try:
                check_sha256(path, name)
            except DataMismatch:
                if not allow_other_data or origin == "bundled":
                    raise
                other.append(path.name)
    try:
        mtimes = tuple(os.stat(p).st_mtime_ns for p in paths.values())
    except OSError as error:
        raise InputError(f"MNIST files in {folder} cannot be read ({reason(error)}); {HINT}") from None
    m = parse(tuple(str(paths[name]) for name in FILES), mtimes, str(folder), origin)
    return dataclasses.replace(m, other=tuple(other)) if other else m


@functools.lru_cache(maxsize=2)
def parse(paths, mtimes, source, origin=""):
    """Parse and scale (cached per process: tests and the CLI load the same files repeatedly)."""
    train_x, train_y, test_x, test_y = (Path(p) for p in paths)
    images = [read_idx(train_x, IMAGES_MAGIC), read_idx(test_x, IMAGES_MAGIC)]
    labels = [read_idx(train_y, LABELS_MAGIC), read_idx(test_y, LABELS_MAGIC)]
    for x, y, xp, yp in zip(images, labels, (train_x, test_x), (train_y, test_y)):
        if x.ndim != 3 or x.shape[1:] != (28, 28):
            raise InputError(f"MNIST file {xp} holds images of shape {x.shape[1:]}, expected 28x28")
        if y.ndim != 1 or len(y) != len(x):
            raise InputError(f"MNIST file {yp} holds {len(y)} labels for {len(x)} images in {xp.name}")
        if len(x) == 0:
            raise InputError(f"MNIST file {xp} holds 0 images; a run needs at least one")
        if y.max(initial=0) > 9:
            raise InputError(f"MNIST file {yp} holds label {int(y.max())}, outside 0..9")
    # shared by every caller of the cache: treat as read-only
    return Mnist(scaled(images[0]), labels[0].astype(np.int64), scaled(images[1]), labels[1].astype(np.int64), source,
                 origin)


def scaled(images):
    """(N, 28, 28) uint8 -> (N, 784) float64 in [0, 1], pixels / 255. Into an array made by
    np.empty: NumPy then asks the kernel for huge pages, and filling 376 MB takes 0.07 s instead
    of the 0.8-1.3 s that `images / 255.0` spends on page faults here (the same bits)."""
    out = np.empty((len(images), 784))
    return np.divide(images.reshape(len(images), 784), np.float64(255.0), out=out)
