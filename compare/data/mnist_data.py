"""MNIST from the four canonical IDX files: found, verified, parsed with NumPy.

Where the files come from, in order:
    1. `data_dir` (the CLI's --data-dir): must hold the files; nothing is downloaded into it;
    2. the folder in $FRAMEWORK_MIRROR_MNIST, likewise;
    3. the user cache (pooch.os_cache('framework-mirror')/mnist): missing files are downloaded
       there from public mirrors, unless offline. pooch writes a download to a temporary file and
       moves it into place only once its SHA-256 matches, so a partial or corrupt download never
       replaces a good file.
Every .gz file is checked against its canonical SHA-256 (verify=False skips that, for tests
that build their own files). The IDX header is checked too: magic number, counts, 28x28, and
the file's length must be exactly what the header implies.

Shapes: images (N, 784) float64 in [0, 1] (pixels / 255), labels (N,) int64 in 0..9.

Left out: other datasets, EMNIST/Fashion-MNIST, augmentation.
"""
import functools
import gzip
import hashlib
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
MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/")
IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049
HINT = "pass --data-dir DIR holding the four MNIST IDX .gz files"


@dataclass
class Mnist:
    train_images: np.ndarray  # (60000, 784) float64 in [0, 1]
    train_labels: np.ndarray  # (60000,) int64
    test_images: np.ndarray   # (10000, 784)
    test_labels: np.ndarray   # (10000,)
    source: str               # the folder the files were read from


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


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_bytes(path):
    """The decompressed bytes of an IDX file (.gz or plain). Raises InputError if unreadable."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as error:
        reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
        raise InputError(f"MNIST file {path} is unreadable or corrupt ({reason}); replace it or {HINT}") from None


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
    expected = header + int(np.prod(dims))
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "longer than its header says"
        raise InputError(f"MNIST file {path} is {what}: {len(raw)} bytes, the header {dims} implies {expected}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def find_file(folder, name):
    """The .gz file, or its uncompressed twin (same name without .gz); None if neither exists."""
    for candidate in (folder / name, folder / name[:-3]):
        if candidate.is_file():
            return candidate
    return None


def download(folder, name):
    """Fetch one file into the cache folder with its SHA-256 checked. Raises InputError on failure."""
    import pooch

    errors = []
    for mirror in MIRRORS:
        try:
            pooch.retrieve(mirror + name, known_hash=f"sha256:{FILES[name]}", fname=name, path=folder,
                           progressbar=False)
            return folder / name
        except Exception as error:                    # network, HTTP or checksum: try the next mirror
            errors.append(f"{mirror}: {type(error).__name__}")
    raise InputError(f"could not download MNIST file {name} ({'; '.join(errors)}); {HINT}")


def locate(folder, how, offline):
    """-> {name: path} for the four files, downloading into the cache where allowed."""
    if how != "cache" and not folder.is_dir():
        source = "--data-dir" if how == "option" else f"${ENV_VAR}"
        raise InputError(f"MNIST folder {folder} (from {source}) does not exist; {HINT}")
    paths = {}
    for name in FILES:
        path = find_file(folder, name)
        if path is None:
            if how != "cache":
                raise InputError(f"MNIST file {name} not found in {folder}; {HINT}")
            if offline:
                raise InputError(f"MNIST file {name} not found in {folder} and --offline forbids downloading; {HINT}")
            folder.mkdir(parents=True, exist_ok=True)
            path = download(folder, name)
        paths[name] = path
    return paths


def check_sha256(path, name):
    if path.suffix == ".gz":
        actual = sha256(path)
        if actual != FILES[name]:
            raise InputError(f"MNIST file {path} fails its SHA-256 check (expected {FILES[name][:12]}..., "
                             f"got {actual[:12]}...); replace it or {HINT}")


def load_mnist(data_dir=None, *, offline=False, cache_dir=None, verify=True):
    """The four MNIST files -> Mnist. Raises InputError (one line) for anything wrong with them."""
    folder, how = resolve_data_dir(data_dir, cache_dir)
    paths = locate(folder, how, offline)
    if verify:
        for name, path in paths.items():
            check_sha256(path, name)
    return parse(tuple(str(paths[name]) for name in FILES), tuple(os.stat(p).st_mtime_ns for p in paths.values()),
                 str(folder))


@functools.lru_cache(maxsize=2)
def parse(paths, mtimes, source):
    """Parse and scale (cached per process: tests and the CLI load the same files repeatedly)."""
    train_x, train_y, test_x, test_y = (Path(p) for p in paths)
    images = [read_idx(train_x, IMAGES_MAGIC), read_idx(test_x, IMAGES_MAGIC)]
    labels = [read_idx(train_y, LABELS_MAGIC), read_idx(test_y, LABELS_MAGIC)]
    for x, y, xp, yp in zip(images, labels, (train_x, test_x), (train_y, test_y)):
        if x.ndim != 3 or x.shape[1:] != (28, 28):
            raise InputError(f"MNIST file {xp} holds images of shape {x.shape[1:]}, expected 28x28")
        if y.ndim != 1 or len(y) != len(x):
            raise InputError(f"MNIST file {yp} holds {len(y)} labels for {len(x)} images in {xp.name}")
        if y.max(initial=0) > 9:
            raise InputError(f"MNIST file {yp} holds label {int(y.max())}, outside 0..9")
    # shared by every caller of the cache: treat as read-only
    return Mnist(scaled(images[0]), labels[0].astype(np.int64), scaled(images[1]), labels[1].astype(np.int64), source)


def scaled(images):
    """(N, 28, 28) uint8 -> (N, 784) float64 in [0, 1]"""
    return images.reshape(len(images), 784) / np.float64(255.0)
