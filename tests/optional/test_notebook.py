"""A notebook executed for real (nbconvert, a live IPython kernel): each
result shows as a one-line summary over HTML tables, and the saved
notebook stays small (a 7-cell notebook was 465 KB, mostly text reprs).

Part of the optional suite (.ci/optional): needs the [notebook] extra.
"""
import nbformat
from nbconvert.preprocessors import ExecutePreprocessor

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
