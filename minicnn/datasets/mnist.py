"""The MNIST handwritten-digit dataset, shipped with the package.

``load_data()`` returns the same arrays as ``keras.datasets.mnist.load_data()``::

    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    # x_train: (60000, 28, 28) uint8   y_train: (60000,) uint8, values 0..9
    # x_test:  (10000, 28, 28) uint8   y_test:  (10000,) uint8

Pass ``path=DIR`` to read the four files from another directory instead, for
example Fashion-MNIST, which uses the same file names and format.
"""
import hashlib
import os

from .idx import parse_idx, read_bytes

DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")

# file name (without .gz) -> md5 of the decompressed content of the original
FILES = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}


def _find(directory, name):
    """Path of ``name + '.gz'`` or ``name`` in ``directory``, whichever exists."""
    for candidate in (name + ".gz", name):
        full = os.path.join(directory, candidate)
        if os.path.isfile(full):
            return full
    raise FileNotFoundError(f"MNIST file {name}.gz (or uncompressed {name}) "
                            f"not found in {directory}")


def _read(directory, name, verify):
    """Read one IDX file; if ``verify``, check its md5 against ``FILES``."""
    path = _find(directory, name)
    data = read_bytes(path)
    if verify:
        digest = hashlib.md5(data, usedforsecurity=False).hexdigest()
        if digest != FILES[name]:
            raise ValueError(f"{path}: md5 of the decompressed data is {digest}, "
                             f"expected {FILES[name]}: the installed MNIST "
                             f"files are corrupt, reinstall minicnn")
    return parse_idx(data, path)


def _check_split(images, labels, split, directory):
    """Check that one split holds uint8 28x28 images with labels 0..9."""
    where = f"{split} set in {directory}"
    if images.dtype != "uint8" or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"{where}: expected uint8 images of shape (N, 28, 28), "
                         f"got {images.dtype} {images.shape}")
    if labels.dtype != "uint8" or labels.ndim != 1:
        raise ValueError(f"{where}: expected uint8 labels of shape (N,), "
                         f"got {labels.dtype} {labels.shape}")
    if len(images) != len(labels):
        raise ValueError(f"{where}: {len(images)} images but {len(labels)} labels")
    if labels.size and labels.max() > 9:
        raise ValueError(f"{where}: labels must be 0..9, found {labels.max()}")


def load_data(path=None):
    """Load MNIST as ``((x_train, y_train), (x_test, y_test))`` uint8 arrays.

    With ``path=None`` the copy shipped inside the package is read and its
    checksums are verified. With ``path=DIR`` the files
    ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte`` (each with or
    without ``.gz``) are read from ``DIR``; no checksums are checked there,
    so any dataset in the same format works.
    """
    verify = path is None
    directory = DATA_DIR if path is None else os.fspath(path)
    x_train, y_train, x_test, y_test = (_read(directory, name, verify)
                                        for name in FILES)
    _check_split(x_train, y_train, "training", directory)
    _check_split(x_test, y_test, "test", directory)
    return (x_train, y_train), (x_test, y_test)
