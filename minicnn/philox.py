"""Philox4x32-10, a counter-based random generator, as array expressions.

Salmon, Moraes, Dror and Shaw, "Parallel random numbers: as easy as 1, 2, 3"
(SC11, 2011), the Random123 library. A counter-based generator has no state
that a draw moves along: its output is a fixed function of a 128-bit
counter c and a 64-bit key k,

    (r0, r1, r2, r3) = philox(c0, c1, c2, c3; k0, k1)        (32-bit words),

so any part of a stream can be computed at once, in any order, by any
thread. The function is ten rounds of

    hi0, lo0 = the high and low words of M0 * c0      (a 64-bit product)
    hi1, lo1 = the high and low words of M1 * c2
    (c0, c1, c2, c3) = (hi1 ^ c1 ^ k0,  lo1,  hi0 ^ c3 ^ k1,  lo0)

with the key bumped by (W0, W1), modulo 2^32, before every round but the
first. M0, M1 are Random123's multipliers; W0, W1 the golden ratio and
sqrt(3) - 1 as 32-bit fractions.

Here every word is a uint32 array (one counter per element) and each
product a uint64 array, so NumPy, CuPy and the tests' strict stand-in
(tests/strict_xp.py) run the same expressions and get the same bits;
tests/test_graph.py checks them against Random123's published known-answer
vectors. The constants are NumPy scalars of fixed width, so no expression
depends on how a module treats Python integers. minicnn.backend uses it
for dropout masks on the GPU backend (backend.keep_mask_rows), and
minicnn/fast/kernels.py computes the same function as one CUDA kernel.
"""
import numpy  # host side: the constants' fixed-width types

ROUNDS = 10
M0, M1 = numpy.uint64(0xD2511F53), numpy.uint64(0xCD9E8D57)
W0, W1 = numpy.uint32(0x9E3779B9), numpy.uint32(0xBB67AE85)
LOW_WORD = numpy.uint64(0xFFFFFFFF)
WORD_BITS = numpy.uint64(32)


def high_and_low(word, multiplier):
    """(high, low) 32-bit words of the 64-bit product word * multiplier (uint32 arrays)."""
    product = word.astype(numpy.uint64) * multiplier
    return (product >> WORD_BITS).astype(numpy.uint32), product.astype(numpy.uint32)


def split_words(a):
    """(low, high) 32-bit words of a uint64 array, as uint32 arrays."""
    return (a & LOW_WORD).astype(numpy.uint32), (a >> WORD_BITS).astype(numpy.uint32)


def philox4x32(counter, key, rounds=ROUNDS):
    """The four uint32 output words of Philox4x32 for ``counter`` (c0, c1, c2, c3) and
    ``key`` (k0, k1), uint32 arrays of one shape (element by element)."""
    c0, c1, c2, c3 = counter
    k0, k1 = key
    for r in range(rounds):
        if r:
            k0, k1 = k0 + W0, k1 + W1                  # the key schedule, modulo 2^32
        hi0, lo0 = high_and_low(c0, M0)
        hi1, lo1 = high_and_low(c2, M1)
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return c0, c1, c2, c3
