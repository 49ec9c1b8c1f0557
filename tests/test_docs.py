"""The docs under docs/ stay true to the code.

* the numbers of the im2col worked example (docs/im2col.md) are what the
  textbook's im2col/col2im (minicnn/im2col.py), the fast column transform
  (minicnn/fast/columns.py) and both Conv2D classes compute on the same input;
* the receptive-field tables (docs/receptive_field.md) are what
  Sequential.receptive_fields() gives for the assignment's models;
* the schedule values quoted in docs/schedules.md are the library's;
* every repository path, `module.name`, `Class.method` (whole dotted chains),
  keyword argument of a minicnn class, relative link and in-docs anchor
  mentioned in the docs exists;
* the index lists every page, the course before the engineering pages, and
  the course pages teach from the textbook: none names a file of minicnn/fast/.
"""
import ast
import importlib
import importlib.util
import inspect
import json
import math
import os
import pkgutil
import re
import sys
import warnings

import numpy as np
import pytest

import minicnn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")
sys.path.insert(0, os.path.join(ROOT, "examples"))

import assignment4  # noqa: E402

from minicnn import backend, layers, nn  # noqa: E402
from minicnn.fast.columns import col2im_offsets, im2col_strided  # noqa: E402
from minicnn.gradcheck import KinkWarning, gradcheck  # noqa: E402
from minicnn.im2col import col2im, im2col  # noqa: E402
from tests import naive  # noqa: E402

FENCE = re.compile(r"^```.*?^```[ \t]*$", re.S | re.M)


def doc_files():
    return sorted(f for f in os.listdir(DOCS) if f.endswith(".md"))


def read(name):
    with open(os.path.join(DOCS, name), encoding="utf-8") as f:
        return f.read()


def flat(name):
    """A docs page with every run of whitespace made one space (prose wraps anywhere)."""
    return " ".join(read(name).split())


def block_after(text, marker):
    """The body of the first fenced block after ``<!-- marker -->``."""
    m = re.search(r"<!--\s*" + re.escape(marker) + r"\s*-->\s*\n```[a-z]*\n(.*?)\n```",
                  text, re.S)
    assert m, f"no fenced block after <!-- {marker} -->"
    return m.group(1)


def int_grid(text, marker):
    rows = [line.split() for line in block_after(text, marker).splitlines() if line.strip()]
    return np.array([[int(v) for v in row] for row in rows])


def table_after(text, marker):
    """Rows (lists of cell strings) of the Markdown table after ``<!-- marker -->``."""
    start = text.index(f"<!-- {marker} -->")
    lines = text[start:].splitlines()[1:]
    rows = []
    for line in lines:
        if not line.startswith("|"):
            if rows:
                break
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if all(set(c) <= set("-: ") for c in cells):
            continue  # the |---|---| line
        rows.append(cells)
    return rows[1:]  # drop the header


# ---- docs/im2col.md: the worked example ------------------------------------
def test_im2col_worked_example_matches_library():
    text = read("im2col.md")
    x_grid = int_grid(text, "im2col-input")
    np.testing.assert_array_equal(x_grid, np.arange(1, 17).reshape(4, 4))
    kernel = int_grid(text, "im2col-kernel")
    assert kernel.shape == (3, 3)

    x = x_grid.astype(np.float64).reshape(1, 4, 4, 1)
    cols = im2col(x, 3, 3, 1, 1)                                      # the textbook's loop
    assert cols.shape == (1, 2, 2, 9)
    np.testing.assert_array_equal(int_grid(text, "im2col-columns"), cols.reshape(4, 9))
    np.testing.assert_array_equal(im2col_strided(x, 3, 3, 1, 1), cols)
    # one channel makes im2col_strided fall back to the loop; eight copies of the
    # image take its strided view, and every channel must give the same columns
    wide = im2col_strided(np.repeat(x, 8, axis=3), 3, 3, 1, 1).reshape(1, 2, 2, 9, 8)
    for c in range(8):
        np.testing.assert_array_equal(wide[..., c], cols)

    y = (cols.reshape(4, 9) @ kernel.reshape(9, 1)).reshape(2, 2)
    direct = np.array([[(x_grid[i:i + 3, j:j + 3] * kernel).sum() for j in range(2)]
                       for i in range(2)])
    np.testing.assert_array_equal(y, direct)
    np.testing.assert_array_equal(int_grid(text, "im2col-output"), y)

    counts = col2im(np.ones((1, 2, 2, 9)), (1, 4, 4, 1), 3, 3, 1, 1)[0, :, :, 0]
    np.testing.assert_array_equal(int_grid(text, "col2im-counts"), counts)
    by_offset = col2im_offsets(lambda k: np.ones((1, 2, 2, 1)), (1, 4, 4, 1), 3, 3, 1, 1,
                               out=np.empty((1, 4, 4, 1)))
    np.testing.assert_array_equal(by_offset[0, :, :, 0], counts)

    dcols = np.ones((4, 1)) @ kernel.reshape(9, 1).T                  # g @ kernel^T
    dx = col2im(dcols.reshape(1, 2, 2, 9), (1, 4, 4, 1), 3, 3, 1, 1)[0, :, :, 0]
    np.testing.assert_array_equal(int_grid(text, "col2im-dx"), dx)
    dx_by_offset = col2im_offsets(lambda k: np.full((1, 2, 2, 1), kernel.flat[k]),
                                  (1, 4, 4, 1), 3, 3, 1, 1, out=np.empty((1, 4, 4, 1)))
    np.testing.assert_array_equal(dx_by_offset[0, :, :, 0], dx)


