"""The notebooks in notebooks/ run top to bottom (nbclient, kernel python3, tmp dir)."""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.mark.parametrize("name", ["quickstart", "relaxation_gaps", "export_and_inspect",
                                  "convex_barrier", "two_networks"])
def test_notebook_runs(name, tmp_path):
    if name == "convex_barrier":
        from conftest import shared_benchmarks
        shared_benchmarks()          # skips when ../shared/benchmarks is absent
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
