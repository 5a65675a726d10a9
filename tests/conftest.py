import sys
import sysconfig

import memprobe

pytest_plugins = ["pytester"]


def pytest_report_header(config):
    info = memprobe.interpreter()
    kind = "free-threaded" if info.free_threaded else "GIL"
    debug = "debug" if info.debug_build else "release"
    return (
        f"memprobe on CPython {sys.version.split()[0]} ({debug}, {kind}), "
        f"allocator {info.allocator}, GC {info.gc_regime}, "
        f"Py_GIL_DISABLED={sysconfig.get_config_var('Py_GIL_DISABLED')}"
    )
