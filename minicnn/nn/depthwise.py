"""Depthwise and separable 2-D convolutions (channels-last).

A depthwise convolution filters each input channel on its own, with
depth_multiplier (dm) filters per channel; output channel c*dm + m is channel c
seen through its filter m:

    y[n, i, j, c*dm + m] = bias[c*dm + m]
                           + sum_{a, b} x[n, i*sh + a, j*sw + b, c] * depthwise_kernel[a, b, c, m]

(x already padded for "same"). With im2col's patches split per channel,
cols[n, i, j, k, c] for the k-th of the kh*kw offsets, and g = dL/dy seen as
(N, H', W', C, dm), the gradients are

    dL/ddepthwise_kernel[k, c, m] = sum_{n, i, j} cols[n, i, j, k, c] * g[n, i, j, c, m]
    dL/dcols[n, i, j, k, c]       = sum_m g[n, i, j, c, m] * depthwise_kernel[k, c, m]
    dL/dx = col2im(dL/dcols),     dL/dbias = the sum of g over n, i, j.

A separable convolution is a depthwise one (no bias) followed by a 1x1
convolution that mixes the C*dm channels into ``filters``: with z the
depthwise output as (M, C*dm) rows and P the pointwise_kernel as (C*dm, F),

    y = z @ P + bias,   dL/dP = z^T g,   dL/dz = g P^T,   dL/dbias = sum over rows of g,

and dL/dz goes back through the depthwise step as above.
"""
from .. import backend, initializers
from ..im2col import col2im, im2col, output_hw, pad_input, pads_hw
from . import activations, regularizers
from .base import Layer, keras_arguments, pair, positive_int


def depthwise_forward(xpad, kernel, strides):
    """(y, cols): the depthwise convolution of a padded batch (no bias), y (N, H', W', C*dm),
    and its patches split per channel, cols (N, H', W', kh*kw, C), for the backward."""
    kh, kw, c, dm = kernel.shape
    n = xpad.shape[0]
    cols = im2col(xpad, kh, kw, *strides)                               # (N, H', W', kh*kw*C)
    oh, ow = cols.shape[1], cols.shape[2]
    cols = cols.reshape(n, oh, ow, kh * kw, c)                          # (N, H', W', kh*kw, C)
    y = backend.xp().einsum("nijkc,kcm->nijcm", cols, kernel.reshape(kh * kw, c, dm))
    return y.reshape(n, oh, ow, c * dm), cols                           # (N, H', W', C*dm)


def depthwise_backward(g, cols, kernel, padded_shape, strides):
    """(dL/dkernel, dL/d(padded x)) from g = dL/dy (N, H', W', C*dm) (the docstring's sums)."""
    xp = backend.xp()
    kh, kw, c, dm = kernel.shape
    n, oh, ow, _ = g.shape
    g = g.reshape(n, oh, ow, c, dm)                                     # (N, H', W', C, dm)
    dkernel = xp.einsum("nijkc,nijcm->kcm", cols, g).reshape(kernel.shape)   # (kh, kw, C, dm)
    dcols = xp.einsum("nijcm,kcm->nijkc", g, kernel.reshape(kh * kw, c, dm))  # (N, H', W', kh*kw, C)
    dxpad = col2im(dcols.reshape(n, oh, ow, -1), padded_shape, kh, kw, *strides)  # (N, Hp, Wp, C)
    return dkernel, dxpad


