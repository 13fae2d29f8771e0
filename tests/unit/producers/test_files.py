from __future__ import annotations

import json
from pathlib import Path

import pytest

from vbq.errors import ConfigError
from vbq.producers.batch import ItemError
from vbq.producers.files import parse_requests, read_requests

ONE = {"job_display_name": "j", "model_name": "m", "gcs_source": "gs://b/x.jsonl"}


def test_json_object_is_single_and_array_is_bulk() -> None:
    single = parse_requests(json.dumps(ONE), fmt="json")
    assert not single.bulk
    assert single.items == (ONE,)
    bulk = parse_requests(json.dumps([ONE, ONE]), fmt="json")
    assert bulk.bulk
    assert len(bulk.items) == 2


def test_json_lines_report_bad_lines_by_index() -> None:
    text = "\n".join([json.dumps(ONE), "{broken", "", "[1]", json.dumps(ONE)])
    parsed = parse_requests(text, fmt="jsonl")
    assert parsed.bulk
    assert len(parsed.items) == 4
    assert parsed.items[0] == ONE and parsed.items[3] == ONE
    bad1, bad2 = parsed.items[1], parsed.items[2]
    assert isinstance(bad1, ItemError) and bad1.index == 1 and bad1.fields == ["<line>"]
    assert isinstance(bad2, ItemError) and bad2.index == 2


def test_yaml_single_list_and_multi_document() -> None:
    assert not parse_requests("job_display_name: j\nmodel_name: m\n", fmt="yaml").bulk
    assert parse_requests("- a: 1\n- b: 2\n", fmt="yaml").bulk
    multi = parse_requests("a: 1\n---\nb: 2\n", fmt="yaml")
    assert multi.bulk and multi.items == ({"a": 1}, {"b": 2})


def test_auto_sniffs_json_jsonl_and_yaml() -> None:
    assert parse_requests(json.dumps(ONE)).items == (ONE,)
    jsonl = parse_requests(json.dumps(ONE) + "\n" + json.dumps(ONE) + "\n")
    assert jsonl.bulk and len(jsonl.items) == 2
    assert parse_requests("job_display_name: j\n").items == ({"job_display_name": "j"},)


@pytest.mark.parametrize(("text", "fmt"), [("", "auto"), ("42", "json"), ("{: x", "yaml")])
def test_unusable_input_is_a_config_error(text: str, fmt: str) -> None:
    with pytest.raises(ConfigError):
        parse_requests(text, fmt=fmt)


def test_read_requests_by_suffix_and_stdin(tmp_path: Path) -> None:
    path = tmp_path / "jobs.jsonl"
    path.write_text(json.dumps(ONE) + "\n")
    parsed = read_requests(str(path))
    assert parsed.bulk and parsed.items == (ONE,)
    assert read_requests("-", stdin_text=json.dumps(ONE)).items == (ONE,)
    with pytest.raises(ConfigError):
        read_requests(str(tmp_path / "missing.json"))
