"""The notebooks in docs/notebooks run from top to bottom, and the docs show what they produce.

The docs render each notebook's stored outputs (myst-nb, execution off), so
this runs every notebook afresh with nbclient in a real Jupyter kernel and
checks that it raises nothing, that its stored outputs are complete, and that
they are the outputs the code gives now (the example is seeded and its clock
is fixed; only images and object addresses may differ).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = sorted((Path(__file__).parent.parent / "docs" / "notebooks").glob("*.ipynb"))
ADDRESS = re.compile(r" at 0x[0-9a-f]+")


def texts(cell: Any) -> list[str]:
    """The cell's outputs as text: streams and text/plain, without object addresses."""
    out = []
    for output in cell.get("outputs", []):
        if output["output_type"] == "stream":
            out.append(output["text"])
        elif "data" in output:
            out.append(ADDRESS.sub("", output["data"].get("text/plain", "")))
    return out


def test_there_is_a_notebook():
    assert [p.name for p in NOTEBOOKS] == ["retail.ipynb"]


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_the_notebook_runs_and_its_stored_outputs_are_what_it_gives(path: Path):
    stored = nbformat.read(path, as_version=4)
    code = [c for c in stored.cells if c.cell_type == "code"]
    assert all(c.get("outputs") for c in code), "every code cell has stored outputs for the docs"
    fresh = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        fresh,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    ran = [c for c in fresh.cells if c.cell_type == "code"]
    errors = [o for c in ran for o in c.outputs if o["output_type"] == "error"]
    assert not errors
    for before, after in zip(code, ran, strict=True):
        assert texts(before) == texts(after), before.source
    html = [
        o["data"]["text/html"] for c in ran for o in c.outputs if "text/html" in o.get("data", {})
    ]
    assert any('class="cxcore-table"' in h for h in html)
    images = [o for c in ran for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) == 2  # the trend and ranking figure, and the bucket bars
    maps = [
        o["data"]["image/svg+xml"]
        for c in ran
        for o in c.outputs
        if "image/svg+xml" in o.get("data", {})
    ]
    assert len(maps) == 1  # the journey map
    assert "home_delivery" in maps[0] or "Home delivery" in maps[0]
