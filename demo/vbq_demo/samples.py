"""Sample inputs and job requests of the demo.

Two input sets go to the storage emulator: instances for custom models (one JSON object per
line) and Gemini batch requests (``{"request": {"contents": [{"role": "user", "parts":
[{"text": ...}]}]}}`` per line). One file of each set holds a malformed line, so some outputs
carry error rows. :func:`job_requests` mixes custom model ids and Gemini over those files and
marks a share of the jobs for a chained second stage.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DEMO_TENANTS",
    "GEMINI_MODEL",
    "SampleFile",
    "job_requests",
    "sample_files",
    "upload_samples",
]

GEMINI_MODEL = "publishers/google/models/gemini-2.0-flash-001"
DEMO_TENANTS = ("search", "ads", "recs")
"""The services the demo's jobs come from (the console shows who uses the quota)."""
_TENANT_WEIGHTS = (5, 3, 2)
_CUSTOM_MODEL_IDS = ("1843091234567890123", "7310000000000000042", "5550000000000000777")
_TOPICS = (
    "the tides",
    "a lighthouse keeper",
    "queueing theory",
    "rate limits",
    "a paper boat",
    "idempotency",
    "the night train",
    "a quiet library",
)
_FILES_PER_SET = 4
_LINES_PER_FILE = 6


@dataclass(frozen=True, kw_only=True)
class SampleFile:
    """One input object.

    Attributes:
        name: object name inside the bucket.
        kind: ``custom`` or ``gemini``.
        data: the JSON lines.
    """

    name: str
    kind: str
    data: bytes

    def uri(self, bucket: str) -> str:
        """``gs://{bucket}/{name}``."""
        return f"gs://{bucket}/{self.name}"


def sample_files() -> list[SampleFile]:
    """The demo's input files (deterministic)."""
    files: list[SampleFile] = []
    for k in range(_FILES_PER_SET):
        custom = [
            json.dumps({"id": f"c{k}-{i}", "values": [k, i, k * i], "tag": _TOPICS[(k + i) % 8]})
            for i in range(_LINES_PER_FILE)
        ]
        gemini = [
            json.dumps(
                {
                    "request": {
                        "contents": [
                            {
                                "role": "user",
                                "parts": [
                                    {"text": f"Write two lines about {_TOPICS[(k * 3 + i) % 8]}."}
                                ],
                            }
                        ]
                    }
                }
            )
            for i in range(_LINES_PER_FILE)
        ]
        if k == _FILES_PER_SET - 1:
            # A broken line: the custom model writes an errors_ file, Gemini a failed row.
            custom.append('{"id": "broken", "values": [1, 2')
            gemini.append('{"request": {"contents": []}}')
        files.append(
            SampleFile(
                name=f"inputs/custom/part-{k:02d}.jsonl",
                kind="custom",
                data=("\n".join(custom) + "\n").encode(),
            )
        )
        files.append(
            SampleFile(
                name=f"inputs/gemini/prompts-{k:02d}.jsonl",
                kind="gemini",
                data=("\n".join(gemini) + "\n").encode(),
            )
        )
    return files


def upload_samples(*, storage_host: str, bucket: str, files: list[SampleFile]) -> list[str]:
    """Upload ``files`` to the storage emulator at ``storage_host``; return their URIs.

    Raises:
        google.api_core.exceptions.GoogleAPIError: the emulator refused an upload.
    """
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    client = storage.Client(
        project="vbq-demo",
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options={"api_endpoint": storage_host},
    )
    try:
        target = client.bucket(bucket)
        if not target.exists():
            target = client.create_bucket(bucket)
        for f in files:
            target.blob(f.name).upload_from_string(f.data, content_type="application/jsonl")
    finally:
        client.close()
    return [f.uri(bucket) for f in files]


def job_requests(
    *,
    count: int,
    project: str,
    location: str,
    bucket: str,
    run_id: str,
    chain_share: float = 0.25,
    gemini_share: float = 0.5,
    seed: int = 11,
) -> list[dict[str, Any]]:
    """``count`` submit() keyword dicts: custom models and Gemini, some marked for chaining.

    Each dict holds the SDK's keyword arguments plus ``metadata`` (``demo_chain`` True for
    about ``chain_share`` of the jobs), ``tenant`` (one of :data:`DEMO_TENANTS`, half of the
    jobs ``search``) and labels ``demo-run`` = ``run_id``, ``demo-stage`` = 1.
    """
    rng = random.Random(seed)
    # Tenants from their own generator, so the rest of the mix is what it was without them.
    tenant_rng = random.Random(seed + 1)
    files = sample_files()
    custom = [f for f in files if f.kind == "custom"]
    gemini = [f for f in files if f.kind == "gemini"]
    out: list[dict[str, Any]] = []
    for i in range(count):
        use_gemini = rng.random() < gemini_share
        source = (gemini if use_gemini else custom)[i % _FILES_PER_SET]
        if use_gemini:
            model = GEMINI_MODEL
        else:
            model_id = _CUSTOM_MODEL_IDS[i % len(_CUSTOM_MODEL_IDS)]
            model = f"projects/{project}/locations/{location}/models/{model_id}"
        out.append(
            {
                "job_display_name": f"demo-{run_id}-{i:04d}",
                "model_name": model,
                "gcs_source": source.uri(bucket),
                "instances_format": "jsonl",
                "predictions_format": "jsonl",
                "gcs_destination_prefix": f"gs://{bucket}/outputs/stage1",
                "labels": {"demo-run": run_id, "demo-stage": "1"},
                "metadata": {"demo_index": i, "demo_chain": rng.random() < chain_share},
                "tenant": tenant_rng.choices(DEMO_TENANTS, weights=_TENANT_WEIGHTS)[0],
            }
        )
    return out
