from __future__ import annotations

import io
import json

from vbq.logs import bind_job, configure_logging, get_logger
from vbq.redaction import redact_url


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_json_lines_carry_job_context_and_never_secrets() -> None:
    stream = io.StringIO()
    configure_logging(log_format="json", stream=stream, force=True)
    log = get_logger("test")
    token = "ya29.a0AfH6SMBx3kq9ZkLr0TzUu8y7VwQx"
    api_key = "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY"
    with bind_job("sub-123"):
        log.info("calling vertex", authorization=f"Bearer {token}", note=f"key={api_key}")
    with bind_job("sub-123", job_name="projects/p/locations/l/batchPredictionJobs/9"):
        log.info(
            "created", header=f"Authorization: Bearer {token}", api_key="vbq_abcdefabcdef123456"
        )
    text = stream.getvalue()
    assert token not in text
    assert api_key not in text
    assert "vbq_abcdefabcdef123456" not in text
    first, second = _lines(stream)
    assert first["submission_id"] == "sub-123"
    assert "job_name" not in first
    assert second["job_name"] == "projects/p/locations/l/batchPredictionJobs/9"
    assert second["event"] == "created"


def test_stdlib_loggers_are_redacted_too() -> None:
    import logging

    stream = io.StringIO()
    configure_logging(log_format="json", stream=stream, force=True)
    logging.getLogger("celery.worker").warning("broker redis://:s3cretpw@host:6379/0 down")
    assert "s3cretpw" not in stream.getvalue()
    assert "redis://:***@host:6379/0" in stream.getvalue()


def test_stdlib_exceptions_carry_their_traceback() -> None:
    # Celery's "Unrecoverable error" is logged with exc_info: the JSON line must say where.
    import logging

    stream = io.StringIO()
    configure_logging(log_format="json", stream=stream, force=True)
    try:
        raise AttributeError("'NoneType' object has no attribute 'hostname'")
    except AttributeError:
        logging.getLogger("celery.worker").critical("Unrecoverable error", exc_info=True)
    (line,) = _lines(stream)
    assert "exc_info" not in line
    assert isinstance(line["exception"], str)
    assert line["exception"].startswith("Traceback (most recent call last)")
    assert "test_stdlib_exceptions_carry_their_traceback" in line["exception"]


def test_redact_url() -> None:
    assert redact_url("redis://user:pw@h:1/0") == "redis://user:***@h:1/0"
    assert redact_url("amqp://guest@h//") == "amqp://guest@h//"
    assert redact_url("") == ""
