"""The deterministic toy model that really runs an emulated job: read inputs, write outputs.

Gemini models (``publishers/google/models/gemini-*``) answer each ``{"request": {...}}`` line
with Google's batch output row (``status``, ``processed_time``, ``request``, ``response`` with
``candidates`` and ``usageMetadata``); the candidate's text is ``"echo: "`` + the prompt's text,
token counts are whitespace word counts. A malformed line gets a row with a non-empty
``status`` and no ``response`` (Gemini keeps failed rows in the predictions file).

Other models answer each instance with ``{"instance": ..., "prediction": {"echo": ...,
"digest": ...}}``; lines that are not JSON go to ``errors_NNNNN.jsonl`` as
``{"instance": "<line>", "error": {"code": 3, "message": ...}}``.

Layout (Google's): custom models write ``{outputUriPrefix}/prediction-{model}-{YYYY-MM-DDThh:mm:
ss.sssZ}/predictions_00001.jsonl`` ... where ``{model}`` is the model id (the emulator knows no
model display names); Gemini models write one ``{outputUriPrefix}/prediction-model-{YYYY-MM-DD
Thh:mm:ss.ssssssZ}/predictions.jsonl`` (Google's Gemini batch layout, which readers find as
``{gcsOutputDirectory}/predictions.jsonl``). Formats read: ``jsonl``, ``csv`` (header line,
rows become JSON arrays).

Gemini limits (Google's: 200,000 requests and 1 GB of input per job; ``gemini_max_requests``,
``gemini_max_input_bytes`` in the config): a job over either fails after leaving the queue,
as Google's does, with ``error {code: 3, message}`` naming the limit. ``shuffle_output`` writes
the rows in a seeded random order (Google does not promise input order).
``tf-record``, ``tf-record-gzip`` and ``file-list`` inputs are not read: the job ends
PARTIALLY_SUCCEEDED with a partial failure saying so. BigQuery sources are not read (0
instances); BigQuery destinations only fill ``outputInfo``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
import time
from dataclasses import dataclass, field
from typing import Any

from vbq_emulators.errors import ApiError
from vbq_emulators.vertex.config import EmulatorConfig
from vbq_emulators.vertex.storage_io import read_objects, write_object
from vbq_emulators.vertex.validation import is_gemini_model
from vbq_emulators.vertex.wire import output_dir_timestamp, rfc3339, stamp_micros

__all__ = ["RunResult", "model_id", "output_location", "run_job"]

_UNREAD_FORMATS = {"tf-record", "tf-record-gzip", "file-list"}


@dataclass(kw_only=True)
class RunResult:
    """What one run produced: counts, where outputs went, and failures."""

    successful: int = 0
    failed: int = 0
    incomplete: int = 0
    partial_failures: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None
    """Set when the job as a whole failed (input unreadable): ``{code, message}``."""


def model_id(job: dict[str, Any]) -> str:
    """The model's last path segment without ``@version`` (``gemini-2.0-flash-001``)."""
    model = str(job.get("model") or "unmanaged-container-model")
    return model.rsplit("/", 1)[-1].split("@", 1)[0]


def output_location(job: dict[str, Any], create_time_s: float) -> dict[str, str]:
    """The ``outputInfo`` Google fills for this job's destination."""
    out = job["outputConfig"]
    stamp = output_dir_timestamp(create_time_s)
    if "gcsDestination" in out:
        prefix = out["gcsDestination"]["outputUriPrefix"].rstrip("/")
        if is_gemini_model(str(job.get("model", ""))):
            micros = stamp_micros(create_time_s)
            return {"gcsOutputDirectory": f"{prefix}/prediction-model-{micros}"}
        return {"gcsOutputDirectory": f"{prefix}/prediction-{model_id(job)}-{stamp}"}
    if "bigqueryDestination" in out:
        uri = out["bigqueryDestination"]["outputUri"].removeprefix("bq://")
        safe = model_id(job).replace("-", "_").replace(".", "_")
        dataset = uri if "." in uri else f"{uri}.prediction_{safe}_{stamp}"
        return {"bigqueryOutputDataset": f"bq://{dataset}", "bigqueryOutputTable": "predictions"}
    return {}


def run_job(
    job: dict[str, Any],
    *,
    output_info: dict[str, str],
    inject_partial: bool,
    config: EmulatorConfig,
) -> RunResult:
    """Read the job's inputs, predict, write the outputs; never raises for job-level errors.

    Args:
        job: the job resource (canonical camelCase, enum names).
        output_info: from :func:`output_location`.
        inject_partial: fail every second instance (a configured PARTIALLY_SUCCEEDED job).
        config: ``rows_per_file`` (rows per ``predictions_NNNNN`` file), ``shuffle_output``,
            the Gemini limits and the ``seed``.
    """
    result = RunResult()
    source = job["inputConfig"]
    fmt = source["instancesFormat"]
    if fmt in _UNREAD_FORMATS:
        result.partial_failures.append(
            {"code": 12, "message": f"instances format {fmt} is not read by the emulator"}
        )
        return result
    lines: list[tuple[Any, str | None]] = []  # (instance, parse error)
    input_bytes = 0
    try:
        for uri in source.get("gcsSource", {}).get("uris", []):
            for _name, data in read_objects(uri):
                input_bytes += len(data)
                lines.extend(_parse(data, fmt))
    except ApiError as err:
        code = 5 if err.status_code == 404 else 3
        result.error = {"code": code, "message": err.message}
        return result
    gemini = is_gemini_model(str(job.get("model", "")))
    if gemini:
        result.error = _over_limits(len(lines), input_bytes, config)
        if result.error is not None:
            return result
    rows: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for index, (instance, parse_error) in enumerate(lines):
        failure = parse_error
        if failure is None and inject_partial and index % 2 == 1:
            failure = "injected partial failure"
        if gemini:
            row, ok = _gemini_row(instance, failure, model_id(job))
            rows.append(row)
        else:
            ok = failure is None
            if ok:
                rows.append({"instance": instance, "prediction": _predict(instance)})
            else:
                errors.append({"instance": instance, "error": {"code": 3, "message": failure}})
        if ok:
            result.successful += 1
        else:
            result.failed += 1
    if inject_partial:
        result.partial_failures.append({"code": 13, "message": "injected partial failure"})
    if config.shuffle_output:
        # Seeded per job, so a rerun with the same seed writes the same order.
        random.Random(f"{config.seed}:{job.get('name', '')}").shuffle(rows)
    directory = output_info.get("gcsOutputDirectory")
    if directory:
        try:
            if gemini:
                write_object(f"{directory}/predictions.jsonl", _jsonl(rows))
            else:
                _write(directory, "predictions", rows, job, config.rows_per_file, always=True)
                _write(directory, "errors", errors, job, config.rows_per_file, always=False)
        except ApiError as err:
            result.error = {"code": 3, "message": err.message}
    return result


