"""The MNIST loader: the real files parse to the canonical numbers; every broken file is one clear
InputError naming it (tiny IDX files built here)."""
import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from compare.data import mnist_data
from compare.engine.errors import InputError
from compare.data.mnist_data import FILES, load_mnist, read_idx
from compare.views.text import logical_lines


def test_real_files(mnist_dir):
    m = load_mnist(mnist_dir)
    assert m.train_images.shape == (60000, 784) and m.test_images.shape == (10000, 784)
    assert m.train_images.dtype == np.float64 and m.train_labels.dtype == np.int64
    assert m.train_images.min() == 0.0 and m.train_images.max() == 1.0
    assert (m.train_labels[0], m.test_labels[0]) == (5, 7)
    assert np.bincount(m.train_labels).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(m.test_labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    raw = gzip.open(mnist_dir / "train-images-idx3-ubyte.gz").read()[16:16 + 784]
    assert m.train_images[0].sum() == pytest.approx(sum(raw) / 255, rel=1e-12)


def idx_images(n, rows=28, cols=28, magic=2051):
    return struct.pack(">IIII", magic, n, rows, cols) + bytes(range(256)) * (n * rows * cols // 256) + bytes(
        (n * rows * cols) % 256)


def idx_labels(labels, magic=2049):
    return struct.pack(">II", magic, len(labels)) + bytes(labels)


def write_set(folder, train_images=None, train_labels=None, test_images=None, test_labels=None):
    """Four tiny IDX .gz files (2 train, 1 test image), any of them replaceable by raw bytes."""
    contents = {
        "train-images-idx3-ubyte.gz": train_images if train_images is not None else idx_images(2),
        "train-labels-idx1-ubyte.gz": train_labels if train_labels is not None else idx_labels([3, 9]),
        "t10k-images-idx3-ubyte.gz": test_images if test_images is not None else idx_images(1),
        "t10k-labels-idx1-ubyte.gz": test_labels if test_labels is not None else idx_labels([0]),
    }
    for name, data in contents.items():
        (folder / name).write_bytes(gzip.compress(data))
    return folder


def load_error(folder, **kw):
    mnist_data.parse.cache_clear()
    with pytest.raises(InputError) as info:
        load_mnist(folder, verify=False, **kw)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_tiny_valid_set_loads(tmp_path):
    m = load_mnist(write_set(tmp_path), verify=False)
    assert m.train_images.shape == (2, 784) and m.train_labels.tolist() == [3, 9]
    assert m.train_images[0, 1] == pytest.approx(1 / 255)


@pytest.mark.parametrize("broken,fragment", [
    (dict(train_images=idx_images(2, magic=2050)), "magic number 2050"),
    (dict(train_images=idx_images(2)[:-10]), "truncated"),
    (dict(train_images=idx_images(2) + b"xx"), "longer than its header says"),
    (dict(train_labels=idx_labels([1, 2, 3])), "3 labels for 2 images"),
    (dict(test_labels=idx_labels([11])), "label 11"),
    (dict(train_images=idx_images(2, rows=27, cols=27)), "27, 27"),
])
def test_broken_files_name_the_file(tmp_path, broken, fragment):
    message = load_error(write_set(tmp_path, **broken))
    assert fragment in message and "MNIST file" in message


def test_corrupt_gzip(tmp_path):
    write_set(tmp_path)
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    data = bytearray(path.read_bytes())
    data[-6] ^= 0xFF                                           # the CRC no longer matches
    path.write_bytes(bytes(data))
    message = load_error(tmp_path)
    assert "train-labels-idx1-ubyte.gz" in message and "corrupt" in message


def test_bad_checksum(tmp_path):
    write_set(tmp_path)
    mnist_data.parse.cache_clear()
    with pytest.raises(InputError, match=r"train-images-idx3-ubyte.gz fails its SHA-256 check \(expected 440fcabf"):
        load_mnist(tmp_path, verify=True)


def test_missing_folder_and_file(tmp_path):
    assert "does not exist" in load_error(tmp_path / "nowhere")
    write_set(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    assert "t10k-labels-idx1-ubyte.gz not found" in load_error(tmp_path)


@pytest.fixture
def no_bundled(tmp_path_factory, monkeypatch):
    """An install without the shipped copy (the download path)."""
    monkeypatch.setattr(mnist_data, "BUNDLED", tmp_path_factory.mktemp("no-bundled"))


def test_offline_cache_without_files(tmp_path, monkeypatch, no_bundled):
    monkeypatch.delenv(mnist_data.ENV_VAR, raising=False)
    mnist_data.parse.cache_clear()
    with pytest.raises(InputError, match="--offline forbids downloading"):
        load_mnist(None, offline=True, cache_dir=tmp_path)


def test_env_var_is_used(tmp_path, monkeypatch):
    monkeypatch.setenv(mnist_data.ENV_VAR, str(write_set(tmp_path)))
    assert mnist_data.resolve_data_dir() == (tmp_path, "env")
    assert mnist_data.resolve_data_dir(data_dir="x")[1] == "option"


def test_failed_download_leaves_good_files_alone(tmp_path, monkeypatch, no_bundled):
    """No network here: a download that fails is one InputError, and files already there stay intact."""
    import pooch

    monkeypatch.delenv(mnist_data.ENV_VAR, raising=False)
    good = tmp_path / "train-images-idx3-ubyte.gz"
    good.write_bytes(b"good bytes")

    def refuse(url, **kw):
        raise ConnectionError("no network")

    monkeypatch.setattr(pooch, "retrieve", refuse)
    mnist_data.parse.cache_clear()
    with pytest.raises(InputError, match="could not download MNIST file train-labels-idx1-ubyte.gz"):
        load_mnist(None, cache_dir=tmp_path)
    assert good.read_bytes() == b"good bytes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train-images-idx3-ubyte.gz"]


def test_read_idx_plain_file(tmp_path):
    path = tmp_path / "labels.idx"
    path.write_bytes(idx_labels([1, 2]))
    assert read_idx(path).tolist() == [1, 2]
    assert set(FILES) == {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                          "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"}


# The faults of issue "Every fault ends in one clear line": each was a crash (a traceback) before.

def test_header_whose_size_overflows_int64_is_refused(tmp_path):
    """65536 x 2**24 x 2**24 = 2**64 bytes: np.prod wrapped it to 0, so a 16-byte file passed the
    size check and reshape crashed. The product is now taken in Python ints."""
    write_set(tmp_path, train_images=struct.pack(">IIII", 2051, 1 << 16, 1 << 24, 1 << 24))
    message = load_error(tmp_path)
    assert "train-images-idx3-ubyte.gz is truncated" in message and str(16 + 2 ** 64) in message


def test_zero_training_images_are_refused(tmp_path):
    """Four valid files holding 0 images (a full-batch recipe crashed on them)."""
    write_set(tmp_path, train_images=idx_images(0), train_labels=idx_labels([]))
    assert "train-images-idx3-ubyte.gz holds 0 images" in load_error(tmp_path)
    write_set(tmp_path, test_images=idx_images(0), test_labels=idx_labels([]))
    assert "t10k-images-idx3-ubyte.gz holds 0 images" in load_error(tmp_path)


def test_zero_training_images_cli_is_one_line(tmp_path):
    write_set(tmp_path, train_images=idx_images(0), train_labels=idx_labels([]))
    result = run_cli("mnist-small", "--data-dir", str(tmp_path), code=SCRATCH_PAIR_PRELUDE + NO_SHA + MAIN)
    assert result.returncode == 2, result.stderr
    joined = " ".join(logical_lines(result.stderr))
    assert joined.startswith("error: MNIST file") and "holds 0 images" in joined
    assert len(logical_lines(result.stderr)) == 1
    assert "Traceback" not in result.stdout + result.stderr


def test_mnist_deep_needs_more_than_its_dev_set(tmp_path, monkeypatch):
    from compare.data.mnist import mnist_dev_data

    write_set(tmp_path)
    monkeypatch.setattr(mnist_data, "FILES", dict.fromkeys(FILES, "0" * 64))
    mnist_data.parse.cache_clear()
    monkeypatch.setattr("compare.data.mnist.load_mnist", lambda *a, **k: load_mnist(tmp_path, verify=False))
    with pytest.raises(InputError, match="mnist-deep holds out 1,000 dev images .* holds only 2"):
        mnist_dev_data(tmp_path)


def raise_permission_denied(real):
    def fake(path, *args, **kwargs):
        if "idx" in str(path) or "mnist" in str(path):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path, *args, **kwargs)
    return fake


