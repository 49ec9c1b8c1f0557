"""Dropout, faster: the textbook's mask (minicnn/nn/dropout.py), drawn and applied in parts.

The mask is the one backend.keep_mask would draw for the whole batch, so a
seed gives the same masks as the textbook class. Here its rows are drawn
part by part (backend.keep_mask_rows): each thread draws and applies its own
rows, and in a process team (team.py) each process draws only the rows of
the batch it holds (split.batch_rows). The scaled mask lives in a buffer kept
between steps.

On a GPU the mask comes from the dropout stream, a counter-based generator
(Philox4x32-10, minicnn/philox.py; backend.dropout_stream): the bits of a
mask are a function of the seed, the element's index and the number of draws
so far, a counter kept on the device and advanced there. One fused kernel
(kernels.dropout) computes each element's word, the mask and x * mask, the
same bits as the textbook's array expressions (backend.dropout_words); so a
training step captured as a CUDA graph (graph.py) draws a new mask at every
replay, the mask the eager step would have drawn. NumPy keeps its own
generator (backend.keep_mask_rows), and its results are unchanged.
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
        if backend.get_backend() == "cupy":   # keep_mask's words and the mask: one GPU kernel
            kernels.dropout(x, backend.dropout_stream(), backend.keep_threshold(keep),
                            1.0 / keep, mask, y)
            backend.advance_dropout_stream()
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
