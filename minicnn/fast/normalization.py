"""BatchNormalization, faster: the textbook's formulas (minicnn/nn/normalization.py)
with fewer passes over memory, in threads, over a process team, and fused on a GPU.

* y = xc * (gamma * inv_std) + beta with xc = x - mean: backward keeps xc
  (not x_hat = xc * inv_std) and folds every per-channel factor into one
  scale, so each full-size array is touched as few times as possible.
* Per-channel arithmetic on long rows (channels.py) and sums as one
  matrix-vector product; each pass runs on parts of the rows in threads
  (threads.py), and sums over rows add the parts' sums.
* In a process team (team.py) each process holds some of the batch's images:
  the per-channel sums are added over the processes (split.allreduce, a
  "synchronised" batch norm) and one process updates the moving statistics
  (split.leads), so the result is the whole batch's.
* Training on CuPy: each pass is one fused kernel (kernels.py), 7 launches
  forward and 6 backward instead of about 20 each; a GPU step of these
  small models is bound by kernel launches. CuPy never splits a batch over
  processes, so there is nothing to add up there.
"""
from .. import backend
from ..nn import normalization as textbook
from . import channels, kernels, split, threads
from .memory import workspace


class BatchNormalization(textbook.BatchNormalization):
    needs_whole_batch = False   # adds its sums over the team's processes (split.allreduce)

    def forward(self, x, training=False):
        self._check_input(x)
        self._training = training
        self._out_shape = tuple(x.shape)
        xp = backend.xp()
        c = x.shape[-1]
        x2 = x.reshape(-1, c)                                   # (M, C)
        self._fused = training and backend.get_backend() == "cupy"
        if self._fused:
            return self._forward_fused(x, x2).reshape(x.shape)
        if training:
            m = _values_per_channel(x, x2)                      # in the whole batch (all processes)
            self._check_batch(m, x)
            mean = split.allreduce(_sum_rows(lambda r: channels.channel_sum(x2[r]), x2)) \
                * (1.0 / m)                                     # (C,)
            xc = workspace(self, "xc", x2.shape, x2.dtype)      # kept until backward

            def center(r):                                      # xc = x - mean; sum(xc^2)
                x_wide, mean_wide = channels.widen(x2[r], mean)
                xp.subtract(x_wide, mean_wide, out=xc[r].reshape(x_wide.shape))
                return channels.channel_dot(xc[r], xc[r])
            var = split.allreduce(_sum_rows(center, x2)) * (1.0 / m)   # (C,) biased
            if split.leads():                                   # one process keeps the state
                self._update_moving(mean, var, m)
        else:
            mean, var = self.state["moving_mean"], self.state["moving_variance"]
            xc = None                                           # not needed: predict stays lean
        gamma, beta = self._gamma_and_beta(c, x2.dtype)
        inv_std = 1.0 / xp.sqrt(var + self.epsilon)
        scale = gamma * inv_std
        y = xp.empty_like(x2)
        source, shift = (xc, beta) if training else (x2, beta - mean * scale)
        _each_rows(lambda r: channels.scale_shift(source[r], scale, shift, out=y[r]), x2)
        self._xc, self._inv_std = xc, inv_std
        # x and the moving mean: only the inference-mode backward reads them
        self._x2, self._mean = (None, None) if training else (x2, mean)
        return y.reshape(x.shape)

    def backward(self, grad_out):
        self._check_grad(grad_out)
        xp = backend.xp()
        c = grad_out.shape[-1]
        g = grad_out.reshape(-1, c)                             # (M, C)
        xc, inv_std = self._xc, self._inv_std
        if self._fused:
            return self._backward_fused(g).reshape(grad_out.shape)
        scale = self._gamma_and_beta(c, g.dtype)[0] * inv_std   # (C,)
        dx = xp.empty_like(g)
        if not self._training:                                  # x_hat = (x - moving_mean) * inv_std
            x2 = self._x2
            # sums (2, C): sum(g) and sum(g * x) per channel
            sums = _sum_rows(lambda r: xp.stack([channels.channel_sum(g[r]),
                                               channels.channel_dot(g[r], x2[r])]), g)
            dbeta, gx = sums[0], sums[1]                        # (C,) each
            dgamma = (gx - self._mean * dbeta) * inv_std
            self._store_grads(dgamma, dbeta)
            _each_rows(lambda r: channels.scale(g[r], scale, out=dx[r]), g)   # dL/dx = scale*g
            return dx.reshape(grad_out.shape)
        # sums (2, C): sum(g) and sum(g * xc) per channel
        sums = _sum_rows(lambda r: xp.stack([channels.channel_sum(g[r]),
                                           channels.channel_dot(g[r], xc[r])]), g)
        self._store_grads(sums[1] * inv_std, sums[0])           # this process's rows
        sums = split.allreduce(sums)                            # (2, C), over the whole batch
        dbeta, dgamma = sums[0], sums[1] * inv_std              # (C,) each; dgamma = sum(g * x_hat)
        m = _values_per_channel(grad_out, g)
        # dL/dx = scale*g - mean_term - xc*xc_coeff, the textbook's formula with
        # x_hat = xc * inv_std; mean_term and xc_coeff are (C,)
        mean_term = scale * dbeta * (1.0 / m)                   # scale * mean(g)
        xc_coeff = scale * inv_std * dgamma * (1.0 / m)         # scale * inv_std * mean(g * x_hat)
        tmp = workspace(self, "tmp", g.shape, g.dtype)

        def rows(r):
            channels.scale_shift(g[r], scale, -mean_term, out=dx[r])   # scale*g - mean_term
            channels.scale(xc[r], xc_coeff, out=tmp[r])                # xc * xc_coeff
            dx[r] -= tmp[r]
        _each_rows(rows, g)
        return dx.reshape(grad_out.shape)

    def _gamma_and_beta(self, c, dtype):
        """(gamma, beta) as (C,) arrays: ones for a layer without gamma (scale=False),
        zeros for one without beta (center=False)."""
        xp = backend.xp()
        gamma = self.params["gamma"] if self.scale else xp.ones(c, dtype=dtype)
        beta = self.params["beta"] if self.center else xp.zeros(c, dtype=dtype)
        return gamma, beta

    # ---- training on CuPy: each pass one fused kernel ------------------------------
    def _forward_fused(self, x, x2):
        xp = backend.xp()
        m = x2.shape[0]
        self._check_batch(m, x)
        mean = kernels.column_sum(x2) * (1.0 / m)               # (C,)
        inv_std = kernels.batchnorm_statistics(mean, kernels.column_squared_deviation(x2, mean),
                                               self.state["moving_mean"],
                                               self.state["moving_variance"],
                                               self.momentum, self.epsilon, m)   # (C,)
        xc = workspace(self, "xc", x2.shape, x2.dtype)          # kept until backward
        y = xp.empty_like(x2)                                   # (M, C)
        gamma, beta = self._gamma_and_beta(x2.shape[1], x2.dtype)
        kernels.batchnorm_forward(x2, mean, inv_std, gamma, beta, xc, y)
        self._xc, self._inv_std = xc, inv_std
        return y

    def _backward_fused(self, g):
        xc, inv_std = self._xc, self._inv_std
        sum_g, sum_gxc = kernels.column_sum(g), kernels.column_dot(g, xc)   # (C,) each
        self._store_grads(sum_gxc * inv_std, sum_g)
        dx = backend.xp().empty_like(g)                         # (M, C)
        kernels.batchnorm_backward(g, xc, self._gamma_and_beta(g.shape[1], g.dtype)[0], inv_std,
                                   sum_g, sum_gxc,
                                   g.shape[0], dx)
        return dx


def _values_per_channel(x, x2):
    """Values per channel in the whole batch: x2 (M, C) holds this process's rows of it."""
    total, _ = split.batch_rows(x.shape[0])
    return x2.shape[0] // x.shape[0] * total


def _sum_rows(fn, a2):
    """Sum of fn(rows) over parts of the rows of the (M, C) array a2, computed in parallel."""
    shares = threads.run(fn, a2.shape[0], size=a2.size, align=64)
    return shares[0] if len(shares) == 1 else sum(shares[1:], shares[0])


def _each_rows(fn, a2):
    """fn(rows) over parts of the rows of a2, in parallel; fn writes its rows of an output."""
    threads.run(fn, a2.shape[0], size=a2.size, align=64)
