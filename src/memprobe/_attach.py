"""attach(pid): another process's collector, read from outside (Linux).

Finds the target's ``_PyRuntime`` (an ELF symbol of its executable or of
the libpython it maps), checks that the target runs the same CPython build
as this interpreter, then reads it with process_vm_readv
(``_memprobe/remote.c``): nothing is written to the target and no code runs
in it.  ``stop=True`` pauses it with SIGSTOP for a reading of one moment
and always resumes it.  This file owns the ELF reading and the messages
for what keeps a process from being read.
"""
from __future__ import annotations

import os
import signal
import struct
import time
from typing import Dict, List, NamedTuple, Optional, Tuple

from . import _memprobe
from ._gc import gc_state_from
from ._interpreter import FREE_THREADED
from ._memprobe import MemprobeError
from ._types import AttachError, RemoteSnapshot

# More nodes than this in one walk of a target's list means it changed it
# while it was read (or it is huge): the lengths are then reported missing.
DEFAULT_MAX_STEPS = 50_000_000


class _Elf(NamedTuple):
    runtime: Optional[int]      # _PyRuntime's address as linked, or None
    version_symbol: Optional[int]   # Py_Version's (3.11+), or None
    build_id: Optional[bytes]
    first_load: int             # the lowest PT_LOAD address, page-aligned


def _read_elf(path: str) -> Optional[_Elf]:
    """The facts attach needs from an ELF file, or None when it is not one.
    Reads the headers and the symbol tables only (not a mapping: a file
    truncated meanwhile would be SIGBUS, not an error)."""
    with open(path, "rb") as f:
        def chunk(offset: int, size: int) -> bytes:
            f.seek(offset)
            data = f.read(size)
            if len(data) != size:
                raise struct.error(f"{path} ends before byte {offset + size}")
            return data

        ident = chunk(0, 64)
        if ident[:4] != b"\x7fELF" or ident[5] != 1:     # little-endian only
            return None
        wide = ident[4] == 2
        header = "<HHIQQQIHHHHHH" if wide else "<HHIIIIIHHHHHH"
        (_, _, _, _, phoff, shoff, _, _, phentsize, phnum, shentsize, shnum, _) = struct.unpack_from(header, ident, 16)
        loads: List[int] = []
        build_id = None
        programs = chunk(phoff, phnum * phentsize)
        for i in range(phnum):
            if wide:
                p_type, _, p_offset, p_vaddr, _, p_filesz, _, p_align = struct.unpack_from("<IIQQQQQQ", programs, i * phentsize)
            else:
                p_type, p_offset, p_vaddr, _, p_filesz, _, _, p_align = struct.unpack_from("<IIIIIIII", programs, i * phentsize)
            if p_type == 1:                                          # PT_LOAD
                loads.append(p_vaddr & ~(max(p_align, 4096) - 1))
            elif p_type == 4 and build_id is None:                   # PT_NOTE
                build_id = _build_id(chunk(p_offset, p_filesz))
        symbols: Dict[bytes, int] = {}
        table = chunk(shoff, shnum * shentsize)
        layout = "<IIQQQQIIQQ" if wide else "<IIIIIIIIII"
        sections = [struct.unpack_from(layout, table, i * shentsize) for i in range(shnum)]
        for sh in sections:
            if sh[1] in (2, 11):                                     # SHT_SYMTAB, SHT_DYNSYM
                strings = sections[sh[6]]
                _symbols(chunk(sh[4], sh[5]), chunk(strings[4], strings[5]), sh[9], wide, symbols)
    return _Elf(symbols.get(b"_PyRuntime"), symbols.get(b"Py_Version"), build_id, min(loads, default=0))


def _symbols(table: bytes, names: bytes, entsize: int, wide: bool, into: Dict[bytes, int]) -> None:
    """The values of _PyRuntime and Py_Version in one symbol table."""
    wanted = {}
    for name in (b"_PyRuntime", b"Py_Version"):
        at = names.find(b"\0" + name + b"\0")
        if at >= 0:
            wanted[at + 1] = name
    if not wanted or entsize == 0:
        return
    for i in range(0, len(table) - entsize + 1, entsize):
        if wide:
            st_name, _, _, shndx, value, _ = struct.unpack_from("<IBBHQQ", table, i)
        else:
            st_name, value, _, _, _, shndx = struct.unpack_from("<IIIBBH", table, i)
        if st_name in wanted and shndx != 0:
            into[wanted[st_name]] = value


