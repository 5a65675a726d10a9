"""pytest setup: the build in the report header, and pytester for the plugin's
tests.  What tests share (build facts, the subprocess runner, the
subinterpreter script) lives in _support.py beside this file."""
from _support import describe_build

pytest_plugins = ["pytester"]


def pytest_report_header(config):
    return describe_build()
