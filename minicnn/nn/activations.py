"""Element-wise activations: ReLU, softmax, linear.

Conv2D and Dense take ``activation="relu"`` and run one of these after their
own output, exactly like a separate Activation layer would.
"""
from .. import backend
from .base import Layer


class ReLU(Layer):
    """y = max(x, 0);  dL/dx = dL/dy * [y > 0]."""

    def forward(self, x, training=False):
        self._check_input(x)
        y = backend.xp().maximum(x, 0)
        self._y = y
        self._out_shape = tuple(y.shape)
        return y

    def backward(self, grad_out):
        self._check_grad(grad_out)
        return grad_out * (self._y > 0)


class Softmax(Layer):
    """y_i = exp(x_i) / sum_j exp(x_j) over the last axis;
    dL/dx = y * (g - sum(g * y)) (the Jacobian-vector product)."""

    def forward(self, x, training=False):
        self._check_input(x)
        z = x - x.max(axis=-1, keepdims=True)          # stable: exp of values <= 0
        e = backend.xp().exp(z)
        y = e / e.sum(axis=-1, keepdims=True)
        self._y = y
        self._out_shape = tuple(y.shape)
        return y

    def backward(self, grad_out):
        self._check_grad(grad_out)
        y = self._y
        return y * (grad_out - (grad_out * y).sum(axis=-1, keepdims=True))


class Linear(Layer):
    """y = x;  dL/dx = dL/dy."""

    def forward(self, x, training=False):
        self._check_input(x)
        self._out_shape = tuple(x.shape)
        return x

    def backward(self, grad_out):
        self._check_grad(grad_out)
        return grad_out


_BY_NAME = {"relu": ReLU, "softmax": Softmax, "linear": Linear}


def get(activation):
    """An activation layer from a Keras name ("relu", "softmax"); None for "linear" or None
    (the identity: nothing to run)."""
    if activation is None or activation == "linear":
        return None
    if isinstance(activation, Layer):
        return activation
    if activation not in _BY_NAME:
        raise ValueError(f"Unknown activation {activation!r}: choose one of {sorted(_BY_NAME)}.")
    return _BY_NAME[activation]()


def serialize(activation):
    """The Keras name of an activation layer made by get() ("linear" for None)."""
    for name, kind in _BY_NAME.items():
        if type(activation) is kind:
            return name
    return "linear" if activation is None else activation


class Activation(Layer):
    """Keras' Activation("relu" | "softmax" | "linear") as a layer of its own."""

    def __init__(self, activation, input_shape=None, name=None):
        super().__init__(input_shape=input_shape, name=name)
        # the argument as given, usually a name such as "relu"; the layer that runs
        # is self.fn (on Conv2D and Dense, .activation is that layer itself, or None)
        self.activation = activation
        self.fn = get(activation) or Linear()                  # a ReLU, Softmax or Linear layer

    def forward(self, x, training=False):
        self._check_input(x)
        y = self.fn.forward(x, training)
        self._out_shape = tuple(y.shape)
        return y

    def backward(self, grad_out):
        self._check_grad(grad_out)
        return self.fn.backward(grad_out)

    def get_config(self):
        return {**super().get_config(), "activation": serialize(self.fn)}
