"""2-D convolution (channels-last), computed as im2col + one matrix product.

    y[n, i, j, f] = bias[f] + sum_{a, b, c} x[n, i*sh + a, j*sw + b, c] * kernel[a, b, c, f]

(x already padded for "same"; y before the activation.)
With cols = im2col(x) of shape (M, K), M = N*H'*W', K = kh*kw*C, and g = dL/dy as (M, F):
    dL/dkernel = cols^T @ g,   dL/dbias = sum_rows g,   dL/dx = col2im(g @ kernel^T).
A 1x1, stride-1 convolution needs no im2col: it is x.reshape(M, C) @ kernel.

For a layer with a bias, the fast path gives cols one more column, all ones, so
one GEMM adds the bias and one gives both gradients: [cols | 1] @ [kernel; bias] = y, and
[cols | 1]^T @ g = [dL/dkernel; dL/dbias].

The fast path computes g @ kernel^T one kernel offset at a time (one (M, C)
GEMM per offset), so col2im adds contiguous blocks, and runs every product in
row blocks sized for OpenBLAS's small-product kernels (minicnn/gemm.py).
On NumPy, stride-1 layers with at least GRID_MIN_CHANNELS input channels whose
padded input has at most GRID_RATIO times the output's pixels take both
gradients on the padded input's grid instead, with no im2col at all
(_backward_on_grid). ``reference=True`` runs the formulas above as written
(_forward_reference, _backward_reference), the version to read first.
"""
from .. import backend as B
from .. import channels as CH
from .. import gemm
from .. import initializers
from .. import threads as T
from .. import im2col as I
from . import activations
from .base import Layer, is_count, pair, positive_int

# Bytes of im2col columns the fast path handles at once: a piece about the
# size of a core's L2 cache (1 MiB on the machine of benchmarks/RESULTS.md),
# so the GEMM reads columns that im2col has just written there.
CHUNK_BYTES = 1 << 20
# Columns up to this size are kept from forward for the kernel gradient;
# larger ones are out of cache by then, and building them again piece by
# piece costs less than reading them back from memory (the limit was chosen
# by timing whole training steps, benchmarks/RESULTS.md).
KEEP_COLS_BYTES = 2 << 20
# Stride-1 layers whose padded input has at most GRID_RATIO times the output's
# pixels, and at least GRID_MIN_CHANNELS input channels, take their gradients
# on the padded grid (Conv2D._backward_on_grid). Smaller images, where the
# grid's border costs more work, and thin inputs (a 1-channel image), where
# each product is too narrow, keep im2col (both limits timed layer by layer,
# benchmarks/RESULTS.md).
GRID_RATIO = 1.25
GRID_MIN_CHANNELS = 8


