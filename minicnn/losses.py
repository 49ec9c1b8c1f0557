"""The loss under its Keras names: compile(loss="categorical_crossentropy").

The softmax cross-entropy has one class, the textbook's (minicnn/nn/losses.py):
its arrays are (batch, classes), too small for a faster version to pay.
"""
from .nn.losses import SoftmaxCrossEntropy

__all__ = ["SoftmaxCrossEntropy", "categorical_crossentropy", "get"]

categorical_crossentropy = SoftmaxCrossEntropy   # Keras' name for it (compile takes either)


def get(loss):
    """A loss object from a Keras name, the class (or its Keras alias) or an instance."""
    if isinstance(loss, SoftmaxCrossEntropy):
        return loss
    if loss is SoftmaxCrossEntropy:
        return loss()
    if loss in ("categorical_crossentropy", "sparse_categorical_crossentropy",
                "softmax_cross_entropy"):
        return SoftmaxCrossEntropy()
    raise ValueError(f"Unknown loss {loss!r}: use 'categorical_crossentropy'.")