def _build_id(notes: bytes) -> Optional[bytes]:
    at = 0
    while at + 12 <= len(notes):
        namesz, descsz, kind = struct.unpack_from("<III", notes, at)
        name_at = at + 12
        desc_at = name_at + ((namesz + 3) & ~3)
        if kind == 3 and notes[name_at:name_at + namesz] == b"GNU\0":     # NT_GNU_BUILD_ID
            return notes[desc_at:desc_at + descsz]
        at = desc_at + ((descsz + 3) & ~3)
    return None


class _Runtime(NamedTuple):
    address: int                # of _PyRuntime in the process
    file: str
    elf: _Elf
    bias: int                   # where the file is loaded, less its linked address


def _find_runtime(pid: int) -> _Runtime:
    """Where _PyRuntime is in process pid (pid 0: this one)."""
    where = "self" if pid == 0 else str(pid)
    try:
        with open(f"/proc/{where}/maps") as f:
            maps = f.read().splitlines()
    except FileNotFoundError:
        raise AttachError(f"there is no process {pid}") from None
    except PermissionError:
        raise AttachError(_permission_message(pid)) from None
    starts: Dict[str, int] = {}
    for line in maps:
        fields = line.split(None, 5)
        if len(fields) == 6 and fields[5].startswith("/") and int(fields[2], 16) == 0:
            starts.setdefault(fields[5], int(fields[0].split("-")[0], 16))
    # The executable first, then every python-named library it maps.
    candidates = sorted(starts, key=lambda p: ("python" not in os.path.basename(p), p))
    for path in candidates:
        if "python" not in os.path.basename(path):
            continue
        elf = _read_file(pid, path)
        if elf is not None and elf.runtime is not None:
            bias = starts[path] - elf.first_load
            return _Runtime(bias + elf.runtime, path, elf, bias)
    executable = _executable(pid)
    raise AttachError(f"process {pid} runs no CPython that memprobe can find (no _PyRuntime symbol in "
                      f"{executable or 'its executable'} or a libpython it maps)")


def _read_file(pid: int, path: str) -> Optional[_Elf]:
    """The ELF facts of a file the process maps: through its root
    directory first (a container's files), else the path as it is here."""
    for name in (f"/proc/{pid}/root{path}" if pid else path, path):
        try:
            return _read_elf(name)
        except (OSError, struct.error, IndexError):
            continue
    return None


def _executable(pid: int) -> Optional[str]:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None


def _permission_message(pid: int) -> str:
    scope = -1      # not known
    try:
        with open("/proc/sys/kernel/yama/ptrace_scope") as f:
            scope = int(f.read())
    except (OSError, ValueError):
        pass
    why = {0: "it belongs to another user, or this process lacks CAP_SYS_PTRACE",
           1: "kernel.yama.ptrace_scope is 1: only a parent may read its children without CAP_SYS_PTRACE",
           2: "kernel.yama.ptrace_scope is 2: only a process with CAP_SYS_PTRACE may read others",
           3: "kernel.yama.ptrace_scope is 3: no process may read another, until reboot"}.get(
               scope, "the kernel refused (ptrace access mode check)")
    return (f"not allowed to read process {pid}: {why}. Run memprobe as the target's user with "
            "`sudo sysctl kernel.yama.ptrace_scope=0`, or as root, or with CAP_SYS_PTRACE (a container: "
            "`--cap-add=SYS_PTRACE`)")


def _read(pid: int, address: int, size: int) -> bytes:
    try:
        return _memprobe._remote_read(pid, address, size)
    except OSError as exc:
        raise _os_error(pid, exc) from None


def _os_error(pid: int, exc: OSError) -> AttachError:
    if isinstance(exc, PermissionError):
        return AttachError(_permission_message(pid))
    if isinstance(exc, ProcessLookupError):
        return AttachError(f"process {pid} exited while it was read")
    return AttachError(f"process {pid} could not be read: {exc.strerror or exc}")


def _version_of(pid: int, runtime: _Runtime) -> Optional[int]:
    """The target's PY_VERSION_HEX: from its debug offsets (3.13+) or its
    Py_Version (3.11+); None when neither can be read."""
    if runtime.elf.version_symbol is not None:
        try:
            return int.from_bytes(_read(pid, runtime.bias + runtime.elf.version_symbol, 4), "little")
        except AttachError:
            return None
    return None


def _version_text(hexversion: Optional[int]) -> str:
    if hexversion is None:
        return "an unknown version"
    level = {0xA: "a", 0xB: "b", 0xC: "rc"}.get((hexversion >> 4) & 0xF, "")
    serial = str(hexversion & 0xF) if level else ""
    return f"{hexversion >> 24}.{(hexversion >> 16) & 0xFF}.{(hexversion >> 8) & 0xFF}{level}{serial}"


