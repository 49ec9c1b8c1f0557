"""Run the course notebooks and save them with their outputs, in place.

    python docs/notebooks/run_notebooks.py                  # all of them
    python docs/notebooks/run_notebooks.py gradcheck.ipynb  # one

Needs the dev extra (nbclient, nbformat, ipykernel): pip install -e ".[dev]".
tests/test_notebooks.py runs them the same way, without saving.
"""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
NOTEBOOKS = ["go_crazy.ipynb", "gradcheck.ipynb", "im2col_by_hand.ipynb",
             "batchnorm_statistics.ipynb"]


def execute(path, timeout=300):
    """Run every cell of the notebook at ``path`` in a fresh kernel (the running Python's),
    in a scratch working folder; returns the executed notebook (raises on a failing cell)."""
    import tempfile

    import nbformat
    from nbclient import NotebookClient
    notebook = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory() as folder:
        NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": folder}}).execute()
    return notebook


def main(argv=None):
    import nbformat
    names = (argv if argv is not None else sys.argv[1:]) or NOTEBOOKS
    for name in names:
        path = os.path.join(HERE, os.path.basename(name))
        start = time.perf_counter()
        notebook = execute(path)
        for cell in notebook.cells:          # no run-specific ids in the saved file
            cell.get("metadata", {}).pop("execution", None)
        nbformat.write(notebook, path)
        print(f"ran and saved {os.path.relpath(path)} in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
