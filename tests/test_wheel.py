"""The wheel users install holds the memprobe package and its extension,
nothing else: no C sources, no stray top-level package.  The distribution
is cpython-memprobe (import name memprobe), its version written once, and
the sdist carries the license and everything its own tests need."""
import importlib.metadata
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import memprobe

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(not (REPO / "setup.py").is_file(), reason="needs the source tree")
def test_the_wheel_contains_only_the_package_and_its_extension(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(REPO)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout
    (wheel,) = tmp_path.glob("cpython_memprobe-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names}
    assert top == {"memprobe", wheel.name.split("-")[0] + "-" + wheel.name.split("-")[1] + ".dist-info"}
    assert not [n for n in names if n.endswith((".c", ".h"))]
    assert any(n.startswith("memprobe/_memprobe.") and n.endswith((".so", ".pyd")) for n in names)
    assert {"memprobe/py.typed", "memprobe/_memprobe.pyi"} <= set(names)
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)


def test_the_distribution_is_cpython_memprobe_and_its_version_is_memprobe_version():
    assert importlib.metadata.version("cpython-memprobe") == memprobe.__version__
    meta = importlib.metadata.metadata("cpython-memprobe")
    assert meta["License-Expression"] == "MIT"
    entry_points = importlib.metadata.distribution("cpython-memprobe").entry_points
    assert {(e.group, e.name) for e in entry_points} >= {("console_scripts", "memprobe"), ("pytest11", "memprobe")}


@pytest.mark.skipif(not (REPO / "setup.py").is_file(), reason="needs the source tree")
def test_the_sdist_carries_the_license_and_what_its_tests_need(tmp_path):
    pytest.importorskip("build")
    # Built as a user's build would be: in an isolated environment with the
    # setuptools pyproject.toml asks for.
    proc = subprocess.run([sys.executable, "-m", "build", "--sdist", "-o", str(tmp_path), str(REPO)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout
    (sdist,) = tmp_path.glob("cpython_memprobe-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
        tar.extractall(tmp_path / "unpacked", filter="data") if hasattr(tarfile, "data_filter") else \
            tar.extractall(tmp_path / "unpacked")
    assert {"LICENSE", "README.md", "setup.py", "pyproject.toml", "src/_memprobe.c", "tests/conftest.py",
            "tests/_support.py", "tests/typing/usage.py", "docs/arenas.svg", "benchmarks/run_all.py"} <= names
    assert {name for name in names if name.startswith("src/_memprobe/")} >= {
        str(p.relative_to(REPO)) for p in (REPO / "src" / "_memprobe").iterdir()}
    # Its tests run from the unpacked sdist (against the memprobe installed here).
    (unpacked,) = (tmp_path / "unpacked").iterdir()
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_refcount.py",
                            "tests/test_typing.py", "tests/test_plugin.py", "-k", "not pytester and not entry_point"],
                           cwd=unpacked, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    assert tests.returncode == 0, tests.stdout[-3000:]
