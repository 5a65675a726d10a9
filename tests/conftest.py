"""pytest setup: the build in the report header, and pytester for the plugin's
tests.  What tests share (build facts, the subprocess runner, the
subinterpreter script) lives in _support.py beside this file."""
import os

from _support import describe_build

pytest_plugins = ["pytester"]

# The optional suite (a notebook executed for real, pictures rendered to
# PNG) needs what the test command does not install: .ci/optional runs it
# with MEMPROBE_OPTIONAL=1.
collect_ignore = [] if os.environ.get("MEMPROBE_OPTIONAL") else ["optional"]


def pytest_report_header(config):
    return describe_build()
