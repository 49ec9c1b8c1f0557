"""The training step as a CUDA graph (minicnn/fast/graph.py), its device-side state, and
the dropout stream (Philox4x32-10, minicnn/philox.py).

On a CPU: Philox against Random123's known answers; the dropout stream on the strict
CuPy stand-in (tests/strict_xp.py); the graphed step in its eager fallback, which
computes exactly what Runner.train_step computes with no host transfer; the counters
on the device; the recording logic, with a recorder that runs on a CPU; the column-major
arguments of the cuBLAS products. Tests marked ``gpu`` record and replay real CUDA
graphs and skip where there is no GPU.
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import minicnn
from minicnn import backend, layers, philox
from minicnn.fast import cublas, graph, kernels, team, threads
from minicnn.models import Sequential
from minicnn.optimizers import SGD, Adam, RMSprop
from tests import strict_xp
from tests.test_backend_paths import _cupy_or_skip, _installed

# Random123's known-answer vectors for philox4x32, from the Random123 distribution's
# tests/kat_vectors (github.com/DEShawResearch/random123, commit 9545ff6413f2, lines
# 24-29): rounds, counter (four words), key (two words), the expected output (four words).
KNOWN_ANSWERS = [
    (7, "00000000 00000000 00000000 00000000", "00000000 00000000",
     "5f6fb709 0d893f64 4f121f81 4f730a48"),
    (7, "ffffffff ffffffff ffffffff ffffffff", "ffffffff ffffffff",
     "5207ddc2 45165e59 4d8ee751 8c52f662"),
    (7, "243f6a88 85a308d3 13198a2e 03707344", "a4093822 299f31d0",
     "4dfccaba 190a87f0 c47362ba b6b5242a"),
    (10, "00000000 00000000 00000000 00000000", "00000000 00000000",
     "6627e8d5 e169c58d bc57ac4c 9b00dbd8"),
    (10, "ffffffff ffffffff ffffffff ffffffff", "ffffffff ffffffff",
     "408f276d 41c83b0e a20bc7c6 6d5451fd"),
    (10, "243f6a88 85a308d3 13198a2e 03707344", "a4093822 299f31d0",
     "d16cfe09 94fdcceb 5001e420 24126ea1"),
]


def words(text):
    return [int(word, 16) for word in text.split()]


def philox_answers(rounds):
    """philox4x32 of every known-answer counter and key with ``rounds``, computed on the
    active backend all at once (one element per vector): (got, expected) host arrays."""
    cases = [case for case in KNOWN_ANSWERS if case[0] == rounds]
    counter = np.array([words(case[1]) for case in cases], dtype=np.uint32).T   # (4, cases)
    key = np.array([words(case[2]) for case in cases], dtype=np.uint32).T       # (2, cases)
    got = philox.philox4x32([backend.to_device(c) for c in counter],
                            [backend.to_device(k) for k in key], rounds=rounds)
    expected = np.array([words(case[3]) for case in cases], dtype=np.uint32).T
    return np.stack([backend.to_host(word) for word in got]), expected


@pytest.mark.parametrize("module", ["numpy", "strict"])
@pytest.mark.parametrize("rounds", [7, 10])
def test_philox_matches_random123_known_answers(module, rounds):
    with strict_xp.installed() if module == "strict" else _installed(np, "numpy"):
        got, expected = philox_answers(rounds)
    assert got.dtype == np.uint32
    np.testing.assert_array_equal(got, expected)


def test_the_dropout_kernels_source_draws_the_array_expressions_words(tmp_path):
    """kernels.DROPOUT_PHILOX, the CUDA text of the GPU's dropout kernel, compiled as C
    on this CPU (__umulhi written out), gives the words backend.dropout_words gives."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler on this machine")
    source = tmp_path / "dropout.c"
    source.write_text(
        "#include <stdio.h>\ntypedef float T;\n"
        "static unsigned int __umulhi(unsigned int a, unsigned int b) "
        "{ return (unsigned int)(((unsigned long long)a * b) >> 32); }\n"
        "int main(void) {\n  unsigned long long stream[2]; unsigned int threshold; long n;\n"
        "  T scale = 2.0f;\n"
        "  if (scanf(\"%llu %llu %u %ld\", &stream[0], &stream[1], &threshold, &n) != 4) return 1;\n"
        "  for (long i = 0; i < n; ++i) {\n    T x = 1.5f, mask, y;\n"
        + kernels.DROPOUT_PHILOX +
        "    printf(\"%u %d\\n\", word, y == 3.0f);\n  }\n  return 0;\n}\n")
    program = tmp_path / "dropout"
    subprocess.run([compiler, "-O1", "-o", str(program), str(source)], check=True)
    key, draw, n = 0x243F6A8885A308D3, 2**32 + 5, 4 * 37 + 3   # a draw count past 32 bits
    threshold = backend.keep_threshold(0.6)
    done = subprocess.run([str(program)], input=f"{key} {draw} {int(threshold)} {n}",
                          capture_output=True, text=True, check=True)
    got = np.array([line.split() for line in done.stdout.splitlines()], dtype=np.int64)
    backend.dropout_stream()[...] = np.array([key, draw], dtype=np.uint64)
    expected = backend.dropout_words(n)
    np.testing.assert_array_equal(got[:, 0], expected)
    np.testing.assert_array_equal(got[:, 1], expected < threshold)