class _Depthwise(Layer):
    """What both layers share: the window's arguments, the padding, the output size."""

    def _window(self, kernel_size, strides, padding):
        kind = type(self).__name__
        if padding not in ("valid", "same"):
            raise ValueError(f"{kind}: padding must be 'valid' or 'same', got {padding!r}.")
        self.kernel_size = pair(kernel_size, f"{kind}: kernel_size")
        self.strides = pair(strides, f"{kind}: strides")
        self.padding = padding
        self.rf_kernel, self.rf_stride = self.kernel_size[0], self.strides[0]
        self.compute_input_grad = True  # a model's first layer skips dL/dx (nobody needs it)

    def _output_hw(self, input_shape):
        h, w, _ = input_shape
        oh, ow = output_hw(h, w, self.kernel_size, self.strides, self.padding)
        if oh < 1 or ow < 1:
            kh, kw = self.kernel_size
            raise ValueError(f"{self._describe()}: a {kh}x{kw} kernel does not fit in a "
                             f"{h}x{w} input with padding={self.padding!r}.")
        return oh, ow

    def _pads(self, h, w):
        """((top, bottom), (left, right)): zeros for "valid", TensorFlow's split for "same"."""
        return pads_hw(h, w, self.kernel_size, self.strides, self.padding)

    def _pad(self, x):
        self._x_shape = x.shape
        xpad = pad_input(x, self._pads(*x.shape[1:3]))                  # (N, Hp, Wp, C)
        self._padded_shape = xpad.shape
        return xpad

    def _unpad(self, dxpad):
        _, h, w, _ = self._x_shape
        (top, _), (left, _) = self._pads(h, w)
        return dxpad[:, top:top + h, left:left + w, :]                  # (N, H, W, C)

    def _activate(self, y, training):
        return y if self.activation is None else self.activation.forward(y, training)

    def _activation_backward(self, grad_out):
        return grad_out if self.activation is None else self.activation.backward(grad_out)

    def _window_config(self):
        return {"kernel_size": self.kernel_size, "strides": self.strides, "padding": self.padding,
                "depth_multiplier": self.depth_multiplier,
                "activation": activations.serialize(self.activation), "use_bias": self.use_bias}


