"""Shared pytest fixtures."""
import pytest

from tests import strict_xp


@pytest.fixture
def strict_backend():
    """Run the library on the strict CuPy stand-in (tests/strict_xp.py).

    Yields the stand-in module; the numpy backend is restored afterwards, even
    when the test fails.
    """
    with strict_xp.installed() as module:
        yield module


@pytest.fixture(autouse=True)
def _fresh_backend():
    """Every test starts on numpy/float32 and leaves it that way."""
    from minicnn import backend
    backend.set_backend("numpy")
    backend.set_floatx("float32")
    yield
    backend.set_backend("numpy")
    backend.set_floatx("float32")


@pytest.fixture
def float64():
    """The test runs in float64 (gradient checks), seeded; float32 again afterwards."""
    import minicnn
    from minicnn import backend
    backend.set_floatx("float64")
    minicnn.seed(0)
    yield
    backend.set_floatx("float32")
