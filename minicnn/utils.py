"""Small helpers: data preparation, and the file paths the library writes to."""
import os
import tempfile

import numpy as np  # host side: labels are prepared before they enter the model

from . import backend
from .nn.base import is_count


def file_path(who, name, path, example):
    """``path`` (a str or os.PathLike) as a str: a TypeError for anything else, a
    ValueError for an empty one, each naming the argument ``name`` of ``who``."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{who}: {name} must be a file path (a str or os.PathLike) such as "
                        f"{example!r}, got {type(path).__name__} {path!r}.")
    path = os.fspath(path)
    if not path:
        raise ValueError(f"{who}: {path!r} is empty; give a file name such as {example!r}.")
    return path


def require_folder(who, path, when):
    """The folder ``path`` goes into; FileNotFoundError, naming it, if it is missing
    (``when`` says when to create it: "first", "before fit")."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{who}: the folder {folder} does not exist; create it "
                                f"{when} (os.makedirs).")
    return folder


def write_atomically(path, write):
    """Call write(f) on a binary file, then rename it over ``path``: a crash or Ctrl-C
    leaves the old file or the new one, never half of one, and no temporary file.

    The temporary file lives in path's own folder (for the rename), is flushed to
    disk before the rename, and gets the permissions open() would give it (0666
    less the umask; mkstemp's own are 0600).
    """
    folder, name = os.path.split(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{name}-", suffix=".tmp", dir=folder)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _umask():
    """This process's umask (read by setting it, then putting it back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def to_categorical(y, num_classes=None, dtype="float32"):
    """Integer labels (N,) -> one-hot rows (N, num_classes), like Keras' np_utils.to_categorical."""
    if num_classes is not None and not (is_count(num_classes) and num_classes >= 1):
        raise ValueError(f"to_categorical: num_classes must be a positive int (how many classes, "
                         f"e.g. 10 for digits) or None to count them from the labels; "
                         f"got {num_classes!r}.")
    y = backend.to_host(y)                                # a list, or labels on the host or a GPU
    if y.dtype.kind not in "iu":
        if y.dtype.kind == "f" and np.all(np.mod(y, 1) == 0):
            y = y.astype(np.int64)
        else:
            raise TypeError(f"to_categorical: labels must be integers, got {y.dtype}.")
    y = y.reshape(-1)
    if y.size and y.min() < 0:
        raise ValueError(f"to_categorical: labels must be >= 0, got {y.min()}.")
    if num_classes is None:
        num_classes = int(y.max()) + 1 if y.size else 0
    if y.size and y.max() >= num_classes:
        raise ValueError(f"to_categorical: label {y.max()} does not fit {num_classes} classes "
                         f"(labels 0 .. {num_classes - 1}); pass num_classes={y.max() + 1} "
                         "or more.")
    out = np.zeros((y.shape[0], int(num_classes)), dtype=dtype)
    out[np.arange(y.shape[0]), y] = 1
    return out
