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
import importlib
import inspect
import os
import pkgutil
import re
import sys

import numpy as np
import pytest

import minicnn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")
sys.path.insert(0, os.path.join(ROOT, "examples"))

import assignment4  # noqa: E402

from minicnn import backend, layers, nn  # noqa: E402
from minicnn.fast.columns import col2im_offsets, im2col_strided  # noqa: E402
from minicnn.im2col import col2im, im2col  # noqa: E402

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
def _index_pages(marker):
    """The pages of the index table after ``<!-- marker -->``, in order."""
    rows = table_after(read("README.md"), marker)
    return [re.search(r"\]\(([\w.-]+\.md)\)", row[1]).group(1) for row in rows]


def test_index_lists_every_page():
    index = read("README.md")
    linked = set(re.findall(r"\]\(([\w.-]+\.md)\)", index))
    assert linked == set(doc_files()) - {"README.md"}


def test_index_puts_the_course_before_the_engineering_pages():
    index = read("README.md")
    course, engineering = _index_pages("course"), _index_pages("engineering")
    assert index.index("<!-- course -->") < index.index("<!-- engineering -->")
    assert not set(course) & set(engineering)
    assert sorted(course + engineering) == sorted(set(doc_files()) - {"README.md"})
    numbers = [int(row[0]) for marker in ("course", "engineering")
               for row in table_after(index, marker)]
    assert numbers == list(range(1, len(numbers) + 1))
    for page, after in zip(course + engineering, (course + engineering)[1:] + ["README.md"]):
        parts = read(page).rsplit("Next:", 1)
        assert len(parts) == 2 and f"({after})" in parts[1], f"{page}: Next: should point at {after}"


def _course_pages():
    try:
        return _index_pages("course")
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
