"""A notebook executed for real (nbconvert, a live IPython kernel): each
result shows as a one-line summary over HTML tables, and the saved
notebook stays small (a 7-cell notebook was 465 KB, mostly text reprs).

Part of the optional suite (.ci/optional): needs the [notebook] extra.
"""
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbconvert.preprocessors import ExecutePreprocessor

from _png import decode

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "notebook.py"

CELLS = {
    "import memprobe\nmemprobe.report()": "Report of CPython",
    "memprobe.census()": "Census ",
    "memprobe.gc_state()": "GCState ",
    "memprobe.snapshot()": "Snapshot of CPython",
    "memprobe.rss()": "ResidentMemory total",
    "memprobe.explain([1, 2])": "A builtins.list object",
    "import gc\nwith memprobe.timeline(lengths=True) as t:\n    gc.collect()\nt.result": "Timeline 1 collections",
}


def test_a_notebook_shows_every_result_as_a_small_html_table(tmp_path):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code) for code in CELLS])
    ExecutePreprocessor(timeout=120, kernel_name="python3").preprocess(notebook, {"metadata": {"path": str(tmp_path)}})
    for cell, heading in zip(notebook.cells, CELLS.values()):
        (output,) = [o for o in cell.outputs if o.output_type == "execute_result"]
        view = output.data["text/html"]
        assert heading in view, (cell.source, view[:200])
        assert ("<table" in view) != cell.source.startswith("memprobe.explain"), cell.source
        assert "\n" not in output.data["text/plain"] and len(output.data["text/plain"]) < 200
    path = tmp_path / "memprobe.ipynb"
    nbformat.write(notebook, str(path))
    assert path.stat().st_size < 120_000, path.stat().st_size


@pytest.mark.skipif(not SCREENSHOT.exists(), reason="needs the source tree's docs/notebook.py")
@pytest.mark.skipif(not os.path.exists(os.environ.get("CHROMIUM", "/usr/bin/chromium")),
                    reason="no Chromium: .ci/optional installs Debian's chromium, and could not")
def test_the_readme_notebook_screenshot_is_made_by_the_command_it_names(tmp_path):
    """`python docs/notebook.py DIR`: the notebook executed and photographed
    by headless Chromium (.ci/optional installs Debian's chromium)."""
    subprocess.run([sys.executable, str(SCREENSHOT), str(tmp_path)], check=True, timeout=300)
    notebook = nbformat.read(str(tmp_path / "notebook.ipynb"), as_version=4)
    assert all(cell.outputs for cell in notebook.cells)
    width, height, pixels = decode((tmp_path / "notebook.png").read_bytes())
    assert (width, height) == (1100, 1220)
    assert len(set(pixels[1::97])) > 8     # tables and text, not a blank page
