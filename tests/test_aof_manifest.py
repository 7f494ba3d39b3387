"""The AOF manifest: Redis 7.0's line syntax both ways, its errors word for word, and the changes a
rewrite makes (new base, new incr, history)."""

from __future__ import annotations

import pytest

from emberkv.persistence.aof.manifest import (
    BASE,
    HISTORY,
    INCR,
    Manifest,
    ManifestError,
    quote_name,
    read_manifest,
    split_args,
    write_manifest,
)

REDIS_WRITTEN = b"file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n"


def test_a_manifest_redis_wrote_parses_and_prints_back_identically():
    m = Manifest.parse(REDIS_WRITTEN)
    assert m.base.name == "appendonly.aof.1.base.rdb" and m.base.kind == BASE and m.base.seq == 1
    assert [(f.name, f.seq, f.kind) for f in m.incrs] == [("appendonly.aof.1.incr.aof", 1, INCR)]
    assert (m.base_seq, m.incr_seq) == (1, 1)
    assert m.to_bytes() == REDIS_WRITTEN


def test_lines_are_written_base_then_history_then_incr():
    m = Manifest.parse(b"file i2 seq 2 type i\nfile h1 seq 1 type h\nfile b3 seq 3 type b\n")
    assert m.to_bytes() == b"file b3 seq 3 type b\nfile h1 seq 1 type h\nfile i2 seq 2 type i\n"


def test_comments_unknown_keys_and_key_case_are_accepted():
    m = Manifest.parse(b"# a comment\nFILE a.aof SEQ 3 TYPE i future yes\n")
    assert [(f.name, f.seq) for f in m.incrs] == [("a.aof", 3)]


@pytest.mark.parametrize("name", [b"my file.aof", b'q"uote', b"back\\slash", b"tab\there", b"\x01\xff\n"])
def test_names_that_need_quoting_round_trip(name):
    quoted = quote_name(name)
    assert quoted.startswith(b'"')
    assert split_args(b"file " + quoted) == [b"file", name]


def test_quoting_uses_redis_escapes():
    assert quote_name(b" file seq \n\n.aof .2.base.rdb") == b'" file seq \\n\\n.aof .2.base.rdb"'
    assert quote_name(b"plain.aof") == b"plain.aof"


@pytest.mark.parametrize("text, reason, line", [
    (b"", "Found an empty AOF manifest", None),
    (b"file a seq 1 type b", "The AOF manifest file contains too long line", None),
    (b"file " + b"a" * 1100 + b" seq 1 type b\n", "The AOF manifest file contains too long line", None),
    (b"\n", "Invalid AOF manifest file format", 1),
    (b"file a seq 1\n", "Invalid AOF manifest file format", 1),
    (b"file a seq 1 type\n", "Invalid AOF manifest file format", 1),
    (b"file a seq 0 type b\n", "Invalid AOF manifest file format", 1),
    (b"file a seq x type b\n", "Invalid AOF manifest file format", 1),
    (b'file "a seq 1 type b\n', "Invalid AOF manifest file format", 1),
    (b"file a/b seq 1 type b\n", "File can't be a path, just a filename", 1),
    (b"file a\\b seq 1 type b\n", "File can't be a path, just a filename", 1),
    (b"file a seq 1 type b\nfile b seq 2 type b\n", "Found duplicate base file information", 2),
    (b"file a seq 2 type i\nfile b seq 2 type i\n", "Found a non-monotonic sequence number", 2),
    (b"file a seq 1 type x\n", "Unknown AOF file type", 1),
])
def test_broken_manifests_are_refused_with_redis_words(text, reason, line):
    with pytest.raises(ManifestError) as err:
        Manifest.parse(text)
    assert err.value.reason == reason
    assert err.value.line_no == line


def test_a_rewrite_makes_the_old_base_and_incrs_history():
    m = Manifest.parse(REDIS_WRITTEN)
    m.next_incr("appendonly.aof")
    base = m.next_base("appendonly.aof", rdb=False)
    m.incrs_to_history(keep_last=True)
    assert base.name == "appendonly.aof.2.base.aof"
    assert [(f.name, f.kind) for f in m.history] == [
        ("appendonly.aof.1.base.rdb", HISTORY), ("appendonly.aof.1.incr.aof", HISTORY)]
    assert [f.name for f in m.incrs] == ["appendonly.aof.2.incr.aof"]
    m.history = []
    assert m.to_bytes() == b"file appendonly.aof.2.base.aof seq 2 type b\nfile appendonly.aof.2.incr.aof seq 2 type i\n"


def test_incr_numbering_restarts_after_all_incrs_became_history():
    m = Manifest.parse(b"file x.1.base.rdb seq 1 type b\nfile x.5.incr.aof seq 5 type h\n")
    assert m.next_incr("x").name == "x.1.incr.aof"


def test_write_manifest_replaces_the_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "appendonly.aof.manifest"
    path.write_bytes(b"old")
    write_manifest(str(path), Manifest.parse(REDIS_WRITTEN), "appendonly.aof")
    assert path.read_bytes() == REDIS_WRITTEN
    assert sorted(p.name for p in tmp_path.iterdir()) == ["appendonly.aof.manifest"]
    assert read_manifest(str(tmp_path / "missing.manifest")) is None
