"""docs/notebooks: each notebook runs from top to bottom without an error, and is saved
with its outputs (so that it reads on the code host as it is)."""
import importlib.util
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FOLDER = os.path.join(ROOT, "docs", "notebooks")


def _runner():
    spec = importlib.util.spec_from_file_location("run_notebooks",
                                                  os.path.join(FOLDER, "run_notebooks.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RUNNER = _runner()


def test_every_notebook_is_listed():
    on_disk = sorted(f for f in os.listdir(FOLDER) if f.endswith(".ipynb"))
    assert on_disk == sorted(RUNNER.NOTEBOOKS)
    with open(os.path.join(FOLDER, "README.md"), encoding="utf-8") as f:
        index = f.read()
    for name in RUNNER.NOTEBOOKS:
        assert f"]({name})" in index, name


@pytest.mark.parametrize("name", RUNNER.NOTEBOOKS)
def test_notebook_is_saved_with_its_outputs(name):
    nbformat = pytest.importorskip("nbformat")
    notebook = nbformat.read(os.path.join(FOLDER, name), as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert "%pip install" in code[0].source and "import minicnn" in code[0].source   # Colab's line
    assert [cell.execution_count for cell in code] == list(range(1, len(code) + 1)), \
        f"{name}: run it in order and save it: python docs/notebooks/run_notebooks.py {name}"
    errors = [output for cell in code for output in cell.outputs if output.output_type == "error"]
    assert not errors
    assert sum(len(cell.outputs) for cell in code) >= len(code) - 1


@pytest.mark.parametrize("name", RUNNER.NOTEBOOKS)
def test_notebook_runs_without_errors(name):
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    notebook = RUNNER.execute(os.path.join(FOLDER, name), timeout=240)   # raises on a failing cell
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.execution_count is not None for cell in code)
    assert not [output for cell in code for output in cell.outputs if output.output_type == "error"]
