"""Products in row blocks (minicnn/gemm.py) equal the whole products."""
import numpy as np
import pytest

from minicnn.fast import gemm
from tests.test_layers import rand


def test_rows_per_block_follows_the_small_product_limit():
    k, n = 145, 32                                      # vanilla's 3x3 layer, bias column included
    assert gemm.rows_per_block(k, n, 100) == 100        # 464,000 multiply-adds: one product
    assert gemm.rows_per_block(k, n, 18432) == 1_000_000 // (k * n) == 215
    assert gemm.rows_per_block(288, 64, 512) == 512     # 54-row blocks would be under MIN_ROWS
    assert gemm.rows_per_block(16, 8, 7812) == 7812     # exactly 10**6: still small
    assert gemm.rows_per_block(16, 8, 7813) == 7812


def test_rows_per_block_zero_limit_means_whole(monkeypatch):
    monkeypatch.setattr(gemm, "SMALL_MACS", 0)
    assert gemm.rows_per_block(16, 8, 100_000) == 100_000


def test_other_backends_take_products_whole(strict_backend):
    assert gemm.rows_per_block(16, 8, 100_000) == 100_000


@pytest.mark.parametrize("rows", [1, 2, 5, 7, 11])
def test_matmul_in_blocks_equals_the_whole_product(rows, monkeypatch):
    monkeypatch.setattr(gemm, "rows_per_block", lambda k, n, m: rows)
    a, b = rand(11, 6), rand(6, 3, seed=1)
    out = np.full((11, 3), np.nan)
    assert gemm.matmul(a, b, out) is out
    np.testing.assert_allclose(out, a @ b, rtol=1e-13, atol=1e-13)
    out_t = np.empty((11, 6))
    gemm.matmul(a @ rand(6, 4, seed=2), rand(6, 4, seed=3).T, out_t)   # b a transposed view
    np.testing.assert_allclose(out_t, (a @ rand(6, 4, seed=2)) @ rand(6, 4, seed=3).T, rtol=1e-12)


@pytest.mark.parametrize("rows", [1, 2, 5, 7, 11])
def test_matmul_tn_in_blocks_equals_the_whole_product(rows, monkeypatch):
    monkeypatch.setattr(gemm, "rows_per_block", lambda k, n, m: rows)
    a, g = rand(11, 6), rand(11, 3, seed=1)
    total = gemm.matmul_tn(a, g)
    assert total.shape == (6, 3) and total.flags.c_contiguous
    np.testing.assert_allclose(total, a.T @ g, rtol=1e-12, atol=1e-12)


def test_float32_products_stay_float32():
    a = rand(30_000, 40).astype(np.float32)
    b = rand(40, 16, seed=1).astype(np.float32)
    out = np.empty((30_000, 16), np.float32)
    assert gemm.rows_per_block(40, 16, 30_000) < 30_000   # really in blocks
    np.testing.assert_allclose(gemm.matmul(a, b, out), a @ b, rtol=1e-4, atol=1e-4)
    g = rand(30_000, 16, seed=2).astype(np.float32)
    tn = gemm.matmul_tn(a, g)
    assert tn.dtype == np.float32
    np.testing.assert_allclose(tn, a.T @ g, rtol=1e-3, atol=1e-2)
