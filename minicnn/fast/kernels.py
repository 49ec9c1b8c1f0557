"""Fused elementwise kernels for the CuPy backend.

On a GPU, a training step of the assignment's small models is bound by kernel
launches, not arithmetic: every CuPy operation costs one launch and several
microseconds of Python, and a batch norm written as array expressions is about
twenty of them. Each function here runs one chain of elementwise work as a
single CUDA kernel (``cupy.ElementwiseKernel`` / ``cupy.ReductionKernel``),
computing what the NumPy code next to its caller computes; the GPU tests
compare the two. Callers use them only when ``backend.get_backend() == "cupy"``.

Every array argument is a CuPy array of the model's float dtype (``T``);
(C,) vectors broadcast over (M, C) arrays as in NumPy; scalars are cast to T.
A kernel is compiled the first time it is used, then cached by CuPy.
"""
import math

from .. import backend

_made = {}   # name -> compiled kernel object (a cache; the kernels never change)


def _elementwise(name, inputs, outputs, body):
    if name not in _made:
        _made[name] = backend.xp().ElementwiseKernel(inputs, outputs, body, "minicnn_" + name)
    return _made[name]


def _reduction(name, inputs, output, map_expr, post):
    if name not in _made:
        _made[name] = backend.xp().ReductionKernel(inputs, output, map_expr, "a + b", post, "0",
                                             "minicnn_" + name)
    return _made[name]


# ---- optimizers: one kernel per parameter array, updating it in place ----------
def adam(p, g, m, v, lr_t, beta_1, beta_2, epsilon):
    """m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;  p -= lr_t m / (sqrt(v) + eps).
    (1 - b) is computed here in double precision, as the NumPy path does, not in T.)"""
    _elementwise("adam", "T g, T lr_t, T b1, T c1, T b2, T c2, T eps", "T p, T m, T v", """
        m = b1 * m + c1 * g;
        v = b2 * v + c2 * (g * g);
        p -= lr_t * (m / (sqrt(v) + eps));
    """)(g, lr_t, beta_1, 1.0 - beta_1, beta_2, 1.0 - beta_2, epsilon, p, m, v)


def sgd(p, g, lr, weight_decay):
    """p -= lr * (g + wd * p)."""
    _elementwise("sgd", "T g, T lr, T wd", "T p", "p -= lr * (g + wd * p);")(
        g, lr, weight_decay, p)


def sgd_momentum(p, g, velocity, lr, momentum, weight_decay, nesterov):
    """v = mu v - lr (g + wd p);  p += v, or p += mu v - lr (g + wd p) (Nesterov)."""
    _elementwise("sgd_momentum", "T g, T lr, T mu, T wd, bool nesterov", "T p, T v", """
        T step = lr * (g + wd * p);
        v = mu * v - step;
        p += nesterov ? mu * v - step : v;
    """)(g, lr, momentum, weight_decay, bool(nesterov), p, velocity)


