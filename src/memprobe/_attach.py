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

import bisect
import os
import signal
import struct
import subprocess
import sys
import threading
import time
from typing import Any, BinaryIO, Dict, List, NamedTuple, Optional, Tuple

from . import _memprobe
from ._gc import gc_state_from
from ._interpreter import FREE_THREADED, block_size, required_constants
from ._memprobe import MemprobeError, UnsupportedInterpreter
from ._pymalloc import arena_map_from_state, fragmentation_of, snapshot_from_state
from ._mimalloc import snapshot_from_reading as mimalloc_from_reading
from ._types import (ArenaMap, AttachError, Fragmentation, MimallocSnapshot, PymallocSnapshot, RemoteSnapshot,
                     RemoteTypeCount)

# Where distributions install the symbol tables they strip from their
# builds (Debian's -dbgsym packages, Fedora's -debuginfo), each file's as
# .build-id/xx/yyyy.debug after its GNU build id: searched, in the
# target's root first, when its file names no obmalloc.c statics.
DEBUG_DIRS = ["/usr/lib/debug"]

# More nodes than this in one list and its length is reported missing (a
# changed list is caught by its links, not by this).
DEFAULT_MAX_STEPS = 50_000_000


# The symbols attach reads: _PyRuntime and Py_Version, in the dynamic or
# the full symbol table; pymalloc's object allocator function (hidden or
# static: in a full symbol table only), which a hook's functions are not;
# before 3.12 also pymalloc's state, the statics of obmalloc.c that
# _memprobe names (local symbols, also in a full symbol table only).
_GLOBALS = (b"_PyRuntime", b"Py_Version")
_OBJECT_MALLOC = b"_PyObject_Malloc"
_STATICS = tuple(name.encode() for name in _memprobe.OBMALLOC_STATICS)
# Free-threaded builds: where the code that changes mimalloc's heaps can
# run.  mimalloc is compiled into Objects/obmalloc.c, so without link-time
# optimisation none of it is inlined elsewhere: obmalloc.c's functions,
# those of Python/qsbr.c (which decides, in the middle of mimalloc's
# changes, whether a page may be freed), and these by name (hidden
# functions lose their file in a linked symbol table, and the allocator's
# entry points are global).
_ALLOCATOR_FILES = (b"obmalloc.c", b"qsbr.c")
_ALLOCATOR_FUNCTIONS = (b"mi_", b"_mi_", b"_PyMem_", b"PyMem_", b"_PyObject_Mi", b"PyObject_Malloc",
                        b"PyObject_Calloc", b"PyObject_Realloc", b"PyObject_Free", b"_PyObject_Free",
                        b"_Py_qsbr")


class _Elf(NamedTuple):
    runtime: Optional[int]      # _PyRuntime's address as linked, or None
    version_symbol: Optional[int]   # Py_Version's (3.11+), or None
    build_id: Optional[bytes]
    first_load: int             # the lowest PT_LOAD address, page-aligned
    statics: Dict[bytes, Tuple[int, int]]   # obmalloc.c's: (address as linked, size)
    renamed: bool               # statics of those names renamed by LTO (arenas.lto_priv.0)
    object_malloc: Optional[int]    # _PyObject_Malloc's address as linked, or None
    allocator_code: Tuple[Tuple[int, int], ...]     # free-threaded: (start, end) of the allocator's functions
    text: Tuple[Tuple[int, int], ...]               # (start, end) of each executable segment, as linked
    lto: bool                   # its symbols were renamed by link-time optimisation (name.lto_priv.0)


# The facts of the files read lately, by identity (device, inode, size,
# modification time): every attach, and every --watch refresh, asks again
# for the same files (the target's, this process's own, their debug files).
_ELF_CACHE: Dict[Tuple[int, int, int, int], Optional[_Elf]] = {}
_ELF_CACHE_SIZE = 16


def _read_elf(path: str) -> Optional[_Elf]:
    """The facts attach needs from an ELF file, or None when it is not one;
    read once per file (see _ELF_CACHE)."""
    with open(path, "rb") as f:
        st = os.fstat(f.fileno())
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        if key not in _ELF_CACHE:
            elf = _parse_elf(f, st.st_size, path)
            if len(_ELF_CACHE) >= _ELF_CACHE_SIZE:
                del _ELF_CACHE[next(iter(_ELF_CACHE))]
            _ELF_CACHE[key] = elf
        return _ELF_CACHE[key]


