"""Builds the _memprobe extension; everything else is in pyproject.toml."""
import glob
import sys

from setuptools import Extension, setup

extra_compile_args = []
if sys.platform != "win32":
    extra_compile_args = ["-Wall", "-Wno-missing-field-initializers"]
# native.c looks glibc's mallinfo2 up with dlsym (in libc itself from glibc
# 2.34; in libdl before).
libraries = ["dl"] if sys.platform.startswith("linux") else []

setup(
    ext_modules=[
        Extension(
            "memprobe._memprobe",
            sources=["src/_memprobe.c", *sorted(glob.glob("src/_memprobe/*.c"))],
            depends=sorted(glob.glob("src/_memprobe/*.h")),
            define_macros=[("Py_BUILD_CORE_MODULE", "1")],
            extra_compile_args=extra_compile_args,
            libraries=libraries,
        )
    ],
)