def _over_limits(requests: int, input_bytes: int, config: EmulatorConfig) -> dict[str, Any] | None:
    """Google's per-job Gemini limits, checked when the job leaves the queue."""
    if requests > config.gemini_max_requests:
        return {
            "code": 3,
            "message": (
                f"The batch prediction input has {requests} requests, more than the limit of "
                f"{config.gemini_max_requests} requests per job."
            ),
        }
    if input_bytes > config.gemini_max_input_bytes:
        return {
            "code": 3,
            "message": (
                f"The batch prediction input is {input_bytes} bytes, more than the limit of "
                f"{config.gemini_max_input_bytes} bytes per job."
            ),
        }
    return None


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(row, separators=(",", ":")) + "\n" for row in rows).encode()


def _parse(data: bytes, fmt: str) -> list[tuple[Any, str | None]]:
    text = data.decode("utf-8", errors="replace")
    if fmt == "csv":
        reader = csv.reader(io.StringIO(text))
        rows = [r for r in reader if r]
        return [(r, None) for r in rows[1:]]  # the first line is the header
    out: list[tuple[Any, str | None]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            out.append((json.loads(line), None))
        except ValueError as exc:
            out.append((line, f"invalid JSON line: {exc}"))
    return out


def _predict(instance: Any) -> dict[str, Any]:
    canonical = json.dumps(instance, sort_keys=True, separators=(",", ":"))
    return {"echo": instance, "digest": hashlib.sha256(canonical.encode()).hexdigest()[:16]}


def _prompt_text(request: dict[str, Any]) -> str | None:
    contents = request.get("contents")
    if not isinstance(contents, list) or not contents:
        return None
    texts: list[str] = []
    for content in contents:
        if not isinstance(content, dict) or not isinstance(content.get("parts"), list):
            return None
        texts.extend(
            str(p["text"]) for p in content["parts"] if isinstance(p, dict) and "text" in p
        )
    return " ".join(texts)


def _gemini_row(instance: Any, failure: str | None, model: str) -> tuple[dict[str, Any], bool]:
    now = rfc3339(time.time())
    request = instance.get("request") if isinstance(instance, dict) else None
    prompt = _prompt_text(request) if isinstance(request, dict) else None
    row: dict[str, Any] = {"status": "", "processed_time": now, "request": request or instance}
    if isinstance(instance, dict) and "key" in instance:
        row = {"key": instance["key"], **row}
    if failure is None and prompt is None:
        failure = "request must hold a non-empty 'contents' list of {role, parts}"
    if failure is not None:
        detail = {"error": {"code": 400, "message": failure, "status": "INVALID_ARGUMENT"}}
        row["status"] = f"Bad Request: {json.dumps(detail)}"
        return row, False
    assert prompt is not None
    answer = f"echo: {prompt}"
    prompt_tokens = max(1, len(prompt.split()))
    answer_tokens = len(answer.split())
    row["response"] = {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": answer}]}, "finishReason": "STOP"}
        ],
        "usageMetadata": {
            "promptTokenCount": prompt_tokens,
            "candidatesTokenCount": answer_tokens,
            "totalTokenCount": prompt_tokens + answer_tokens,
        },
        "modelVersion": model,
    }
    return row, True


def _write(
    directory: str,
    stem: str,
    rows: list[dict[str, Any]],
    job: dict[str, Any],
    rows_per_file: int,
    *,
    always: bool,
) -> None:
    if not rows and not always:
        return
    as_csv = job["outputConfig"].get("predictionsFormat") == "csv"
    chunks = [rows[i : i + rows_per_file] for i in range(0, len(rows), rows_per_file)] or [[]]
    for number, chunk in enumerate(chunks, start=1):
        if as_csv:
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            keys = ["instance", "prediction"] if stem == "predictions" else ["instance", "error"]
            writer.writerow(keys)
            for row in chunk:
                writer.writerow([json.dumps(row.get(k)) for k in keys])
            data, ext, ctype = buffer.getvalue().encode(), "csv", "text/csv"
        else:
            data, ext, ctype = _jsonl(chunk), "jsonl", "application/jsonl"
        write_object(f"{directory}/{stem}_{number:05d}.{ext}", data, content_type=ctype)