def _parse_elf(f: BinaryIO, length: int, path: str) -> Optional[_Elf]:
    """The facts of the open ELF file f of length bytes.  Reads the headers
    and the symbol tables only (not a mapping: a file truncated meanwhile
    would be SIGBUS, not an error)."""
    def chunk(offset: int, size: int) -> bytes:
        if offset + size > length:      # a corrupt header: never read (allocate) past the file
            raise struct.error(f"{path} ends before byte {offset + size}")
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
    text: List[Tuple[int, int]] = []
    build_id = None
    programs = chunk(phoff, phnum * phentsize)
    for i in range(phnum):
        if wide:
            p_type, p_flags, p_offset, p_vaddr, _, p_filesz, p_memsz, p_align = struct.unpack_from(
                "<IIQQQQQQ", programs, i * phentsize)
        else:
            p_type, p_offset, p_vaddr, _, p_filesz, p_memsz, p_flags, p_align = struct.unpack_from(
                "<IIIIIIII", programs, i * phentsize)
        if p_type == 1:                                          # PT_LOAD
            loads.append(p_vaddr & ~(max(p_align, 4096) - 1))
            if p_flags & 1:                                      # PF_X
                text.append((p_vaddr, p_vaddr + p_memsz))
        elif p_type == 4 and build_id is None:                   # PT_NOTE
            build_id = _build_id(chunk(p_offset, p_filesz))
    symbols: Dict[bytes, Optional[int]] = {}
    statics: Dict[bytes, Tuple[int, int]] = {}
    code: List[Tuple[int, int]] = []
    renamed = lto = False
    table = chunk(shoff, shnum * shentsize)
    layout = "<IIQQQQIIQQ" if wide else "<IIIIIIIIII"
    sections = [struct.unpack_from(layout, table, i * shentsize) for i in range(shnum)]
    for sh in sections:
        if sh[1] in (2, 11):                                     # SHT_SYMTAB, SHT_DYNSYM
            strings = sections[sh[6]]
            names = chunk(strings[4], strings[5])
            lto |= b".lto_priv." in names
            renamed |= _symbols(chunk(sh[4], sh[5]), names, sh[9], wide, symbols, statics,
                                code if FREE_THREADED else None)
    return _Elf(symbols.get(b"_PyRuntime"), symbols.get(b"Py_Version"), build_id, min(loads, default=0), statics,
                renamed, symbols.get(_OBJECT_MALLOC), _merged(code), _merged(text), lto)


