"""minicnn.fast.threads: the batch is cut into parts, one per thread, with the same results."""
import platform
import threading
import time

import numpy as np
import pytest

import minicnn
from minicnn import backend, layers
from minicnn.fast import threads
from minicnn.models import Sequential


@pytest.fixture
def thread_count():
    """Set a thread count for one test, then put the previous one back."""
    before = threads.get_threads()
    yield threads.set_threads
    threads.set_threads(before)


def test_parts_cover_the_rows_once_in_order(thread_count):
    thread_count(3)
    for n, align in ((10, 1), (128, 1), (7, 1), (2, 1), (1000, 64), (100, 64)):
        p = threads.parts(n, align)
        assert p[0].start == 0 and p[-1].stop == n
        assert all(a.stop == b.start for a, b in zip(p, p[1:]))
        assert all(s.stop > s.start for s in p)
        assert len(p) <= 3
        assert all(s.start % align == 0 for s in p)
    assert len(threads.parts(128)) == 3 and len(threads.parts(2)) == 2 and len(threads.parts(1)) == 1


def test_run_returns_results_in_order_and_uses_threads(thread_count):
    thread_count(3)
    seen = set()

    def fn(part):
        seen.add(threading.current_thread().name)
        time.sleep(0.05)                                    # keep each worker busy with one part
        return part.start
    out = threads.run(fn, 300, size=10 * threads.MIN_PART)
    assert out == [0, 100, 200]
    assert len(seen) == 3


def test_small_jobs_and_one_thread_run_inline(thread_count):
    thread_count(4)
    calls = []
    assert threads.run(lambda s: calls.append(s) or 1, 100, size=10) == [1]
    assert calls == [slice(0, 100)]
    thread_count(1)
    assert threads.run(lambda s: (s.start, s.stop), 100, size=10 * threads.MIN_PART) == [(0, 100)]


def test_a_failing_part_raises_after_every_part_finished(thread_count):
    thread_count(2)
    done = []

    def fn(part):
        if part.start == 0:
            raise ValueError("part 0 failed")
        done.append(part)
    with pytest.raises(ValueError, match="part 0 failed"):
        threads.run(fn, 100, size=10 * threads.MIN_PART)
    assert done == [slice(50, 100)]


def test_set_threads_rejects_bad_counts():
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="set_threads"):
            threads.set_threads(bad)


def _step_results(n_threads, floatx="float64", batch=48):
    threads.set_threads(n_threads)
    backend.set_floatx(floatx)
    minicnn.seed(3)
    model = Sequential([
        layers.Conv2D(8, 3, activation="relu", input_shape=(28, 28, 1)),
        layers.BatchNormalization(), layers.Dropout(0.2),
        layers.Conv2D(12, 3, activation="relu"), layers.MaxPooling2D(2),
        layers.Conv2D(10, 1), layers.BatchNormalization(), layers.Conv2D(10, 12), layers.Flatten(),
        layers.Activation("softmax")])
    model.compile("categorical_crossentropy", "sgd")
    rng = np.random.default_rng(1)
    x = rng.random((batch, 28, 28, 1)).astype(floatx)
    y = rng.integers(0, 10, batch)
    try:
        loss, _ = model.runner.train_step(x, y)
        grads = [backend.to_host(layer.grads[key]) for layer, key in model.runner.slots]
        return float(loss), grads, model.predict(x, batch_size=batch)
    finally:
        backend.set_floatx("float32")


def test_training_step_is_the_same_for_any_thread_count(thread_count, monkeypatch):
    """float64, so that only the maths is compared: the parts' sums equal the whole sums
    to rounding. (The 1x1 conv's bias gradient is 0 up to rounding, as BN follows it.)"""
    monkeypatch.setattr(threads, "MIN_PART", 1)                   # split even these small arrays
    one = _step_results(1)
    for n in (2, 3):
        other = _step_results(n)
        assert abs(other[0] - one[0]) < 1e-12 * abs(one[0])
        for a, b in zip(other[1], one[1]):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11)
        np.testing.assert_allclose(other[2], one[2], rtol=1e-9, atol=1e-12)


def test_float32_forward_is_the_same_for_any_thread_count(thread_count, monkeypatch):
    monkeypatch.setattr(threads, "MIN_PART", 1)
    one, two = _step_results(1, "float32"), _step_results(2, "float32")
    assert abs(two[0] - one[0]) < 1e-5 * abs(one[0])
    np.testing.assert_allclose(two[2], one[2], rtol=1e-4, atol=1e-6)


def test_same_thread_count_is_repeatable(thread_count, monkeypatch):
    monkeypatch.setattr(threads, "MIN_PART", 1)
    a, b = _step_results(3, "float32"), _step_results(3, "float32")
    assert a[0] == b[0]
    assert all((u == v).all() for u, v in zip(a[1], b[1]))


@pytest.mark.skipif(not threads._blas.found(), reason="NumPy's BLAS is not an OpenBLAS found by threads")
def test_openblas_is_held_at_one_thread_then_given_back(thread_count):
    thread_count(1)
    own = threads._blas._get()
    thread_count(2)
    threads.run(lambda s: None, 100, size=10 * threads.MIN_PART)
    assert threads._blas._get() == 1
    thread_count(1)
    assert threads._blas._get() == own


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_models_keep_freed_memory_on_glibc():
    from minicnn.fast import memory
    model = Sequential([layers.Flatten(input_shape=(2, 2, 1)), layers.Dense(3)])
    model.predict(np.zeros((4, 2, 2, 1), dtype=np.float32))
    assert memory._done
