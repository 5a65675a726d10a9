"""memprobe.refcount and memprobe.refinfo: the reference count field, read directly.

What they promise: called the same way as sys.getrefcount, refcount(obj)
returns the same number, because both read the same field.  That number is
the field as it stands during the call: it includes the reference held by the
caller's argument when the caller holds one (on 3.14+ the interpreter often
passes a borrowed reference instead, so the "+1" is not guaranteed).
"""
import collections
import enum
import functools
import sys
import types
import weakref

import pytest

import memprobe
from _support import FREE_THREADED, VERSION, needs_free_threading

PY312 = VERSION >= (3, 12)
PY314 = VERSION >= (3, 14)


class Plain:
    pass


class Slotted:
    __slots__ = ("a",)


class Color(enum.Enum):
    RED = 1


def make_closure():
    captured = ["captured"]

    def inner():
        return captured

    return inner, captured


def make_frame_held():
    held = object()
    frame = sys._getframe()
    return frame, held


def gen():
    yield 1


def corpus():
    """At least 30 kinds of objects, each referenced in several ways."""
    fresh_str = "".join(["not", "interned", str(id(object()))])
    shared = Plain()
    closure, captured = make_closure()
    frame, frame_held = make_frame_held()
    items = [
        ("small int", 7),
        ("negative small int", -5),
        ("large int", 10**30),
        ("int result", int("123456789")),
        ("bool", True),
        ("None", None),
        ("Ellipsis", ...),
        ("NotImplemented", NotImplemented),
        ("float", 3.5),
        ("complex", 2j),
        ("interned str", "refcount"),
        ("fresh str", fresh_str),
        ("empty str", ""),
        ("bytes", b"memprobe"),
        ("bytearray", bytearray(b"xy")),
        ("empty tuple", ()),
        ("tuple", (1, "a", None)),
        ("list", [1, 2, 3]),
        ("dict", {"a": 1}),
        ("set", {1, 2}),
        ("frozenset", frozenset({3})),
        ("builtin type", int),
        ("user class", Plain),
        ("instance", Plain()),
        ("slotted instance", Slotted()),
        ("enum member", Color.RED),
        ("module", sys),
        ("this module", sys.modules[__name__]),
        ("builtin function", len),
        ("python function", corpus),
        ("lambda", lambda: None),
        ("bound method", shared.__init__),
        ("partial", functools.partial(print, 1)),
        ("closure function", closure),
        ("closure cell contents", captured),
        ("frame", frame),
        ("object held by a frame", frame_held),
        ("generator", gen()),
        ("range", range(10)),
        ("slice", slice(1, 2)),
        ("memoryview", memoryview(b"abc")),
        ("code object", corpus.__code__),
        ("weakref", weakref.ref(Plain)),
        ("namespace", types.SimpleNamespace(a=1)),
        ("exception", ValueError("x")),
        ("deque", collections.deque([1])),
    ]
    # The same object referenced several times from one container.
    items.append(("held 5 times by a list", shared))
    items.append(("the list holding it", [shared] * 5))
    return items


CORPUS = corpus()


def read_both(obj):
    """refcount and sys.getrefcount, called the same way, back to back.

    Kept out of assert statements: pytest's assertion rewriting stores
    intermediate values (and None) in hidden locals between the two calls.
    """
    return memprobe.refcount(obj), sys.getrefcount(obj)


def read_both_refinfo(obj):
    return memprobe.refinfo(obj).count, sys.getrefcount(obj)


def test_corpus_has_at_least_30_kinds():
    assert len({type(obj) for _, obj in CORPUS}) >= 30


@pytest.mark.parametrize("name,obj", CORPUS, ids=[name for name, _ in CORPUS])
def test_refcount_equals_sys_getrefcount(name, obj):
    probe, expected = read_both(obj)
    assert probe == expected


@pytest.mark.parametrize("name,obj", CORPUS, ids=[name for name, _ in CORPUS])
def test_refinfo_count_equals_sys_getrefcount(name, obj):
    probe, expected = read_both_refinfo(obj)
    assert probe == expected


def test_reference_from_a_local_variable_is_counted():
    obj = object()
    # The local `obj` and the container below are the only owners.
    holder = [obj]
    with_holder = read_both(obj)
    del holder
    without_holder = read_both(obj)
    assert with_holder[0] == with_holder[1]
    assert without_holder[0] == without_holder[1]
    assert with_holder[0] == without_holder[0] + 1


