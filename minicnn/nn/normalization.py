"""Batch normalisation, per channel over every other axis (N, H, W for images).

Training, with batch mean mu and biased variance var over the M = N*H*W values
of a channel:
    x_hat = (x - mu) / sqrt(var + eps),   y = gamma * x_hat + beta
    dL/dgamma = sum(g * x_hat),   dL/dbeta = sum(g)   (sums over the M values)
    dL/dx = gamma / (M * sqrt(var + eps)) * (M*g - sum(g) - x_hat * sum(g * x_hat))
Inference uses moving_mean and moving_variance instead, updated in training as
    moving = momentum * moving + (1 - momentum) * batch_stat   (unbiased variance),
and then mu and var are constants: dL/dx = gamma / sqrt(moving_variance + eps) * g.

center=False leaves beta out (beta = 0), scale=False leaves gamma out (gamma = 1),
as in Keras: the layer then has no such parameter. The channels are the last
axis (Keras' axis=-1, or axis=3 for images); other axes are refused.
"""
from .. import backend, initializers
from . import regularizers
from .base import Layer, is_count, keras_arguments


class BatchNormalization(Layer):
    needs_whole_batch = True   # statistics over the whole batch

    @keras_arguments({"beta_init": "beta_initializer", "gamma_init": "gamma_initializer",
                      "mode": None}, ("beta_constraint", "gamma_constraint"))
    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, input_shape=None, name=None):
        super().__init__(input_shape=input_shape, name=name)
        if not (is_count(axis) and (axis == -1 or axis >= 1)):
            raise ValueError(f"BatchNormalization: axis={axis!r} is not supported: minicnn "
                             "normalises the last axis only (axis=-1, or 3 for images).")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"BatchNormalization: momentum must be in [0, 1), got {momentum!r}.")
        if epsilon <= 0:
            raise ValueError(f"BatchNormalization: epsilon must be > 0, got {epsilon!r}.")
        self.axis = int(axis)
        self.momentum = float(momentum)   # Python floats: a NumPy float64 here would
        self.epsilon = float(epsilon)     # turn float32 outputs into float64 (NumPy 2)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)

    def build(self, input_shape):
        if self.axis not in (-1, len(input_shape)):
            raise ValueError(f"{self._describe()}: axis={self.axis} is not supported for inputs of "
                             f"shape (batch, {', '.join(map(str, input_shape))}): minicnn "
                             f"normalises the last axis only (axis=-1 or {len(input_shape)}).")
        c = input_shape[-1]
        if self.scale:
            self.params["gamma"] = self.gamma_initializer((c,))
        if self.center:
            self.params["beta"] = self.beta_initializer((c,))
        self.state["moving_mean"] = self.moving_mean_initializer((c,))
        self.state["moving_variance"] = self.moving_variance_initializer((c,))
        super().build(input_shape)

    def forward(self, x, training=False):
        self._check_input(x)
        self._training = training
        self._out_shape = tuple(x.shape)
        c = x.shape[-1]
        x2 = x.reshape(-1, c)                                   # (M, C), M = N*H*W
        gamma, beta = self._gamma(), self.params.get("beta", 0.0)
        if training:
            self._check_batch(x2.shape[0], x)
            mean = x2.mean(axis=0)                              # (C,)
            xc = x2 - mean
            var = (xc * xc).mean(axis=0)                        # (C,) biased
            inv_std = 1.0 / backend.xp().sqrt(var + self.epsilon)
            x_hat = xc * inv_std                                # (M, C)
            self._update_moving(mean, var, x2.shape[0])
        else:
            inv_std = 1.0 / backend.xp().sqrt(self.state["moving_variance"] + self.epsilon)
            x_hat = (x2 - self.state["moving_mean"]) * inv_std
        self._x_hat, self._inv_std = x_hat, inv_std
        y = x_hat * gamma + beta
        return y.reshape(x.shape)

    def backward(self, grad_out):
        self._check_grad(grad_out)
        c = grad_out.shape[-1]
        g = grad_out.reshape(-1, c)                             # (M, C)
        x_hat, inv_std = self._x_hat, self._inv_std
        gamma = self._gamma()
        dbeta = g.sum(axis=0)                                   # (C,)
        dgamma = (g * x_hat).sum(axis=0)                        # (C,)
        self._store_grads(dgamma, dbeta)
        if not self._training:                                  # statistics are constants
            return (g * (gamma * inv_std)).reshape(grad_out.shape)
        m = g.shape[0]
        dx = (gamma * inv_std / m) * (m * g - dbeta - x_hat * dgamma)   # (M, C)
        return dx.reshape(grad_out.shape)

    # ---- helpers -----------------------------------------------------------
    def _gamma(self):
        """gamma, or 1.0 when the layer has none (scale=False)."""
        return self.params.get("gamma", 1.0)

    def _store_grads(self, dgamma, dbeta):
        """grads of the parameters the layer has (none for scale=False / center=False)."""
        if self.scale:
            self.grads["gamma"] = dgamma
        if self.center:
            self.grads["beta"] = dbeta

    def _update_moving(self, mean, var, m):
        """moving = momentum * moving + (1 - momentum) * batch statistic, in place."""
        mom = self.momentum
        moving_mean, moving_variance = self.state["moving_mean"], self.state["moving_variance"]
        moving_mean[...] = mom * moving_mean + (1.0 - mom) * mean
        moving_variance[...] = mom * moving_variance + (1.0 - mom) * (var * (m / (m - 1.0)))

    def _check_batch(self, m, x):
        if m < 2:
            raise ValueError(f"{self._describe()}: training needs at least 2 values per "
                             f"channel, got input shape {tuple(x.shape)}.")

    def regularizers(self):
        wanted = {"gamma": self.gamma_regularizer if self.scale else None,
                  "beta": self.beta_regularizer if self.center else None}
        return {key: regularizer for key, regularizer in wanted.items() if regularizer is not None}

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum,
                "epsilon": self.epsilon, "center": self.center, "scale": self.scale,
                "beta_initializer": initializers.serialize(self.beta_initializer),
                "gamma_initializer": initializers.serialize(self.gamma_initializer),
                "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
                "moving_variance_initializer":
                    initializers.serialize(self.moving_variance_initializer),
                "beta_regularizer": regularizers.serialize(self.beta_regularizer),
                "gamma_regularizer": regularizers.serialize(self.gamma_regularizer)}