def test_unreadable_gz_is_one_line(tmp_path, monkeypatch):
    """open() refused (simulated: we run as root): the checksum crashed with PermissionError."""
    import builtins

    write_set(tmp_path)
    monkeypatch.setattr(builtins, "open", raise_permission_denied(builtins.open))
    mnist_data.parse.cache_clear()
    with pytest.raises(InputError) as info:
        load_mnist(tmp_path, verify=True)
    assert str(info.value).startswith(f"MNIST file {tmp_path / 'train-images-idx3-ubyte.gz'} cannot be read "
                                      "(Permission denied)")


def test_unreadable_folder_is_one_line(tmp_path, monkeypatch):
    write_set(tmp_path)
    def refuse(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(mnist_data.os, "listdir", refuse)
    message = load_error(tmp_path)
    assert message.startswith(f"MNIST folder {tmp_path} (from --data-dir) cannot be read (Permission denied)")


NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


@pytest.mark.parametrize("what", ["file", "folder"])
def test_unreadable_for_real_as_nobody(what):
    """The same, for real: a non-root user (nobody) and a file or folder with mode 000."""
    import os
    import shutil
    import subprocess
    import sys
    import tempfile

    if shutil.which("setpriv") is None or os.geteuid() != 0:
        pytest.skip("needs root and setpriv to run as another user")
    folder = Path(tempfile.mkdtemp(prefix="mnist-perm-"))
    try:
        data = folder / "data"
        data.mkdir()
        write_set(data)
        hashes = {name: mnist_data.sha256(data / name) for name in FILES}     # pass the check where readable
        os.chmod(folder, 0o755)
        os.chmod(data, 0o755)
        target = data / "train-labels-idx1-ubyte.gz" if what == "file" else data
        os.chmod(target, 0)
        probe = subprocess.run([*NOBODY, sys.executable, "-c", "import compare"], cwd=REPO, capture_output=True,
                               env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=60)
        if probe.returncode != 0:
            pytest.skip("user nobody cannot run this checkout's Python")
        code = ("import sys\nfrom compare.data.mnist_data import FILES, load_mnist\n"
                f"from compare.engine.errors import InputError\nFILES.update({hashes!r})\ntry:\n    load_mnist(sys.argv[1])\nexcept InputError as e:\n    print(e, file=sys.stderr); sys.exit(2)")
        result = subprocess.run([*NOBODY, sys.executable, "-c", code, str(data)], cwd=REPO, capture_output=True,
                                text=True, env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=60)
    finally:
        os.chmod(data, 0o755)
        shutil.rmtree(folder)
    assert result.returncode == 2, result.stderr
    assert len(logical_lines(result.stderr)) == 1
    assert "Permission denied" in logical_lines(result.stderr)[0]
    expected = f"MNIST file {target}" if what == "file" else f"MNIST folder {target}"
    assert result.stderr.startswith(expected), result.stderr


@pytest.mark.parametrize("where", ["a file", "an unwritable place"])
def test_unusable_cache_is_one_line(tmp_path, monkeypatch, no_bundled, where):
    """XDG_CACHE_HOME at a file (or under one): creating the cache crashed."""
    monkeypatch.delenv(mnist_data.ENV_VAR, raising=False)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker if where == "a file" else blocker / "deeper"))
    if where == "an unwritable place":
        real_mkdir = Path.mkdir
        monkeypatch.setattr(Path, "mkdir", lambda self, *a, **k: (_ for _ in ()).throw(
            PermissionError(13, "Permission denied", str(self))) if "not-a-folder" in str(self)
            else real_mkdir(self, *a, **k))
    mnist_data.parse.cache_clear()
    with pytest.raises(InputError) as info:
        load_mnist()
    message = str(info.value)
    assert message.startswith(f"MNIST cache folder {blocker}") and "cannot be created" in message
    assert "XDG_CACHE_HOME" in message and "\n" not in message