# ---- batch normalisation over the rows of (M, C) -------------------------------
def _pieces(x2):
    """(M, C) viewed as (k, M/k, C), k the largest power of two up to 1024 dividing M.

    CuPy gives each output of a reduction one thread block: summing an (M, C)
    array over its rows directly keeps only C (10 to 20) blocks busy, a few
    percent of the GPU. Summing k pieces first, then the k partial sums, keeps
    it full (benchmarks/RESULTS.md has the batch norms' times before and after).
    """
    m, c = x2.shape
    k = math.gcd(m, 1024)
    return x2.reshape(k, m // k, c)


def column_sum(x2):
    """(C,) sum over the rows of x2 (M, C)."""
    return _pieces(x2).sum(axis=1).sum(axis=0)


def column_squared_deviation(x2, mean):
    """(C,) sum over the rows of x2 (M, C) of (x - mean)^2."""
    partial = _reduction("column_squared_deviation", "T x, T mean", "T s",
                         "(x - mean) * (x - mean)", "s = a")(_pieces(x2), mean, axis=1)
    return partial.sum(axis=0)


def column_dot(u2, w2):
    """(C,) sum over the rows of u2 * w2 (both (M, C))."""
    partial = _reduction("column_dot", "T u, T w", "T s", "u * w", "s = a")(
        _pieces(u2), _pieces(w2), axis=1)
    return partial.sum(axis=0)


def batchnorm_statistics(mean, squared_deviation, moving_mean, moving_variance,
                         momentum, epsilon, m):
    """(C,) inv_std = 1/sqrt(var + eps), var = squared_deviation / m (biased);
    the moving statistics are updated in place (with the unbiased variance)."""
    inv_std = backend.xp().empty_like(mean)
    _elementwise("bn_statistics", "T mean, T ssd, T mom, T rest, T eps, T m",
                 "T moving_mean, T moving_variance, T inv_std", """
        T var = ssd / m;
        moving_mean = mom * moving_mean + rest * mean;
        moving_variance = mom * moving_variance + rest * (ssd / (m - (T)1));
        inv_std = (T)1 / sqrt(var + eps);
    """)(mean, squared_deviation, momentum, 1.0 - momentum, epsilon, m, moving_mean,
         moving_variance, inv_std)   # rest = 1 - momentum, in double as on the NumPy path
    return inv_std


def batchnorm_forward(x2, mean, inv_std, gamma, beta, xc, y):
    """xc = x - mean;  y = xc * (gamma * inv_std) + beta, into xc and y (M, C)."""
    _elementwise("bn_forward", "T x, T mean, T inv_std, T gamma, T beta", "T xc, T y", """
        xc = x - mean;
        y = xc * (gamma * inv_std) + beta;
    """)(x2, mean, inv_std, gamma, beta, xc, y)


def batchnorm_backward(g, xc, gamma, inv_std, sum_g, sum_gxc, m, dx):
    """dx = gamma inv_std (g - sum(g)/m - xc inv_std^2 sum(g xc)/m), into dx (M, C)."""
    _elementwise("bn_backward", "T g, T xc, T gamma, T inv_std, T sum_g, T sum_gxc, T m",
                 "T dx", """
        dx = gamma * inv_std * (g - sum_g / m - xc * (inv_std * inv_std * sum_gxc / m));
    """)(g, xc, gamma, inv_std, sum_g, sum_gxc, m, dx)


# ---- dropout, pooling ------------------------------------------------------------
# Element i's mask from the dropout stream (see dropout below), in CUDA C: Philox4x32-10
# at counter (i / 4, the draw count) under the stream's key, output word i % 4.
# (tests/test_graph.py compiles this text as C on the CPU and compares its words with
# the array expressions of minicnn/philox.py.)
DROPOUT_PHILOX = """
    unsigned long long block = (unsigned long long)i >> 2;
    unsigned long long key = stream[0], draw = stream[1];
    unsigned int c0 = (unsigned int)block, c1 = (unsigned int)(block >> 32);
    unsigned int c2 = (unsigned int)draw, c3 = (unsigned int)(draw >> 32);
    unsigned int k0 = (unsigned int)key, k1 = (unsigned int)(key >> 32);
    for (int r = 0; r < 10; ++r) {
        if (r > 0) {
            k0 += 0x9E3779B9u;
            k1 += 0xBB67AE85u;
        }
        unsigned int hi0 = __umulhi(0xD2511F53u, c0), lo0 = 0xD2511F53u * c0;
        unsigned int hi1 = __umulhi(0xCD9E8D57u, c2), lo1 = 0xCD9E8D57u * c2;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
    }
    unsigned int j = (unsigned int)(i & 3);
    unsigned int word = j == 0 ? c0 : (j == 1 ? c1 : (j == 2 ? c2 : c3));
    mask = word < threshold ? scale : (T)0;
    y = x * mask;
"""


def dropout(x, stream, threshold, scale, mask, y):
    """mask = [word < threshold] * scale;  y = x * mask, into mask and y (all like x).

    Element i's word is output word i % 4 of Philox4x32-10 (minicnn/philox.py) at
    counter (i // 4 as two 32-bit words, the draw count as two words) under the
    stream's key: ``stream`` is backend.dropout_stream(), [key, draws so far], read
    here on the device. These are the words backend.dropout_words computes with
    array expressions; the caller counts the draw (backend.advance_dropout_stream).
    """
    _elementwise("dropout_philox", "T x, raw uint64 stream, uint32 threshold, T scale",
                 "T mask, T y", DROPOUT_PHILOX)(x, stream, threshold, scale, mask, y)


def max_pool_2x2_backward(corners, y, g, d_corners):
    """Each window's gradient g to its first corner (row-major) equal to the max y."""
    _elementwise("max_pool_2x2_backward", "T x0, T x1, T x2, T x3, T y, T g",
                 "T d0, T d1, T d2, T d3", """
        bool t0 = x0 == y;
        bool t1 = !t0 && x1 == y;
        bool t2 = !t0 && !t1 && x2 == y;
        bool t3 = !t0 && !t1 && !t2 && x3 == y;
        d0 = t0 ? g : (T)0;
        d1 = t1 ? g : (T)0;
        d2 = t2 ? g : (T)0;
        d3 = t3 ? g : (T)0;
    """)(*corners, y, g, *d_corners)
