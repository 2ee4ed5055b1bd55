"""notebooks/quickstart.ipynb, run top to bottom in a real kernel (nbclient) as a user runs it."""

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "quickstart.ipynb"


@pytest.mark.slow
def test_the_quickstart_notebook_trains_evaluates_and_classifies_with_its_export(
    tmp_path, monkeypatch
):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert "google.colab" in code[0].source and not any(cell.outputs for cell in code)
    monkeypatch.setenv("PYTHONPATH", str(NOTEBOOK.parents[1] / "src"))  # as if installed
    in_tmp_path = {"metadata": {"path": str(tmp_path)}}  # the kernel's working directory
    NotebookClient(notebook, timeout=180, resources=in_tmp_path).execute()
    printed = "".join(output.get("text", "") for cell in code for output in cell.outputs)
    accuracy = float(re.search(r"test accuracy (\d\.\d{4}), macro F1", printed)[1])
    pictures = [output for output in code[3].outputs if "image/png" in output.get("data", {})]
    right = int(re.search(r"(\d) of 8 right", printed)[1])
    assert accuracy >= 0.5 and len(pictures) == 1 and right >= 4, printed
    run_dir = tmp_path / "runs" / (tmp_path / "runs" / "latest").read_text().strip()
    assert (run_dir / "eval" / "latest" / "report.md").is_file()
    assert (run_dir / "export" / "1" / "saved_model.pb").is_file()