@pytest.mark.parametrize("added", [1, 2, 5, 100])
def test_adding_and_removing_references_moves_the_count_by_exactly_that_many(added):
    obj = object()
    before = memprobe.refcount(obj)
    holders = [obj] * added
    assert memprobe.refcount(obj) == before + added
    extra = {"key": obj}
    assert memprobe.refcount(obj) == before + added + 1
    del holders
    assert memprobe.refcount(obj) == before + 1
    del extra
    assert memprobe.refcount(obj) == before


def capture(value):
    return lambda: value


def test_attribute_and_closure_references_are_counted():
    obj = object()
    before = memprobe.refcount(obj)
    ns = types.SimpleNamespace(a=obj, b=obj)
    fn = capture(obj)
    assert memprobe.refcount(obj) == before + 3  # two attributes and one cell
    del ns, fn
    assert memprobe.refcount(obj) == before


def test_refinfo_result_is_frozen():
    info = memprobe.refinfo(object())
    with pytest.raises(Exception):
        info.count = 1  # type: ignore[misc]


@pytest.mark.parametrize("name,obj", CORPUS, ids=[name for name, _ in CORPUS])
def test_raw_parts_match_the_versions_layout(name, obj):
    info = memprobe.refinfo(obj)
    if info.layout == "classic":
        assert sys.version_info < (3, 12)
        assert info.word == info.count
        assert (info.low, info.high, info.overflow, info.flags) == (None,) * 4
    elif info.layout == "split":
        assert (3, 12) <= sys.version_info < (3, 14)
        assert info.word == info.low + (info.high << 32)
        assert info.count == info.word
        assert info.overflow is None and info.flags is None
    elif info.layout == "flags":
        assert sys.version_info >= (3, 14)
        assert info.count == info.low
        assert info.word == info.low | (info.overflow << 32) | (info.flags << 48)
        assert info.high is None
    else:
        assert info.layout == "free-threaded"
        assert FREE_THREADED
        assert info.local is not None and info.shared is not None
        if not info.immortal:
            assert info.count == info.local + info.shared
    if info.layout != "free-threaded":
        assert (info.local, info.shared, info.shared_state, info.owner_tid, info.deferred,
                info.deferred_bias) == (None,) * 6
        assert info.effective == info.count


# ---- free-threaded builds: local and shared counts -------------------------------

@needs_free_threading
@pytest.mark.parametrize("name,obj", CORPUS, ids=[name for name, _ in CORPUS])
def test_free_threaded_effective_count_removes_only_the_deferred_bias(name, obj):
    info = memprobe.refinfo(obj)
    assert info.count == sys.getrefcount(obj)
    if info.immortal:
        assert info.local == 2**32 - 1 and info.owner_tid == 0
    elif info.deferred and PY314:
        # 3.14 adds sys.maxsize // 8 to a deferred object's shared count.
        assert info.deferred_bias == sys.maxsize // 8
        assert info.effective == sys.getrefcount(obj) - info.deferred_bias
        assert 0 < info.effective < 2**20
    else:
        assert info.deferred_bias == 0
        assert info.effective == info.count == sys.getrefcount(obj)


def top_level_function():
    pass


@needs_free_threading
def test_top_level_functions_and_modules_use_deferred_counting_nested_functions_do_not():
    def nested():
        pass

    assert memprobe.refinfo(top_level_function).deferred
    assert memprobe.refinfo(sys.modules[__name__]).deferred
    assert not memprobe.refinfo(nested).deferred


@needs_free_threading
def test_a_fresh_object_is_owned_by_this_thread_with_a_local_count():
    import threading

    obj = [1, 2, 3]
    info = memprobe.refinfo(obj)
    assert info.owner_tid != 0
    assert (info.local, info.shared, info.shared_state) == (1, 0, "shared")
    assert info.count == info.effective == sys.getrefcount(obj)
    # The same thread id names the owner of every object this thread makes.
    assert memprobe.refinfo([4]).owner_tid == info.owner_tid
    assert threading.get_ident() != 0


