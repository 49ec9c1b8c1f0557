"""Small helpers: data preparation (labels to one-hot rows, normalised rows) and the names of Keras' utils."""
import numpy as np  # host side: labels are prepared before they enter the model

from . import backend
from .nn.base import is_count


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


def normalize(x, axis=-1, order=2):
    """x divided by its norm along ``axis`` (the L2 norm unless ``order`` says otherwise), like
    Keras' np_utils.normalize; where the norm is 0, x is left as it is. Returns a new host
    (NumPy) array, of floatx for integer x; a 1-D x stays 1-D (Keras 2.2 made it (1, d))."""
    x = backend.to_host(x)                                # a list, or an array on the host or a GPU
    if x.dtype.kind not in "fc":
        x = x.astype(backend.floatx())
    norms = np.linalg.norm(x, ord=order, axis=axis, keepdims=True)
    return x / np.where(norms == 0, 1, norms)


def plot_model(model, to_file="model.png", show_shapes=False, show_layer_names=True, rankdir="TB"):
    """Not available: Keras drew the model graph with pydot and Graphviz; minicnn does not."""
    raise NotImplementedError("plot_model: minicnn cannot draw model graphs (Keras used pydot and "
                              "Graphviz); print the layers and their output shapes with "
                              "model.summary() instead.")


class Sequence:
    """Keras' keras.utils.Sequence: a dataset as batches, ``self[i]`` for i in 0 .. len(self) - 1.

    Subclass it and write ``__getitem__(self, index)`` (batch ``index``, e.g. ``(x, y)``) and
    ``__len__(self)`` (the number of batches); ``on_epoch_end(self)`` is called after each
    pass, to reshuffle for example. Iterating over it gives each batch once, in order.
    """

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__}: a Sequence must define "
                                  "__getitem__(self, index), returning batch index.")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__}: a Sequence must define __len__(self), "
                                  "the number of batches.")

    def on_epoch_end(self):
        """Called after each pass over the batches; does nothing unless a subclass says so."""

    def __iter__(self):
        for index in range(len(self)):
            yield self[index]


# `from minicnn.utils import np_utils`, as Keras 2.2 code writes `from keras.utils import
# np_utils`: minicnn/np_utils.py gives the functions above under that name. Imported last,
# because it imports them from here.
from . import np_utils  # noqa: E402, F401 (imported to be found here, not used)
