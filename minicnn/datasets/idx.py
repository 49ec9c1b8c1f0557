"""Reader for the IDX file format (the format MNIST is distributed in).

An IDX file is a small big-endian header followed by the raw array data::

    byte 0-1   two zero bytes
    byte 2     element type (see ``DTYPES``)
    byte 3     number of dimensions, ndim
    then       ndim sizes, each an unsigned 32-bit big-endian integer
    then       prod(sizes) elements, big-endian, in C (row-major) order

Files may be gzip-compressed; that is detected from the first two bytes
(1f 8b), not from the file name. Every deviation from the format raises
``IDXError``; nothing is silently padded or cut off.
"""
import gzip
import math
import os
import zlib

import numpy as np

# type byte -> element dtype as stored in the file (big-endian)
DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
GZIP_MAGIC = b"\x1f\x8b"


class IDXError(ValueError):
    """A file is not a valid IDX file (bad header, wrong size, corrupt gzip)."""


def read_bytes(path):
    """Return the content of ``path``, decompressed if it is gzip data."""
    name = os.fspath(path)
    with open(name, "rb") as f:
        data = f.read()
    if data[:2] != GZIP_MAGIC:
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as err:
        raise IDXError(f"{name}: corrupt gzip data: {err}") from err


def parse_idx(data, name="<bytes>"):
    """Decode the bytes of an (uncompressed) IDX file into a numpy array.

    ``name`` is used only in error messages. The result is a new, writable
    array in native byte order.
    """
    if len(data) < 4:
        raise IDXError(f"{name}: too short for an IDX header "
                       f"({len(data)} bytes, need at least 4)")
    zero0, zero1, type_byte, ndim = data[:4]
    if zero0 != 0 or zero1 != 0:
        raise IDXError(f"{name}: not an IDX file: expected first two bytes "
                       f"00 00, got {zero0:02x} {zero1:02x}")
    if type_byte not in DTYPES:
        known = ", ".join(f"0x{t:02X}" for t in DTYPES)
        raise IDXError(f"{name}: unknown IDX type byte 0x{type_byte:02X} "
                       f"(expected one of {known})")
    if ndim == 0:
        raise IDXError(f"{name}: IDX header says 0 dimensions")
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise IDXError(f"{name}: truncated header: {ndim} dimensions need "
                       f"{header_size} header bytes, file has {len(data)}")
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", ndim, offset=4))

    dtype = DTYPES[type_byte]
    expected = math.prod(shape) * dtype.itemsize
    actual = len(data) - header_size
    if actual != expected:
        problem = "truncated" if actual < expected else "trailing bytes"
        dims = "x".join(str(d) for d in shape)
        raise IDXError(f"{name}: {problem}: header says {dims} = {expected} "
                       f"bytes of data, file has {actual}")
    flat = np.frombuffer(data, dtype, offset=header_size)
    # astype copies: the result is writable and in native byte order
    return flat.astype(dtype.newbyteorder("=")).reshape(shape)


def read_idx(path):
    """Read an IDX file (raw or gzip-compressed) into a numpy array.

    >>> images = read_idx("train-images-idx3-ubyte.gz")   # doctest: +SKIP
    >>> images.shape, images.dtype                        # doctest: +SKIP
    ((60000, 28, 28), dtype('uint8'))

    Raises ``IDXError`` (a ``ValueError``) naming the file if the content
    is not valid IDX data, and ``FileNotFoundError`` if it does not exist.
    """
    return parse_idx(read_bytes(path), os.fspath(path))
