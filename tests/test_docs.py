"""The docs under docs/ stay true to the code.

* the numbers of the im2col worked example (docs/im2col.md) are what
  im2col/col2im compute on the same input;
* the receptive-field tables (docs/receptive_field.md) are what
  Sequential.receptive_fields() gives for the assignment's models;
* the schedule values quoted in docs/schedules.md are the library's;
* every repository path, `Class.method`, `module.function` and relative link
  mentioned in the docs exists.
"""
import importlib
import inspect
import os
import re
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")
sys.path.insert(0, os.path.join(ROOT, "examples"))

import assignment4  # noqa: E402

from minicnn import im2col as I  # noqa: E402

FENCE = re.compile(r"^```.*?^```[ \t]*$", re.S | re.M)


def doc_files():
    return sorted(f for f in os.listdir(DOCS) if f.endswith(".md"))


def read(name):
    with open(os.path.join(DOCS, name), encoding="utf-8") as f:
        return f.read()


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
    cols = I.im2col(x, 3, 3, 1, 1)
    assert cols.shape == (1, 2, 2, 9)
    np.testing.assert_array_equal(I.im2col_reference(x, 3, 3, 1, 1), cols)
    np.testing.assert_array_equal(int_grid(text, "im2col-columns"), cols.reshape(4, 9))

    y = (cols.reshape(4, 9) @ kernel.reshape(9, 1)).reshape(2, 2)
    direct = np.array([[(x_grid[i:i + 3, j:j + 3] * kernel).sum() for j in range(2)]
                       for i in range(2)])
    np.testing.assert_array_equal(y, direct)
    np.testing.assert_array_equal(int_grid(text, "im2col-output"), y)

    counts = I.col2im(np.ones((1, 2, 2, 9)), (1, 4, 4, 1), 3, 3, 1, 1)[0, :, :, 0]
    np.testing.assert_array_equal(int_grid(text, "col2im-counts"), counts)
    by_offset = I.col2im_offsets(lambda k: np.ones((1, 2, 2, 1)), (1, 4, 4, 1), 3, 3, 1, 1,
                                 out=np.empty((1, 4, 4, 1)))
    np.testing.assert_array_equal(by_offset[0, :, :, 0], counts)

    dcols = np.ones((4, 1)) @ kernel.reshape(9, 1).T                  # g @ kernel^T
    dx = I.col2im(dcols.reshape(1, 2, 2, 9), (1, 4, 4, 1), 3, 3, 1, 1)[0, :, :, 0]
    np.testing.assert_array_equal(int_grid(text, "col2im-dx"), dx)


def test_im2col_example_agrees_with_conv2d_layer():
    from minicnn import backend as B
    from minicnn.layers import Conv2D
    text = read("im2col.md")
    kernel = int_grid(text, "im2col-kernel").astype(np.float32)
    x = np.arange(1, 17, dtype=np.float32).reshape(1, 4, 4, 1)
    for reference in (True, False):
        layer = Conv2D(1, 3, use_bias=False, reference=reference)
        layer.build((4, 4, 1))
        layer.params["kernel"][...] = B.to_device(kernel.reshape(3, 3, 1, 1))
        y = B.to_host(layer.forward(B.to_device(x)))
        np.testing.assert_array_equal(y[0, :, :, 0], int_grid(text, "im2col-output"))
        dx = B.to_host(layer.backward(B.to_device(np.ones_like(y))))
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


# ---- names, paths and links mentioned anywhere in the docs -------------------------
MODULES = ["backend", "im2col", "channels", "losses", "optimizers", "schedules", "models",
           "callbacks", "gradcheck", "initializers", "utils", "viz", "layers",
           "layers.activations", "layers.base", "layers.conv", "layers.core",
           "layers.dropout", "layers.normalization", "layers.pooling", "datasets",
           "threads", "memory", "parallel", "profiler"]


def _namespaces():
    """Module short names -> modules, and class names -> classes, from minicnn and the tests."""
    modules, classes = {}, {}
    for short in MODULES:
        mod = importlib.import_module("minicnn." + short)
        modules[short.split(".")[-1]] = mod
        modules[short] = mod
        for name, obj in vars(mod).items():
            if inspect.isclass(obj) and obj.__module__.startswith("minicnn"):
                classes[name] = obj
    for alias, short in (("B", "backend"), ("I", "im2col"), ("CH", "channels"),
                         ("T", "threads"), ("P", "parallel")):
        modules[alias] = modules[short]       # the library's own import aliases
    from tests import strict_xp
    modules["strict_xp"] = strict_xp
    modules["strict"] = strict_xp.strict
    for name, obj in vars(strict_xp).items():
        if inspect.isclass(obj) and obj.__module__ == strict_xp.__name__:
            classes[name] = obj
    return modules, classes


def _code_spans(text):
    """Inline `code` spans outside fenced blocks."""
    return re.findall(r"`([^`\n]+)`", FENCE.sub("", text))


@pytest.mark.parametrize("doc", doc_files())
def test_mentioned_names_exist(doc):
    modules, classes = _namespaces()
    missing = []
    for span in _code_spans(read(doc)):
        span = re.sub(r"[\w./-]+\.(py|md|npz|png|csv)\b", "", span)     # file names
        for dotted in re.findall(r"\bminicnn(?:\.\w+)+", span):          # minicnn.x.y
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
        span = re.sub(r"\bminicnn(?:\.\w+)+", "", span)
        for owner, attr in re.findall(r"(?<![\w.])([A-Za-z_]\w*)\.([A-Za-z_]\w*)", span):
            if owner in modules:
                if not hasattr(modules[owner], attr):
                    missing.append(f"{owner}.{attr}")
            elif owner[0].isupper():
                if owner not in classes or not hasattr(classes[owner], attr):
                    missing.append(f"{owner}.{attr}")
    assert not missing, f"{doc} mentions names that do not exist: {sorted(set(missing))}"


@pytest.mark.parametrize("doc", doc_files())
def test_mentioned_paths_exist(doc):
    text = read(doc)
    paths = set(re.findall(r"(?<![\w/.])((?:minicnn|tests|examples|benchmarks)/[\w/.-]*\w)", text))
    missing = sorted(p for p in paths if not os.path.exists(os.path.join(ROOT, p)))
    assert not missing, f"{doc} mentions files that do not exist: {missing}"


@pytest.mark.parametrize("doc", doc_files())
def test_relative_links_resolve(doc):
    text = FENCE.sub("", read(doc))
    bad = []
    for target in re.findall(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", text):
        if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # http:, mailto:, in-page anchors
        path = target.split("#")[0]
        if not os.path.exists(os.path.normpath(os.path.join(DOCS, path))):
            bad.append(target)
    assert not bad, f"{doc} links to missing files: {bad}"


def test_index_lists_every_page():
    index = read("README.md")
    linked = set(re.findall(r"\]\(([\w.-]+\.md)\)", index))
    assert linked == set(doc_files()) - {"README.md"}
