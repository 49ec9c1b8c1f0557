"""Batch normalisation, per channel over every other axis (N, H, W for images).

Training, with batch mean mu and biased variance var over the M = N*H*W values
of a channel:
    x_hat = (x - mu) / sqrt(var + eps),   y = gamma * x_hat + beta
    dL/dgamma = sum(g * x_hat),   dL/dbeta = sum(g)   (sums over the M values)
    dL/dx = gamma / (M * sqrt(var + eps)) * (M*g - sum(g) - x_hat * sum(g * x_hat))
Inference uses moving_mean and moving_variance instead, updated in training as
    moving = momentum * moving + (1 - momentum) * batch_stat   (unbiased variance).
"""
from .. import backend as B
from .. import channels as CH
from .. import initializers
from .. import kernels as K
from .. import parallel as P
from .. import threads as T
from .base import Layer


class BatchNormalization(Layer):
    def __init__(self, momentum=0.99, epsilon=1e-3, input_shape=None, name=None,
                 reference=False):
        super().__init__(input_shape=input_shape, name=name)
        self.reference = reference  # True: the textbook formulas below, step by step
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
        if self.reference:
            return self._forward_reference(x, training)
        return self._forward_fast(x, training)

    def backward(self, grad_out):
        self._check_grad(grad_out)
        if self.reference:
            return self._backward_reference(grad_out)
        return self._backward_fast(grad_out)

    def inference_affine(self):
        """(scale, shift), (C,) each: in inference this layer computes x * scale + shift."""
        xp = B.xp()
        scale = self.params["gamma"] / xp.sqrt(self.state["moving_variance"] + self.epsilon)
        return scale, self.params["beta"] - self.state["moving_mean"] * scale

    def _update_moving(self, mean, var, m):
        mom = self.momentum
        mm, mv = self.state["moving_mean"], self.state["moving_variance"]
        mm *= mom
        mm += (1.0 - mom) * mean
        mv *= mom
        mv += (1.0 - mom) * (var * (m / (m - 1.0)))             # unbiased variance

    def _check_batch(self, m, x):
        if m < 2:
            raise ValueError(f"{self._describe()}: training needs at least 2 values per "
                             f"channel, got input shape {tuple(x.shape)}.")

    # ---- the textbook version ----------------------------------------------
    def _forward_reference(self, x, training):
        xp = B.xp()
        c = x.shape[-1]
        x2 = x.reshape(-1, c)                                   # (M, C), M = N*H*W
        gamma, beta = self.params["gamma"], self.params["beta"]
        if training:
            self._check_batch(x2.shape[0], x)
            mean = x2.mean(axis=0)                              # (C,)
            xc = x2 - mean
            var = (xc * xc).mean(axis=0)                        # (C,) biased
            inv_std = 1.0 / xp.sqrt(var + self.epsilon)
            x_hat = xc * inv_std                                # (M, C)
            self._update_moving(mean, var, x2.shape[0])
        else:
            inv_std = 1.0 / xp.sqrt(self.state["moving_variance"] + self.epsilon)
            x_hat = (x2 - self.state["moving_mean"]) * inv_std
        self._x_hat, self._inv_std = x_hat, inv_std
        y = x_hat * gamma + beta
        return y.reshape(x.shape)

    def _backward_reference(self, grad_out):
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

    # ---- the fast version: same maths, fewer passes over memory ---------------
    # y = xc * (gamma * inv_std) + beta with xc = x - mean; backward keeps xc
    # (not x_hat = xc * inv_std) and folds every per-channel factor into one
    # scale, so each full-size array is touched as few times as possible. Each
    # pass runs on parts of the rows in parallel (minicnn/threads.py); sums over
    # rows add the parts' sums.
    def _forward_fast(self, x, training):
        xp = B.xp()
        c = x.shape[-1]
        x2 = x.reshape(-1, c)                                   # (M, C)
        self._fused = training and B.get_backend() == "cupy"
        if self._fused:
            return self._forward_fused(x, x2).reshape(x.shape)
        if training:
            m = _values_per_channel(x, x2)                      # in the whole batch (all processes)
            self._check_batch(m, x)
            mean = P.allreduce(_sum_rows(lambda r: CH.channel_sum(x2[r]), x2)) * (1.0 / m)  # (C,)
            xc = self._workspace("xc", x2.shape, x2.dtype)     # kept until backward

            def center(r):                                      # xc = x - mean; sum(xc^2)
                xw, mw = CH.widen(x2[r], mean)
                xp.subtract(xw, mw, out=xc[r].reshape(xw.shape))
                return CH.channel_dot(xc[r], xc[r])
            var = P.allreduce(_sum_rows(center, x2)) * (1.0 / m)  # (C,) biased
            if P.leads():                                       # one process keeps the state
                self._update_moving(mean, var, m)
        else:
            mean, var = self.state["moving_mean"], self.state["moving_variance"]
            xc = None                                           # not needed: predict stays lean
        inv_std = 1.0 / xp.sqrt(var + self.epsilon)
        scale = self.params["gamma"] * inv_std
        y = xp.empty_like(x2)
        src, shift = (xc, self.params["beta"]) if training else \
            (x2, self.params["beta"] - mean * scale)
        _each_rows(lambda r: CH.scale_shift(src[r], scale, shift, out=y[r]), x2)
        self._xc, self._inv_std = xc, inv_std
        # x and the moving mean: only the inference-mode backward reads them
        self._x2, self._mean = (None, None) if training else (x2, mean)
        return y.reshape(x.shape)

    def _backward_fast(self, grad_out):
        xp = B.xp()
        c = grad_out.shape[-1]
        g = grad_out.reshape(-1, c)                             # (M, C)
        xc, inv_std = self._xc, self._inv_std
        gamma = self.params["gamma"]
        if self._fused:
            return self._backward_fused(g).reshape(grad_out.shape)
        scale = gamma * inv_std                                 # (C,)
        dx = xp.empty_like(g)
        if not self._training:                                  # x_hat = (x - moving_mean) * inv_std
            x2 = self._x2
            # sums (2, C): sum(g) and sum(g * x) per channel
            sums = _sum_rows(lambda r: xp.stack([CH.channel_sum(g[r]),
                                               CH.channel_dot(g[r], x2[r])]), g)
            dbeta, gx = sums[0], sums[1]                        # (C,) each
            dgamma = (gx - self._mean * dbeta) * inv_std
            self.grads["gamma"], self.grads["beta"] = dgamma, dbeta
            _each_rows(lambda r: CH.scale(g[r], scale, out=dx[r]), g)   # dL/dx = scale*g
            return dx.reshape(grad_out.shape)
        # sums (2, C): sum(g) and sum(g * xc) per channel
        sums = _sum_rows(lambda r: xp.stack([CH.channel_sum(g[r]),
                                           CH.channel_dot(g[r], xc[r])]), g)
        self.grads["gamma"], self.grads["beta"] = sums[1] * inv_std, sums[0]   # this process's rows
        sums = P.allreduce(sums)                                # (2, C), over the whole batch
        dbeta, dgamma = sums[0], sums[1] * inv_std              # (C,) each; dgamma = sum(g * x_hat)
        m = _values_per_channel(grad_out, g)
        # dL/dx = scale*g - mean_term - xc*xc_coeff, the formula at the top with
        # x_hat = xc * inv_std; mean_term and xc_coeff are (C,)
        mean_term = scale * dbeta * (1.0 / m)                   # scale * mean(g)
        xc_coeff = scale * inv_std * dgamma * (1.0 / m)         # scale * inv_std * mean(g * x_hat)
        tmp = self._workspace("tmp", g.shape, g.dtype)

        def rows(r):
            CH.scale_shift(g[r], scale, -mean_term, out=dx[r])  # scale*g - mean_term
            CH.scale(xc[r], xc_coeff, out=tmp[r])               # xc * xc_coeff
            dx[r] -= tmp[r]
        _each_rows(rows, g)
        return dx.reshape(grad_out.shape)

    # ---- training on CuPy: the fast version's passes, each one fused kernel ----
    # (minicnn/kernels.py). A GPU step of these small models is bound by kernel
    # launches; this is 7 launches forward and 6 backward instead of about 20 each.
    # CuPy never splits a batch over processes, so there is nothing to all-reduce.
    def _forward_fused(self, x, x2):
        xp = B.xp()
        m = x2.shape[0]
        self._check_batch(m, x)
        mean = K.column_sum(x2) * (1.0 / m)                     # (C,)
        inv_std = K.batchnorm_statistics(mean, K.column_squared_deviation(x2, mean),
                                         self.state["moving_mean"],
                                         self.state["moving_variance"],
                                         self.momentum, self.epsilon, m)   # (C,)
        xc = self._workspace("xc", x2.shape, x2.dtype)         # kept until backward
        y = xp.empty_like(x2)                                   # (M, C)
        K.batchnorm_forward(x2, mean, inv_std, self.params["gamma"], self.params["beta"], xc, y)
        self._xc, self._inv_std = xc, inv_std
        return y

    def _backward_fused(self, g):
        xc, inv_std = self._xc, self._inv_std
        sum_g, sum_gxc = K.column_sum(g), K.column_dot(g, xc)   # (C,) each
        self.grads["gamma"], self.grads["beta"] = sum_gxc * inv_std, sum_g
        dx = B.xp().empty_like(g)                               # (M, C)
        K.batchnorm_backward(g, xc, self.params["gamma"], inv_std, sum_g, sum_gxc, g.shape[0], dx)
        return dx


def _values_per_channel(x, x2):
    """Values per channel in the whole batch: x2 (M, C) holds this process's rows of it."""
    total, _ = P.batch_rows(x.shape[0])
    return x2.shape[0] // x.shape[0] * total


def _sum_rows(fn, a2):
    """Sum of fn(rows) over parts of the rows of the (M, C) array a2, computed in parallel."""
    shares = T.run(fn, a2.shape[0], size=a2.size, align=64)
    return shares[0] if len(shares) == 1 else sum(shares[1:], shares[0])


def _each_rows(fn, a2):
    """fn(rows) over parts of the rows of a2, in parallel; fn writes its rows of an output."""
    T.run(fn, a2.shape[0], size=a2.size, align=64)