def _check_build(pid: int, runtime: _Runtime, debug_offsets: Optional[bytes]) -> int:
    """The target's hexversion, once its build is known to be this one's;
    AttachError naming the interpreter to use otherwise."""
    import sys

    target_version = _version_of(pid, runtime)
    if debug_offsets is not None:
        # 3.13+: the runtime publishes its layout; the same layout is the
        # same bytes.
        theirs = _read(pid, runtime.address, len(debug_offsets))
        if theirs[:8] == b"xdebugpy":
            target_version = int.from_bytes(theirs[8:16], "little")
        same = theirs == debug_offsets
    else:
        mine = _find_runtime(0).elf.build_id
        same = mine is not None and mine == runtime.elf.build_id
    if not same:
        raise AttachError(
            f"process {pid} runs CPython {_version_text(target_version)} ({runtime.file}), another build than "
            f"this memprobe's ({_version_text(sys.hexversion)}, {sys.executable}): memprobe reads the layouts "
            f"it was compiled for. Read it with that interpreter: {_executable(pid) or runtime.file} -m memprobe "
            f"attach {pid} (memprobe must be installed for it)")
    return sys.hexversion


def _process_state(pid: int) -> Optional[str]:
    """The state letter of /proc/PID/stat (T: stopped), None when gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def gone(pid: int) -> bool:
    """The process has exited (or is a zombie waiting to be reaped)."""
    return _process_state(pid) in (None, "Z", "X")


def attach(pid: int, lengths: bool = True, stop: bool = False, max_steps: int = DEFAULT_MAX_STEPS) -> RemoteSnapshot:
    """The collector of process ``pid`` (same CPython build as this one),
    read from outside without running code in it: thresholds, counts,
    enabled/collecting, long-lived counters, heap size (3.14+) and, with
    ``lengths`` (a walk of each list, one read per object), how many
    objects each generation and the permanent generation hold.  ``stop``
    pauses the target with SIGSTOP meanwhile (resumed always, also on
    error or Ctrl-C; a target stopped already stays stopped).  Raises
    AttachError saying what to change when it cannot read the process."""
    if isinstance(pid, bool) or not isinstance(pid, int):
        raise TypeError(f"pid must be an int, not {type(pid).__name__}")
    if pid <= 0:
        raise ValueError(f"pid must be positive, not {pid}")
    if not isinstance(max_steps, int) or max_steps < 1:
        raise ValueError("max_steps must be a positive int")
    if pid == os.getpid():
        raise ValueError("attach reads another process; use gc_state() for this one")
    runtime_address, main_offset, _, debug_offsets = _memprobe._remote_layout()
    runtime = _find_runtime(pid)
    version = _check_build(pid, runtime, debug_offsets)
    if FREE_THREADED:
        raise AttachError(f"process {pid} is free-threaded, and attach does not read free-threaded processes yet: "
                          "their collector keeps no lists to walk (its objects are found through mimalloc's "
                          "pages); use a build with the GIL")
    was_stopped = _process_state(pid) == "T"
    paused = stop and not was_stopped
    try:
        if paused:
            _pause(pid)
        main = int.from_bytes(_read(pid, runtime.address + main_offset, struct.calcsize("P")), "little")
        if main == 0:
            raise AttachError(f"process {pid} has no main interpreter (starting, or finalized)")
        try:
            raw, partial = _memprobe._remote_gc(pid, runtime.address, main, max_steps if lengths else 0)
        except OSError as exc:
            raise _os_error(pid, exc) from None
        except MemprobeError as exc:    # the state read does not point back to the runtime
            raise AttachError(str(exc)) from None
    finally:
        if paused:
            _resume(pid)
    return RemoteSnapshot(pid, _version_text(version), runtime.file, was_stopped or paused, gc_state_from(raw),
                          partial)


def _pause(pid: int) -> None:
    """SIGSTOP, then wait until the kernel shows the process stopped."""
    try:
        os.kill(pid, signal.SIGSTOP)
    except ProcessLookupError:
        raise AttachError(f"there is no process {pid}") from None
    except PermissionError:
        raise AttachError(_permission_message(pid)) from None
    deadline = time.monotonic() + 5
    while _process_state(pid) not in ("T", None):
        if time.monotonic() > deadline:
            _resume(pid)
            raise AttachError(f"process {pid} did not stop within 5 s of SIGSTOP")
        time.sleep(0.001)


def _resume(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGCONT)
    except (ProcessLookupError, PermissionError):    # gone, or never stopped by us
        pass