# ---- the dropout stream ---------------------------------------------------------------
def test_dropout_words_are_philox_of_the_index_and_the_draw_count(strict_backend):
    """Word j of draw d is output word j % 4 of philox(j // 4, 0, d, 0; the seed's key);
    the draw count lives on the device and moves on by one per draw; seed() restarts it."""
    minicnn.seed(5)
    first, second = backend.dropout_words(10), backend.dropout_words(10)
    key_low, key_high = philox.split_words(np.array([backend._stream_key], dtype=np.uint64))
    for draw, got in ((0, first), (1, second)):
        blocks = np.arange(3, dtype=np.uint32)
        counter = [blocks, np.zeros(3, np.uint32), np.full(3, draw, np.uint32), np.zeros(3, np.uint32)]
        expected = np.stack(philox.philox4x32(counter, (key_low, key_high)), axis=1).reshape(-1)
        np.testing.assert_array_equal(backend.to_host(got), expected[:10])
    assert backend.to_host(backend.dropout_stream()).tolist() == [backend._stream_key, 2]
    stream = backend.dropout_stream()
    minicnn.seed(5)
    assert backend.dropout_stream() is stream                  # written in place
    np.testing.assert_array_equal(backend.to_host(backend.dropout_words(10)),
                                  backend.to_host(first))
    minicnn.seed(6)
    assert not np.array_equal(backend.to_host(backend.dropout_words(10)), backend.to_host(first))


def test_dropout_masks_on_the_stand_in_keep_the_rate_and_change_at_every_draw(strict_backend):
    minicnn.seed(0)
    masks = [backend.to_host(backend.keep_mask((64, 10, 10, 8), 0.75)) for _ in range(2)]
    for mask in masks:
        assert mask.dtype == bool and abs(mask.mean() - 0.75) < 0.01
    assert (masks[0] != masks[1]).mean() > 0.3
    assert backend.keep_threshold(0.75) == np.uint32(3 << 30)


