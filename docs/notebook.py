"""Regenerates docs/notebook.png, the README's notebook screenshot: a short
notebook executed with nbconvert (a live IPython kernel), exported to
HTML, and photographed by headless Chromium.

    pip install '.[notebook]'   # and Chromium: apt-get install chromium
    python docs/notebook.py     # writes docs/notebook.ipynb and docs/notebook.png
    python docs/notebook.py DIR # writes them into DIR instead (the optional suite)

CHROMIUM names the browser if it is not /usr/bin/chromium.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter
from nbconvert.preprocessors import ExecutePreprocessor

DOCS = Path(__file__).resolve().parent
CELLS = [
    "import memprobe\nmemprobe.gc_state()",
    "memprobe.rss()",
    "with memprobe.measure(collect=True) as m:\n    kept = [[i] for i in range(10_000)]\nm.diff",
    "memprobe.explain(kept[0])",
]
# The flags Chromium needs as root on a machine with no network.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1100,1220"]


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else DOCS
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code) for code in CELLS])
    ExecutePreprocessor(timeout=120, kernel_name="python3").preprocess(notebook, {"metadata": {"path": str(out)}})
    nbformat.write(notebook, str(out / "notebook.ipynb"))
    html, _ = HTMLExporter(template_name="classic").from_notebook_node(notebook)
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "notebook.html"
        page.write_text(html, encoding="utf-8")
        subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp}/profile",
                        f"--screenshot={out / 'notebook.png'}", page.as_uri()],
                       check=True, timeout=120, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print(f"{sys.argv[0]}: wrote {out / 'notebook.ipynb'} and {out / 'notebook.png'}")


if __name__ == "__main__":
    main()