@pytest.mark.parametrize("conv_class", [nn.Conv2D, layers.Conv2D], ids=["textbook", "fast"])
def test_im2col_example_agrees_with_conv2d_layer(conv_class):
    assert layers.Conv2D is not nn.Conv2D                 # both classes are checked
    text = read("im2col.md")
    kernel = int_grid(text, "im2col-kernel").astype(np.float32)
    x = np.arange(1, 17, dtype=np.float32).reshape(1, 4, 4, 1)
    layer = conv_class(1, 3, use_bias=False)
    layer.build((4, 4, 1))
    layer.params["kernel"][...] = backend.to_device(kernel.reshape(3, 3, 1, 1))
    y = backend.to_host(layer.forward(backend.to_device(x)))
    np.testing.assert_array_equal(y[0, :, :, 0], int_grid(text, "im2col-output"))
    dx = backend.to_host(layer.backward(backend.to_device(np.ones_like(y))))
    np.testing.assert_array_equal(dx[0, :, :, 0], int_grid(text, "col2im-dx"))


# ---- docs/receptive_field.md -------------------------------------------------
def _num(cell):
    return None if cell == "-" else int(cell)


def test_receptive_field_table_matches_go_crazy():
    rows = table_after(read("receptive_field.md"), "rf-table")
    model = assignment4.go_crazy()
    fields = model.receptive_fields()
    assert len(rows) == len(model.layers)
    for i, (row, layer, (r, j)) in enumerate(zip(rows, model.layers, fields)):
        number, name, shape, k, s, rf, jump = row
        assert int(number) == i + 1
        assert name.split()[0] == layer.name, row
        assert tuple(int(v) for v in re.findall(r"\d+", shape)) == tuple(layer.output_shape), row
        assert (_num(rf), _num(jump)) == (r, j), row
        if r is not None:
            assert (int(k), int(s)) == (layer.rf_kernel, layer.rf_stride), row
    last_conv = [rj for layer, rj in zip(model.layers, fields) if hasattr(layer, "filters")][-1]
    assert last_conv[0] == 28


def test_final_receptive_field_of_every_model():
    rows = table_after(read("receptive_field.md"), "rf-final")
    assert sorted(r[0] for r in rows) == sorted(assignment4.MODELS)
    for name, before, kernel, final in rows:
        model = assignment4.MODELS[name][0]()
        fields = model.receptive_fields()
        convs = [i for i, layer in enumerate(model.layers) if hasattr(layer, "filters")]
        last = convs[-1]
        assert fields[last - 1][0] == int(before), name
        assert model.layers[last].kernel_size[0] == int(kernel), name
        assert fields[last][0] == int(final) == 28, name


# ---- docs/schedules.md ------------------------------------------------------------
def test_schedule_values_match_library():
    rows = table_after(read("schedules.md"), "schedule-table")
    assert rows
    for epoch, lr in rows:
        assert assignment4.inverse_time(int(epoch), 0.003) == float(lr), (epoch, lr)