def test_numpy_dropout_masks_are_unchanged_by_the_stream():
    """NumPy keeps its generator: the same mask as its bits give, and no stream is made."""
    minicnn.seed(4)
    mask = backend.keep_mask((8, 12), 0.5)
    minicnn.seed(4)
    bits = backend.rng().bit_generator.random_raw(8 * 12 // 4).view(np.uint16)
    np.testing.assert_array_equal(mask, (bits < 32768).reshape(8, 12))
    assert backend._stream is None


def test_rng_state_puts_the_stream_back_in_place(strict_backend):
    minicnn.seed(2)
    backend.dropout_words(4)
    saved = backend.rng_state()
    after_saved = backend.to_host(backend.dropout_words(4))
    stream = backend.dropout_stream()
    backend.set_rng_state(saved)
    assert backend.dropout_stream() is stream
    np.testing.assert_array_equal(backend.to_host(backend.dropout_words(4)), after_saved)


# ---- the step, eager on the stand-in --------------------------------------------------
def small_model(optimizer):
    """Conv, batch norm, dropout, conv (inference folds the batch norm into it), pooling,
    conv, softmax, compiled with ``optimizer`` and accuracy."""
    minicnn.seed(3)
    model = Sequential([layers.Conv2D(4, 3, activation="relu", input_shape=(8, 8, 1)),
                        layers.BatchNormalization(), layers.Dropout(0.25),
                        layers.Conv2D(4, 3, activation="relu"), layers.MaxPooling2D(2),
                        layers.Conv2D(3, 2), layers.Flatten(), layers.Activation("softmax")])
    model.compile("categorical_crossentropy", optimizer, metrics=["accuracy"])
    return model


def batches(sizes, weighted=False):
    """Device batches (x, one-hot targets, weights or None) of the given sizes."""
    rng = np.random.default_rng(7)
    out = []
    for n in sizes:
        x = rng.random((n, 8, 8, 1), dtype=np.float32)
        t = np.eye(3, dtype=np.float32)[rng.integers(0, 3, n)]
        w = rng.uniform(0.5, 2.0, n).astype(np.float32) if weighted else None
        out.append((backend.to_device(x), backend.to_device(t),
                    None if w is None else backend.to_device(w)))
    return out


def schedule(step):
    return 0.02 / (1.0 + 0.5 * step)


def run_steps(model, step, data, transfers=None):
    """Call ``step`` on each batch, the learning rate set by ``schedule`` before each;
    host copies of what each step returned and left: loss, sums, gradients, weights,
    optimizer state. ``transfers``: a list that gets the device-to-host copies made by
    the step calls themselves."""
    records = []
    for s, batch in enumerate(data):
        model.optimizer.lr = schedule(s)
        before = strict_xp.strict.to_host_count
        loss, sums = step(*batch)
        if transfers is not None:
            transfers.append(strict_xp.strict.to_host_count - before)
        records.append(record(model, loss, sums))
    return records


def record(model, loss, sums):
    runner = model.runner
    iterations, slots = model.optimizer.get_state()
    return {"loss": backend.to_host(loss), "sums": backend.to_host(sums),
            "grads": [backend.to_host(layer.grads[key]) for layer, key in runner.slots],
            "weights": model.get_weights(), "iterations": iterations,
            "slots": [backend.to_host(a) for i in sorted(slots) for a in slots[i]]}


def assert_same_records(got, expected):
    assert len(got) == len(expected)
    for step, (a, b) in enumerate(zip(got, expected)):
        assert a["iterations"] == b["iterations"], step
        for key in ("loss", "sums"):
            np.testing.assert_array_equal(a[key], b[key], err_msg=f"step {step}: {key}")
        for key in ("grads", "weights", "slots"):
            assert len(a[key]) == len(b[key])
            for i, (u, v) in enumerate(zip(a[key], b[key])):
                np.testing.assert_array_equal(u, v, err_msg=f"step {step}: {key}[{i}]")


OPTIMIZERS = [lambda: Adam(lr=0.01, decay=0.1),
              lambda: Adam(lr=0.01, amsgrad=True, clipnorm=1.0),
              lambda: SGD(lr=0.05, momentum=0.9, nesterov=True, decay=0.05, weight_decay=1e-3),
              lambda: SGD(lr=0.05)]


@pytest.mark.parametrize("make_optimizer", OPTIMIZERS)
@pytest.mark.parametrize("weighted", [False, True])
def test_graphed_step_eager_fallback_equals_runner_train_step(make_optimizer, weighted,
                                                              strict_backend):
    """Five steps with dropout and a learning rate changed before each by a schedule:
    the same losses, metric sums, gradients, weights and optimizer state, bit for bit,
    and not one device-to-host copy in the graphed step's calls."""
    sizes = [16, 16, 16, 16, 5]
    model = small_model(make_optimizer())
    expected = run_steps(model, model.runner.train_step, batches(sizes, weighted))
    model = small_model(make_optimizer())
    step = graph.GraphedStep(model.runner)
    transfers = []
    got = run_steps(model, step, batches(sizes, weighted), transfers)
    assert_same_records(got, expected)
    assert transfers == [0] * len(sizes)
    assert step.unavailable == "the strict backend has no CUDA graphs"
    assert (step.eager_calls, step.captures, step.replays) == (len(sizes), 0, 0)


def test_the_device_counters_follow_the_steps_and_the_host(strict_backend):
    """The step count advances on the device inside each step; a new learning rate and a
    step count put back by set_state are written into the counters before the next step."""
    model = small_model(Adam(lr=0.01))
    step = graph.GraphedStep(model.runner)
    data = batches([16, 16, 16])
    state = model.optimizer.get_state()
    draws = backend.to_host(backend.dropout_stream())[1]
    for s, batch in enumerate(data):
        model.optimizer.lr = schedule(s)
        step(*batch)
        assert float(backend.to_host(step.counters.iterations)) == s + 1 == model.optimizer.iterations
        assert float(backend.to_host(step.counters.lr)) == schedule(s)
    assert backend.to_host(backend.dropout_stream())[1] == draws + 3     # one dropout layer
    model.optimizer.set_state(state)                                     # back to step 0
    step(*data[0])
    assert float(backend.to_host(step.counters.iterations)) == 1 == model.optimizer.iterations


def test_fit_on_the_stand_in_is_the_same_with_graphs_on_or_off(strict_backend, monkeypatch):
    """fit and its validation go through GraphedStep and GraphedScores (eager here) and
    give what Runner.train_step and the runner's inference give, bit for bit."""
    rng = np.random.default_rng(0)
    x = rng.random((40, 8, 8, 1), dtype=np.float32)
    y = rng.integers(0, 3, 40)
    results = []
    for enabled in (True, False):
        monkeypatch.setattr(graph, "_enabled", enabled)
        model = small_model(Adam(lr=0.01))
        history = model.fit(x, y, batch_size=16, epochs=2, verbose=0, validation_data=(x, y))
        results.append((history.history, model.get_weights(), model.evaluate(x, y, verbose=0)))
        assert sorted(graph.made_for(model.runner)) == (["scoring", "training"] if enabled else [])
    (history_on, weights_on, scores_on), (history_off, weights_off, scores_off) = results
    assert history_on == history_off and scores_on == scores_off
    for a, b in zip(weights_on, weights_off):
        np.testing.assert_array_equal(a, b)


def test_which_step_fit_calls(strict_backend, monkeypatch, capsys):
    monkeypatch.setattr(graph, "_noted", set())
    model = small_model(Adam())
    assert isinstance(graph.training_step(model.runner), graph.GraphedStep)
    assert graph.training_step(model.runner) is graph.training_step(model.runner)
    assert "the strict backend has no CUDA graphs" in capsys.readouterr().err
    monkeypatch.setattr(graph, "_enabled", False)
    assert graph.training_step(model.runner) == model.runner.train_step
    monkeypatch.setattr(graph, "_enabled", True)
    model = small_model(RMSprop())
    assert graph.training_step(model.runner) == model.runner.train_step
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "RMSprop takes its learning rate from the host" in err


def test_numpy_fit_calls_the_runners_step():
    model = small_model(Adam())
    assert graph.training_step(model.runner) == model.runner.train_step


def test_the_eager_fallback_is_noted_once_in_one_line(strict_backend, monkeypatch, capsys):
    monkeypatch.setattr(graph, "_noted", set())
    for _ in range(2):
        graph.GraphedStep(small_model(Adam()).runner)
    err = capsys.readouterr().err
    assert err == ("minicnn: the training step runs eagerly, not as a CUDA graph: the strict "
                   "backend has no CUDA graphs.\n")


# ---- the recording logic, with a recorder that runs on a CPU ---------------------------
class RerunRecorder:
    """CudaRecorder's stand-in on a CPU: ``record`` runs the step (the warm-up) and
    returns a 'graph' that runs it again at each launch and writes its results into the
    recorded outputs, as a replay writes at the recorded addresses. It reads the batch
    from the step's buffers, as the graph does."""

    def __init__(self, failure=None):
        self.failure = failure

    def record(self, body):
        outputs = body()
        if self.failure is not None:
            return outputs, None, None, self.failure
        recorded = tuple(backend.xp().zeros_like(a) for a in outputs)   # written by replays
        return outputs, Rerun(body, recorded), recorded, None


class Rerun:
    def __init__(self, body, recorded):
        self.body, self.recorded = body, recorded

    def launch(self):
        for kept, new in zip(self.recorded, self.body()):
            kept[...] = new


def test_recorded_step_replays_full_batches_and_runs_short_ones_eagerly(strict_backend):
    """Call 1 eager, call 2 run and recorded, then replays for full batches, the short
    batch eager; set_state replaces the optimizer's arrays: one eager call, a new
    recording. Every step computes what Runner.train_step computes."""
    sizes = [16, 16, 16, 16, 5, 16, 16]
    model = small_model(Adam(lr=0.01, decay=0.1))
    expected = run_steps(model, model.runner.train_step, batches(sizes))
    model = small_model(Adam(lr=0.01, decay=0.1))
    step = graph.GraphedStep(model.runner, recorder=RerunRecorder())
    got = run_steps(model, step, batches(sizes))
    assert_same_records(got, expected)
    assert (step.eager_calls, step.captures, step.replays) == (2, 1, 4)
    assert step.graph_used
    model.optimizer.set_state(model.optimizer.get_state())        # new slot arrays
    for batch in batches([16, 16, 16]):
        step(*batch)
    assert (step.eager_calls, step.captures, step.replays) == (3, 2, 5)


def test_a_recording_that_fails_is_noted_and_the_step_runs_eagerly(strict_backend, monkeypatch,
                                                                   capsys):
    monkeypatch.setattr(graph, "_noted", set())
    sizes = [16, 16, 16, 16]
    model = small_model(SGD(lr=0.05, momentum=0.9))
    expected = run_steps(model, model.runner.train_step, batches(sizes))
    model = small_model(SGD(lr=0.05, momentum=0.9))
    step = graph.GraphedStep(model.runner, recorder=RerunRecorder("NotImplementedError: no"))
    assert_same_records(run_steps(model, step, batches(sizes)), expected)
    assert (step.eager_calls, step.captures, step.replays) == (3, 0, 0)
    assert step.unavailable == "NotImplementedError: no"
    assert capsys.readouterr().err.endswith("not as a CUDA graph: NotImplementedError: no.\n")


def test_a_step_that_replaces_its_arrays_is_not_replayed(strict_backend, monkeypatch):
    """A batch norm that makes new moving statistics at every step (where the fast one
    updates them in place): a replay would keep updating the old arrays."""
    monkeypatch.setattr(graph, "_noted", set())
    model = small_model(Adam())
    norm = model.layers[1]

    def replace(mean, var, m):
        norm.state["moving_mean"] = norm.state["moving_mean"] * 0.99 + mean * 0.01
    monkeypatch.setattr(norm, "_update_moving", replace)
    step = graph.GraphedStep(model.runner, recorder=RerunRecorder())
    for batch in batches([16, 16, 16]):
        step(*batch)
    assert step.captures == step.replays == 0 and step.eager_calls == 2   # and the recording's
    assert "replaces arrays it keeps between steps" in step.unavailable


def test_recorded_evaluation_refolds_in_place_and_matches_the_runner(strict_backend):
    """Two evaluations, the weights changed between them: the second replays the
    recording made in the first, with the batch norm refolded into the kept twin."""
    model = small_model(Adam(lr=0.01))
    data = batches([16, 16, 16, 7])
    scores = graph.GraphedScores(model.runner, recorder=RerunRecorder())
    for epoch in range(2):
        model.runner.train_step(*data[0])                 # new weights between evaluations
        scores.refold()
        logits_of = model.runner.inference("logits")
        for batch in data:
            got = scores(*batch)
            expected = model.runner.scores(logits_of(batch[0]), batch[1], batch[2])
            for a, b in zip(got, expected):
                np.testing.assert_array_equal(backend.to_host(a), backend.to_host(b))
    assert (scores.eager_calls, scores.captures, scores.replays) == (3, 1, 4)


def test_bench_train_says_how_the_steps_ran(tmp_path, capsys):
    """--graph both times each model's steps twice and reports how they ran (NumPy here:
    eagerly, the fit's own step)."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                    "benchmarks"))
    import bench_train
    processes, chosen = team._processes, threads.chosen_threads()
    try:
        assert bench_train.main(["--model", "vanilla,kernel-optimised", "--batch-size", "8",
                                 "--steps", "1", "--repeats", "1", "--warmup", "0",
                                 "--infer-images", "8", "--processes", "1", "--threads", "1",
                                 "--graph", "both", "--gemm-size", "64",
                                 "--json", str(tmp_path / "train.json")]) == 0
    finally:
        team._processes = processes
        threads.restore_threads(chosen)
    rows = json.loads((tmp_path / "train.json").read_text())["results"]
    assert [row["model"] for row in rows] == ["vanilla", "kernel-optimised"]
    for row in rows:
        assert row["training_step"] == "eager (NumPy)"
        assert row["graph_speedup_train"] > 0 and row["minicnn_graphs_off"]["train_img_s"] > 0
    assert "vanilla: training steps ran as eager (NumPy); without graphs" in capsys.readouterr().out


# ---- the cuBLAS products' arguments ------------------------------------------------------
def column_major(buffer, rows, cols, leading):
    """The rows x cols column-major matrix stored in a flat buffer with leading dimension."""
    return buffer[:leading * cols].reshape(cols, leading).T[:rows]


@pytest.mark.parametrize("m,n,k", [(7, 5, 3), (1, 4, 6), (9, 1, 2)])
@pytest.mark.parametrize("transpose_a", [False, True])
def test_cublas_arguments_make_the_row_major_product(m, n, k, transpose_a):
    """cublas?gemm as its documentation defines it, C = op(A) op(B) on column-major
    buffers, with gemm_arguments' arguments gives the row-major out = op(a) @ b."""
    rng = np.random.default_rng(m * n * k)
    a = rng.standard_normal((k, m) if transpose_a else (m, k))
    b = rng.standard_normal((k, n))
    transa, transb, rows, cols, inner, first, lda, second, ldb, ldc = \
        cublas.gemm_arguments(m, n, k, transpose_a)
    operands = {"a": a.ravel(), "b": b.ravel()}

    def op(buffer, trans, r, c, leading):   # op(X) is r x c
        if trans == cublas.OP_N:
            return column_major(buffer, r, c, leading)
        return column_major(buffer, c, r, leading).T
    product = op(operands[first], transa, rows, inner, lda) @ op(operands[second], transb, inner,
                                                                 cols, ldb)
    out = np.zeros(m * n)
    stored = out[:ldc * cols].reshape(cols, ldc).T
    stored[:rows] = product
    np.testing.assert_allclose(out.reshape(m, n), (a.T if transpose_a else a) @ b, rtol=1e-12)


# ---- on a real GPU ------------------------------------------------------------------------
def go_crazy_fit(enabled, n=1024, epochs=2):
    """Go Crazy (examples/assignment4.py's layers, dropout included) with SGD and momentum
    (an update linear in the gradient, so rounding differences stay rounding
    differences), fit on random MNIST-shaped data with graphs on or off from one seed:
    (history, weights, the dropout masks of the last training step, the model)."""
    from tests.test_fast_equals_textbook import assignment4
    graph.set_enabled(enabled)
    try:
        minicnn.seed(11)
        model = assignment4.go_crazy()
        model.compile("categorical_crossentropy", SGD(lr=0.01, momentum=0.9), metrics=["accuracy"])
        rng = np.random.default_rng(1)
        x = rng.random((n, 28, 28, 1), dtype=np.float32)
        y = rng.integers(0, 10, n)
        history = model.fit(x, y, batch_size=128, epochs=epochs, verbose=0, shuffle=False,
                            validation_data=(x[:400], y[:400]))
        masks = [backend.to_host(layer._workspace["mask"]) for layer in model.layers
                 if isinstance(layer, layers.Dropout)]
        return history.history, model.get_weights(), masks, model
    finally:
        graph.set_enabled(True)


@pytest.mark.gpu
def test_graphed_epochs_equal_eager_epochs_on_a_gpu():
    """Two epochs of 8 full batches, each validated on 3 full batches and a short one:
    the graph path is taken (1 eager call, 1 recording, the rest replays), the dropout
    masks are the same bits, and the history and weights agree to float32 rounding."""
    cupy = _cupy_or_skip()
    with _installed(cupy, "cupy"):
        history_on, weights_on, masks_on, model = go_crazy_fit(True)
        step, scores = graph.made_for(model.runner)["training"], graph.made_for(model.runner)["scoring"]
        assert step.unavailable is None, step.unavailable
        assert (step.eager_calls, step.captures, step.replays) == (1, 1, 14)
        assert (scores.eager_calls, scores.captures, scores.replays) == (3, 1, 4)
        history_off, weights_off, masks_off, model_off = go_crazy_fit(False)
        assert graph.made_for(model_off.runner) == {}
    assert len(masks_on) == 6
    for a, b in zip(masks_on, masks_off):
        np.testing.assert_array_equal(a, b)
    for key in history_off:
        np.testing.assert_allclose(history_on[key], history_off[key], rtol=1e-3, atol=1e-5)
    for a, b in zip(weights_on, weights_off):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)


