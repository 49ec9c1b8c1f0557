"""Batch normalisation, per channel over every other axis (N, H, W for images).

Training, with batch mean mu and biased variance var over the M = N*H*W values
of a channel:
    x_hat = (x - mu) / sqrt(var + eps),   y = gamma * x_hat + beta
    dL/dgamma = sum(g * x_hat),   dL/dbeta = sum(g)   (sums over the M values)
    dL/dx = gamma / (M * sqrt(var + eps)) * (M*g - sum(g) - x_hat * sum(g * x_hat))
Inference uses moving_mean and moving_variance instead, updated in training as
    moving = momentum * moving + (1 - momentum) * batch_stat   (unbiased variance),
and then mu and var are constants: dL/dx = gamma / sqrt(moving_variance + eps) * g.
"""
from .. import backend, initializers
from .base import Layer


class BatchNormalization(Layer):
    needs_whole_batch = True   # statistics over the whole batch

    def __init__(self, momentum=0.99, epsilon=1e-3, input_shape=None, name=None):
        super().__init__(input_shape=input_shape, name=name)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"BatchNormalization: momentum must be in [0, 1), got {momentum!r}.")
        if epsilon <= 0:
            raise ValueError(f"BatchNormalization: epsilon must be > 0, got {epsilon!r}.")
        self.momentum = float(momentum)   # Python floats: a NumPy float64 here would
        self.epsilon = float(epsilon)     # turn float32 outputs into float64 (NumPy 2)

    def build(self, input_shape):
        c = input_shape[-1]
        self.params["gamma"] = initializers.ones((c,))
        self.params["beta"] = initializers.zeros((c,))
        self.state["moving_mean"] = initializers.zeros((c,))
        self.state["moving_variance"] = initializers.ones((c,))
        super().build(input_shape)

    def forward(self, x, training=False):
        self._check_input(x)
        self._training = training
        self._out_shape = tuple(x.shape)
        c = x.shape[-1]
        x2 = x.reshape(-1, c)                                   # (M, C), M = N*H*W
        gamma, beta = self.params["gamma"], self.params["beta"]
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
        gamma = self.params["gamma"]
        dbeta = g.sum(axis=0)                                   # (C,)
        dgamma = (g * x_hat).sum(axis=0)                        # (C,)
        self.grads["gamma"], self.grads["beta"] = dgamma, dbeta
        if not self._training:                                  # statistics are constants
            return (g * (gamma * inv_std)).reshape(grad_out.shape)
        m = g.shape[0]
        dx = (gamma * inv_std / m) * (m * g - dbeta - x_hat * dgamma)   # (M, C)
        return dx.reshape(grad_out.shape)

    # ---- helpers -----------------------------------------------------------
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

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "epsilon": self.epsilon}