def test_unusable_cache_falls_back_to_the_shipped_copy(tmp_path, monkeypatch):
    monkeypatch.delenv(mnist_data.ENV_VAR, raising=False)
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "file"))
    mnist_data.parse.cache_clear()
    assert load_mnist().origin == "bundled"


def test_shipped_copy_is_found_checked_and_nothing_downloaded(tmp_path, monkeypatch):
    """No --data-dir, no $FRAMEWORK_MIRROR_MNIST, an empty cache: the copy in the package, hashes checked."""
    monkeypatch.delenv(mnist_data.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(mnist_data, "download", lambda *a, **k: pytest.fail("downloaded although shipped"))
    checked = []
    real_check = mnist_data.check_sha256
    monkeypatch.setattr(mnist_data, "check_sha256", lambda path, name: (checked.append(path.name),
                                                                         real_check(path, name)))
    mnist_data.parse.cache_clear()
    m = load_mnist()
    assert (m.origin, Path(m.source)) == ("bundled", mnist_data.BUNDLED)
    assert sorted(checked) == sorted(FILES) and m.train_images.shape == (60000, 784)
    assert (m.train_labels[0], m.test_labels[0]) == (5, 7)
    assert list(tmp_path.iterdir()) == []                      # nothing written into the cache
    assert (mnist_data.BUNDLED / "README.md").read_text().count("CC BY-SA 3.0") >= 1


def test_shipped_copy_with_a_bad_hash_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv(mnist_data.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setitem(mnist_data.FILES, "t10k-labels-idx1-ubyte.gz", "0" * 64)
    mnist_data.parse.cache_clear()
    with pytest.raises(InputError, match="t10k-labels-idx1-ubyte.gz fails its SHA-256 check"):
        load_mnist(verify=False)                              # the shipped copy is checked regardless


def test_cache_with_all_four_files_comes_before_the_shipped_copy(tmp_path, monkeypatch):
    monkeypatch.delenv(mnist_data.ENV_VAR, raising=False)
    write_set(tmp_path)
    mnist_data.parse.cache_clear()
    assert load_mnist(cache_dir=tmp_path, verify=False).origin == "cache"


def test_failed_download_is_exactly_one_line(tmp_path):
    """pooch printed three lines of its own log before ours; now stderr is our one line. The
    mirrors point at a closed loopback port, the cache is empty and the shipped copy absent."""
    code = (SCRATCH_PAIR_PRELUDE
            + f"md.BUNDLED = Path({str(tmp_path / 'none')!r})\n"
            + "md.MIRRORS = ('http://127.0.0.1:9/',)\n" + MAIN)
    result = run_cli("mnist-small", env={"XDG_CACHE_HOME": str(tmp_path / "cache")}, code=code)
    assert result.returncode == 2, result.stderr
    assert "\n".join(logical_lines(result.stderr)) + "\n" == ("error: could not download MNIST file train-images-idx3-ubyte.gz "
                             "(http://127.0.0.1:9/: ConnectionError); pass --data-dir DIR holding the "
                             "four MNIST IDX .gz files\n")


def test_json_reports_where_the_data_came_from(tmp_path):
    out = tmp_path / "r.json"
    write_set(tmp_path)
    result = run_cli("mnist-small", "--steps", "1", "--data-dir", str(tmp_path), "--json", str(out), "--quiet",
                     code=SCRATCH_PAIR_PRELUDE + NO_SHA + MAIN)
    assert result.returncode in (0, 1), result.stderr
    import json
    data = json.loads(out.read_text())["config"]["data"]
    assert data == {"source": str(tmp_path), "origin": "option", "train": 2, "test": 1}


# A run of two scratch implementations (a second scratch registered as 'mirror'): judges real
# pairs without importing torch or TensorFlow, so these subprocess tests take a second or two.
SCRATCH_PAIR_PRELUDE = (
    "import sys; from pathlib import Path; sys.argv[0] = 'compare'\n"
    "from compare.engine import registry\n"
    "registry.register(registry.Entry('mirror', ('torch', 'keras'), module='compare.implementations.scratch'))\n"
    "import compare.data.mnist_data as md\n")
MAIN = ("from compare.cli import main\n"
        "sys.exit(main(sys.argv[1:] + ['--frameworks', 'scratch,mirror']))\n")
NO_SHA = "md.check_sha256 = lambda path, name: None\n"        # tiny files made here
REPO = Path(__file__).resolve().parent.parent


def run_cli(*argv, code=None, env=None):
    import os
    import subprocess
    import sys

    environment = dict(os.environ, PYTHONPATH=str(REPO), **(env or {}))
    environment.pop(mnist_data.ENV_VAR, None)
    command = [sys.executable, "-c", code, *argv] if code else [sys.executable, "-m", "compare", *argv]
    return subprocess.run(command, capture_output=True, text=True, env=environment, cwd=REPO, timeout=120)
