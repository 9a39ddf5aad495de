"""The example notebook (docs/notebooks/replay.ipynb) runs, top to bottom, on the shared race."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import need_shared_data

from racereplay.bench import shared_data

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

NOTEBOOK = Path(__file__).resolve().parents[1] / "docs" / "notebooks" / "replay.ipynb"


def _outputs(notebook: Any) -> tuple[str, list[str]]:
    """All text the cells printed or showed, and the kinds of data they showed."""
    texts, kinds = [], []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            texts.append(output.get("text", ""))
            texts.append(output.get("data", {}).get("text/plain", ""))
            kinds += list(output.get("data", {}))
    return "\n".join(texts), kinds


def test_the_example_notebook_runs_on_the_shared_race(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    need_shared_data(
        shared_data.FASTF1_CACHE, shared_data.FASTF1_HTTP_CACHE, shared_data.AUS_RACE.path
    )
    for module in ("fastf1", "pandas", "nbclient", "nbformat", "ipykernel"):
        pytest.importorskip(module, reason=f"{module} is in the dev extra: pip install -e .[dev]")
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("RACEREPLAY_CACHE", str(tmp_path / "timelines"))  # the kernel inherits it
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        notebook, kernel_name="python3", timeout=300, resources={"metadata": {"path": tmp_path}}
    )
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any error
    text, kinds = _outputs(notebook)
    assert "Australian Grand Prix Race 20 drivers 927 laps" in text
    assert "session time 1:41:00" in text and "speed (km/h)" in text  # the frame's table
    assert "text/html" in kinds  # ... shown as HTML
    assert text.count("'Safety Car'") == 3
    assert "(1, 'NOR'), (2, 'VER'), (3, 'RUS')" in text
    assert "image/png" in kinds  # the speed plot
