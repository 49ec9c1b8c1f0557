"""Tests for minicnn.datasets: the IDX reader and the MNIST loader."""
import gzip
import struct

import numpy as np
import pytest

from minicnn.datasets import IDXError, mnist, read_idx

TYPE_BYTES = {"uint8": 0x08, "int8": 0x09, "int16": 0x0B,
              "int32": 0x0C, "float32": 0x0D, "float64": 0x0E}
NAMES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


def idx_bytes(array):
    """Encode ``array`` as the bytes of an IDX file (written independently of
    the reader under test, with struct and an explicit big-endian dtype)."""
    header = struct.pack(">BBBB", 0, 0, TYPE_BYTES[array.dtype.name], array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write(path, content, compress=False):
    """Write ``content`` to ``path``, gzip-compressed if asked; return path."""
    path.write_bytes(gzip.compress(content) if compress else content)
    return path


# ---------------------------------------------------------------- real MNIST

@pytest.fixture(scope="module")
def real_mnist():
    """The shipped MNIST, loaded (and checksum-verified) once per module."""
    return mnist.load_data()


def test_mnist_shapes_and_dtypes(real_mnist):
    (x_train, y_train), (x_test, y_test) = real_mnist
    assert x_train.shape == (60000, 28, 28)
    assert y_train.shape == (60000,)
    assert x_test.shape == (10000, 28, 28)
    assert y_test.shape == (10000,)
    for a in (x_train, y_train, x_test, y_test):
        assert a.dtype == np.uint8


def test_mnist_class_counts(real_mnist):
    (_, y_train), (_, y_test) = real_mnist
    assert np.bincount(y_train).tolist() == [
        5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(y_test).tolist() == [
        980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_mnist_first_labels(real_mnist):
    (_, y_train), (_, y_test) = real_mnist
    assert y_train[:5].tolist() == [5, 0, 4, 1, 9]
    assert y_test[:5].tolist() == [7, 2, 1, 0, 4]


def test_mnist_pixel_statistics(real_mnist):
    (x_train, _), _ = real_mnist
    x = x_train.astype(np.float32) / 255   # float32: 8x less memory than /255.0
    assert round(float(x.mean()), 4) == 0.1307
    assert round(float(x.std()), 4) == 0.3081


def test_mnist_arrays_are_writable(real_mnist):
    (x_train, y_train), _ = real_mnist
    assert x_train.flags.writeable and y_train.flags.writeable


# ---------------------------------------------------------------- read_idx

@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("dtype", list(TYPE_BYTES))
@pytest.mark.parametrize("shape", [(7,), (3, 4), (2, 3, 5), (2, 1, 3, 2), (0, 4)])
def test_read_idx_round_trip(tmp_path, dtype, shape, compress):
    rng = np.random.default_rng(0)
    array = (rng.standard_normal(shape) * 100).astype(dtype)
    path = write(tmp_path / "a.idx", idx_bytes(array), compress)
    result = read_idx(path)
    assert result.dtype == np.dtype(dtype)          # native byte order
    assert result.dtype.isnative
    assert result.shape == shape
    np.testing.assert_array_equal(result, array)


def test_read_idx_detects_gzip_by_content_not_name(tmp_path):
    array = np.arange(6, dtype=np.int16).reshape(2, 3)
    gz_no_ext = write(tmp_path / "packed.idx", idx_bytes(array), compress=True)
    raw_with_ext = write(tmp_path / "plain.gz", idx_bytes(array))
    np.testing.assert_array_equal(read_idx(gz_no_ext), array)
    np.testing.assert_array_equal(read_idx(str(raw_with_ext)), array)


def test_read_idx_big_endian_values(tmp_path):
    # 0x0102 stored big-endian must read back as 258, whatever the host order
    content = bytes([0, 0, 0x0B, 1, 0, 0, 0, 1, 0x01, 0x02])
    assert read_idx(write(tmp_path / "be.idx", content)).tolist() == [258]


def _bad_files():
    """(file name, content) pairs that are not valid IDX data."""
    images = idx_bytes(np.zeros((3, 4, 4), np.uint8))
    return {
        "truncated-idx3": images[:-5],
        "trailing-idx3": images + b"\x00\x00",
        "bad-magic-idx3": b"\x01" + images[1:],
        "bad-type-idx3": images[:2] + b"\x07" + images[3:],
        "zero-ndim-idx": b"\x00\x00\x08\x00",
        "short-header-idx3": images[:9],
        "tiny-idx": b"\x00\x00",
        "corrupt-gzip-idx3.gz": gzip.compress(images)[:-20],
        "garbage-gzip-idx3.gz": b"\x1f\x8b" + b"not really gzip" * 4,
    }


@pytest.mark.parametrize("name", list(_bad_files()))
def test_read_idx_errors_name_the_file(tmp_path, name):
    path = write(tmp_path / name, _bad_files()[name])
    with pytest.raises(IDXError, match=name):
        read_idx(path)


def test_idx_error_messages_say_what_is_wrong(tmp_path):
    images = idx_bytes(np.zeros((3, 4, 4), np.uint8))
    cases = [(images[:-5],
              "truncated: header says 3x4x4 = 48 bytes of data, file has 43"),
             (images + b"\x00", "trailing bytes"),
             (b"PK" + images[2:], "not an IDX file"),
             (images[:2] + b"\x07" + images[3:], "type byte 0x07")]
    for content, message in cases:
        with pytest.raises(IDXError, match=message):
            read_idx(write(tmp_path / "x.idx", content))
    assert issubclass(IDXError, ValueError)


def test_read_idx_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope.idx")


# ---------------------------------------------------------------- load_data(path)

def fake_dataset(directory, n_train=12, n_test=5, compress=(True, False, True, False),
                 labels_max=9):
    """Write a small MNIST-format dataset; return its four arrays."""
    rng = np.random.default_rng(1)
    arrays = [rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
              rng.integers(0, labels_max + 1, n_train, dtype=np.uint8),
              rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
              rng.integers(0, labels_max + 1, n_test, dtype=np.uint8)]
    for name, array, gz in zip(NAMES, arrays, compress):
        write(directory / (name + ".gz" if gz else name), idx_bytes(array), gz)
    return arrays


def test_load_data_from_directory(tmp_path):
    expected = fake_dataset(tmp_path)
    (x_train, y_train), (x_test, y_test) = mnist.load_data(path=tmp_path)
    for got, want in zip((x_train, y_train, x_test, y_test), expected):
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, want)


def test_load_data_accepts_str_path_and_all_gz(tmp_path):
    expected = fake_dataset(tmp_path, compress=(True,) * 4)
    (x_train, _), _ = mnist.load_data(path=str(tmp_path))
    np.testing.assert_array_equal(x_train, expected[0])


def test_load_data_missing_file_is_named(tmp_path):
    fake_dataset(tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte"):
        mnist.load_data(path=tmp_path)


def test_load_data_count_mismatch(tmp_path):
    fake_dataset(tmp_path)
    labels = np.zeros(11, np.uint8)    # 12 training images, 11 labels
    write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(labels))
    with pytest.raises(ValueError, match="12 images but 11 labels"):
        mnist.load_data(path=tmp_path)


def test_load_data_bad_labels(tmp_path):
    fake_dataset(tmp_path, labels_max=12, n_train=200)
    with pytest.raises(ValueError, match="labels must be 0..9"):
        mnist.load_data(path=tmp_path)


def test_load_data_bad_image_shape(tmp_path):
    fake_dataset(tmp_path)
    write(tmp_path / "t10k-images-idx3-ubyte.gz",
          idx_bytes(np.zeros((5, 32, 32), np.uint8)), compress=True)
    with pytest.raises(ValueError, match="28, 28"):
        mnist.load_data(path=tmp_path)


def test_shipped_data_checksum_mismatch(tmp_path, monkeypatch):
    # stand-in "installed" files with the right format but the wrong content
    fake_dataset(tmp_path, compress=(True,) * 4)
    monkeypatch.setattr(mnist, "DATA_DIR", str(tmp_path))
    with pytest.raises(ValueError, match="md5.*train-images|train-images.*md5"):
        mnist.load_data()
