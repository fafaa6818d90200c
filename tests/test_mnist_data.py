"""The MNIST loader: the real files parse to the canonical numbers; every broken file is one clear
InputError naming it (tiny IDX files built here)."""
import gzip
import struct

import numpy as np
import pytest

from compare.data import mnist_data
from compare.engine.errors import InputError
from compare.data.mnist_data import FILES, load_mnist, read_idx


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


def test_offline_cache_without_files(tmp_path, monkeypatch):
    monkeypatch.delenv(mnist_data.ENV_VAR, raising=False)
    mnist_data.parse.cache_clear()
    with pytest.raises(InputError, match="--offline forbids downloading"):
        load_mnist(None, offline=True, cache_dir=tmp_path)


def test_env_var_is_used(tmp_path, monkeypatch):
    monkeypatch.setenv(mnist_data.ENV_VAR, str(write_set(tmp_path)))
    assert mnist_data.resolve_data_dir() == (tmp_path, "env")
    assert mnist_data.resolve_data_dir(data_dir="x")[1] == "option"


def test_failed_download_leaves_good_files_alone(tmp_path, monkeypatch):
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
