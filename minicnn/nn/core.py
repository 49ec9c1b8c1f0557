"""Flatten and Dense."""
from .. import initializers
from . import activations, regularizers
from .base import Layer, keras_arguments, positive_int


class Flatten(Layer):
    """(N, d1, d2, ...) -> (N, d1*d2*...); the gradient is reshaped back."""

    def compute_output_shape(self, input_shape):
        size = 1
        for d in input_shape:
            size *= d
        return (size,)

    def forward(self, x, training=False):
        self._check_input(x)
        self._x_shape = x.shape
        y = x.reshape(x.shape[0], -1)                         # (N, prod(dims))
        self._out_shape = tuple(y.shape)
        return y

    def backward(self, grad_out):
        self._check_grad(grad_out)
        return grad_out.reshape(self._x_shape)


class Dense(Layer):
    """y = x @ kernel + bias;  dL/dkernel = x^T g, dL/dbias = sum_rows g, dL/dx = g kernel^T.

    input_dim=n is Keras' other way to write input_shape=(n,). Keras 1's names
    (output_dim, init, W_regularizer, ...) are converted with a warning."""

    @keras_arguments({"output_dim": "units", "init": "kernel_initializer",
                      "W_regularizer": "kernel_regularizer", "b_regularizer": "bias_regularizer",
                      "W_constraint": "kernel_constraint", "b_constraint": "bias_constraint",
                      "bias": "use_bias"},
                     ("activity_regularizer", "kernel_constraint", "bias_constraint"))
    def __init__(self, units, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None,
                 input_shape=None, name=None, input_dim=None):
        if input_dim is not None:
            if input_shape is not None:
                raise ValueError(f"Dense: got both input_dim={input_dim!r} and input_shape="
                                 f"{input_shape!r}; give one (input_dim=n means input_shape=(n,)).")
            input_shape = (positive_int(input_dim, "Dense: input_dim"),)
        super().__init__(input_shape=input_shape, name=name)
        self.units = positive_int(units, "Dense: units")
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.compute_input_grad = True  # a model's first layer skips dL/dx (nobody needs it)

    def build(self, input_shape):
        if len(input_shape) != 1:
            raise ValueError(f"{self._describe()}: expects flat vectors (features,) per "
                             f"sample, got input shape {tuple(input_shape)}; add Flatten() first.")
        self.params["kernel"] = self.kernel_initializer((input_shape[0], self.units))
        if self.use_bias:
            self.params["bias"] = self.bias_initializer((self.units,))
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        return (self.units,)

    def forward(self, x, training=False):
        self._check_input(x)
        self._x = x
        y = x @ self.params["kernel"]                          # (N, units)
        if self.use_bias:
            y = y + self.params["bias"]
        self._out_shape = tuple(y.shape)
        return y if self.activation is None else self.activation.forward(y, training)

    def backward(self, grad_out):
        self._check_grad(grad_out)
        g = grad_out if self.activation is None else self.activation.backward(grad_out)
        self.grads["kernel"] = self._x.T @ g                    # (features, units)
        if self.use_bias:
            self.grads["bias"] = g.sum(axis=0)                  # (units,)
        if not self.compute_input_grad:
            return None
        return g @ self.params["kernel"].T                      # (N, features)

    def regularizers(self):
        wanted = {"kernel": self.kernel_regularizer,
                  "bias": self.bias_regularizer if self.use_bias else None}
        return {key: regularizer for key, regularizer in wanted.items() if regularizer is not None}

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer)}