class Conv2D(Layer):
    """Keras' Conv2D: kernel (kh, kw, C_in, filters), bias (filters,)."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 input_shape=None, name=None, reference=False):
        super().__init__(input_shape=input_shape, name=name)
        if padding not in ("valid", "same"):
            raise ValueError(f"Conv2D: padding must be 'valid' or 'same', got {padding!r}.")
        self.filters = positive_int(filters, "Conv2D: filters")
        self.kernel_size = pair(kernel_size, "Conv2D: kernel_size")
        self.strides = pair(strides, "Conv2D: strides")
        self.padding = padding
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.reference = reference  # True: the textbook formulas (_forward_reference)
        self.compute_input_grad = True  # a model's first layer skips dL/dx (nobody needs it)
        self.rf_kernel, self.rf_stride = self.kernel_size[0], self.strides[0]

    def build(self, input_shape):
        self._expect_images(input_shape)
        kh, kw = self.kernel_size
        c = input_shape[-1]
        self.params["kernel"] = self.kernel_initializer((kh, kw, c, self.filters))
        if self.use_bias:
            self.params["bias"] = self.bias_initializer((self.filters,))
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        h, w, _ = input_shape
        oh, ow = I.output_hw(h, w, self.kernel_size, self.strides, self.padding)
        if oh < 1 or ow < 1:
            kh, kw = self.kernel_size
            raise ValueError(f"{self._describe()}: a {kh}x{kw} kernel does not fit in a "
                             f"{h}x{w} input with padding={self.padding!r}.")
        return (oh, ow, self.filters)

    def _pads(self, h, w):
        return I.pads_hw(h, w, self.kernel_size, self.strides, self.padding)

    def forward(self, x, training=False):
        self._check_input(x)
        oh, ow, f = self.output_shape
        self._x_shape, self._out_shape = x.shape, (x.shape[0], oh, ow, f)
        if self.reference:
            return self._forward_reference(x, training)
        return self._forward_fast(x, training)

    def backward(self, grad_out):
        self._check_grad(grad_out)
        if self.reference:
            return self._backward_reference(grad_out)
        if self._grid:
            return self._backward_on_grid(grad_out)
        return self._backward_fast(grad_out)

    def _unpad(self, dxpad):
        """dL/dx from dL/d(padded x): the padding's gradient is dropped."""
        _, h, w, _ = self._x_shape
        (top, _), (left, _) = self._pads(h, w)
        return dxpad[:, top:top + h, left:left + w, :]                  # (N, H, W, C)

    # ---- the textbook version ----------------------------------------------
    def _forward_reference(self, x, training):
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        oh, ow, f = self.output_shape
        xpad = I.pad_input(x, self._pads(*x.shape[1:3]))               # (N, Hp, Wp, C)
        self._padded_shape = xpad.shape
        cols = I.im2col_reference(xpad, kh, kw, sh, sw)                 # (N, H', W', kh*kw*C)
        self._cols = cols.reshape(-1, cols.shape[-1])                   # (M, K), M = N*H'*W'
        y = self._cols @ self.params["kernel"].reshape(-1, f)           # (M, F)
        if self.use_bias:
            y = y + self.params["bias"]
        y = y.reshape(self._out_shape)                                  # (N, H', W', F)
        return y if self.activation is None else self.activation.forward(y, training)

    def _backward_reference(self, grad_out):
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        kernel, f = self.params["kernel"], self.filters
        g = grad_out if self.activation is None else self.activation.backward(grad_out)
        g = g.reshape(-1, f)                                            # (M, F)
        self.grads["kernel"] = (self._cols.T @ g).reshape(kernel.shape)   # (kh, kw, C, F)
        if self.use_bias:
            self.grads["bias"] = g.sum(axis=0)                          # (F,)
        if not self.compute_input_grad:
            return None
        dcols = g @ kernel.reshape(-1, f).T                             # (M, kh*kw*C)
        dcols = dcols.reshape(grad_out.shape[:3] + (-1,))               # (N, H', W', kh*kw*C)
        dxpad = I.col2im(dcols, self._padded_shape, kh, kw, sh, sw)     # (N, Hp, Wp, C)
        return self._unpad(dxpad)                                       # (N, H, W, C)

    # ---- the fast version: same maths, in cache-sized pieces and threads -----
    def _is_pointwise(self):
        return self.kernel_size == (1, 1) and self.strides == (1, 1)

    def _chunks(self, part, image_bytes):
        """``part`` (a slice of the batch) cut into pieces of about CHUNK_BYTES of columns.

        Forward: each piece's im2col columns are still in the core's cache when
        the matrix product reads them, which runs nearly twice as fast as over a
        whole batch's columns (benchmarks/RESULTS.md). Backward reads kept
        columns at once, or rebuilds dropped ones in the same pieces. A GPU
        (where every piece would cost kernel launches and its caches serve a
        whole batch) takes the whole part at once.
        """
        if not self._in_pieces():
            return [part]
        step = max(1, CHUNK_BYTES // image_bytes)                       # images per piece
        return [slice(a, min(a + step, part.stop)) for a in range(part.start, part.stop, step)]

    def _in_pieces(self):
        """The fast path works in cache-sized pieces on NumPy; on a GPU it does not."""
        return B.get_backend() == "numpy"

    def _keeps_cols(self, cols_bytes, training, on_grid):
        """Keep forward's columns for backward? A GPU always does; NumPy
        only in training (inference has no backward), for
        columns up to KEEP_COLS_BYTES, and when backward uses columns at all
        (not ``on_grid``)."""
        return not self._in_pieces() or (training and cols_bytes <= KEEP_COLS_BYTES
                                         and not on_grid)

    def _on_grid(self):
        """Does backward work on the padded grid (_backward_on_grid)? NumPy fast path,
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
        chunks = self._chunks(part, oh * ow * width * xpad.itemsize)   # one image's columns
        if cols is None:
            n_max = max(ch.stop - ch.start for ch in chunks)
            buf = B.xp().empty((n_max, oh, ow, width), dtype=xpad.dtype)   # (images, H', W', kh*kw*C [+1])
            if width > k:
                buf[..., k] = 1                                         # the ones column
        for ch in chunks:
            out = cols[ch] if cols is not None else buf[:ch.stop - ch.start]
            I.im2col(xpad[ch], kh, kw, sh, sw, out=out[..., :k])       # (images, H', W', kh*kw*C)
            yield ch, out

    def _forward_fast(self, x, training):
        n, h, w, c = x.shape
        oh, ow, f = self.output_shape
        kmat = self.params["kernel"].reshape(-1, f)                     # (kh*kw*C, F)
        has_ones = self._ones_column()
        if has_ones:
            kmat = B.xp().concatenate([kmat, self.params["bias"][None]])  # (kh*kw*C + 1, F)
        self._grid = self._on_grid()                                    # backward on the grid?
        image_bytes = oh * ow * kmat.shape[0] * x.itemsize              # one image's columns
        xpad = None
        if self._is_pointwise():
            cols = x                                                    # (N, H, W, C): no im2col
        else:
            xpad = I.pad_input(x, self._pads(h, w))                    # (N, Hp, Wp, C)
            self._padded_shape = xpad.shape
            if self._keeps_cols(n * image_bytes, training, self._grid):
                cols = self._workspace("cols", (n, oh, ow, kmat.shape[0]), x.dtype)
                if has_ones:
                    cols[..., -1] = 1                                   # the ones column
            else:
                cols = None                                             # rebuilt in backward
        y = B.xp().empty((n, oh, ow, f), dtype=B.xp().result_type(x, kmat))   # (N, H', W', F)
        relu_in_rows = self._relu_by_rows()

        def pieces(part):  # (piece, its columns): a few images at a time, in cache
            if self._is_pointwise():
                return [(ch, x[ch]) for ch in self._chunks(part, image_bytes)]
            return self._im2col_pieces(xpad, part, cols)

        def rows(part):  # samples x[part]: im2col, GEMM (and bias), ReLU (a thread each, see threads)
            for ch, piece_cols in pieces(part):
                yp = y[ch].reshape(-1, f)                               # (M_chunk, F)
                gemm.matmul(piece_cols.reshape(yp.shape[0], -1), kmat, yp)
                if self.use_bias and not has_ones:
                    yw, bw = CH.widen(yp, self.params["bias"])
                    yw += bw                                            # y += bias, per channel
                if relu_in_rows:
                    self.activation.apply_rows(y, ch)                   # y = max(y, 0)

        T.run(rows, n, size=n * image_bytes // x.itemsize + y.size)
        self._cols = None if cols is None else cols.reshape(n * oh * ow, -1)   # (M, kh*kw*C [+1])
        self._xpad = xpad if cols is None else None     # for rebuilt columns or the grid
        return self._activate(y, training, rows_done=relu_in_rows)

    def _backward_fast(self, grad_out):
        relu_in_rows = self._relu_by_rows()
        # dL/d(pre-activation); with relu_in_rows an empty buffer that rows() fills
        g_act = self._activation_backward(grad_out, by_rows=relu_in_rows)
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
            dxpad = B.xp().empty(self._padded_shape, dtype=g.dtype)    # (N, Hp, Wp, C)
            per_offset = self._per_offset_kernel()                      # (kh*kw, F, C)
            dcols_block = self._workspace("dcols", (n, oh * ow, c_in), g.dtype)
        elif want_dx:
            dx = B.xp().empty(self._x_shape, dtype=g.dtype)
            if self._is_pointwise():   # (F, C), copied: see gemm.py
                kernel_t = B.xp().ascontiguousarray(kernel.reshape(-1, f).T)

        def rows(part):  # one thread's samples; returns its share of the kernel/bias gradients
            if relu_in_rows:
                self.activation.backward_rows(grad_out, g_act, part)    # g = grad_out * [y > 0]
            gp = g[part].reshape(-1, f)                                 # (M_part, F)
            if cols is not None:
                dk = gemm.matmul_tn(cols[part].reshape(gp.shape[0], -1), gp)   # (kh*kw*C [+1], F)
            else:                                                       # columns rebuilt in pieces
                dk = _total([gemm.matmul_tn(pc.reshape(-1, pc.shape[-1]), g[ch].reshape(-1, f))
                             for ch, pc in self._im2col_pieces(self._xpad, part)])
            db = CH.channel_sum(gp) if self.use_bias and not has_ones else None   # (F,)
            if not want_dx or as_convolution:
                return dk, db
            if self._is_pointwise():
                gemm.matmul(gp, kernel_t, dx[part].reshape(-1, c_in))
            else:
                block = dcols_block[part]                               # (N_part, H'*W', C)

                def offset_grad(k):  # dL/dcols for kernel offset k: g @ kernel[k]^T
                    gemm.matmul(gp, per_offset[k], block.reshape(-1, c_in))
                    return block.reshape(-1, oh, ow, c_in)              # (N_part, H', W', C)
                I.col2im_offsets(offset_grad, dxpad[part].shape, kh, kw, sh, sw,
                                 out=dxpad[part])
            return dk, db

        shares = T.run(rows, n, size=n * oh * ow * kh * kw * c_in + g.size)
        self._store_grads(shares, has_ones=has_ones)
        if not want_dx:
            return None
        if as_convolution:
            dxpad = self._input_grad_as_convolution(g_act)              # (N, H+pads, W+pads, C)
        if self._is_pointwise():
            return dx                                                   # (N, H, W, C)
        return self._unpad(dxpad)                                       # (N, H, W, C)

    def _per_offset_kernel(self):
        """kernel[a, b]^T for each offset k = a*kw + b: (kh*kw, F, C), a contiguous
        copy, as the small-product kernels want their second operand (gemm.py)."""
        kh, kw, c_in, f = self.params["kernel"].shape
        return B.xp().ascontiguousarray(
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
        f = self.filters
        n, _, _, c_in = self._x_shape
        oh, ow, _ = self.output_shape
        kh, kw = self.kernel_size
        _, hp, wp, _ = self._padded_shape
        xpad = self._xpad                                               # (N, Hp, Wp, C)
        relu_in_rows = self._relu_by_rows()
        if relu_in_rows:
            self.activation._check_grad(grad_out)
        else:
            g_act = self._activation_backward(grad_out)                 # dL/d(pre-activation)
        grid = self._workspace("grad_grid", (n, hp, wp, f), grad_out.dtype)   # (N, Hp, Wp, F)
        corner = grid[:, :oh, :ow]                                      # (N, H', W', F) view
        want_dx = self.compute_input_grad
        if want_dx:
            per_offset = self._per_offset_kernel()                      # (kh*kw, F, C)
            dxpad = B.xp().empty(self._padded_shape, dtype=grad_out.dtype)
            scratch = self._workspace("dx_grid", (n * hp * wp, c_in), grad_out.dtype)
        shifts = [a * wp + b for a in range(kh) for b in range(kw)]    # s of each offset

        def rows(part):  # one thread's images; returns its share of the kernel/bias gradients
            if relu_in_rows:
                self.activation.backward_rows(grad_out, corner, part)   # g = grad_out * [y > 0]
            else:
                corner[part] = g_act[part]
            grid[part, oh:] = 0                                         # the zero border
            grid[part, :oh, ow:] = 0
            g_rows = grid[part].reshape(-1, f)                          # (N_part*Hp*Wp, F)
            x_rows = xpad[part].reshape(-1, c_in)                       # (N_part*Hp*Wp, C)
            r = g_rows.shape[0] - shifts[-1]
            dk = B.xp().stack([gemm.matmul_tn(x_rows[s:s + r], g_rows[:r])
                               for s in shifts])                        # (kh*kw, C, F)
            db = CH.channel_sum(g_rows) if self.use_bias else None      # (F,)
            if want_dx:
                dx_rows = dxpad[part].reshape(-1, c_in)                 # (N_part*Hp*Wp, C)
                gemm.matmul(g_rows[:r], per_offset[0], dx_rows[:r])     # offset (0, 0): s = 0
                dx_rows[r:] = 0
                block = scratch[part.start * hp * wp:][:r]              # (R, C)
                for k in range(1, kh * kw):
                    s = shifts[k]
                    dx_rows[s:s + r] += gemm.matmul(g_rows[:r], per_offset[k], block)
            return dk.reshape(-1, f), db

        shares = T.run(rows, n, size=2 * kh * kw * grid.size)
        self._store_grads(shares, has_ones=False)
        if not want_dx:
            return None
        return self._unpad(dxpad)                                       # (N, H, W, C)

    def _input_grad_as_convolution(self, g):
        """dL/d(padded x) for stride 1 as one convolution: im2col and a single GEMM.

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
        gpad = I.pad_input(g, ((kh - 1, kh - 1), (kw - 1, kw - 1)))
        cols = I.im2col(gpad, kh, kw, 1, 1)                             # (N, Hp, Wp, kh*kw*F)
        _, hp, wp, k = cols.shape
        dxpad = cols.reshape(-1, k) @ flipped.reshape(k, c)             # (N*Hp*Wp, C)
        return dxpad.reshape(n, hp, wp, c)                              # (N, Hp, Wp, C)

    def takes_affine_input(self):
        """True if with_input_affine applies: no padding, so every window sees real inputs."""
        return self.built and self._pads(*self.input_shape[:2]) == ((0, 0), (0, 0))

    def with_input_affine(self, scale, shift):
        """A Conv2D that computes on x what this one computes on x * scale + shift.

        scale and shift are (C,) per input channel (an inference-mode batch
        norm before this layer). With no padding every window holds real
        inputs, so conv(x*s + t) = conv_{kernel*s}(x) + sum_{a,b,c} kernel[a,b,c,:]*t[c].
        """
        if not self.takes_affine_input():
            raise ValueError(f"{self._describe()}: cannot absorb an affine input with padding.")
        kernel = self.params["kernel"]
        bias = self.params["bias"] if self.use_bias else B.xp().zeros(self.filters, kernel.dtype)
        twin = Conv2D(self.filters, self.kernel_size, self.strides, self.padding,
                      activation=None if self.activation is None else type(self.activation)(),
                      kernel_initializer="zeros",   # replaced below; draws no random numbers
                      name=self.name, reference=self.reference)
        twin.build(self.input_shape)
        twin.params["kernel"] = kernel * scale[:, None]                 # (kh, kw, C, F)
        twin.params["bias"] = bias + (kernel * shift[:, None]).sum(axis=(0, 1, 2))   # (F,)
        return twin


def _total(shares):
    """Sum of the threads' (or pieces') shares; the one share itself when there is one."""
    return shares[0] if len(shares) == 1 else sum(shares[1:], shares[0])


class Convolution2D(Conv2D):
    """Conv2D under its Keras 1 name, which also takes the legacy kernel form.

    Convolution2D(16, 3, 3) is 16 filters of 3x3 (Keras 1: nb_row, nb_col);
    Convolution2D(10, 4) and Convolution2D(8, (3, 3)) are Keras 2 forms.
    """
    type_name = "Conv2D"  # what summary() shows, as Keras does

    def __init__(self, filters, kernel_size, *args, **kwargs):
        if args and is_count(args[0]) and is_count(kernel_size):
            kernel_size, args = (kernel_size, args[0]), args[1:]
        super().__init__(filters, kernel_size, *args, **kwargs)
