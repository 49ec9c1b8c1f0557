"""Batch normalisation, per channel over every other axis (N, H, W for images).

Training, with batch mean mu and biased variance var over the M = N*H*W values
of a channel:
    x_hat = (x - mu) / sqrt(var + eps),   y = gamma * x_hat + beta
    dL/dx = gamma / (M * sqrt(var + eps)) * (M*g - sum(g) - x_hat * sum(g * x_hat))
Inference uses moving_mean and moving_variance instead, updated in training as
    moving = momentum * moving + (1 - momentum) * batch_stat   (unbiased variance).
"""
from .. import backend as B
from .. import initializers
from .base import Layer


class BatchNormalization(Layer):
    def __init__(self, momentum=0.99, epsilon=1e-3, input_shape=None, name=None):
        super().__init__(input_shape=input_shape, name=name)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"BatchNormalization: momentum must be in [0, 1), got {momentum!r}.")
        if epsilon <= 0:
            raise ValueError(f"BatchNormalization: epsilon must be > 0, got {epsilon!r}.")
        self.momentum = momentum
        self.epsilon = epsilon

    def build(self, input_shape):
        c = input_shape[-1]
        self.params["gamma"] = initializers.ones((c,))
        self.params["beta"] = initializers.zeros((c,))
        self.state["moving_mean"] = initializers.zeros((c,))
        self.state["moving_variance"] = initializers.ones((c,))
        super().build(input_shape)

    def forward(self, x, training=False):
        self._check_input(x)
        xp = B.xp()
        c = x.shape[-1]
        x2 = x.reshape(-1, c)                                   # (M, C), M = N*H*W
        gamma, beta = self.params["gamma"], self.params["beta"]
        if training:
            m = x2.shape[0]
            if m < 2:
                raise ValueError(f"{self._describe()}: training needs at least 2 values per "
                                 f"channel, got input shape {tuple(x.shape)}.")
            mean = x2.mean(axis=0)                              # (C,)
            xc = x2 - mean
            var = (xc * xc).mean(axis=0)                        # (C,) biased
            inv_std = 1.0 / xp.sqrt(var + self.epsilon)
            x_hat = xc * inv_std                                # (M, C)
            self._x_hat, self._inv_std = x_hat, inv_std
            mom = self.momentum
            mm, mv = self.state["moving_mean"], self.state["moving_variance"]
            mm *= mom
            mm += (1.0 - mom) * mean
            mv *= mom
            mv += (1.0 - mom) * (var * (m / (m - 1.0)))         # unbiased variance
        else:
            inv_std = 1.0 / xp.sqrt(self.state["moving_variance"] + self.epsilon)
            x_hat = (x2 - self.state["moving_mean"]) * inv_std
            self._x_hat, self._inv_std = x_hat, inv_std
        y = x_hat * gamma + beta
        self._training = training
        self._out_shape = tuple(x.shape)
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
