"""inject(pid): memprobe run inside another process by sys.remote_exec
(3.14+).

Each target is a real process of this interpreter, which can import this
memprobe; what comes back must be what memprobe says inside it.
"""
import glob
import json
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
import threading
import time

import pytest

import memprobe
from test_schema import VALIDATE

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inject runs on Linux here")
needs_remote_exec = pytest.mark.skipif(not hasattr(sys, "remote_exec"), reason="sys.remote_exec is 3.14+")

# A target that reaches a safe point every 10 ms, with 5,000 objects of a
# type of its own.
SLEEPER = textwrap.dedent("""
    import time
    class Injected:
        pass
    keep = [Injected() for _ in range(5000)]
    print("ready", flush=True)
    while True:
        time.sleep(0.01)
""")


def _target(*options, code=SLEEPER, env=None, stdin=None):
    process = subprocess.Popen([sys.executable, *options, "-c", code], stdout=subprocess.PIPE, stdin=stdin,
                               stderr=subprocess.PIPE, text=True, env=env)
    assert process.stdout.readline() == "ready\n"
    return process


def _leftovers():
    return set(glob.glob(os.path.join(tempfile.gettempdir(), "memprobe-inject-*")))


@needs_remote_exec
def test_the_report_and_where_come_back_as_memprobe_saw_them_inside():
    before = _leftovers()
    with _target() as process:
        try:
            injected = memprobe.inject(process.pid)
            time.sleep(0.2)     # its thread is done: the result was its last act
        finally:
            process.kill()
        assert process.stderr.read() == ""         # the target was told nothing
    assert isinstance(injected, memprobe.InjectedReport)
    assert injected.pid == process.pid and injected.version == platform.python_version()
    assert injected.report["kind"] == "report" and injected.where["kind"] == "where"
    # The target's own type, counted there: every instance, exactly.
    assert ["__main__.Injected", 5000] in injected.where["top_types"]
    assert "resident memory" in injected.text and "Injected" in injected.text
    assert str(injected) == injected.text       # nothing in it a terminal would act on
    assert _leftovers() == before       # the private directory is gone


@needs_remote_exec
@pytest.mark.parametrize("how, says", [(("-X", "disable-remote-debug"), "-X disable-remote-debug"),
                                       ((), "PYTHON_DISABLE_REMOTE_DEBUG")])
def test_a_target_with_remote_debugging_off_is_refused_saying_how(how, says):
    env = dict(os.environ, PYTHON_DISABLE_REMOTE_DEBUG="1") if not how else None
    before = _leftovers()
    with _target(*how, env=env) as process:
        try:
            with pytest.raises(memprobe.AttachError, match="remote debugging turned off") as refused:
                memprobe.inject(process.pid)
        finally:
            process.kill()
    assert says in str(refused.value) and "attach(pid)" in str(refused.value)
    assert _leftovers() == before


@needs_remote_exec
def test_a_target_that_cannot_import_memprobe_says_so():
    with _target("-S") as process:      # no site-packages: no memprobe
        try:
            with pytest.raises(memprobe.AttachError, match="memprobe cannot be imported in process"):
                memprobe.inject(process.pid)
        finally:
            process.kill()


@needs_remote_exec
def test_a_target_that_never_reaches_a_safe_point_times_out_and_cleans_up_later():
    """Blocked in a read, the target runs nothing; the reader gives up.
    Once the read returns, the target runs the pending script, which finds
    the reader gone and removes its directory."""
    code = "import sys\nprint('ready', flush=True)\nsys.stdin.readline()\nimport time\ntime.sleep(0.5)\n"
    before = _leftovers()
    with _target(code=code, stdin=subprocess.PIPE) as process:
        started = time.monotonic()
        with pytest.raises(memprobe.AttachError, match="did not run memprobe within 0.5 s"):
            memprobe.inject(process.pid, timeout=0.5)
        assert time.monotonic() - started < 30
        assert len(_leftovers() - before) == 1          # kept for the pending script
        process.stdin.write("go\n")
        process.stdin.flush()
        assert process.wait(timeout=60) == 0
        assert process.stderr.read() == ""
    assert _leftovers() == before


@needs_remote_exec
def test_a_target_that_dies_while_waited_for_is_refused():
    code = "import sys\nprint('ready', flush=True)\nsys.stdin.readline()\n"
    with _target(code=code, stdin=subprocess.PIPE) as process:
        threading.Timer(0.5, process.kill).start()
        with pytest.raises(memprobe.AttachError, match="exited before it ran memprobe"):
            memprobe.inject(process.pid, timeout=60)


@pytest.mark.skipif(hasattr(sys, "remote_exec"), reason="before 3.14 only")
def test_before_3_14_inject_is_unsupported():
    with pytest.raises(memprobe.UnsupportedInterpreter, match="3.14"):
        memprobe.inject(1)


def test_bad_arguments_are_refused():
    with pytest.raises(TypeError):
        memprobe.inject("1")
    with pytest.raises(ValueError):
        memprobe.inject(0)
    with pytest.raises(ValueError, match="this one"):
        memprobe.inject(os.getpid())
    for timeout in (0, -1, float("nan"), True):
        with pytest.raises(ValueError):
            memprobe.inject(1, timeout=timeout)


@needs_remote_exec
def test_the_command_line_prints_the_text_or_one_document():
    with _target() as process:
        try:
            text = subprocess.run([sys.executable, "-m", "memprobe", "attach", str(process.pid), "--inject"],
                                  capture_output=True, text=True, timeout=120)
            as_json = subprocess.run([sys.executable, "-m", "memprobe", "attach", str(process.pid), "--inject",
                                      "--json"], capture_output=True, text=True, timeout=120)
        finally:
            process.kill()
    assert text.returncode == 0, text.stderr
    assert f"process {process.pid}" in text.stdout and "Injected" in text.stdout
    document = json.loads(as_json.stdout)
    VALIDATE(document)
    assert document["kind"] == "inject" and document["pid"] == process.pid
    assert document["report"]["kind"] == "report" and document["where"]["kind"] == "where"


def test_the_command_line_refuses_inject_with_outside_options():
    done = subprocess.run([sys.executable, "-m", "memprobe", "attach", "1", "--inject", "--stop"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--stop" in done.stderr and "Traceback" not in done.stderr


@needs_remote_exec
def test_a_directory_another_user_cannot_reach_is_refused_before_asking(tmp_path):
    """Root asking another user's process: every directory above the
    script must let that user through, else the target could not read it
    and the reader would wait in vain."""
    from memprobe import _inject

    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    inner = closed / "memprobe-inject-x"
    inner.mkdir()
    with _target() as process:
        try:
            with pytest.raises(memprobe.AttachError, match="cannot pass through"):
                _inject._check_reachable(process.pid, str(inner), 65534)
            _inject._check_reachable(process.pid, str(inner), os.geteuid())    # its owner may
        finally:
            process.kill()