# ---- the scripts under docs/ -------------------------------------------------------
def _docs_script(name):
    """docs/<name>.py as a module (docs/ is no package)."""
    spec = importlib.util.spec_from_file_location(f"docs_{name}", os.path.join(DOCS, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _go_crazy_convs():
    model = assignment4.go_crazy()
    model.build()
    return model, [layer for layer in model.layers if isinstance(layer, nn.Conv2D)]


# ---- docs/convolution.md ---------------------------------------------------------------
def test_convolution_parameter_counts():
    text = flat("convolution.md")
    (conv_row, dense_row) = table_after(read("convolution.md"), "dense-vs-conv")
    first = nn.Conv2D(12, 3)
    first.build((28, 28, 1))
    outputs = int(np.prod(first.output_shape))
    dense = nn.Dense(outputs)
    dense.build((28 * 28,))
    assert conv_row[1].split()[0] == dense_row[1] == "784"
    assert conv_row[2].split()[0] == dense_row[2] == str(outputs)
    assert (int(conv_row[3]), int(dense_row[3])) == (first.count_params(), dense.count_params())

    model, convs = _go_crazy_convs()
    rows = table_after(read("convolution.md"), "conv-params")
    assert [row[0] for row in rows] == [conv.name for conv in convs]
    for (name, kernel, c_in, f_out, count), conv in zip(rows, convs):
        kh, kw = conv.kernel_size
        assert kernel == f"{kh}x{kw}" and int(c_in) == conv.input_shape[-1]
        assert int(f_out) == conv.filters and int(count) == conv.count_params(), name
    norms = [layer for layer in model.layers if isinstance(layer, nn.BatchNormalization)]
    channels = sum(norm.input_shape[-1] for norm in norms)
    conv_total = sum(conv.count_params() for conv in convs)
    trainable = sum(int(p.size) for layer in model.layers for p in layer.params.values())
    for number in (conv_total, 4 * channels, 2 * channels, model.count_params(), trainable):
        assert f"{number:,}" in text, number
    assert f"`4 * {channels} = {4 * channels}`" in text


def test_convolution_moves_with_its_input():
    """Weight sharing: shift the digit one pixel right and the output shifts with it."""
    (x_train, _), _ = assignment4.load_mnist(1)
    conv = nn.Conv2D(1, 3, use_bias=False)
    conv.build((28, 28, 1))
    conv.params["kernel"][...] = backend.to_device(
        np.array([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float32).reshape(3, 3, 1, 1))
    shifted = np.zeros_like(x_train[:1])
    shifted[:, :, 1:] = x_train[:1, :, :-1]
    y = backend.to_host(conv.forward(backend.to_device(x_train[:1])))
    y_shifted = backend.to_host(conv.forward(backend.to_device(shifted)))
    np.testing.assert_allclose(y_shifted[:, :, 1:], y[:, :, :-1], atol=1e-6)


# ---- docs/backprop.md ---------------------------------------------------------------------
def _vectors(block):
    """name = [...] lines of a block -> {name: array} (the last "= [...]" of each line)."""
    out = {}
    for line in block.splitlines():
        for name, value in re.findall(r"(\w+(?:/\w+)?)\s*=\s*(\[[^=]*\])(?=\s|$)", line):
            out.setdefault(name, np.array(ast.literal_eval(value), dtype=np.float64))
        m = re.match(r"\s*(\S+)\s*=\s*[^\[\s].*=\s*(\[.*\])\s*$", line)   # name = expression = [...]
        if m:
            out[m.group(1)] = np.array(ast.literal_eval(m.group(2)), dtype=np.float64)
    return out


def test_backprop_worked_example_is_what_the_layers_compute():
    v = _vectors(block_after(read("backprop.md"), "chain-example"))
    backend.set_floatx("float64")
    first, relu, second = nn.Dense(2), nn.ReLU(), nn.Dense(1)
    first.build((2,))
    second.build((2,))
    first.params["kernel"][...], first.params["bias"][...] = v["W1"], v["b1"]
    second.params["kernel"][...], second.params["bias"][...] = v["W2"], v["b2"]
    x = v["x"].reshape(1, 2)
    h = first.forward(x)
    r = relu.forward(h)
    y = second.forward(r)
    np.testing.assert_array_equal(h[0], v["h"])
    np.testing.assert_array_equal(r[0], v["r"])
    np.testing.assert_array_equal(y[0], v["y"])
    g_r = second.backward(v["dL/dy"].reshape(1, 1))
    np.testing.assert_array_equal(second.grads["kernel"], v["dL/dW2"])
    np.testing.assert_array_equal(g_r[0], v["dL/dr"])
    g_h = relu.backward(g_r)
    np.testing.assert_array_equal(g_h[0], v["dL/dh"])
    g_x = first.backward(g_h)
    np.testing.assert_array_equal(first.grads["kernel"], v["dL/dW1"])
    np.testing.assert_array_equal(first.grads["bias"], v["dL/db1"])
    np.testing.assert_array_equal(g_x[0], v["dL/dx"])


@pytest.fixture(scope="module")
def first_steps():
    """Three steps of examples/train_step_by_step.py (seed 0): (losses, printed lines)."""
    import train_step_by_step
    (x, y), _ = assignment4.load_mnist(384)
    lines = []
    losses, _ = train_step_by_step.train_by_hand(x, y, steps=3, seed=0, print_fn=lines.append)
    return losses, "\n".join(lines)


def test_backprop_quotes_what_the_step_by_step_script_prints(first_steps):
    _, printed = first_steps
    for line in block_after(read("backprop.md"), "step-by-step").splitlines():
        assert line in printed.splitlines(), line


# ---- docs/initialisation.md ---------------------------------------------------------------
@pytest.fixture(scope="module")
def fresh_statistics():
    from minicnn import diagnostics
    minicnn.seed(0)
    (x, y), _ = assignment4.load_mnist(128)
    model = assignment4.go_crazy()
    model.build()
    rows, loss = diagnostics.activation_statistics(model, x, y)
    return rows, loss, diagnostics.format_statistics(rows, loss)


def test_initialisation_statistics_table(fresh_statistics):
    rows, loss, table = fresh_statistics
    quoted = block_after(read("initialisation.md"), "init-statistics").splitlines()
    printed = table.splitlines()
    assert quoted[0] == printed[0]
    for line in quoted[1:]:
        assert line in printed, line
    by_name = {row["name"]: row for row in rows}
    convs = [row for row in rows if row["type"] == "Conv2D"]
    relu_stds = [row["std"] for row in convs[1:-1]]
    assert f"between {min(relu_stds):.2f} and {max(relu_stds):.2f}" in flat("initialisation.md")
    norm_stds = [row["std"] for row in rows if row["type"] == "BatchNormalization"]
    assert f"read {min(norm_stds):.2f} to {max(norm_stds):.2f}" in flat("initialisation.md")
    grads = [row["grad_std"] for row in convs]
    assert 15 < max(grads) / min(grads) < 25                      # "a factor of about 20"
    assert by_name["conv2d_8"]["zeros"] == 0


def test_the_ln_10_check_and_why_go_crazy_starts_at_2_94(first_steps, fresh_statistics):
    text = flat("initialisation.md")
    losses, _ = first_steps
    rows, loss, _ = fresh_statistics
    assert f"ln 10 = {math.log(10):.3f}" in text.replace("\\ln", "ln")
    assert f"**{losses[0]:.3f}**" in text and f"{loss:.4f}" in text
    np.testing.assert_allclose(losses[0], loss, rtol=1e-5)        # the same first batch
    assert f"{losses[1]:.3f} after one step and {losses[2]:.3f}" in text
    s = round(rows[-1]["std"], 3)                                 # the logits' spread
    assert f"**{s:.3f}**" in text
    estimate = math.log(10) + s * s / 2
    assert f"{math.log(10):.3f} + {s:.3f}^2/2 = {estimate:.3f}" in text
    assert abs(estimate - losses[0]) < 0.02
    fan_in, fan_out = 4 * 4 * 16, 4 * 4 * 10
    assert f"2 / ({fan_in} + {fan_out}) = {2 / (fan_in + fan_out):.4f}" in text


def test_initialisation_names_the_small_channels():
    """"1/sqrt(var + eps) up to 31 and 29": conv2d_1's and conv2d_4's quietest channels."""
    from minicnn import diagnostics
    minicnn.seed(0)
    (x, y), _ = assignment4.load_mnist(128)
    model = assignment4.go_crazy()
    model.build()
    outputs, _ = diagnostics.layer_outputs(model, x, y)
    largest = {}
    for row in outputs:
        if row["name"] in ("conv2d_1", "conv2d_4"):
            channels = row["output"].reshape(-1, row["output"].shape[-1]).astype(np.float64)
            largest[row["name"]] = (1 / np.sqrt(channels.var(axis=0) + 1e-3)).max()
    assert f"up to {largest['conv2d_1']:.0f} and {largest['conv2d_4']:.0f}" in flat("initialisation.md")


# ---- docs/generalisation.md ---------------------------------------------------------------
def test_generalisation_numbers():
    text = flat("generalisation.md")
    p, n = 0.994, 10000
    assert f"**{100 * math.sqrt(p * (1 - p) / n):.3f}**" in text
    assert f"about {round(math.sqrt(p * (1 - p) / n) * n)} digits" in text
    reported = assignment4.MODELS["go-crazy"][5]
    assert f"best {100 * reported['best']:.2f}%" in text and f"last {100 * reported['last']:.2f}%" in text
    assert f"is {round((reported['best'] - reported['last']) * n)} digits better" in text


# ---- docs/im2col_cost.md ---------------------------------------------------------------
def test_im2col_memory_table():
    text = flat("im2col_cost.md")
    _, convs = _go_crazy_convs()
    rows = table_after(read("im2col_cost.md"), "im2col-memory")
    assert [row[0] for row in rows] == [conv.name for conv in convs]
    mib = 2.0 ** 20
    total = 0.0
    for row, conv in zip(rows, convs):
        name, kernel, x_shape, x_mib, cols_shape, cols_mib, ratio = row
        h, w, c = conv.input_shape
        oh, ow, _ = conv.output_shape
        kh, kw = conv.kernel_size
        x = np.zeros((2, h, w, c), dtype=np.float32)                 # the layout, on 2 images
        cols = im2col(x, kh, kw, 1, 1)
        assert x_shape == f"(128, {h}, {w}, {c})" and kernel == f"{kh}x{kw}"
        assert cols.shape[1:] == (oh, ow, kh * kw * c)
        assert cols_shape == f"(128, {oh}, {ow}, {kh * kw * c})"
        input_bytes, cols_bytes = 64 * x.nbytes, 64 * cols.nbytes  # batch 128, float32
        assert (x_mib, cols_mib) == (f"{input_bytes / mib:.2f}", f"{cols_bytes / mib:.2f}"), name
        assert ratio == f"{cols_bytes / input_bytes:.1f}x", name
        total += cols_bytes / mib
    assert f"**{total:.2f} MiB**" in text


def test_im2col_speed_script_computes_one_convolution_four_ways():
    script = _docs_script("im2col_speed")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 7, 6, 3))
    kernel = rng.standard_normal((3, 3, 3, 4))
    expected = naive.conv2d(x, kernel, None)
    for name, way in script.WAYS.items():
        np.testing.assert_allclose(way(x, kernel), expected, rtol=1e-12, atol=1e-12, err_msg=name)
    timings = block_after(read("im2col_cost.md"), "im2col-speed")   # the script's own lines
    for batch in ("1", "128"):
        part = timings.split(f"batch {batch}:\n", 1)[1].split("\n\n")[0].splitlines()
        names = [line[:24].strip() for line in part[1:]]
        assert names == list(script.WAYS) + ["of which the columns"], names
        memory = {line[:24].strip(): line.split()[-2] for line in part[1:]}
        x = np.zeros((int(batch), 26, 26, 12), np.float32)
        k = np.zeros((3, 3, 12, 20), np.float32)
        for name in script.WAYS:
            assert memory[name] == f"{script.extra_memory(name, x, k) / 2 ** 20:.2f}", (batch, name)


# ---- docs/batchnorm_lag.md ---------------------------------------------------------------
def test_moving_average_memory_table():
    for steps, share in table_after(read("batchnorm_lag.md"), "moving-average"):
        assert f"{0.99 ** int(steps):.3f}" == share


@pytest.fixture(scope="module")
def short_run():
    """`python examples/assignment4.py --limit 3000 --epochs 2`, as docs/make_pictures.py runs it."""
    pictures = _docs_script("make_pictures")
    model, history, data = pictures.short_run()
    figures, _ = pictures.short_run_figures(model, history, data)
    return figures


def test_batchnorm_lag_short_run_is_what_the_code_measures(short_run):
    text = read("batchnorm_lag.md")
    (train_row, val_row) = table_after(text, "short-run")
    assert [float(v.rstrip("%")) for v in train_row[1:]] == short_run["acc"]
    assert [float(v.rstrip("%")) for v in val_row[1:]] == short_run["val_acc"]
    (row,) = table_after(text, "recomputed")
    assert [float(v.rstrip("%")) for v in row[1:]] == [short_run["test_before"], short_run["test_after"]]
    assert short_run["val_acc"][1] < short_run["val_acc"][0] and short_run["acc"][1] > short_run["acc"][0]
    assert "validation accuracy falls" in text
    runs = json.loads(read(os.path.join("img", "runs.json")))
    assert {k: runs["short_run"][k] for k in short_run} == short_run


# ---- docs/gradcheck.md -------------------------------------------------------------------
def test_gradcheck_step_table():
    pictures = _docs_script("make_pictures")
    (row32, row64) = table_after(read("gradcheck.md"), "gradcheck-steps")
    header = re.search(r"<!-- gradcheck-steps -->\n\| h \| (.*) \|", read("gradcheck.md")).group(1)
    assert [float(h) for h in header.split(" | ")] == pictures.GRADCHECK_STEPS
    for row, dtype in ((row32, "float32"), (row64, "float64")):
        assert row[0] == dtype
        errors = pictures.central_difference_errors(dtype, pictures.GRADCHECK_STEPS)
        for quoted, error in zip(row[1:], errors):
            assert float(quoted) / 3 <= error <= float(quoted) * 3, (dtype, quoted, error)
        text = flat("gradcheck.md")
        at_default = pictures.GRADCHECK_STEPS.index(1e-6)
        if dtype == "float32":
            best = int(np.argmin(errors))
            assert (f"the best error is {errors[best]:.0e}, at `h = {pictures.GRADCHECK_STEPS[best]:.0e}`"
                    .replace("e-02", "e-2")) in text
            assert f"at `h = 1e-6` (error {errors[at_default]:.0e})" in text
            assert errors[best] > 1e-6
        else:
            below = [h for h, error in zip(pictures.GRADCHECK_STEPS, errors) if error < 1e-6]
            assert f"below `1e-6` for every `h` from `{max(below):.0e}` to `{min(below):.0e}`".replace(
                "e-0", "e-") in text
            assert f"default `h = 1e-6` gives {errors[at_default]:.0e}" in text


def test_gradcheck_kink_examples():
    rows = table_after(read("gradcheck.md"), "kinks")
    x_relu = np.random.default_rng(0).standard_normal((2, 4))
    x_zero = x_relu.copy()
    x_zero[0, 1] = 0.0
    cases = [(nn.MaxPooling2D(2), np.zeros((1, 2, 2, 1))),
             (nn.MaxPooling2D(2), np.maximum(np.random.default_rng(0).standard_normal((2, 4, 4, 3)), 0)),
             (nn.ReLU(), x_zero), (nn.ReLU(), x_relu)]
    assert len(rows) == len(cases)
    for (what, quoted, warning), (layer, x) in zip(rows, cases):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            error = gradcheck(layer, x)["input"]
        if float(quoted) < 1e-6:                                  # rounding only
            assert error < 1e-9 and float(quoted) < 1e-9, what
        else:
            assert f"{error:.2g}" == f"{float(quoted):.2g}", what
        kinks = [str(w.message) for w in caught if issubclass(w.category, KinkWarning)]
        if warning == "none":
            assert not kinks, what
            continue
        (message,) = kinks
        head, _, tail = warning.partition("; ")
        assert head in message, (what, message)
        if tail.startswith("without them the error is below "):
            limit = float(tail.rsplit(" ", 1)[1])
            rest = float(re.search(r"without them the error is ([\d.]+e[+-]\d+)", message).group(1))
            assert rest < limit, message
        else:
            assert tail in message, message


# ---- docs/assignment.md and the picture run ------------------------------------------------
def test_assignment_models_table():
    rows = table_after(read("assignment.md"), "models")
    assert [row[0] for row in rows] == list(assignment4.MODELS)
    for name, params, optimizer, batch, epochs, schedule in rows:
        build, make_optimizer, batch_size, n_epochs, scheduler, _ = assignment4.MODELS[name]
        opt = make_optimizer()
        assert params == f"{build().count_params():,}", name
        assert optimizer == f"{type(opt).__name__}(lr={opt.lr})", name
        assert (int(batch), int(epochs)) == (batch_size, n_epochs), name
        assert (schedule == "inverse time") == (scheduler is assignment4.inverse_time), name


def test_picture_run_figures_match_the_run_that_drew_them():
    """The pictures' run is a few minutes of training: its figures are checked against
    docs/img/runs.json, which docs/make_pictures.py writes when it draws them."""
    pictures = _docs_script("make_pictures")
    run = json.loads(read(os.path.join("img", "runs.json")))["picture_run"]
    assert {k: run[k] for k in pictures.PICTURE_RUN} == pictures.PICTURE_RUN
    text = read("assignment.md")
    for phrase in (f"first {run['train']:,} training images for {run['epochs']} epochs",
                   f"next {run['validation']:,} training images held out",
                   f"Training took {run['seconds']} s", f"reached {run['test_acc']:.2f}% on the test set",
                   f"({run['test_wrong']} digits wrong)",
                   f"({run['epochs'] * math.ceil(run['train'] / 128)} steps)",
                   f"from {run['val_acc_check']:.2f}% to {run['val_acc_recomputed']:.2f}%"):
        assert phrase in " ".join(text.split()), phrase


def test_every_picture_is_used_and_every_used_picture_exists():
    used = set()
    for doc in doc_files():
        used |= set(re.findall(r"\]\(img/([\w.-]+\.png)\)", read(doc)))
    drawn = {f for f in os.listdir(os.path.join(DOCS, "img")) if f.endswith(".png")}
    assert used == drawn


# ---- names, paths and links mentioned anywhere in the docs -------------------------
# A package whose name the docs also use for a variable (`model.history`,
# `model.stop_training`): its modules are named by their own short names (`loops`).
SHADOWED = {"model"}
CHAIN = re.compile(r"(?<![\w.])([A-Za-z_]\w*)((?:\.[A-Za-z_]\w*)+)")
CALL = re.compile(r"(?<![\w.])([A-Z]\w*)\(([^()]*)\)")


def _namespaces():
    """Short module names -> modules, names that two sub-packages share (``conv``:
    nn.conv and fast.conv) -> their modules, and class names -> classes (a textbook
    class and its fast subclass share a name), from every minicnn module and the tests."""
    full_names = sorted(m.name for m in pkgutil.walk_packages(minicnn.__path__, "minicnn."))
    modules, ambiguous, classes, by_short = {}, {}, {}, {}
    for full in full_names:
        mod = importlib.import_module(full)
        by_short.setdefault(full.split(".")[-1], []).append(full)
        for name, obj in vars(mod).items():
            if inspect.isclass(obj) and obj.__module__.startswith("minicnn"):
                classes.setdefault(name, set()).add(obj)
    for short, fulls in by_short.items():
        if short in SHADOWED:
            continue
        top = "minicnn." + short
        if top in fulls:                      # minicnn.optimizers before nn/fast.optimizers
            modules[short] = importlib.import_module(top)
        elif len(fulls) == 1:
            modules[short] = importlib.import_module(fulls[0])
        else:
            ambiguous[short] = fulls
    from tests import strict_xp
    modules["strict_xp"] = strict_xp
    modules["strict"] = strict_xp.strict
    for name, obj in vars(strict_xp).items():
        if inspect.isclass(obj) and obj.__module__ == strict_xp.__name__:
            classes.setdefault(name, set()).add(obj)
    return modules, ambiguous, classes


NAMESPACES = _namespaces()


def _has_chain(owners, attrs):
    """Does some object of ``owners`` have the attribute chain ``attrs``?"""
    for obj in owners:
        for attr in attrs:
            if not hasattr(obj, attr):
                break
            obj = getattr(obj, attr)
        else:
            return True
    return False


def _takes_keyword(cls, keyword):
    """Does the constructor of ``cls`` take ``keyword``? (**kwargs passed to a base
    class are followed to that class's own parameters)."""
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        params = inspect.signature(klass.__init__).parameters
        if keyword in params:
            return True
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            return False
    return False


def _code_spans(text):
    """Inline `code` spans outside fenced blocks."""
    return re.findall(r"`([^`\n]+)`", FENCE.sub("", text))


def _dotted_minicnn(span):
    """minicnn.x.y names of the span that do not import or resolve."""
    missing = []
    for dotted in re.findall(r"\bminicnn(?:\.\w+)+", span):
        parts = dotted.split(".")
        obj, i = importlib.import_module(parts[0]), 1
        while i < len(parts):
            try:
                obj = importlib.import_module(".".join(parts[:i + 1]))
            except ImportError:
                if not hasattr(obj, parts[i]):
                    missing.append(dotted)
                    break
                obj = getattr(obj, parts[i])
            i += 1
    return missing


@pytest.mark.parametrize("doc", doc_files())
def test_mentioned_names_exist(doc):
    modules, ambiguous, classes = NAMESPACES
    missing = []
    for span in _code_spans(read(doc)):
        span = re.sub(r"[\w./-]+\.(py|md|npz|png|csv)\b", "", span)     # file names
        missing += _dotted_minicnn(span)
        span = re.sub(r"\bminicnn(?:\.\w+)+", "", span)
        for name, args in CALL.findall(span):                            # Conv2D(..., kw=...)
            for keyword in re.findall(r"(\w+)\s*=(?!=)", args):
                if name in classes and not any(_takes_keyword(c, keyword) for c in classes[name]):
                    missing.append(f"{name}({keyword}=...)")
        for owner, chain in CHAIN.findall(span):
            attrs = chain[1:].split(".")
            if owner in modules:
                if not _has_chain([modules[owner]], attrs):
                    missing.append(owner + chain)
            elif owner in ambiguous:
                missing.append(f"{owner + chain} (which {owner}? {' or '.join(ambiguous[owner])})")
            elif owner[0].isupper():
                if not _has_chain(classes.get(owner, ()), attrs):
                    missing.append(owner + chain)
    assert not missing, f"{doc} mentions names that do not exist: {sorted(set(missing))}"


@pytest.mark.parametrize("doc", doc_files())
def test_mentioned_paths_exist(doc):
    text = read(doc)
    paths = set(re.findall(r"(?<![\w/.])((?:minicnn|tests|examples|benchmarks)/[\w/.-]*\w)", text))
    missing = sorted(p for p in paths if not os.path.exists(os.path.join(ROOT, p)))
    assert not missing, f"{doc} mentions files that do not exist: {missing}"


def _anchors(doc):
    """GitHub's anchors for the headings of a docs page (repeats get -1, -2, ...)."""
    seen, anchors = {}, set()
    for line in FENCE.sub("", read(doc)).splitlines():
        m = re.match(r"#{1,6}\s+(.*?)\s*$", line)
        if m:
            slug = re.sub(r"[^\w\- ]", "", m.group(1).lower()).replace(" ", "-")
            anchors.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
            seen[slug] = seen.get(slug, 0) + 1
    return anchors


@pytest.mark.parametrize("doc", doc_files())
def test_relative_links_resolve(doc):
    """Every relative link names an existing file; an anchor must be a heading of a
    docs page (anchors into other files, which change under the docs, are refused)."""
    text = FENCE.sub("", read(doc))
    bad = []
    for target in re.findall(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", text):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):
            continue  # http:, mailto:
        path, _, anchor = target.partition("#")
        full = os.path.normpath(os.path.join(DOCS, path or doc))
        if not os.path.exists(full):
            bad.append(target)
        elif anchor:
            in_docs = os.path.dirname(full) == DOCS and full.endswith(".md")
            if not in_docs or anchor not in _anchors(os.path.basename(full)):
                bad.append(target)
    assert not bad, f"{doc} links to missing files or anchors: {bad}"


# ---- the index, and the course pages -------------------------------------------------
# The index's tables, in reading order: the course's three parts, then the engineering
# pages, then the reference pages.
COURSE_PARTS = ("course-ideas", "course-layers", "course-assignment")
INDEX_TABLES = COURSE_PARTS + ("engineering", "reference")


def _index_pages(marker):
    """The pages of the index table after ``<!-- marker -->``, in order."""
    rows = table_after(read("README.md"), marker)
    return [re.search(r"\]\(([\w.-]+\.md)\)", row[1]).group(1) for row in rows]


def test_index_lists_every_page():
    index = read("README.md")
    linked = set(re.findall(r"\]\(([\w.-]+\.md)\)", index))
    assert linked == set(doc_files()) - {"README.md"}


def test_index_puts_the_course_before_the_engineering_pages():
    """Ideas, layers, the assignment, then engineering and reference; numbered 1, 2, ...
    throughout; each page's last "Next:" names the page after it, the last one the index."""
    index = read("README.md")
    positions = [index.index(f"<!-- {marker} -->") for marker in INDEX_TABLES]
    assert positions == sorted(positions)
    pages = [page for marker in INDEX_TABLES for page in _index_pages(marker)]
    assert len(pages) == len(set(pages))
    assert sorted(pages) == sorted(set(doc_files()) - {"README.md"})
    numbers = [int(row[0]) for marker in INDEX_TABLES for row in table_after(index, marker)]
    assert numbers == list(range(1, len(numbers) + 1))
    for page, after in zip(pages, pages[1:] + ["README.md"]):
        parts = read(page).rsplit("Next:", 1)
        assert len(parts) == 2 and f"({after})" in parts[1], f"{page}: Next: should point at {after}"


def test_the_course_starts_with_the_ideas_and_ends_with_the_assignment():
    ideas, layers_part, models = (_index_pages(marker) for marker in COURSE_PARTS)
    assert ideas[0] == "convolution.md" and "training_loop.md" in ideas
    assert layers_part[0] == "im2col.md" and "gradcheck.md" in layers_part
    assert models == ["assignment.md", "receptive_field.md"]
    assert _index_pages("engineering")[:4] == ["backend.md", "fast_cpu.md", "parallel.md", "gpu.md"]


def _course_pages():
    try:
        return [page for marker in COURSE_PARTS for page in _index_pages(marker)]
    except ValueError:        # no course table: test_index_puts_the_course_... says so
        return []


COURSE = _course_pages()


@pytest.mark.parametrize("doc", COURSE)
def test_course_pages_teach_from_the_textbook(doc):
    """A course page names its code in a **Code:** line, and nothing of minicnn/fast
    (files, modules, or what only a fast class has): the course reads without it."""
    modules, _, classes = NAMESPACES
    text = read(doc)
    code = re.search(r"^\*\*Code:\*\*(.*?)\n\n", text, re.S | re.M)
    assert code, f"{doc} has no **Code:** paragraph"
    assert re.search(r"(?:minicnn|examples)/[\w/.-]*\.py", code.group(1)), \
        f"{doc}: the **Code:** paragraph names no file"
    fast = re.findall(r"minicnn[/.]fast\b[\w/.]*", text)
    for span in _code_spans(text):
        span = re.sub(r"[\w./-]+\.(py|md|npz|png|csv)\b", "", span)
        for owner, chain in CHAIN.findall(span):
            attrs = chain[1:].split(".")
            if owner in modules and modules[owner].__name__.startswith("minicnn.fast"):
                fast.append(owner + chain)
            elif owner in classes:
                textbook = [c for c in classes[owner] if not c.__module__.startswith("minicnn.fast")]
                if textbook and not _has_chain(textbook, attrs):
                    fast.append(owner + chain)
    assert not fast, f"{doc} names fast-path code (keep it for fast_cpu.md): {sorted(set(fast))}"
