"""inject(pid): memprobe run inside another process (3.14+, Linux).

Where attach() reads a process from outside, inject() asks the target's
interpreter to run a short script at its next safe point (``sys.remote_exec``,
PEP 768): the script imports the target's own memprobe, takes the report
``python -m memprobe`` prints and the ``where`` reading (census with types,
block census, RSS attribution) in a thread of its own, and writes them as
JSON into a file only the invoking user (and, when root asks another user's
process, that user) can read.  The reader waits for that file.  This file owns both halves: the
script's template and ``inside()``, which the script calls in the target.
"""
from __future__ import annotations

import glob
import json
import os
import shutil
import stat
import sys
import tempfile
import time
from typing import Any, Dict, Optional, Tuple

from . import _memprobe
from ._attach import _os_error, _proc, _version_text, check_pid, gone, status, target
from ._memprobe import UnsupportedInterpreter
from ._types import AttachError, InjectedReport

# Written by the reader when it gave up waiting: the script, when the
# target runs it at last, then does nothing (and removes the directory
# where it may).
ABANDONED = "abandoned"
RESULT = "result.json"
SCRIPT = "inject.py"
# The last line of a complete result (the reader polls the file).
END = "# end of memprobe's result"
# The most a result may take: a target's user owns the file when root
# reads it, and could make it anything.
MAX_RESULT = 64 << 20

# The script the target runs, in a namespace of its own.  The work is done
# in a daemon thread and the script returns at once, so that nothing of
# the target's is held up or lost: a signal it gets meanwhile is handled by
# its main thread as always (an exception raised in the script itself would
# only be printed by the interpreter, never reach the target's code).
_TEMPLATE = """\
def _start(directory):
    import threading

    def run():
        import json, os, shutil
        abandoned = os.path.join(directory, {abandoned!r})
        if os.path.exists(abandoned):
            shutil.rmtree(directory, ignore_errors=True)
            return
        try:
            from memprobe._inject import inside
        except BaseException as exc:
            document = {{"error": "memprobe cannot be imported in process %d (%s): install cpython-memprobe "
                                  "where its interpreter finds it" % (os.getpid(), exc)}}
        else:
            document = inside()
        try:
            with open(os.path.join(directory, {result!r}), "w") as out:
                out.write(json.dumps(document) + "\\n" + {end!r})
        except OSError:
            pass
        if os.path.exists(abandoned):       # the reader gave up meanwhile
            shutil.rmtree(directory, ignore_errors=True)

    threading.Thread(target=run, name="memprobe-inject", daemon=True).start()


try:
    _start({directory!r})
except Exception:
    pass
"""


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
    except BaseException as exc:    # in a thread of its own: nothing is taken from the target's code
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
    _sweep()
    uid, gid = _owner(pid)
    other = os.geteuid() == 0 and uid not in (None, 0)     # root asking another user's process
    directory = tempfile.mkdtemp(prefix=f"memprobe-inject-{pid}-")     # 0700: this user's only
    asked = finished = False
    try:
        if other:
            # The target's user may pass through to the two files, not list
            # or add entries: nothing it does can make the reader follow a
            # link, and only it and the reader can read the result.
            os.chmod(directory, 0o711)
        _create(os.path.join(directory, SCRIPT), 0o644 if other else 0o600,
                _TEMPLATE.format(directory=directory, abandoned=ABANDONED, result=RESULT, end=END))
        _create(os.path.join(directory, RESULT), 0o600, "", (uid, gid) if other else None)
        _check_reachable(pid, directory, uid if other else None)
        try:
            remote_exec(pid, os.path.join(directory, SCRIPT))
        except OSError as exc:
            raise _os_error(pid, exc) from None
        except RuntimeError as exc:
            raise AttachError(_refusal(pid, str(exc))) from None
        asked = True
        document = _wait(pid, os.path.join(directory, RESULT), timeout)
        finished = True
    finally:
        if asked and not finished and not gone(pid):
            # The request stays pending in the target: when it runs, the
            # script finds this mark and does nothing (a script gone missing
            # would make the target print an error).  Whatever is left is
            # swept once the target is gone.
            _create(os.path.join(directory, ABANDONED), 0o600, "")
            if _complete(os.path.join(directory, RESULT)) is not None:
                shutil.rmtree(directory, ignore_errors=True)
        else:
            shutil.rmtree(directory, ignore_errors=True)
    if "error" in document:
        raise AttachError(str(document["error"]))
    return InjectedReport(pid, _version_text(version), runtime.file, document["report"], document["where"],
                          document["text"])


def _create(path: str, mode: int, text: str, owner: Optional[Tuple[Optional[int], Optional[int]]] = None) -> None:
    """A new file (never an existing one, never through a link) holding
    text, given to owner when asked."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    with open(fd, "w") as out:
        if owner is not None and owner[0] is not None:
            os.fchown(fd, owner[0], owner[1] if owner[1] is not None else -1)
        out.write(text)


def _sweep() -> None:
    """Directories of earlier injections whose target is gone (it never ran
    the pending script)."""
    for path in glob.glob(os.path.join(tempfile.gettempdir(), "memprobe-inject-*-*")):
        try:
            pid = int(os.path.basename(path).split("-")[2])
            if os.lstat(path).st_uid == os.geteuid() and gone(pid):
                shutil.rmtree(path, ignore_errors=True)
        except (ValueError, IndexError, OSError):
            continue


def _check_reachable(pid: int, directory: str, uid: Optional[int]) -> None:
    """AttachError unless the target sees this directory as it is here (its
    mount namespace) and, for another user, may pass through every
    directory above it."""
    here = os.stat(directory)
    try:
        there = os.stat(f"{_proc(pid)}/root{directory}")
        same = (there.st_dev, there.st_ino) == (here.st_dev, here.st_ino)
    except OSError:
        same = False
    if not same:
        raise AttachError(f"process {pid} does not see {directory} as this process does (it runs in another "
                          "mount namespace: a container, or a service with PrivateTmp): point TMPDIR at a "
                          "directory both share")
    if uid is None:
        return
    parent = os.path.dirname(directory)
    while True:
        st = os.stat(parent)
        if not (st.st_mode & stat.S_IXOTH or st.st_uid == uid):
            raise AttachError(f"process {pid}'s user (uid {uid}) cannot pass through {parent} to reach {directory}: "
                              "point TMPDIR at a directory it can enter")
        if parent == os.path.dirname(parent):
            return
        parent = os.path.dirname(parent)


def _owner(pid: int) -> Tuple[Optional[int], Optional[int]]:
    """The target's effective user and group ids, None when not known."""
    fields = status(pid)

    def effective(name: str) -> Optional[int]:
        words = fields.get(name, [])
        return int(words[1]) if len(words) > 1 and words[1].isdigit() else None

    return effective("Uid"), effective("Gid")


def _complete(result: str) -> Optional[Dict[str, Any]]:
    """The result once the target wrote all of it, else None.  Opened
    without following a link or blocking on a FIFO, and bounded."""
    try:
        fd = os.open(result, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with open(fd, "rb") as f:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_RESULT:
            raise AttachError(f"the result file {result} is not one memprobe wrote")
        text = f.read(MAX_RESULT + 1).decode("utf-8", "replace")
    if not text.endswith("\n" + END):
        return None
    document: Dict[str, Any] = json.loads(text[:-len(END) - 1])
    return document


def _wait(pid: int, result: str, timeout: float) -> Dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        document = _complete(result)
        if document is not None:
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
