"""Inference, faster: each batch norm folded into the convolution after it.

In inference a batch norm is a fixed affine map per channel,

    y = x * scale + shift,   scale = gamma / sqrt(moving_variance + eps),
                             shift = beta - moving_mean * scale,

and a Dropout is the identity. A convolution without padding that follows
sees only real inputs in every window, so it can take the affine into its
own weights:

    conv(x * scale + shift) = conv_{kernel * scale}(x) + sum_{a,b,c} kernel[a, b, c, :] * shift[c],

which saves the batch norm's passes over memory. Only the fast classes are
folded; textbook layers (minicnn/nn) run as written.
"""
from .. import backend
from ..im2col import pads_hw
from .conv import Conv2D
from .dropout import Dropout
from .normalization import BatchNormalization


def fold_batch_norms(layers):
    """``layers`` for inference, each fast BatchNormalization folded into the fast
    Conv2D after it (Dropouts between the two are skipped: the identity in inference).
    The model's own layers are left unchanged; the folded ones are new."""
    out, i = [], 0
    while i < len(layers):
        layer, j = layers[i], i + 1
        while j < len(layers) and isinstance(layers[j], Dropout):
            j += 1
        if (isinstance(layer, BatchNormalization) and j < len(layers)
                and isinstance(layers[j], Conv2D) and takes_affine_input(layers[j])):
            out.append(with_input_affine(layers[j], *batch_norm_affine(layer)))
            i = j + 1
        else:
            out.append(layer)
            i += 1
    return out


def batch_norm_affine(batch_norm):
    """(scale, shift), (C,) each: in inference the batch norm computes x * scale + shift."""
    moving_mean = batch_norm.state["moving_mean"]
    gamma, beta = batch_norm._gamma_and_beta(moving_mean.shape[0], moving_mean.dtype)
    scale = gamma / backend.xp().sqrt(batch_norm.state["moving_variance"] + batch_norm.epsilon)
    return scale, beta - moving_mean * scale


def takes_affine_input(conv):
    """True if with_input_affine applies: no padding, so every window sees real inputs."""
    if not conv.built:
        return False
    h, w, _ = conv.input_shape
    return pads_hw(h, w, conv.kernel_size, conv.strides, conv.padding) == ((0, 0), (0, 0))


def with_input_affine(conv, scale, shift):
    """A new Conv2D that computes on x what ``conv`` computes on x * scale + shift
    (scale and shift: (C,) per input channel)."""
    if not takes_affine_input(conv):
        raise ValueError(f"{conv.name}: cannot absorb an affine input with padding.")
    kernel = conv.params["kernel"]
    bias = conv.params["bias"] if conv.use_bias else backend.xp().zeros(conv.filters, kernel.dtype)
    config = conv.get_config()
    config.update(use_bias=True, kernel_initializer="zeros")   # draws no random numbers
    twin = type(conv)(**config)
    twin.build(conv.input_shape)
    twin.params["kernel"] = kernel * scale[:, None]                 # (kh, kw, C, F)
    twin.params["bias"] = bias + (kernel * shift[:, None]).sum(axis=(0, 1, 2))   # (F,)
    return twin
