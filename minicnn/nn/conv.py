"""2-D convolution (channels-last), computed as im2col and one matrix product.

    y[n, i, j, f] = bias[f] + sum_{a, b, c} x[n, i*sh + a, j*sw + b, c] * kernel[a, b, c, f]

(x already padded for "same"; y before the activation.) With cols = im2col(x)
of shape (M, K), M = N*H'*W' output pixels and K = kh*kw*C values per patch,
the layer is one product, y = cols @ kernel.reshape(K, F) + bias, and for
g = dL/dy as (M, F) its three gradients are

    dL/dkernel = cols^T @ g,   dL/dbias = sum over rows of g,   dL/dx = col2im(g @ kernel^T).

docs/conv2d.md derives them; minicnn/fast/conv.py computes the same faster.
With kernel_regularizer/bias_regularizer the model adds their penalties to the
loss (nn/regularizers.py). Keras 1's names (nb_filter, border_mode, subsample,
init, ..., and Conv2D(16, 3, 3) for a 3x3 kernel) are converted with a warning.
"""
from .. import initializers
from ..im2col import col2im, im2col, output_hw, pad_input, pads_hw
from . import activations, regularizers
from .base import Layer, keras_arguments, pair, positive_int

# Keras 1 argument names of Conv2D and their Keras 2 names (as Keras 2.2 converts them)
KERAS1_CONV_NAMES = {"nb_filter": "filters", "subsample": "strides", "border_mode": "padding",
                     "dim_ordering": "data_format", "init": "kernel_initializer",
                     "W_regularizer": "kernel_regularizer", "b_regularizer": "bias_regularizer",
                     "W_constraint": "kernel_constraint", "b_constraint": "bias_constraint",
                     "bias": "use_bias"}
# Keras 2 arguments a convolution takes only at their default (nn/base.py ONLY_VALUES)
CONV_ONLY_DEFAULTS = ("data_format", "dilation_rate", "activity_regularizer",
                      "kernel_constraint", "bias_constraint")


class Conv2D(Layer):
    """Keras' Conv2D: kernel (kh, kw, C_in, filters), bias (filters,)."""

    @keras_arguments(KERAS1_CONV_NAMES, CONV_ONLY_DEFAULTS, kernel_rows_cols=True)
    def __init__(self, filters, kernel_size, strides=1, padding="valid", activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, input_shape=None, name=None):
        super().__init__(input_shape=input_shape, name=name)
        if padding not in ("valid", "same"):
            raise ValueError(f"Conv2D: padding must be 'valid' or 'same', got {padding!r}.")
        self.filters = positive_int(filters, "Conv2D: filters")
        self.kernel_size = pair(kernel_size, "Conv2D: kernel_size")
        self.strides = pair(strides, "Conv2D: strides")
        self.padding = padding
        self.activation = activations.get(activation)      # a layer (ReLU, ...) or None
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.compute_input_grad = True  # a model's first layer skips dL/dx (nobody needs it)
        self.rf_kernel, self.rf_stride = self.kernel_size[0], self.strides[0]

    def build(self, input_shape):
        self._expect_images(input_shape)
        kh, kw = self.kernel_size
        c = input_shape[-1]
        self.params["kernel"] = self.kernel_initializer((kh, kw, c, self.filters))
        if self.use_bias:
            self.params["bias"] = self.bias_initializer((self.filters,))
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        h, w, _ = input_shape
        oh, ow = output_hw(h, w, self.kernel_size, self.strides, self.padding)
        if oh < 1 or ow < 1:
            kh, kw = self.kernel_size
            raise ValueError(f"{self._describe()}: a {kh}x{kw} kernel does not fit in a "
                             f"{h}x{w} input with padding={self.padding!r}.")
        return (oh, ow, self.filters)

    def forward(self, x, training=False):
        self._check_input(x)
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        oh, ow, f = self.output_shape
        self._x_shape, self._out_shape = x.shape, (x.shape[0], oh, ow, f)
        xpad = pad_input(x, self._pads(*x.shape[1:3]))                 # (N, Hp, Wp, C)
        self._padded_shape = xpad.shape
        cols = im2col(xpad, kh, kw, sh, sw)                             # (N, H', W', kh*kw*C)
        self._cols = cols.reshape(-1, cols.shape[-1])                   # (M, K), M = N*H'*W'
        y = self._cols @ self.params["kernel"].reshape(-1, f)           # (M, F)
        if self.use_bias:
            y = y + self.params["bias"]
        y = y.reshape(self._out_shape)                                  # (N, H', W', F)
        return y if self.activation is None else self.activation.forward(y, training)

    def backward(self, grad_out):
        self._check_grad(grad_out)
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        kernel, f = self.params["kernel"], self.filters
        g = grad_out if self.activation is None else self.activation.backward(grad_out)
        g = g.reshape(-1, f)                                            # (M, F)
        self.grads["kernel"] = (self._cols.T @ g).reshape(kernel.shape)   # (kh, kw, C, F)
        if self.use_bias:
            self.grads["bias"] = g.sum(axis=0)                          # (F,)
        if not self.compute_input_grad:
            return None
        dcols = g @ kernel.reshape(-1, f).T                             # (M, kh*kw*C)
        dcols = dcols.reshape(grad_out.shape[:3] + (-1,))               # (N, H', W', kh*kw*C)
        dxpad = col2im(dcols, self._padded_shape, kh, kw, sh, sw)       # (N, Hp, Wp, C)
        return self._unpad(dxpad)                                       # (N, H, W, C)

    # ---- helpers -----------------------------------------------------------
    def _pads(self, h, w):
        """((top, bottom), (left, right)): zeros for "valid", TensorFlow's split for "same"."""
        return pads_hw(h, w, self.kernel_size, self.strides, self.padding)

    def _unpad(self, dxpad):
        """dL/dx from dL/d(padded x): the padding's gradient is dropped."""
        _, h, w, _ = self._x_shape
        (top, _), (left, _) = self._pads(h, w)
        return dxpad[:, top:top + h, left:left + w, :]                  # (N, H, W, C)

    def regularizers(self):
        wanted = {"kernel": self.kernel_regularizer,
                  "bias": self.bias_regularizer if self.use_bias else None}
        return {key: regularizer for key, regularizer in wanted.items() if regularizer is not None}

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": self.kernel_size, "strides": self.strides,
                "padding": self.padding, "activation": activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer)}
