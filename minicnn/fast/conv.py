"""Conv2D, faster: the textbook's maths (minicnn/nn/conv.py) in cache-sized pieces and threads.

What changes, and why:

* Columns in pieces. Forward builds im2col columns a few images at a time
  (about CHUNK_BYTES, a core's L2 cache) and multiplies each piece while it
  is still in cache; columns up to KEEP_COLS_BYTES are kept for backward,
  larger ones are rebuilt there piece by piece (cheaper than reading them back).
* A ones column. With a bias the columns get one more column, all ones, so
  one product adds the bias and one gives both gradients:
  [cols | 1] @ [kernel; bias] = y  and  [cols | 1]^T @ g = [dL/dkernel; dL/dbias].
* The input gradient offset by offset. g @ kernel^T is computed one kernel
  offset at a time (an (M, C) product each), so col2im adds contiguous blocks
  (columns.col2im_offsets).
* Products in row blocks sized for OpenBLAS's small-product kernels (gemm.py).
* Stride-1 gradients on the padded grid (_backward_on_grid): on NumPy, layers
  with at least GRID_MIN_CHANNELS input channels whose padded input has at
  most GRID_RATIO times the output's pixels need no im2col in backward.
* A fused ReLU: with activation="relu" the layer clips its own output in place,
  part by part, and masks the gradient itself.
* Threads: each thread runs the whole chain on its own images (threads.py).
* On a GPU: whole batches (no pieces), and the stride-1 input gradient as one
  convolution (_input_grad_as_convolution), fewer kernel launches.

tests/test_fast_equals_textbook.py checks every path against the textbook class.
"""
from .. import backend
from ..im2col import pad_input
from ..nn import conv as textbook
from ..nn.activations import ReLU
from . import channels, gemm, threads
from .columns import col2im_offsets, im2col_strided
from .memory import workspace

# Bytes of im2col columns handled at once: a piece about the size of a
# core's L2 cache, so the product reads columns that im2col has just written there.
CHUNK_BYTES = 1 << 20
# Columns up to this size are kept from forward for the kernel gradient;
# larger ones are out of cache by then, and building them again piece by
# piece costs less than reading them back from memory (chosen by timing
# whole training steps, benchmarks/RESULTS.md).
KEEP_COLS_BYTES = 2 << 20
# Stride-1 layers whose padded input has at most GRID_RATIO times the output's
# pixels, and at least GRID_MIN_CHANNELS input channels, take their gradients
# on the padded grid. Smaller images, where the grid's border costs more
# work, and thin inputs (a 1-channel image), where each product is too
# narrow, keep im2col (both limits timed layer by layer, benchmarks/RESULTS.md).
GRID_RATIO = 1.25
GRID_MIN_CHANNELS = 8


