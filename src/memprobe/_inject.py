"""inject(pid): memprobe run inside another process (3.14+, Linux).

Where attach() reads a process from outside, inject() asks the target's
interpreter to run a short script at its next safe point (``sys.remote_exec``,
PEP 768): the script imports the target's own memprobe, takes the report
``python -m memprobe`` prints and the ``where`` reading (census with types,
block census, RSS attribution), and writes them as JSON into a directory only
the invoking user (and, when the reader is root, the target's user) can
enter.  The reader waits for that file.  This file owns both halves: the
script's template and ``inside()``, which the script calls in the target.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from typing import Any, Dict, Optional, Tuple

from . import _memprobe
from ._attach import _os_error, _proc, _version_text, check_pid, gone, target
from ._memprobe import UnsupportedInterpreter
from ._types import AttachError, InjectedReport

# Written next to the result when the reader gave up waiting: the script,
# when the target runs it at last, then removes its directory and reads
# nothing.
ABANDONED = "abandoned"
RESULT = "result.json"
SCRIPT = "inject.py"

# The script the target runs.  It runs in a namespace of its own; nothing
# it does may disturb the target: an Exception ends it quietly (a
# KeyboardInterrupt or SystemExit meant for the target goes on to it).
_TEMPLATE = '''\
def _run(directory):
    import json, os, shutil
    if os.path.exists(os.path.join(directory, {abandoned!r})):
        shutil.rmtree(directory, ignore_errors=True)
        return
    try:
        from memprobe._inject import inside
    except ImportError as exc:
        document = {{"error": "memprobe cannot be imported in process %d (%s): install cpython-memprobe "
                              "where its interpreter finds it" % (os.getpid(), exc)}}
    else:
        document = inside()
    partial = os.path.join(directory, "partial.json")
    with open(partial, "w") as out:
        json.dump(document, out)
    os.replace(partial, os.path.join(directory, {result!r}))
    if os.path.exists(os.path.join(directory, {abandoned!r})):     # the reader gave up meanwhile
        shutil.rmtree(directory, ignore_errors=True)


try:
    _run({directory!r})
except Exception:
    pass
'''


def inside() -> Dict[str, Any]:
    """What the script brings back, taken in the target: the report's
    document and text, and where's."""
    try:
        from .__main__ import where_reading
        from ._render import report_text
        from ._report import report

        reading = report()
        where, where_text = where_reading()
        return {"report": reading.to_dict(), "where": where,
                "text": report_text(reading, False) + "\n\n" + where_text}
    except Exception as exc:
        return {"error": f"memprobe failed in process {os.getpid()}: {type(exc).__name__}: {exc}"}


def inject(pid: int, timeout: float = 30.0) -> InjectedReport:
    """memprobe's report and where reading of process ``pid``, taken inside
    it: the target (same CPython build, 3.14+, memprobe importable there)
    runs them at its next safe point through ``sys.remote_exec``.  Raises
    AttachError when the target cannot be asked (permissions, remote
    debugging disabled: the message says how), has no memprobe, exits, or
    does not reach a safe point within ``timeout`` seconds (a thread
    blocked in a system call does not)."""
    check_pid(pid)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"timeout must be a number of seconds above 0, not {timeout!r}")
    remote_exec = getattr(sys, "remote_exec", None)
    if remote_exec is None:
        raise UnsupportedInterpreter(f"inject needs CPython 3.14+ (sys.remote_exec, PEP 768); running "
                                     f"{_version_text(sys.hexversion)}; attach(pid) reads from outside")
    runtime, version = target(pid, _memprobe._remote_layout()[1])
    directory = tempfile.mkdtemp(prefix="memprobe-inject-")     # 0700: this user's only
    asked = finished = False
    try:
        _hand_over(directory, pid)
        script = os.path.join(directory, SCRIPT)
        with open(os.open(script, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
            out.write(_TEMPLATE.format(directory=directory, abandoned=ABANDONED, result=RESULT))
        _hand_over(script, pid)
        try:
            remote_exec(pid, script)
        except OSError as exc:
            raise _os_error(pid, exc) from None
        except RuntimeError as exc:
            raise AttachError(_refusal(pid, str(exc))) from None
        asked = True
        document = _wait(pid, os.path.join(directory, RESULT), timeout)
        finished = True
    finally:
        if asked and not finished and not gone(pid):
            # The target may still run the script: it finds this mark and
            # removes the directory itself (a script gone missing would make
            # the target print an error).
            with open(os.path.join(directory, ABANDONED), "w"):
                pass
        else:
            shutil.rmtree(directory, ignore_errors=True)
    if "error" in document:
        raise AttachError(str(document["error"]))
    return InjectedReport(pid, _version_text(version), runtime.file, document["report"], document["where"],
                          document["text"])


def _hand_over(path: str, pid: int) -> None:
    """When the reader is root and the target another user, the target's
    user gets path, so that the target can read the script and write the
    result (no one else can: the directory is 0700)."""
    uid, gid = _owner(pid)
    if os.geteuid() == 0 and uid is not None and uid != 0:
        os.chown(path, uid, gid if gid is not None else -1)


def _owner(pid: int) -> Tuple[Optional[int], Optional[int]]:
    """The target's effective user and group ids, None when not known."""
    ids: Dict[str, Optional[int]] = {"Uid": None, "Gid": None}
    try:
        with open(f"{_proc(pid)}/status") as f:
            for line in f:
                key = line.split(":", 1)[0]
                if key in ids:
                    ids[key] = int(line.split()[2])
    except (OSError, ValueError, IndexError):
        pass
    return ids["Uid"], ids["Gid"]


def _wait(pid: int, result: str, timeout: float) -> Dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        if os.path.exists(result):
            with open(result) as f:
                document: Dict[str, Any] = json.load(f)
            return document
        if gone(pid):
            raise AttachError(f"process {pid} exited before it ran memprobe")
        if time.monotonic() > deadline:
            raise AttachError(
                f"process {pid} did not run memprobe within {timeout:g} s: it has not reached a safe point "
                "(its threads are blocked in system calls or in C code); the request stays pending and "
                "does nothing when it runs; attach(pid) reads it from outside meanwhile")
        time.sleep(0.01)


def _refusal(pid: int, message: str) -> str:
    """sys.remote_exec's refusal, with how the target's remote debugging
    was turned off when that is why."""
    if "not enabled" not in message:
        return f"process {pid} refused to run memprobe: {message}"
    how = "its interpreter was built --without-remote-debug"
    try:
        with open(f"{_proc(pid)}/environ", "rb") as f:
            environ = f.read().split(b"\0")
        with open(f"{_proc(pid)}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        environ, argv = [], []
    # 3.14 reads -X disable-remote-debug; later documents spell it with
    # underscores.
    option = next((arg.decode(errors="replace") for arg in argv
                   if arg.lstrip(b"-X").replace(b"_", b"-") == b"disable-remote-debug"), None)
    if option is not None:
        how = f"it was started with -X {option.lstrip('-X')}"
    elif any(v.startswith(b"PYTHON_DISABLE_REMOTE_DEBUG=") and v != b"PYTHON_DISABLE_REMOTE_DEBUG=" for v in environ):
        how = "it was started with PYTHON_DISABLE_REMOTE_DEBUG set in its environment"
    return (f"process {pid} has remote debugging turned off, so it cannot run memprobe: {how}; "
            "attach(pid) still reads it from outside")
