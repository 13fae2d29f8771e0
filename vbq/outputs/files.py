"""Read a finished job's outputs: list its files, stream its rows.

Google writes ``{gcsOutputDirectory}/predictions_00001.jsonl`` … (or ``.csv``) and
``errors_00001.jsonl`` … for custom models; a Gemini job writes one ``predictions.jsonl`` and
keeps failed requests in it (a non-empty ``status``). With a
BigQuery destination the rows are read from ``outputInfo.bigqueryOutputTable`` (see
:mod:`vbq.outputs.bigquery`).

Rows are streamed: each file is read through ``blob.open("rb")`` a chunk at a time and parsed
line by line, so memory stays flat whatever the file size. Like the SDK's ``iter_outputs()``,
reading refuses a job that did not succeed (here: SUCCEEDED or PARTIALLY_SUCCEEDED).

``STORAGE_EMULATOR_HOST`` is honoured as google-cloud-storage does (anonymous credentials).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from vbq.errors import OutputsError
from vbq.outputs.gemini import GeminiRow
from vbq.outputs.readers import (
    DEFAULT_CHUNK_SIZE_BYTES,
    iter_csv_rows,
    iter_jsonl_rows,
)
from vbq.states import JobState, parse_job_state

__all__ = [
    "OutputFile",
    "iter_gemini_rows",
    "iter_output_files",
    "iter_predictions",
    "job_of",
    "output_directory",
    "readable_job",
    "storage_client",
]

FileKind = Literal["predictions", "errors", "other"]
_READABLE = frozenset({JobState.JOB_STATE_SUCCEEDED, JobState.JOB_STATE_PARTIALLY_SUCCEEDED})
_local = threading.local()


@dataclass(frozen=True, kw_only=True)
class OutputFile:
    """One object in a job's output directory.

    Attributes:
        uri: ``gs://bucket/name``.
        bucket: the bucket name.
        name: the object name.
        kind: ``predictions``, ``errors`` or ``other`` (by the file name's stem).
        format: ``jsonl``, ``csv`` or the extension as found.
        size_bytes: the object size (0 when unknown).
        blob: the ``google.cloud.storage.Blob`` to read it with.
    """

    uri: str
    bucket: str
    name: str
    kind: FileKind
    format: str
    size_bytes: int
    blob: Any

    def iter_rows(
        self, *, chunk_size_bytes: int = DEFAULT_CHUNK_SIZE_BYTES, decode_json_cells: bool = True
    ) -> Iterator[dict[str, Any]]:
        """Stream this file's rows (JSON lines, or CSV with a header line).

        Raises:
            OutputsError: the format is neither ``jsonl`` nor ``csv``, a row is malformed, or
                storage refused the read.
        """
        if self.format not in {"jsonl", "csv"}:
            raise OutputsError(f"{self.uri}: cannot parse format {self.format!r}")
        try:
            with self.blob.open("rb", chunk_size=chunk_size_bytes) as reader:
                if self.format == "csv":
                    yield from iter_csv_rows(
                        reader,
                        source=self.uri,
                        decode_json_cells=decode_json_cells,
                        chunk_size_bytes=chunk_size_bytes,
                    )
                else:
                    yield from iter_jsonl_rows(
                        reader, source=self.uri, chunk_size_bytes=chunk_size_bytes
                    )
        except OutputsError:
            raise
        except Exception as exc:
            if _is_google_error(exc):
                raise OutputsError(f"{self.uri}: read failed: {exc}") from exc
            raise


def job_of(event_or_job: Any) -> dict[str, Any]:
    """The Vertex job resource of a ``JobEvent``, a ``Submission`` or a resource dict.

    Raises:
        OutputsError: the event or submission carries no job resource.
    """
    if isinstance(event_or_job, Mapping):
        return dict(event_or_job)
    job = getattr(event_or_job, "job", None)
    if isinstance(job, Mapping):
        return dict(job)
    raise OutputsError(f"{type(event_or_job).__name__} carries no Vertex job resource")


def readable_job(event_or_job: Any) -> dict[str, Any]:
    """The job resource, checked to have readable outputs (SUCCEEDED/PARTIALLY_SUCCEEDED).

    Raises:
        OutputsError: no job, or the job is in another state.
    """
    job = job_of(event_or_job)
    try:
        state = parse_job_state(job.get("state"))
    except ValueError:
        state = JobState.JOB_STATE_UNSPECIFIED
    if state not in _READABLE:
        raise OutputsError(
            f"cannot read outputs of job {job.get('name', '?')} in state {state.name}: "
            "only SUCCEEDED or PARTIALLY_SUCCEEDED jobs have outputs"
        )
    return job


def output_directory(event_or_job: Any) -> str:
    """``outputInfo.gcsOutputDirectory`` of a readable job, without a trailing slash.

    Raises:
        OutputsError: the job is not readable or wrote no Cloud Storage output.
    """
    job = readable_job(event_or_job)
    directory = str((job.get("outputInfo") or {}).get("gcsOutputDirectory") or "")
    if not directory.startswith("gs://"):
        raise OutputsError(f"job {job.get('name', '?')} has no gcsOutputDirectory")
    return directory.rstrip("/")


def storage_client(project: str | None = None) -> Any:
    """A google-cloud-storage client for this thread (reused on later calls).

    Anonymous when ``STORAGE_EMULATOR_HOST`` is set; Application Default Credentials otherwise.
    """
    emulator = os.environ.get("STORAGE_EMULATOR_HOST", "")
    cache_key = (emulator, project)
    cached = getattr(_local, "clients", None)
    if cached is None:
        cached = _local.clients = {}
    client = cached.get(cache_key)
    if client is None:
        from google.cloud import storage

        if emulator:
            from google.auth.credentials import AnonymousCredentials

            anonymous = AnonymousCredentials()  # type: ignore[no-untyped-call]
            client = storage.Client(project=project or "vbq", credentials=anonymous)
        else:
            client = storage.Client(project=project)
        cached[cache_key] = client
    return client


def iter_output_files(event_or_job: Any, *, client: Any = None) -> Iterator[OutputFile]:
    """The objects in the job's output directory, sorted by name (listed at call time).

    Args:
        event_or_job: a ``JobEvent``, ``Submission`` or job resource dict.
        client: a ``google.cloud.storage.Client`` (default: :func:`storage_client`).

    Raises:
        OutputsError: the job is not readable, has no Cloud Storage output, or listing failed.
    """
    directory = output_directory(event_or_job)
    bucket, _, prefix = directory.removeprefix("gs://").partition("/")
    # The trailing slash keeps a sibling directory sharing the prefix out of the listing.
    prefix = f"{prefix}/" if prefix else ""
    client = client or storage_client()
    try:
        blobs = sorted(client.list_blobs(bucket, prefix=prefix), key=lambda b: b.name)
    except Exception as exc:
        if _is_google_error(exc):
            raise OutputsError(f"cannot list {directory}: {exc}") from exc
        raise
    return iter([_output_file(bucket, blob) for blob in blobs])


def _output_file(bucket: str, blob: Any) -> OutputFile:
    base = blob.name.rsplit("/", 1)[-1]
    stem, _, ext = base.partition(".")
    kind: FileKind = "other"
    if stem.startswith("predictions"):
        kind = "predictions"
    elif stem.startswith("errors"):
        kind = "errors"
    return OutputFile(
        uri=f"gs://{bucket}/{blob.name}",
        bucket=bucket,
        name=blob.name,
        kind=kind,
        format=ext.lower(),
        size_bytes=int(blob.size or 0),
        blob=blob,
    )


def iter_predictions(
    event_or_job: Any,
    *,
    include_errors: bool = False,
    client: Any = None,
    bigquery_client: Any = None,
    chunk_size_bytes: int = DEFAULT_CHUNK_SIZE_BYTES,
    decode_json_cells: bool = True,
) -> Iterator[dict[str, Any]]:
    """Stream every output row of a finished job: predictions files, then errors files.

    Cloud Storage output is read file by file, chunk by chunk. A job with BigQuery output
    (``outputInfo.bigqueryOutputTable``, no ``gcsOutputDirectory``) is read with
    google-cloud-bigquery (``pip install 'vertex-batch-queue[bigquery]'``).

    Args:
        event_or_job: a ``JobEvent``, ``Submission`` or job resource dict.
        include_errors: also yield the rows of ``errors_*`` files (``{"instance", "error"}``)
            or of the BigQuery ``errors`` table.
        client: a storage client (default: :func:`storage_client`).
        bigquery_client: a ``google.cloud.bigquery.Client`` for BigQuery output.
        chunk_size_bytes: bytes fetched per ranged read.
        decode_json_cells: CSV cells holding JSON are parsed.

    Raises:
        OutputsError: the job is not readable or names no output (at call time, like the
            SDK); a file is malformed or a read fails (while iterating).
    """
    job = readable_job(event_or_job)
    info = job.get("outputInfo") or {}
    if not info.get("gcsOutputDirectory") and info.get("bigqueryOutputTable"):
        from vbq.outputs.bigquery import iter_bigquery_rows

        return iter_bigquery_rows(job, include_errors=include_errors, client=bigquery_client)
    files = list(iter_output_files(job, client=client))
    kinds = ("predictions", "errors") if include_errors else ("predictions",)
    ordered = [f for kind in kinds for f in files if f.kind == kind]
    return _chain_rows(ordered, chunk_size_bytes, decode_json_cells)


def _chain_rows(
    files: list[OutputFile], chunk_size_bytes: int, decode_json_cells: bool
) -> Iterator[dict[str, Any]]:
    for file in files:
        yield from file.iter_rows(
            chunk_size_bytes=chunk_size_bytes, decode_json_cells=decode_json_cells
        )


def iter_gemini_rows(event_or_job: Any, **kwargs: Any) -> Iterator[GeminiRow]:
    """:func:`iter_predictions` of a Gemini job, each row as a :class:`GeminiRow`.

    Raises:
        OutputsError: as :func:`iter_predictions`.
    """
    return (GeminiRow(row) for row in iter_predictions(event_or_job, **kwargs))


def _is_google_error(exc: Exception) -> bool:
    from google.api_core.exceptions import GoogleAPIError

    # requests' connection errors surface from the storage client's transport as well.
    return isinstance(exc, GoogleAPIError | ConnectionError) or type(exc).__module__.startswith(
        ("requests.", "urllib3.", "google.resumable_media")
    )