@needs_free_threading
def test_references_taken_by_another_thread_grow_the_shared_count_not_the_local_one():
    import threading

    obj = [object()]
    before = memprobe.refinfo(obj)
    holders = []
    done = threading.Event()

    def take_references():
        holders.extend([obj] * 5)   # five increfs from a thread that does not own obj
        done.set()

    t = threading.Thread(target=take_references)
    t.start()
    done.wait()
    t.join()
    after = memprobe.refinfo(obj)
    assert after.local == before.local
    assert after.shared == before.shared + 5
    assert after.owner_tid == before.owner_tid
    assert after.count == sys.getrefcount(obj)
    # The owner's decrefs take its local count to zero first; then both
    # counts merge into the shared one and the object has no owner.
    holders.clear()
    merged = memprobe.refinfo(obj)
    assert (merged.local, merged.owner_tid, merged.shared_state) == (0, 0, "merged")
    assert merged.shared == merged.count == sys.getrefcount(obj) == before.count


@needs_free_threading
def test_decrefs_from_this_thread_of_an_object_another_thread_owns_make_shared_negative():
    import threading

    made = []
    t = threading.Thread(target=lambda: made.append([object()]))
    t.start()
    t.join()
    obj = made[0]
    info = memprobe.refinfo(obj)
    # The owner exited: its references were merged into the shared count.
    assert info.count == sys.getrefcount(obj)
    assert info.local + info.shared == info.count


@pytest.mark.parametrize("name,obj", CORPUS, ids=[name for name, _ in CORPUS])
def test_immortal_follows_the_versions_rule(name, obj):
    info = memprobe.refinfo(obj)
    if not PY312:
        assert info.immortal is False
    elif info.layout in ("split", "flags"):
        # 3.12/3.13: low half negative as int32; 3.14+: ob_refcnt >= 2**31.
        assert info.immortal == (info.low >= 2**31)
    if not PY314:
        assert info.static_immortal is False


@pytest.mark.skipif(not hasattr(sys, "_is_immortal"), reason="sys._is_immortal is 3.14+")
@pytest.mark.parametrize("name,obj", CORPUS, ids=[name for name, _ in CORPUS])
def test_immortal_agrees_with_sys_is_immortal(name, obj):
    assert memprobe.refinfo(obj).immortal == sys._is_immortal(obj)


@pytest.mark.skipif(not PY312, reason="immortal objects exist from 3.12")
@pytest.mark.parametrize("obj", [None, True, False, ..., 0, 256, -5, int, type, ()], ids=repr)
def test_known_immortal_objects_read_immortal(obj):
    assert memprobe.refinfo(obj).immortal


@pytest.mark.parametrize("obj", [object(), [1], 10**40, Plain()], ids=repr)
def test_fresh_heap_objects_are_not_immortal(obj):
    info = memprobe.refinfo(obj)
    assert not info.immortal
    assert not info.static_immortal


@pytest.mark.skipif(not PY314, reason="the statically-allocated flag exists from 3.14")
def test_static_objects_carry_the_static_flag():
    for obj in (None, True, int, 0):
        info = memprobe.refinfo(obj)
        assert info.static_immortal and info.immortal
    interned_at_runtime = sys.intern("".join(["memprobe", "-runtime-intern"]))
    info = memprobe.refinfo(interned_at_runtime)
    assert not info.static_immortal


@pytest.mark.skipif(PY312, reason="before 3.12 nothing is immortal")
def test_nothing_is_immortal_before_312():
    for obj in (None, True, 0, int, "refcount"):
        assert memprobe.refinfo(obj).immortal is False


def test_a_fresh_local_counts_the_argument_reference_only_before_314():
    """What the number includes, for the most common case.

    The local name holds one reference.  Up to 3.13 the call's argument holds
    a second, temporary one; from 3.14 the compiler loads locals as borrowed
    references for calls like this one, so the count is 1.
    """

    def fresh_local():
        x = object()
        return memprobe.refcount(x), sys.getrefcount(x)

    expected = 1 if PY314 else 2
    assert fresh_local() == (expected, expected)


def test_a_global_name_always_counts_the_argument_reference():
    """Globals are loaded as strong references on every version: 2."""
    namespace = {"memprobe": memprobe, "sys": sys}
    exec("x = object()\nresult = memprobe.refcount(x), sys.getrefcount(x)", namespace)
    assert namespace["result"] == (2, 2)