def _merged(ranges: List[Tuple[int, int]]) -> Tuple[Tuple[int, int], ...]:
    """(start, end) ranges sorted, those that overlap or touch made one."""
    merged: List[Tuple[int, int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return tuple(merged)


def _symbols(table: bytes, names: bytes, entsize: int, wide: bool, into: Dict[bytes, Optional[int]],
             statics: Dict[bytes, Tuple[int, int]], code: Optional[List[Tuple[int, int]]] = None) -> bool:
    """The values of the _GLOBALS one symbol table defines and of the
    function _OBJECT_MALLOC (None when it defines two of that name), and
    the (value, size) of the _STATICS it defines as objects local to
    obmalloc.c: a file's local symbols follow its STT_FILE symbol.  With
    code, the (start, end) of every function of the allocator into it:
    obmalloc.c's own (mimalloc is compiled into it), and those named as
    _ALLOCATOR_FUNCTIONS are (hidden ones lose their file).  True when it
    defines _STATICS renamed by link-time optimisation, which loses which
    file each came from (arenas.lto_priv.0, .1...)."""
    # A symbol names a string by its offset, and a linker may store a name
    # as the tail of a longer one ("arenas" in "maxarenas"): every offset
    # where each name, or a renamed one's start, sits.
    wanted = {at: name for name in _GLOBALS + (_OBJECT_MALLOC,) + _STATICS for at in _offsets(names, name + b"\0")}
    renamed_at = {at for name in _STATICS for at in _offsets(names, name + b".lto_priv.")}
    renamed = False
    if not (wanted or renamed_at or code is not None) or entsize == 0:
        return False
    in_obmalloc = in_allocator = False
    for i in range(0, len(table) - entsize + 1, entsize):
        if wide:
            st_name, info, _, shndx, value, size = struct.unpack_from("<IBBHQQ", table, i)
        else:
            st_name, value, size, info, _, shndx = struct.unpack_from("<IIIBBH", table, i)
        if info & 0xF == 4:                                 # STT_FILE
            end = names.find(b"\0", st_name)
            in_obmalloc = os.path.basename(names[st_name:end]) == b"obmalloc.c"
            in_allocator = in_obmalloc or os.path.basename(names[st_name:end]) in _ALLOCATOR_FILES
            continue
        if shndx == 0:
            continue
        if code is not None and info & 0xF == 2 and size > 0 and (
                in_allocator or names[st_name:names.find(b"\0", st_name)].startswith(_ALLOCATOR_FUNCTIONS)):
            code.append((value, value + size))
        symbol = wanted.get(st_name)
        if symbol in _GLOBALS:
            into[symbol] = value
        elif symbol == _OBJECT_MALLOC and info & 0xF == 2:     # STT_FUNC, in whichever file's group
            into[symbol] = value if into.get(symbol, value) == value else None
        elif symbol is not None and in_obmalloc and info == 1:     # STB_LOCAL, STT_OBJECT
            statics[symbol] = (value, size)
        renamed |= st_name in renamed_at
    return renamed


def _offsets(names: bytes, text: bytes) -> List[int]:
    """Every offset in a string table where text sits."""
    found, at = [], names.find(text)
    while at >= 0:
        found.append(at)
        at = names.find(text, at + 1)
    return found


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


def _who(pid: int) -> str:
    return "this process" if pid == 0 else f"process {pid}"


def _proc(pid: int) -> str:
    """/proc's directory of process pid (0: this one)."""
    return "/proc/self" if pid == 0 else f"/proc/{pid}"


def _undeleted(path: str) -> str:
    """A path as /proc shows a file deleted since, without the mark."""
    return path[:-len(" (deleted)")] if path.endswith(" (deleted)") else path


def _find_runtime(pid: int) -> _Runtime:
    """Where _PyRuntime is in process pid (pid 0: this one)."""
    try:
        with open(f"{_proc(pid)}/maps") as f:
            maps = f.read().splitlines()
    except FileNotFoundError:
        raise AttachError(f"there is no process {pid}") from None
    except PermissionError:
        raise AttachError(_permission_message(pid)) from None
    if pid and gone(pid):
        raise AttachError(f"process {pid} has exited")
    # Each file the loader mapped (privately) from its start: where it
    # begins, and the range /proc/PID/map_files names it by.
    starts: Dict[str, Tuple[int, str]] = {}
    for line in maps:
        fields = line.split(None, 5)
        if len(fields) == 6 and fields[1].endswith("p") and int(fields[2], 16) == 0 \
                and fields[5].startswith("/"):
            starts.setdefault(_undeleted(fields[5]), (int(fields[0].split("-")[0], 16), fields[0]))
    # The executable (a static CPython may have any name), then every
    # library with "python" in its name.
    executable = _executable(pid)
    candidates = [p for p in starts if p == executable] + \
        sorted(p for p in starts if p != executable and "python" in os.path.basename(p))
    for path in candidates:
        start, span = starts[path]
        elf = _read_file(pid, path, span)
        if elf is not None and elf.runtime is not None:
            bias = start - elf.first_load
            runtime = bias + elf.runtime
            if (_STATICS and not elf.statics and not elf.renamed) or elf.object_malloc is None:
                elf = _with_debug_file(pid, elf)
            return _Runtime(runtime, path, elf, bias)
    raise AttachError(f"{_who(pid)} runs no CPython that memprobe can find (no _PyRuntime symbol in "
                      f"{executable or 'its executable'} or a libpython it maps)")


def _read_file(pid: int, path: str, span: str) -> Optional[_Elf]:
    """The ELF facts of a file the process maps: as mapped (even when it
    was deleted or replaced since), through its root directory (a
    container's files), else the path as it is here."""
    for name in (f"{_proc(pid)}/map_files/{span}", f"{_proc(pid)}/root{path}", path):
        try:
            return _read_elf(name)
        except (OSError, struct.error, IndexError, MemoryError):
            continue
    return None


def _with_debug_file(pid: int, elf: _Elf) -> _Elf:
    """A stripped file's facts completed from its debug file (the file of
    its build id under DEBUG_DIRS): the symbols only a full symbol table
    names.  Unchanged when there is none."""
    if elf.build_id is None:
        return elf
    name = f".build-id/{elf.build_id[:1].hex()}/{elf.build_id[1:].hex()}.debug"
    for directory in DEBUG_DIRS:
        for path in (f"{_proc(pid)}/root{directory}/{name}", f"{directory}/{name}"):
            try:
                debug = _read_elf(path)
            except (OSError, struct.error, IndexError, MemoryError):
                continue
            if debug is not None and debug.build_id == elf.build_id:
                return elf._replace(statics=debug.statics, renamed=debug.renamed, object_malloc=debug.object_malloc,
                                    allocator_code=debug.allocator_code, lto=elf.lto or debug.lto)
    return elf


def _executable(pid: int) -> Optional[str]:
    try:
        return _undeleted(os.readlink(f"{_proc(pid)}/exe"))
    except OSError:
        return None


def _ptrace_scope() -> Optional[int]:
    """Yama's kernel.yama.ptrace_scope, or None without Yama."""
    try:
        with open("/proc/sys/kernel/yama/ptrace_scope") as f:
            return int(f.read())
    except (OSError, ValueError):
        return None


def _permission_message(pid: int) -> str:
    scope = _ptrace_scope()
    if scope is None:
        why = ("the kernel's ptrace access check refused: the target belongs to another user, changed its "
               "user, or is not dumpable (prctl PR_SET_DUMPABLE 0), or lives in another user namespace")
        fix = "Run memprobe as the target's user, or with CAP_SYS_PTRACE in the target's namespace"
    elif scope == 3:
        why = "kernel.yama.ptrace_scope is 3: no process may read another, until reboot"
        fix = "Nothing but a reboot with a lower ptrace_scope lifts it"
    else:
        why = {0: "kernel.yama.ptrace_scope is 0, so the kernel's own check refused: the target belongs to "
                  "another user, changed its user, is not dumpable, or lives in another user namespace",
               1: "kernel.yama.ptrace_scope is 1: only a parent may read its children without CAP_SYS_PTRACE",
               2: "kernel.yama.ptrace_scope is 2: only a process with CAP_SYS_PTRACE may read others"}[scope]
        fix = ("Run memprobe as the target's user" + (" with `sudo sysctl kernel.yama.ptrace_scope=0`"
                                                      if scope in (1, 2) else "")
               + ", or with CAP_SYS_PTRACE (a container: `--cap-add=SYS_PTRACE`)")
    return f"not allowed to read {_who(pid)}: {why}. {fix}"


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
    """The target's PY_VERSION_HEX from its Py_Version (3.11+), None when it
    has none or it cannot be read (3.13+: _check_build reads it from the
    debug offsets too)."""
    if runtime.elf.version_symbol is not None:
        try:
            return int.from_bytes(_read(pid, runtime.bias + runtime.elf.version_symbol, 4), "little")
        except AttachError:
            return None
    return None


def _version_text(hexversion: int) -> str:
    level = {0xA: "a", 0xB: "b", 0xC: "rc"}.get((hexversion >> 4) & 0xF, "")
    serial = str(hexversion & 0xF) if level else ""
    return f"{hexversion >> 24}.{(hexversion >> 16) & 0xFF}.{(hexversion >> 8) & 0xFF}{level}{serial}"


def _check_build(pid: int, runtime: _Runtime, debug_offsets: Optional[bytes]) -> int:
    """The target's hexversion, once its build is known to be this one's;
    AttachError naming the interpreter to use otherwise."""
    target_version = _version_of(pid, runtime)
    if debug_offsets is not None:
        # 3.13+: the runtime publishes its layout; the same layout is the
        # same bytes.
        theirs = _read(pid, runtime.address, len(debug_offsets))
        if theirs[:8] == b"xdebugpy":
            target_version = int.from_bytes(theirs[8:16], "little")
        same = theirs == debug_offsets
        undecided = None
    else:
        mine = _find_runtime(0).elf.build_id
        same = mine is not None and mine == runtime.elf.build_id
        undecided = None if runtime.elf.build_id and mine else \
            "without a build id in both files memprobe cannot tell whether they are the same build"
    if not same:
        executable = _executable(pid)
        command = f"{executable} -m memprobe attach {pid}" if executable and "python" in os.path.basename(executable) \
            else f"memprobe attach {pid} run by a Python of the build in {runtime.file}"
        version = _version_text(target_version) if target_version is not None else \
            "a version it does not publish (before 3.11)"
        raise AttachError(
            f"process {pid} runs CPython {version} ({runtime.file}), "
            + (undecided or f"another build than this memprobe's ({_version_text(sys.hexversion)}, "
                            f"{sys.executable})")
            + f": memprobe reads the layouts it was compiled for. Read it with that interpreter: {command} "
            "(memprobe must be installed for it)")
    return sys.hexversion


def _stat(pid: int) -> Optional[List[str]]:
    """The fields of /proc/PID/stat after the command name (state first),
    None when the process is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _process_state(pid: int) -> Optional[str]:
    """The state letter of /proc/PID/stat (T: stopped, t: stopped by a
    tracer, Z: a zombie), None when gone."""
    fields = _stat(pid)
    return fields[0] if fields else None


# The kernel's flag for a task that is exiting (include/linux/sched.h): its
# memory may already be gone while it is not a zombie yet.
PF_EXITING = 0x4


def gone(pid: int) -> bool:
    """The process has exited, is exiting, or is a zombie waiting to be
    reaped."""
    fields = _stat(pid)
    return fields is None or fields[0] in ("Z", "X") or (len(fields) > 6 and int(fields[6]) & PF_EXITING != 0)


def _stopped(pid: int) -> bool:
    return _process_state(pid) in ("T", "t")


def _every_thread_stopped(pid: int) -> bool:
    """Every thread of the process stopped (or ended): a SIGSTOP reaches
    them one after another, and a tracer stops each on its own."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return False
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue            # it ended meanwhile
        if state not in ("T", "t", "Z", "X"):
            return False
    return True


def status(pid: int) -> Dict[str, List[str]]:
    """/proc/PID/status as {field: its words} ({"Tgid": ["123"], "Uid":
    [real, effective, saved, filesystem], ...}); empty when gone."""
    try:
        with open(f"{_proc(pid)}/status") as f:
            return {name: rest.split() for name, _, rest in (line.partition(":") for line in f)}
    except OSError:
        return {}


def _thread_group(pid: int) -> Optional[int]:
    """The process a thread id belongs to (its Tgid), None when gone."""
    tgid = status(pid).get("Tgid", [])
    return int(tgid[0]) if tgid and tgid[0].isdigit() else None


# The largest pid Linux hands out (PID_MAX_LIMIT on 64-bit builds).
PID_MAX = 1 << 22
# How many times stop=True reads again when it stopped the target in the
# middle of changing a list; free-threaded targets, also when a thread
# stopped inside the allocator (about one stop in six of a loop that does
# nothing but allocate).
STOP_ATTEMPTS = 10 if FREE_THREADED else 3


def check_pid(pid: int) -> None:
    """TypeError or ValueError for what cannot name another process."""
    if isinstance(pid, bool) or not isinstance(pid, int):
        raise TypeError(f"pid must be an int, not {type(pid).__name__}")
    if not 0 < pid <= PID_MAX:
        raise ValueError(f"pid must be 1 to {PID_MAX}, not {pid}")
    if pid == os.getpid() or _thread_group(pid) == os.getpid():
        raise ValueError(f"process {pid} is this one, and attach reads another process: memprobe's own "
                         "probes read this one from inside")


def target(pid: int, debug_offsets: Optional[bytes]) -> Tuple[_Runtime, int]:
    """Process pid's _PyRuntime and version, once it is known to run this
    interpreter's build (AttachError otherwise)."""
    runtime = _find_runtime(pid)
    return runtime, _check_build(pid, runtime, debug_offsets)


def attach(pid: int, lengths: bool = True, stop: bool = False, max_steps: int = DEFAULT_MAX_STEPS,
           census: bool = False) -> RemoteSnapshot:
    """The collector of process ``pid`` (same CPython build as this one,
    its main interpreter), read from outside without running code in it:
    thresholds, counts, enabled/collecting, long-lived counters and heap
    size (3.14+); and, with ``lengths`` while the target is stopped (by
    ``stop``, a tracer, or SIGSTOP already), how many objects each
    generation and the permanent generation hold, walked and checked link
    by link.  A running target's lists are not walked: they change under
    the walk, which could then end anywhere and count anything.  ``stop``
    pauses the target with SIGSTOP meanwhile and resumes it, also on
    error, Ctrl-C, SIGTERM or SIGHUP, and through a guard process when
    the reader is killed outright; a target stopped
    already stays stopped.  Raises AttachError saying what to change when
    it cannot read the process.  ``census`` counts the walked objects by
    type name in the same walk (it needs ``lengths``).  pymalloc is read
    too, stopped or not, every pool header checked (before 3.12 through
    obmalloc.c's statics, named only in an unstripped build's symbols)."""
    check_pid(pid)
    if isinstance(max_steps, bool) or not isinstance(max_steps, int):
        raise TypeError(f"max_steps must be an int, not {type(max_steps).__name__}")
    if not 0 < max_steps < 1 << 62:
        raise ValueError(f"max_steps must be 1 to 2**62, not {max_steps}")
    for flag, value in (("lengths", lengths), ("stop", stop), ("census", census)):
        if not isinstance(value, bool):
            raise TypeError(f"{flag} must be True or False, not {type(value).__name__}")
    if census and not lengths:
        raise ValueError("census=True walks the lists: it needs lengths=True")
    main_offset, debug_offsets = _memprobe._remote_layout()
    runtime, version = target(pid, debug_offsets)
    # A free-threaded target's threads change its heaps without a lock to
    # wait for: it is read as stopped only when every thread is.
    was_stopped = _stopped(pid) and (not FREE_THREADED or _every_thread_stopped(pid))
    paused = stop and not was_stopped
    with _resumed_on_exit(pid, paused):
        for attempt in range(STOP_ATTEMPTS if paused else 1):
            if paused:
                if attempt:
                    _resume(pid)
                    time.sleep(0.002 * attempt)     # let it finish changing the list
                _pause(pid)
            walk = lengths and (paused or was_stopped)
            main = _main_interpreter(pid, runtime, main_offset)
            raw, partial, changed, rows = _read_gc(pid, runtime, main, 0 if FREE_THREADED or not walk else max_steps,
                                                   census)
            if FREE_THREADED:
                heaps = _read_heaps(pid, runtime, main, walk, census, paused or was_stopped)
                raw = raw[:4] + ((*raw[4][:3], heaps.frozen),) + raw[5:]     # the frozen objects, counted
                partial, changed, rows, tracked = heaps.partial, heaps.changed, heaps.census, heaps.tracked
                pymalloc, fragmentation, unsettled = None, None, False
                missing: Optional[str] = "free-threaded builds allocate objects with mimalloc, not pymalloc (see mimalloc)"
            else:
                heaps = _Heaps(None, None, None, None, False, None, "a GIL build: its objects are in pymalloc's "
                               "arenas (see pymalloc)")
                tracked = None if not walk or partial is not None else sum(raw[4][:3])
                pymalloc, fragmentation, missing, unsettled = _read_pymalloc(pid, runtime, main, paused or was_stopped)
            if not changed and not unsettled:
                break
    if lengths and not (paused or was_stopped):
        partial = (("the objects were not counted: the target was running, and its heaps change under a count"
                    if FREE_THREADED else
                    "the lists were not walked: the target was running, and its lists change under a walk")
                   + " (stop=True, or --stop, pauses it for them)")
    return RemoteSnapshot(pid, _version_text(version), runtime.file, was_stopped or paused, gc_state_from(raw),
                          partial, _census_of(rows), tracked, pymalloc, fragmentation, missing, heaps.mimalloc,
                          heaps.missing)


def _main_interpreter(pid: int, runtime: _Runtime, main_offset: int) -> int:
    main = int.from_bytes(_read(pid, runtime.address + main_offset, struct.calcsize("P")), "little")
    if main == 0:
        raise AttachError(f"process {pid} has no main interpreter (starting, or finalized)")
    return main


def _read_gc(pid: int, runtime: _Runtime, main: int, max_steps: int,
             census: bool) -> Tuple[Any, Optional[str], bool, Any]:
    """The target's collector: its state, why the lengths are missing (or
    None), whether that is the target changing its lists under the
    reading (worth reading again), its census rows."""
    try:
        return _memprobe._remote_gc(pid, runtime.address, main, max_steps, census)
    except OSError as exc:
        raise _os_error(pid, exc) from None
    except MemprobeError as exc:
        if isinstance(exc, UnsupportedInterpreter):
            raise
        raise AttachError(str(exc)) from None    # the state read does not point back to the runtime


def _census_of(rows: Optional[Tuple[Tuple[int, Optional[bytes], bool, Optional[bytes], int], ...]]
               ) -> Optional[Tuple[RemoteTypeCount, ...]]:
    """The census rows as typed, most objects first (then by name)."""
    if rows is None:
        return None
    typed = []
    for address, raw_name, heap, raw_module, n in rows:
        name = None if raw_name is None else raw_name.decode("utf-8", "replace")
        if heap:
            module = None if raw_module is None else raw_module.decode("ascii", "replace")
        else:       # as type.__module__ has it for a static type
            module = None if name is None else name.rpartition(".")[0] or "builtins"
        typed.append(RemoteTypeCount(name, address, n, module))
    return tuple(sorted(typed, key=lambda r: (-r.objects, r.name or "", r.type_address)))


_Allocator = Tuple[Optional[PymallocSnapshot], Optional[Fragmentation], Optional[str], bool]


class _Heaps(NamedTuple):
    """A free-threaded target's mimalloc heaps and the objects on them."""
    tracked: Optional[int]
    frozen: Optional[int]
    census: Any                 # census rows, or None
    partial: Optional[str]      # why tracked (and frozen, census) are None
    changed: bool               # the heaps changed under the reading: read again
    mimalloc: Optional[MimallocSnapshot]
    missing: Optional[str]      # why mimalloc is None


# The memory system calls mimalloc makes, by machine (mmap, mprotect,
# munmap, mremap, madvise, and sched_yield while it waits for readers of
# its abandoned pool): a thread stopped in one may hold pages in no list.
_ALLOCATOR_CALLS = {"x86_64": {9, 10, 11, 25, 28, 24}, "aarch64": {222, 226, 215, 216, 233, 124}}
# How much of a stopped thread's stack, from its stack pointer up, is
# looked through for the return into the file from another library.
_STACK_LOOKED_AT = 4096


def _within(ranges: Tuple[Tuple[int, int], ...], at: int) -> bool:
    """at lies in one of the sorted (start, end) ranges."""
    k = bisect.bisect_right(ranges, (at, 1 << 64)) - 1
    return k >= 0 and at < ranges[k][1]


def _in_allocator(pid: int, tids: Tuple[int, ...], runtime: _Runtime) -> Optional[str]:
    """Why a stopped free-threaded target's objects cannot be counted
    exactly, or None.  A thread stopped in the middle of changing its
    mimalloc heaps (moving a page between queues, taking back an abandoned
    segment) can hold pages in no list, which no check of what is read can
    see.  Only threads running Python (tids: their states were attached)
    change the heaps.  The kernel says where each stopped
    (/proc/PID/task/TID/syscall: the system call, or none, then its stack
    pointer and instruction).  In the file holding _PyRuntime, that must be
    outside the allocator's functions (_Elf.allocator_code), whose code is
    all in Objects/obmalloc.c and Python/qsbr.c.  In a system call's
    wrapper in another library, the first word of the live frames that
    returns into the file must be outside them; in another function of
    another library (memset, a sanitizer's interceptor), every such word
    near the stack pointer; a memory system call mimalloc makes is
    inside.  A thread with signals blocked may be
    running a handler that interrupted the allocator: then no word of its
    live frames, where the interrupted instruction was saved, may lie in
    the allocator's code (a stale word that only looks like one makes a
    reading fail that could have been exact, never the reverse)."""
    calls = _ALLOCATOR_CALLS.get(os.uname().machine)
    code, text = runtime.elf.allocator_code, runtime.elf.text
    for tid in tids:
        if tid == 0:
            return "more threads were running Python than memprobe looks at"
        try:
            with open(f"/proc/{pid}/task/{tid}/syscall") as f:
                fields = f.read().split()
        except OSError:
            return f"where thread {tid} stopped cannot be read"
        if len(fields) < 3 or fields[0] == "running":
            return f"thread {tid} had not stopped"
        call, sp, pc = int(fields[0]), int(fields[-2], 16), int(fields[-1], 16)
        if call >= 0 and (calls is None or call in calls):
            return f"thread {tid} stopped in a system call the allocator makes ({call})"
        if not code:
            if call >= 0:
                continue
            return (f"thread {tid} was running Python, and no symbol table of {runtime.file} says where the "
                    f"allocator's code is (a stripped build without its debug file)")
        if runtime.elf.lto:
            return (f"thread {tid} was running Python, and {runtime.file} was linked with link-time "
                    f"optimisation, which may have put the allocator's code inside any function")
        words = _stack_words(pid, sp, _STACK_LOOKED_AT)
        if words is None:
            return f"thread {tid}'s stack cannot be read"
        if _within(code, pc - runtime.bias):
            return f"thread {tid} stopped inside the allocator"
        if not _within(text, pc - runtime.bias):
            # In another library, called by the allocator or by other code.
            returns = [v for v in words if _within(text, v - runtime.bias)]
            if not returns:
                return f"where thread {tid} was called from cannot be told"
            # A system call's wrapper keeps no frame of its own: the first
            # return is its caller's.  Other functions may run through
            # frames of their own (a sanitizer's interceptor, stale words
            # and all): any return into the allocator counts.
            if any(_within(code, v - runtime.bias) for v in (returns[:1] if call >= 0 else returns)):
                return f"thread {tid} stopped in a function the allocator may have called"
        if _signals_blocked(pid, tid):
            deeper = _stack_words(pid, sp, _HANDLER_STACK_LOOKED_AT) or words
            if any(_within(code, v - runtime.bias) for v in deeper):
                return f"thread {tid} may be running a signal handler that interrupted the allocator"
    return None


# How much of a thread's stack is looked through for the instruction a
# signal handler interrupted (saved with the registers, and the floating
# point state of up to a few KiB, in the handler's frame).
_HANDLER_STACK_LOOKED_AT = 65536


def _stack_words(pid: int, sp: int, size: int) -> Optional[List[int]]:
    """The words of a thread's stack from sp on, as many as can be read up
    to size bytes (a stack ends at its top), or None."""
    for n in (size, _STACK_LOOKED_AT, 4096 - sp % 4096):
        if n > size:
            continue
        try:
            data = _memprobe._remote_read(pid, sp, n)
        except OSError:
            continue
        word = struct.calcsize("P")
        return [v for (v,) in struct.iter_unpack("P", data[:len(data) // word * word])]
    return None


def _signals_blocked(pid: int, tid: int) -> bool:
    """Whether the thread blocks any signal (SigBlk in its status): as it
    does while a handler runs.  True when that cannot be read."""
    try:
        with open(f"/proc/{pid}/task/{tid}/status") as f:
            for line in f:
                if line.startswith("SigBlk:"):
                    return int(line.split()[1], 16) != 0
    except (OSError, ValueError, IndexError):
        pass
    return True


def _read_heaps(pid: int, runtime: _Runtime, main: int, walk: bool, census: bool, stopped: bool) -> _Heaps:
    """A free-threaded target's heaps, every page checked, and, when walk,
    its objects counted (and by type, with census); counted exactly only
    when no thread running Python stopped inside the allocator (read again
    otherwise)."""
    try:
        heaps, tracked, frozen, problem, changed, rows, obj_ctx, _, debug_obj, tids = _memprobe._remote_heaps(
            pid, runtime.address, main, walk, census)
    except OSError as exc:
        raise _os_error(pid, exc) from None
    except MemprobeError as exc:     # this build's mimalloc part failed its check
        return _Heaps(None, None, None, str(exc), False, None, str(exc))
    if heaps is None:
        why = ("although the target was stopped: it stopped in the middle of changing them, or its allocator's "
               "memory is damaged" if stopped else
               "the target changed them while they were read; stop=True, or --stop, reads them at one moment")
        missing = f"mimalloc's heaps do not hold together ({problem}): {why}"
        return _Heaps(None, None, None, missing, changed, None, missing)
    # mimalloc itself has no context; the debug layer's is its object
    # allocator's slot in _PyRuntime.allocators; any other is a hook's.
    name = "mimalloc" if obj_ctx == 0 else "mimalloc_debug" if obj_ctx == debug_obj else "hooked"
    mimalloc = mimalloc_from_reading(heaps, name)
    busy = _in_allocator(pid, tids, runtime) if tracked is not None else None
    if busy is not None:
        return _Heaps(None, None, None, f"the objects were not counted: {busy}, where pages can be in no list",
                      True, mimalloc, None)
    return _Heaps(tracked, frozen, rows, problem, changed, mimalloc, None)


def _read_pymalloc(pid: int, runtime: _Runtime, main: int, stopped: bool) -> _Allocator:
    """The target's pymalloc and the fragmentation of its arenas, or why
    not (see RemoteSnapshot.pymalloc_missing); last, whether the arenas
    did not hold together (read again after letting a target stopped by
    the reading run)."""
    unnamed = [name.decode() for name in _STATICS if name not in runtime.elf.statics]
    if unnamed and runtime.elf.renamed:
        return None, None, (f"before 3.12 pymalloc's state is file-static in obmalloc.c, and {runtime.file} was "
                            f"linked with link-time optimisation, which renamed those statics (such as "
                            f"arenas.lto_priv.0) and lost which file each came from: a build without --with-lto "
                            f"can be read"), False
    if unnamed:
        return None, None, (f"before 3.12 pymalloc's state is file-static in obmalloc.c, named only in a full "
                            f"symbol table, and {runtime.file} does not name {', '.join(unnamed)}: a stripped "
                            f"build, with no debug file of its build id under {' or '.join(DEBUG_DIRS)} "
                            f"(install its debug symbols, such as Debian's -dbgsym package, or run an unstripped "
                            f"build)"), False
    statics = tuple((runtime.bias + runtime.elf.statics[name][0], runtime.elf.statics[name][1]) for name in _STATICS)
    try:
        state, problem, modules, obj_ctx, obj_malloc, debug_obj = _memprobe._remote_pymalloc(
            pid, runtime.address, main, statics)
    except OSError as exc:
        raise _os_error(pid, exc) from None
    except MemprobeError as exc:     # no pymalloc, or this build's pymalloc part failed its check
        return None, None, str(exc), False
    if state is None:
        why = ("although the target was stopped: it stopped in the middle of changing them, or its allocator's "
               "memory is damaged" if stopped else
               "the target changed them while they were read; stop=True, or --stop, reads them at one moment")
        return None, None, f"pymalloc's arenas do not hold together ({problem}): {why}", True
    arenas = arena_map_from_state(state)
    debug = _debug_padded(pid, arenas, modules)
    if debug is None:
        return None, None, ("the target's objects are not in pymalloc's arenas: it runs another allocator "
                            "(PYTHONMALLOC=malloc or mimalloc)"), False
    # pymalloc's own context is NULL; the debug layer's is its object
    # allocator's slot (in _PyRuntime.allocators; before 3.12 in
    # obmalloc.c's _PyMem_Debug); any other is a hook's (tracemalloc's).
    # A hook may pass NULL too: its malloc is then not pymalloc's, told
    # where a full symbol table (the file's or its debug file's) names it.
    pymalloc_malloc = None if runtime.elf.object_malloc is None else runtime.bias + runtime.elf.object_malloc
    hooked = obj_ctx not in (0, debug_obj) or (obj_ctx == 0 and pymalloc_malloc not in (None, obj_malloc))
    serving = ("hooked" if hooked else "pymalloc_debug" if debug else "pymalloc", hooked, debug)
    return snapshot_from_state(state, serving), fragmentation_of(arenas), None, False


def _debug_padded(pid: int, arenas: ArenaMap, modules: int) -> Optional[bool]:
    """Whether the target's sys.modules dict, allocated by PyObject_Malloc
    like every object, sits in a block of a pool in use (None if not:
    pymalloc does not serve objects), and then whether the debug layer's
    front words (its size, then the API id 'o' and PYMEM_FORBIDDENBYTE
    padding) come before it, as obmalloc.c's block check reads them in
    this process."""
    c = required_constants()
    word = struct.calcsize("N")
    start = modules - 2 * struct.calcsize("P")      # the dict's PyGC_Head
    for arena in arenas:
        if not arena.address <= start < arena.address + c.arena_size:
            continue
        first = -(-arena.address // c.pool_size) * c.pool_size
        k = (start - first) // c.pool_size
        if start < first or k >= len(arena.pool_classes) or arena.pool_classes[k] == 255:
            return None
        offset = start - (first + k * c.pool_size) - c.pool_overhead
        size = block_size(arena.pool_classes[k])
        if offset >= 2 * word and (offset - 2 * word) % size == 0:
            front = _read(pid, start - 2 * word, 2 * word)
            if front[word] in b"om" and all(b == 0xFD for b in front[word + 1:]):
                return True
        return False if offset >= 0 and offset % size == 0 else None
    return None


# Waits for a line on its stdin; unless it reads "resumed", the reader
# died (even by SIGKILL, which closes the pipe all the same), and it
# resumes the target.
_GUARD = 'read line; [ "$line" = resumed ] || kill -CONT "$1"'


class _resumed_on_exit:
    """Resumes a target this reading paused, however the reading ends:
    also on SIGTERM and SIGHUP, whose handlers (on the main thread, while
    the target is paused) raise SystemExit after resuming it; and, should
    the reader be killed outright, by a guard: a shell in a session of its
    own that resumes the target when the reader's end of its pipe closes
    without a word."""

    def __init__(self, pid: int, paused: bool) -> None:
        self.pid, self.paused = pid, paused
        self.previous: Dict[int, Any] = {}
        self.guard: Optional[subprocess.Popen[bytes]] = None

    def __enter__(self) -> None:
        if not self.paused:
            return
        try:
            self.guard = subprocess.Popen(["/bin/sh", "-c", _GUARD, "memprobe-guard", str(self.pid)],
                                          stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL, start_new_session=True)
        except OSError:
            self.guard = None       # no /bin/sh: the reader's own handlers still resume it
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGHUP):
                self.previous[signum] = signal.signal(signum, self._ended)

    def _ended(self, signum: int, frame: Any) -> None:
        _resume(self.pid)
        raise SystemExit(128 + signum)

    def __exit__(self, *exc: Any) -> None:
        try:
            if self.paused:
                _resume(self.pid)
        finally:
            for signum, handler in self.previous.items():
                signal.signal(signum, handler)
            if self.guard is not None:
                with self.guard:
                    try:
                        self.guard.communicate(b"resumed\n", timeout=5)
                    except (OSError, subprocess.TimeoutExpired):
                        self.guard.kill()


def _pause(pid: int) -> None:
    """SIGSTOP, then wait until the kernel shows the process stopped."""
    try:
        os.kill(pid, signal.SIGSTOP)
    except ProcessLookupError:
        raise AttachError(f"process {pid} has exited") from None
    except PermissionError:
        raise AttachError(f"may not stop process {pid}: sending it SIGSTOP needs its user or CAP_KILL "
                          "(reading it needs CAP_SYS_PTRACE or its user); read it without --stop") from None
    deadline = time.monotonic() + 5
    while not (_stopped(pid) and _every_thread_stopped(pid)):
        if gone(pid):
            raise AttachError(f"process {pid} exited while it was being stopped")
        if time.monotonic() > deadline:
            raise AttachError(f"process {pid} did not stop within 5 s of SIGSTOP")
        time.sleep(0.001)


def _resume(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGCONT)
    except (ProcessLookupError, PermissionError):    # gone, or never stopped by us
        pass
