"""The losses under their Keras names: compile(loss="categorical_crossentropy").

The classes are the textbook's (minicnn/nn/losses.py): their arrays are
(batch, outputs), too small for a faster version to pay. ``get`` takes a
Keras name or alias ("mse", "mae", ...), a loss class or a loss object.

A cross-entropy after a final softmax (or sigmoid) is fused with it by
``compile``: the model's loss is then the class that takes the logits
(SoftmaxCrossEntropy, SigmoidBinaryCrossentropy), see minicnn/nn/losses.py.
"""
from .nn.losses import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    CategoricalHinge,
    Hinge,
    Loss,
    MeanAbsoluteError,
    MeanSquaredError,
    SigmoidBinaryCrossentropy,
    SoftmaxCrossEntropy,
    SparseCategoricalCrossentropy,
    SquaredHinge,
)

__all__ = ["BinaryCrossentropy", "CategoricalCrossentropy", "CategoricalHinge", "Hinge", "Loss",
           "MeanAbsoluteError", "MeanSquaredError", "SigmoidBinaryCrossentropy",
           "SoftmaxCrossEntropy", "SparseCategoricalCrossentropy", "SquaredHinge",
           "binary_crossentropy", "categorical_crossentropy", "categorical_hinge", "get", "hinge",
           "mae", "mean_absolute_error", "mean_squared_error", "mse", "serialize",
           "sparse_categorical_crossentropy", "squared_hinge"]

# Keras' names for them (compile takes the name, the class or an object)
categorical_crossentropy = CategoricalCrossentropy
sparse_categorical_crossentropy = SparseCategoricalCrossentropy
binary_crossentropy = BinaryCrossentropy
mean_squared_error = mse = MSE = MeanSquaredError
mean_absolute_error = mae = MAE = MeanAbsoluteError
hinge = Hinge
squared_hinge = SquaredHinge
categorical_hinge = CategoricalHinge

_BY_NAME = {
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "softmax_cross_entropy": SoftmaxCrossEntropy,
    "binary_crossentropy": BinaryCrossentropy,
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
    "hinge": Hinge, "squared_hinge": SquaredHinge, "categorical_hinge": CategoricalHinge,
}


def get(loss):
    """A loss object from a Keras name or alias, a loss class, or a loss object (returned
    as is)."""
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, type) and issubclass(loss, Loss):
        return loss()
    if isinstance(loss, str) and loss.lower() in _BY_NAME:
        return _BY_NAME[loss.lower()]()
    raise ValueError(f"Unknown loss {loss!r}: use one of {', '.join(sorted(_BY_NAME))}, or a "
                     "loss object from minicnn.losses.")


def serialize(loss):
    """The Keras name of a loss object (what a model file stores)."""
    return get(loss).name
