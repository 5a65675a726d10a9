"""One JSON convention across commands, written down as a JSON Schema.

Every document memprobe writes (to_json() of a result, and each command's
--json) carries "kind" and "format", and is described by the schema the
package ships as memprobe/schema.json: derived from the result
declarations, so it cannot drift from them, and checked here against real
documents with a real validator (fastjsonschema, draft 7).
"""
import importlib.resources
import json

import fastjsonschema
import pytest

import memprobe
from memprobe._serialize import json_schema
from _support import CENSUS_ALLOCATOR, DIRECT, PYMALLOC_SERVING, run_memprobe

SHIPPED = json.loads(importlib.resources.files("memprobe").joinpath("schema.json").read_text())
VALIDATE = fastjsonschema.compile(SHIPPED)


def test_the_shipped_schema_is_the_one_derived_from_the_declarations():
    """Regenerate it with ``python -m memprobe schema > src/memprobe/schema.json``."""
    assert SHIPPED == json_schema()
    assert json.loads(run_memprobe("schema", check=True).stdout) == SHIPPED


def _documents():
    before = memprobe.snapshot(blocks=True)
    after = memprobe.snapshot(blocks=True)
    yield "snapshot", after.to_dict()
    yield "diff", (after - before).to_dict()
    yield "report", memprobe.report().to_dict()
    yield "rss", memprobe.rss().to_dict()
    yield "explanation", memprobe.explain([1, 2]).to_dict()
    if DIRECT and PYMALLOC_SERVING:
        yield "fragmentation", memprobe.fragmentation().to_dict()
    if CENSUS_ALLOCATOR is not None:
        yield "block-census", memprobe.block_census().to_dict()


@pytest.mark.parametrize("kind,document", list(_documents()), ids=lambda v: v if isinstance(v, str) else "")
def test_every_result_document_follows_the_schema(kind, document):
    assert document["kind"] == kind
    VALIDATE(document)


@pytest.mark.parametrize("args", [("--json",), ("where", "--json"), ("lessons", "--json", "weakref"),
                                  ("explain", "--json", "None")], ids=lambda a: " ".join(a))
def test_every_command_document_follows_the_schema(args):
    VALIDATE(json.loads(run_memprobe(*args, check=True).stdout))


@pytest.mark.skipif(not (DIRECT and PYMALLOC_SERVING), reason="the arena map needs pymalloc's state (3.12+)")
def test_the_map_document_follows_the_schema_and_holds_every_pool():
    document = json.loads(run_memprobe("map", "--json", check=True).stdout)
    VALIDATE(document)
    arenas = document["arenas"]
    assert arenas and all(len(a["pools"]) == a["total_pools"] for a in arenas)
    assert all(sum(p[0] < 0 for p in a["pools"]) == a["free_pools"] for a in arenas)


def test_the_timeline_document_follows_the_schema(tmp_path):
    script = tmp_path / "s.py"
    script.write_text("import gc\nprint('from the script')\ngc.collect()\n")
    proc = run_memprobe("timeline", "--json", "-o", str(tmp_path / "t.svg"), str(script), check=True)
    document = json.loads(proc.stdout)     # only the document: the script printed to stderr
    VALIDATE(document)
    assert document["kind"] == "timeline" and len(document["collections"]) >= 1
    assert "from the script" in proc.stderr


def test_the_run_document_follows_the_schema(tmp_path):
    script = tmp_path / "s.py"
    script.write_text("x = [1] * 10\n")
    out = tmp_path / "run.json"
    run_memprobe("run", "--json", "-o", str(out), str(script), check=True)
    document = json.loads(out.read_text())
    assert document["kind"] == "run"
    VALIDATE(document)


def test_the_schema_rejects_what_is_not_a_memprobe_document():
    """It says something: a wrong type, a missing field, another format or
    no kind at all fail."""
    good = memprobe.snapshot().to_dict()
    VALIDATE(good)
    for broken in ({**good, "allocated_blocks": "many"}, {k: v for k, v in good.items() if k != "gc"},
                   {**good, "format": good["format"] + 1}, {k: v for k, v in good.items() if k != "kind"}):
        with pytest.raises(fastjsonschema.JsonSchemaException):
            VALIDATE(broken)