class DepthwiseConv2D(_Depthwise):
    """Keras' DepthwiseConv2D: depthwise_kernel (kh, kw, C, depth_multiplier),
    bias (C * depth_multiplier,)."""

    @keras_arguments({}, ("data_format", "dilation_rate", "activity_regularizer",
                          "depthwise_constraint", "bias_constraint"))
    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1,
                 activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, bias_regularizer=None,
                 input_shape=None, name=None):
        super().__init__(input_shape=input_shape, name=name)
        self._window(kernel_size, strides, padding)
        self.depth_multiplier = positive_int(depth_multiplier, "DepthwiseConv2D: depth_multiplier")
        self.activation = activations.get(activation)      # a layer (ReLU, ...) or None
        self.use_bias = bool(use_bias)
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.depthwise_regularizer = regularizers.get(depthwise_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)

    def build(self, input_shape):
        self._expect_images(input_shape)
        kh, kw = self.kernel_size
        c = input_shape[-1]
        self.params["depthwise_kernel"] = self.depthwise_initializer(
            (kh, kw, c, self.depth_multiplier))
        if self.use_bias:
            self.params["bias"] = self.bias_initializer((c * self.depth_multiplier,))
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        return self._output_hw(input_shape) + (input_shape[-1] * self.depth_multiplier,)

    def forward(self, x, training=False):
        self._check_input(x)
        y, self._cols = depthwise_forward(self._pad(x), self.params["depthwise_kernel"],
                                          self.strides)                # (N, H', W', C*dm)
        if self.use_bias:
            y = y + self.params["bias"]
        self._out_shape = tuple(y.shape)
        return self._activate(y, training)

    def backward(self, grad_out):
        self._check_grad(grad_out)
        g = self._activation_backward(grad_out)                         # (N, H', W', C*dm)
        if self.use_bias:
            self.grads["bias"] = g.sum(axis=(0, 1, 2))                  # (C*dm,)
        dkernel, dxpad = depthwise_backward(g, self._cols, self.params["depthwise_kernel"],
                                            self._padded_shape, self.strides)
        self.grads["depthwise_kernel"] = dkernel                        # (kh, kw, C, dm)
        return self._unpad(dxpad) if self.compute_input_grad else None

    def regularizers(self):
        wanted = {"depthwise_kernel": self.depthwise_regularizer,
                  "bias": self.bias_regularizer if self.use_bias else None}
        return {key: regularizer for key, regularizer in wanted.items() if regularizer is not None}

    def get_config(self):
        return {**super().get_config(), **self._window_config(),
                "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "depthwise_regularizer": regularizers.serialize(self.depthwise_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer)}


class SeparableConv2D(_Depthwise):
    """Keras' SeparableConv2D: depthwise_kernel (kh, kw, C, depth_multiplier), then
    pointwise_kernel (1, 1, C * depth_multiplier, filters), bias (filters,)."""

    @keras_arguments({"nb_filter": "filters", "subsample": "strides", "border_mode": "padding",
                      "dim_ordering": "data_format",
                      "init": ("depthwise_initializer", "pointwise_initializer"),
                      "b_regularizer": "bias_regularizer", "b_constraint": "bias_constraint",
                      "bias": "use_bias"},
                     ("data_format", "dilation_rate", "activity_regularizer",
                      "depthwise_constraint", "pointwise_constraint", "bias_constraint"),
                     kernel_rows_cols=True)
    def __init__(self, filters, kernel_size, strides=1, padding="valid", depth_multiplier=1,
                 activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, pointwise_regularizer=None, bias_regularizer=None,
                 input_shape=None, name=None):
        super().__init__(input_shape=input_shape, name=name)
        self.filters = positive_int(filters, "SeparableConv2D: filters")
        self._window(kernel_size, strides, padding)
        self.depth_multiplier = positive_int(depth_multiplier, "SeparableConv2D: depth_multiplier")
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.pointwise_initializer = initializers.get(pointwise_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.depthwise_regularizer = regularizers.get(depthwise_regularizer)
        self.pointwise_regularizer = regularizers.get(pointwise_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)

    def build(self, input_shape):
        self._expect_images(input_shape)
        kh, kw = self.kernel_size
        c, dm = input_shape[-1], self.depth_multiplier
        self.params["depthwise_kernel"] = self.depthwise_initializer((kh, kw, c, dm))
        self.params["pointwise_kernel"] = self.pointwise_initializer((1, 1, c * dm, self.filters))
        if self.use_bias:
            self.params["bias"] = self.bias_initializer((self.filters,))
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        return self._output_hw(input_shape) + (self.filters,)

    def forward(self, x, training=False):
        self._check_input(x)
        z, self._cols = depthwise_forward(self._pad(x), self.params["depthwise_kernel"],
                                          self.strides)                # (N, H', W', C*dm)
        n, oh, ow, cdm = z.shape
        self._z = z.reshape(-1, cdm)                                    # (M, C*dm), M = N*H'*W'
        y = self._z @ self.params["pointwise_kernel"].reshape(cdm, self.filters)   # (M, F)
        if self.use_bias:
            y = y + self.params["bias"]
        y = y.reshape(n, oh, ow, self.filters)                          # (N, H', W', F)
        self._out_shape = tuple(y.shape)
        return self._activate(y, training)

    def backward(self, grad_out):
        self._check_grad(grad_out)
        n, oh, ow, f = grad_out.shape
        pointwise = self.params["pointwise_kernel"]
        g = self._activation_backward(grad_out).reshape(-1, f)          # (M, F)
        if self.use_bias:
            self.grads["bias"] = g.sum(axis=0)                          # (F,)
        self.grads["pointwise_kernel"] = (self._z.T @ g).reshape(pointwise.shape)  # (1, 1, C*dm, F)
        dz = g @ pointwise.reshape(-1, f).T                             # (M, C*dm)
        dkernel, dxpad = depthwise_backward(dz.reshape(n, oh, ow, -1), self._cols,
                                            self.params["depthwise_kernel"],
                                            self._padded_shape, self.strides)
        self.grads["depthwise_kernel"] = dkernel                        # (kh, kw, C, dm)
        return self._unpad(dxpad) if self.compute_input_grad else None

    def regularizers(self):
        wanted = {"depthwise_kernel": self.depthwise_regularizer,
                  "pointwise_kernel": self.pointwise_regularizer,
                  "bias": self.bias_regularizer if self.use_bias else None}
        return {key: regularizer for key, regularizer in wanted.items() if regularizer is not None}

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, **self._window_config(),
                "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
                "pointwise_initializer": initializers.serialize(self.pointwise_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "depthwise_regularizer": regularizers.serialize(self.depthwise_regularizer),
                "pointwise_regularizer": regularizers.serialize(self.pointwise_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer)}
