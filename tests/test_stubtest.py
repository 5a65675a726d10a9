"""The C module's stub, memprobe/_memprobe.pyi, matches the module.

mypy's stubtest imports memprobe._memprobe as installed and compares each of
its names, classes and function signatures with the stub: a function renamed,
an argument added or a constant dropped in C without the stub following it
fails here, where mypy alone would keep trusting the stub.  (What the
functions return is test_contract.py's promise.)
"""
import importlib.util

import pytest

from _support import run_python


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None,
                    reason="mypy is not installed (it comes with memprobe's test extra)")
def test_stubtest_finds_no_difference_between_the_stub_and_the_c_module(tmp_path):
    # From an empty directory, so that the installed package is the one checked.
    proc = run_python("-m", "mypy.stubtest", "memprobe._memprobe", cwd=str(tmp_path),
                      stderr_to_stdout=True, timeout=600)
    assert proc.returncode == 0, proc.stdout
    assert "Success: no issues found in 1 module" in proc.stdout
