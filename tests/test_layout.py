"""The textbook reads alone: minicnn/nn imports nothing from the fast package."""
import ast
import pathlib

import minicnn

PACKAGE = pathlib.Path(minicnn.__file__).parent
# what a textbook file may import: the array module's home, the column transform,
# the initialisers, the rest of the textbook, and the standard library's numbers, math
# and warnings (Keras 1 argument names are converted with a warning, nn/base.py)
ALLOWED = {"minicnn.backend", "minicnn.im2col", "minicnn.initializers", "math", "numbers", "numpy",
           "warnings"}


def imports_of(source, package):
    """Every module the source of a file in ``package`` imports, relative imports
    resolved to full names."""
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(part for part in (base, node.module) if part)
            names += [f"{module}.{alias.name}" if node.module is None or module == base
                      else module for alias in node.names]
    return names


def test_the_textbook_imports_only_the_backend_im2col_initializers_and_itself():
    files = sorted((PACKAGE / "nn").glob("*.py"))
    assert len(files) >= 9
    for path in files:
        for name in imports_of(path.read_text(), "minicnn.nn"):
            assert name in ALLOWED or name.startswith("minicnn.nn."), (path.name, name)


def test_the_check_sees_a_fast_import():
    """The checker itself: an import of the fast package, in any form, is reported."""
    source = "from ..fast import threads\nfrom .. import backend, fast\nimport minicnn.fast.gemm\n"
    names = imports_of(source, "minicnn.nn")
    assert names == ["minicnn.fast", "minicnn.backend", "minicnn.fast", "minicnn.fast.gemm"]
    assert [name for name in names if name not in ALLOWED] == names[:1] + names[2:]
