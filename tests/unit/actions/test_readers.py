"""Streaming parsers: line splitting across chunks, JSON lines, CSV."""

from __future__ import annotations

import csv
import io
import json

import pytest

from tests.unit.actions.fakes import CountingReader
from vbq.errors import OutputsError
from vbq.subscribers.actions.readers import iter_csv_rows, iter_jsonl_rows, iter_lines


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64, 4096])
def test_lines_are_the_same_for_every_chunk_size(chunk: int) -> None:
    data = b"alpha\nbe\n\ngamma delta\nlast-no-newline"
    reader = CountingReader(data)
    assert list(iter_lines(reader, chunk_size_bytes=chunk)) == data.split(b"\n")
    assert set(reader.sizes) == {chunk}  # fixed-size reads only, never read(1)/readline


def test_keepends_and_trailing_newline() -> None:
    lines = list(iter_lines(CountingReader(b"a\nb\n"), chunk_size_bytes=3, keepends=True))
    assert lines == [b"a\n", b"b\n"]


def test_overlong_line_is_refused() -> None:
    with pytest.raises(OutputsError, match="longer than 10"):
        list(iter_lines(CountingReader(b"x" * 50), chunk_size_bytes=4, max_line_bytes=10))


def test_jsonl_rows_skip_blank_lines_and_wrap_scalars() -> None:
    data = b'{"a": 1}\n\n  \n[1, 2]\n{"b": "\xc3\xa9"}'
    rows = list(iter_jsonl_rows(CountingReader(data), chunk_size_bytes=5))
    assert rows == [{"a": 1}, {"value": [1, 2]}, {"b": "é"}]


def test_jsonl_bad_line_names_source_and_line() -> None:
    with pytest.raises(OutputsError, match=r"gs://b/p\.jsonl line 2: not JSON"):
        list(iter_jsonl_rows(CountingReader(b'{"a":1}\n{oops\n'), source="gs://b/p.jsonl"))


def test_csv_rows_decode_json_cells_and_quoted_newlines() -> None:
    inst = {"id": 1, "t": "a,b"}
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["instance", "prediction", "note"])
    writer.writerow([json.dumps(inst), json.dumps([1.5]), "two\nlines"])
    writer.writerow(["{not json", "42", "plain"])
    data = buffer.getvalue().encode()
    rows = list(iter_csv_rows(CountingReader(data), chunk_size_bytes=4))
    assert rows == [
        {"instance": inst, "prediction": [1.5], "note": "two\nlines"},
        {"instance": "{not json", "prediction": 42, "note": "plain"},
    ]
    raw = list(iter_csv_rows(CountingReader(data), decode_json_cells=False))
    assert raw[1]["prediction"] == "42"


def test_csv_multibyte_characters_split_across_chunks() -> None:
    data = "h\né😀ü\n".encode()
    assert list(iter_csv_rows(CountingReader(data), chunk_size_bytes=1)) == [{"h": "é😀ü"}]


def test_empty_csv_has_no_rows() -> None:
    assert list(iter_csv_rows(CountingReader(b""))) == []
