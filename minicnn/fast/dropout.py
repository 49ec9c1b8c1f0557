"""Dropout, faster: the textbook's mask (minicnn/nn/dropout.py), drawn and applied in parts.

The mask is the one backend.keep_mask would draw for the whole batch, so a
seed gives the same masks as the textbook class. Here its rows are drawn
part by part (backend.keep_mask_rows): each thread draws and applies its own
rows, and in a process team (team.py) each process draws only the rows of
the batch it holds (split.batch_rows). The scaled mask lives in a buffer kept
between steps. On a GPU, one fused kernel scales and applies it (kernels.py).
"""
from .. import backend
from ..nn import dropout as textbook
from . import kernels, split, threads
from .memory import workspace


class Dropout(textbook.Dropout):
    needs_whole_batch = False   # draws its rows of the whole batch's mask (split.batch_rows)

    def forward(self, x, training=False):
        self._check_input(x)
        self._out_shape = tuple(x.shape)
        if not training or self.rate == 0.0:
            self._scaled_mask = None
            return x
        xp = backend.xp()
        keep = 1.0 - self.rate
        mask = workspace(self, "mask", x.shape, x.dtype)           # kept until backward
        y = xp.empty_like(x)
        self._scaled_mask = mask
        if backend.get_backend() == "cupy":   # keep_mask's draws, then one GPU kernel
            kernels.dropout(x, backend.rng().random(x.shape, dtype="float32"), keep, mask, y)
            return y
        total, mine = split.batch_rows(x.shape[0])                 # this process's rows
        kept = backend.keep_mask_rows((total,) + x.shape[1:], keep)   # rows -> True w.p. p

        def rows(part):  # a thread's samples
            whole = slice(mine.start + part.start, mine.start + part.stop)  # rows of the batch
            xp.multiply(kept(whole), x.dtype.type(1.0 / keep), out=mask[part])  # 0 or 1/p
            xp.multiply(x[part], mask[part], out=y[part])
        threads.run(rows, x.shape[0], size=x.size)
        return y

    def backward(self, grad_out):
        self._check_grad(grad_out)
        if self._scaled_mask is None:
            return grad_out
        xp = backend.xp()
        dx = xp.empty_like(grad_out)

        def rows(part):
            xp.multiply(grad_out[part], self._scaled_mask[part], out=dx[part])
        threads.run(rows, dx.shape[0], size=dx.size)
        return dx