@pytest.mark.gpu
def test_a_schedule_reaches_the_recorded_step_on_a_gpu():
    """A learning rate set after the recording is the one the replays use: a replayed step
    at lr 0 leaves the weights as they were."""
    cupy = _cupy_or_skip()
    with _installed(cupy, "cupy"):
        model = small_model(SGD(lr=0.05, momentum=0.0))
        step = graph.training_step(model.runner)
        data = batches([16, 16, 16])
        for batch in data:
            step(*batch)
        assert step.replays == 1

        def trained():
            return [backend.to_host(layer.params[key]) for layer, key in model.runner.slots]
        before = trained()
        model.optimizer.lr = 1e-30                      # lr must be > 0: as good as none
        step(*data[0])
        assert step.replays == 2
        for a, b in zip(trained(), before):             # at the recording's lr 0.05: ~1e-3
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


@pytest.mark.gpu
def test_philox_and_the_dropout_kernel_on_a_gpu():
    """Real CuPy: Philox's known answers; the fused dropout kernel draws the words the
    array expressions draw, so the fast and textbook Dropout give the same bits."""
    cupy = _cupy_or_skip()
    from minicnn import nn
    with _installed(cupy, "cupy"):
        for rounds in (7, 10):
            got, expected = philox_answers(rounds)
            np.testing.assert_array_equal(got, expected)
        x = backend.to_device(np.random.default_rng(0).standard_normal((33, 7, 5, 3))
                              .astype(np.float32))
        outputs = []
        for layer in (layers.Dropout(0.3), nn.Dropout(0.3)):
            minicnn.seed(8)
            outputs.append(backend.to_host(layer.forward(x, training=True)))
        np.testing.assert_array_equal(outputs[0], outputs[1])
        assert backend.to_host(backend.dropout_stream())[1] == 1


@pytest.mark.gpu
def test_the_capture_safe_products_equal_cupy_matmul_on_a_gpu():
    cupy = _cupy_or_skip()
    with _installed(cupy, "cupy"):
        blas = cublas.get()
        rng = np.random.default_rng(0)
        for m, n, k in ((86528, 12, 10), (300, 20, 109), (7, 3, 1)):
            a = cupy.asarray(rng.standard_normal((m, k), dtype=np.float32))
            b = cupy.asarray(rng.standard_normal((k, n), dtype=np.float32))
            g = cupy.asarray(rng.standard_normal((m, n), dtype=np.float32))
            np.testing.assert_allclose(cupy.asnumpy(blas.gemm(a, b, cupy.empty((m, n), np.float32))),
                                       cupy.asnumpy(a @ b), rtol=1e-4, atol=1e-4)
            np.testing.assert_allclose(
                cupy.asnumpy(blas.gemm(a, g, cupy.empty((k, n), np.float32), transpose_a=True)),
                cupy.asnumpy(a.T @ g), rtol=1e-3, atol=1e-2)