class Conv2D(textbook.Conv2D):
    """Keras' Conv2D: the textbook's result, faster (see the module docstring)."""

    def forward(self, x, training=False):
        self._check_input(x)
        n, h, w, c = x.shape
        oh, ow, f = self.output_shape
        self._x_shape, self._out_shape = x.shape, (n, oh, ow, f)
        xp = backend.xp()
        kmat = self.params["kernel"].reshape(-1, f)                     # (kh*kw*C, F)
        has_ones = self._ones_column()
        if has_ones:
            kmat = xp.concatenate([kmat, self.params["bias"][None]])    # (kh*kw*C + 1, F)
        self._grid = self._on_grid()                                    # backward on the grid?
        image_bytes = oh * ow * kmat.shape[0] * x.itemsize              # one image's columns
        xpad = None
        if self._is_pointwise():
            cols = x                                                    # (N, H, W, C): no im2col
        else:
            xpad = pad_input(x, self._pads(h, w))                      # (N, Hp, Wp, C)
            self._padded_shape = xpad.shape
            if self._keeps_cols(n * image_bytes, training, self._grid):
                cols = workspace(self, "cols", (n, oh, ow, kmat.shape[0]), x.dtype)
                if has_ones:
                    cols[..., -1] = 1                                   # the ones column
            else:
                cols = None                                             # rebuilt in backward
        y = xp.empty((n, oh, ow, f), dtype=xp.result_type(x, kmat))     # (N, H', W', F)
        relu = self._fuses_relu()

        def pieces(part):  # (piece, its columns): a few images at a time, in cache
            if self._is_pointwise():
                return [(piece, x[piece]) for piece in self._chunks(part, image_bytes)]
            return self._im2col_pieces(xpad, part, cols)

        def rows(part):  # samples x[part]: im2col, product (and bias), ReLU; a thread each
            for piece, piece_cols in pieces(part):
                y_piece = y[piece].reshape(-1, f)                       # (M_piece, F)
                gemm.matmul(piece_cols.reshape(y_piece.shape[0], -1), kmat, y_piece)
                if self.use_bias and not has_ones:
                    y_wide, bias_wide = channels.widen(y_piece, self.params["bias"])
                    y_wide += bias_wide                                 # y += bias, per channel
                if relu:
                    xp.maximum(y[piece], 0, out=y[piece])               # y = max(y, 0)

        threads.run(rows, n, size=n * image_bytes // x.itemsize + y.size)
        self._cols = None if cols is None else cols.reshape(n * oh * ow, -1)   # (M, kh*kw*C [+1])
        self._xpad = xpad if cols is None else None     # for rebuilt columns or the grid
        self._y = y if relu else None                   # the ReLU's output, for its mask
        if relu or self.activation is None:
            return y
        return self.activation.forward(y, training)

    def backward(self, grad_out):
        self._check_grad(grad_out)
        if self._grid:
            return self._backward_on_grid(grad_out)
        xp = backend.xp()
        relu = self._fuses_relu()
        # dL/d(pre-activation); for a fused ReLU a scratch buffer that rows() fills
        g_act = workspace(self, "grad_act", grad_out.shape, grad_out.dtype) if relu \
            else self._activation_backward(grad_out)
        f = self.filters
        kernel = self.params["kernel"]
        n, _, _, c_in = self._x_shape
        oh, ow, _ = self.output_shape
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        g = g_act.reshape(n, oh * ow, f)                                # (N, H'*W', F)
        cols = None if self._cols is None else self._cols.reshape(n, oh * ow, -1)  # (N, H'*W', kh*kw*C [+1])
        want_dx = self.compute_input_grad
        has_ones = self._ones_column()
        as_convolution = (want_dx and not self._is_pointwise() and self.strides == (1, 1)
                          and not self._in_pieces())                    # on a GPU
        if want_dx and not self._is_pointwise() and not as_convolution:
            dxpad = xp.empty(self._padded_shape, dtype=g.dtype)         # (N, Hp, Wp, C)
            per_offset = self._per_offset_kernel()                      # (kh*kw, F, C)
            dcols_block = workspace(self, "dcols", (n, oh * ow, c_in), g.dtype)
        elif want_dx:
            dx = xp.empty(self._x_shape, dtype=g.dtype)
            if self._is_pointwise():   # (F, C), copied: see gemm.py
                kernel_t = xp.ascontiguousarray(kernel.reshape(-1, f).T)

        def rows(part):  # one thread's samples; returns its share of the kernel/bias gradients
            if relu:
                xp.multiply(grad_out[part], self._y[part] > 0, out=g_act[part])   # g * [y > 0]
            g_part = g[part].reshape(-1, f)                             # (M_part, F)
            if cols is not None:
                dk = gemm.matmul_tn(cols[part].reshape(g_part.shape[0], -1), g_part)  # (kh*kw*C [+1], F)
            else:                                                       # columns rebuilt in pieces
                dk = _total([gemm.matmul_tn(pc.reshape(-1, pc.shape[-1]), g[piece].reshape(-1, f))
                             for piece, pc in self._im2col_pieces(self._xpad, part)])
            db = channels.channel_sum(g_part) if self.use_bias and not has_ones else None  # (F,)
            if not want_dx or as_convolution:
                return dk, db
            if self._is_pointwise():
                gemm.matmul(g_part, kernel_t, dx[part].reshape(-1, c_in))
            else:
                block = dcols_block[part]                               # (N_part, H'*W', C)

                def offset_grad(k):  # dL/dcols for kernel offset k: g @ kernel[k]^T
                    gemm.matmul(g_part, per_offset[k], block.reshape(-1, c_in))
                    return block.reshape(-1, oh, ow, c_in)              # (N_part, H', W', C)
                col2im_offsets(offset_grad, dxpad[part].shape, kh, kw, sh, sw, out=dxpad[part])
            return dk, db

        shares = threads.run(rows, n, size=n * oh * ow * kh * kw * c_in + g.size)
        self._store_grads(shares, has_ones=has_ones)
        if not want_dx:
            return None
        if as_convolution:
            dxpad = self._input_grad_as_convolution(g_act)              # (N, Hp, Wp, C)
        if self._is_pointwise():
            return dx                                                   # (N, H, W, C)
        return self._unpad(dxpad)                                       # (N, H, W, C)

    def _backward_on_grid(self, grad_out):
        """backward for stride 1 with g laid on the padded input's grid: no im2col.

        Put g (N, H', W', F) in the top-left corner of a zero (N, Hp, Wp, F)
        grid and read it and the padded x as rows, G (N*Hp*Wp, F) and X
        (N*Hp*Wp, C). Kernel offset (a, b) pairs output row r with input row
        r + s, s = a*Wp + b, for every r at once, so with R = N*Hp*Wp - s_max
        (the rows past R are zeros of G):

            dL/dkernel[a, b] = X[s:s+R]^T @ G[:R],   dL/dX[s:s+R] += G[:R] @ kernel[a, b]^T

        The zero border keeps an output row from reaching into the next image
        row. Every operand is a contiguous block of rows, so the products read
        memory in order and the adds run over long contiguous runs, for the
        price of Hp*Wp / (H'*W') times the multiply-adds (hence GRID_RATIO).
        """
        xp = backend.xp()
        f = self.filters
        n, _, _, c_in = self._x_shape
        oh, ow, _ = self.output_shape
        kh, kw = self.kernel_size
        _, hp, wp, _ = self._padded_shape
        xpad = self._xpad                                               # (N, Hp, Wp, C)
        relu = self._fuses_relu()
        if not relu:
            g_act = self._activation_backward(grad_out)                 # dL/d(pre-activation)
        grid = workspace(self, "grad_grid", (n, hp, wp, f), grad_out.dtype)   # (N, Hp, Wp, F)
        corner = grid[:, :oh, :ow]                                      # (N, H', W', F) view
        want_dx = self.compute_input_grad
        if want_dx:
            per_offset = self._per_offset_kernel()                      # (kh*kw, F, C)
            dxpad = xp.empty(self._padded_shape, dtype=grad_out.dtype)
            scratch = workspace(self, "dx_grid", (n * hp * wp, c_in), grad_out.dtype)
        shifts = [a * wp + b for a in range(kh) for b in range(kw)]    # s of each offset

        def rows(part):  # one thread's images; returns its share of the kernel/bias gradients
            if relu:
                xp.multiply(grad_out[part], self._y[part] > 0, out=corner[part])  # g * [y > 0]
            else:
                corner[part] = g_act[part]
            grid[part, oh:] = 0                                         # the zero border
            grid[part, :oh, ow:] = 0
            g_rows = grid[part].reshape(-1, f)                          # (N_part*Hp*Wp, F)
            x_rows = xpad[part].reshape(-1, c_in)                       # (N_part*Hp*Wp, C)
            r = g_rows.shape[0] - shifts[-1]
            dk = xp.stack([gemm.matmul_tn(x_rows[s:s + r], g_rows[:r])
                           for s in shifts])                            # (kh*kw, C, F)
            db = channels.channel_sum(g_rows) if self.use_bias else None   # (F,)
            if want_dx:
                dx_rows = dxpad[part].reshape(-1, c_in)                 # (N_part*Hp*Wp, C)
                gemm.matmul(g_rows[:r], per_offset[0], dx_rows[:r])     # offset (0, 0): s = 0
                dx_rows[r:] = 0
                block = scratch[part.start * hp * wp:][:r]              # (R, C)
                for k in range(1, kh * kw):
                    s = shifts[k]
                    dx_rows[s:s + r] += gemm.matmul(g_rows[:r], per_offset[k], block)
            return dk.reshape(-1, f), db

        shares = threads.run(rows, n, size=2 * kh * kw * grid.size)
        self._store_grads(shares, has_ones=False)
        if not want_dx:
            return None
        return self._unpad(dxpad)                                       # (N, H, W, C)

    def _input_grad_as_convolution(self, g):
        """dL/d(padded x) for stride 1 as one convolution: im2col and a single product.

        dxpad[n, p, q, c] = sum_{a,b,f} gpad[n, p+a, q+b, f] * kernel[kh-1-a, kw-1-b, c, f],
        with g zero-padded by kh-1 rows and kw-1 columns on each side: the gradient
        is the "full" correlation of g with the kernel flipped in space, its in
        and out channels swapped. On a GPU these few launches beat the kh*kw
        per-offset products and adds that NumPy prefers.
        """
        kh, kw = self.kernel_size
        n, oh, ow, f = g.shape
        c = self._x_shape[-1]
        flipped = self.params["kernel"][::-1, ::-1].transpose(0, 1, 3, 2)   # (kh, kw, F, C)
        gpad = pad_input(g, ((kh - 1, kh - 1), (kw - 1, kw - 1)))
        cols = im2col_strided(gpad, kh, kw, 1, 1)                       # (N, Hp, Wp, kh*kw*F)
        _, hp, wp, k = cols.shape
        dxpad = gemm.matmul(cols.reshape(-1, k), flipped.reshape(k, c),
                            backend.xp().empty((n * hp * wp, c), dtype=g.dtype))   # (N*Hp*Wp, C)
        return dxpad.reshape(n, hp, wp, c)                              # (N, Hp, Wp, C)

    # ---- which path, and the pieces --------------------------------------------
    def _fuses_relu(self):
        """A ReLU activation runs inside this layer, in place on its own output."""
        return isinstance(self.activation, ReLU)

    def _activation_backward(self, grad_out):
        """dL/d(pre-activation) for an activation this layer does not fuse."""
        return grad_out if self.activation is None else self.activation.backward(grad_out)

    def _is_pointwise(self):
        return self.kernel_size == (1, 1) and self.strides == (1, 1)

    def _in_pieces(self):
        """The fast path works in cache-sized pieces on NumPy; on a GPU it does not."""
        return backend.get_backend() == "numpy"

    def _chunks(self, part, image_bytes):
        """``part`` (a slice of the batch) cut into pieces of about CHUNK_BYTES of columns.

        Forward: each piece's im2col columns are still in the core's cache when
        the matrix product reads them. Backward reads kept columns at once, or
        rebuilds dropped ones in the same pieces. A GPU (where every piece
        would cost kernel launches and its caches serve a whole batch) takes
        the whole part at once.
        """
        if not self._in_pieces():
            return [part]
        step = max(1, CHUNK_BYTES // image_bytes)                       # images per piece
        return [slice(a, min(a + step, part.stop)) for a in range(part.start, part.stop, step)]

    def _keeps_cols(self, cols_bytes, training, on_grid):
        """Keep forward's columns for backward? A GPU always does; NumPy
        only in training (inference has no backward), for
        columns up to KEEP_COLS_BYTES, and when backward uses columns at all
        (not ``on_grid``)."""
        return not self._in_pieces() or (training and cols_bytes <= KEEP_COLS_BYTES
                                         and not on_grid)

    def _on_grid(self):
        """Does backward work on the padded grid (_backward_on_grid)? NumPy,
        stride 1, a kernel larger than 1x1, at least GRID_MIN_CHANNELS input
        channels and a grid at most GRID_RATIO times the output."""
        if not self._in_pieces() or self._is_pointwise() or self.strides != (1, 1):
            return False
        h, w, c = self.input_shape
        if c < GRID_MIN_CHANNELS:
            return False
        (top, bottom), (left, right) = self._pads(h, w)
        oh, ow, _ = self.output_shape
        return (h + top + bottom) * (w + left + right) <= GRID_RATIO * oh * ow

    def _ones_column(self):
        """Do the columns carry a column of ones for the bias (module docstring)?"""
        return self.use_bias and not self._is_pointwise()

    def _im2col_pieces(self, xpad, part, cols=None):
        """(piece, its columns) for each piece of the samples [part]: written into
        ``cols[piece]`` when forward keeps them, else into one small reused buffer.
        With a ones column the columns are (images, H', W', kh*kw*C + 1)."""
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        oh, ow, _ = self.output_shape
        k = kh * kw * xpad.shape[-1]
        width = k + (1 if self._ones_column() else 0)
        pieces = self._chunks(part, oh * ow * width * xpad.itemsize)   # one image's columns
        if cols is None:
            most = max(piece.stop - piece.start for piece in pieces)
            buffer = backend.xp().empty((most, oh, ow, width), dtype=xpad.dtype)
            if width > k:
                buffer[..., k] = 1                                      # the ones column
        for piece in pieces:
            out = cols[piece] if cols is not None else buffer[:piece.stop - piece.start]
            im2col_strided(xpad[piece], kh, kw, sh, sw, out=out[..., :k])   # (images, H', W', kh*kw*C)
            yield piece, out

    def _per_offset_kernel(self):
        """kernel[a, b]^T for each offset k = a*kw + b: (kh*kw, F, C), a contiguous
        copy, as the small-product kernels want their second operand (gemm.py)."""
        kh, kw, c_in, f = self.params["kernel"].shape
        return backend.xp().ascontiguousarray(
            self.params["kernel"].reshape(kh * kw, c_in, f).transpose(0, 2, 1))

    def _store_grads(self, shares, has_ones):
        """grads["kernel"] and grads["bias"] from the threads' (dk, db) shares;
        with a ones column the bias gradient is dk's last row, and db is None."""
        kernel = self.params["kernel"]
        dk = _total([dk for dk, _ in shares])                           # (kh*kw*C [+1], F)
        self.grads["kernel"] = dk[:kernel.size // self.filters].reshape(kernel.shape)   # (kh, kw, C, F)
        if has_ones:
            self.grads["bias"] = dk[-1]                                 # (F,) = ones^T @ g
        elif self.use_bias:
            self.grads["bias"] = _total([db for _, db in shares])       # (F,) = sum_rows g


def _total(shares):
    """Sum of the threads' (or pieces') shares; the one share itself when there is one."""
    return shares[0] if len(shares) == 1 else sum(shares[1:], shares[0])
