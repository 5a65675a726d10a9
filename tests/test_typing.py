"""The typed API, statically: mypy --strict passes on the package and on a
usage example.  (That the real return values match the annotations is
test_contract.py's promise; that the C module's stub matches the module,
test_stubtest.py's.)"""
from pathlib import Path

import pytest

from _support import run_python

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(not (REPO / "src" / "memprobe").is_dir(), reason="needs the source tree")
def test_mypy_strict_passes_on_the_package_and_a_usage_example(tmp_path):
    pytest.importorskip("mypy")
    proc = run_python(
        "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "cache"),
        "--no-incremental", str(REPO / "src" / "memprobe"), str(REPO / "tests" / "typing" / "usage.py"),
        env_extra={"MYPYPATH": str(REPO / "src")}, cwd=str(tmp_path), stderr_to_stdout=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout
