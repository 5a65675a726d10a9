"""The wheel users install holds the memprobe package and its extension,
nothing else: no C sources, no stray top-level package."""
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(not (REPO / "setup.py").is_file(), reason="needs the source tree")
def test_the_wheel_contains_only_the_package_and_its_extension(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(REPO)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout
    (wheel,) = tmp_path.glob("memprobe-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names}
    assert top == {"memprobe", wheel.name.split("-")[0] + "-" + wheel.name.split("-")[1] + ".dist-info"}
    assert not [n for n in names if n.endswith((".c", ".h"))]
    assert any(n.startswith("memprobe/_memprobe.") and n.endswith((".so", ".pyd")) for n in names)
    assert {"memprobe/py.typed", "memprobe/_memprobe.pyi"} <= set(names)
