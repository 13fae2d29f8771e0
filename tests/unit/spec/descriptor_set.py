"""Rebuild ``vbq/spec/descriptors.binpb`` (and ``descriptors.json``) from the installed SDK.

vbq validates job bodies and Gemini requests against Google's own message descriptors without
depending on the (large) aiplatform package at run time: this script snapshots the descriptors
of the v1 and v1beta1 ``BatchPredictionJob`` and of the v1 ``GenerateContentRequest`` (with
every file they import) into one serialized ``FileDescriptorSet``, package data that
:mod:`vbq.spec.protos` loads.

Run ``.venv/bin/python -m tests.unit.spec.descriptor_set`` after upgrading the SDK; the unit test
``test_descriptors_match_installed_sdk`` fails until the snapshot is refreshed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2

SPEC_DIR = Path(__file__).resolve().parents[3] / "vbq" / "spec"
TARGET = SPEC_DIR / "descriptors.binpb"
INFO = SPEC_DIR / "descriptors.json"


def _closure(file_descriptor: Any, seen: dict[str, Any]) -> None:
    if file_descriptor.name in seen:
        return
    for dependency in file_descriptor.dependencies:
        _closure(dependency, seen)
    seen[file_descriptor.name] = file_descriptor


def build_descriptor_set() -> bytes:
    """Serialized ``FileDescriptorSet`` of the snapshot's messages, dependencies first."""
    # proto-plus adds messages to a file's descriptor as their modules are imported: import
    # the whole SDK first, so the snapshot does not depend on what was imported before.
    import google.cloud.aiplatform
    import google.cloud.aiplatform_v1
    import google.cloud.aiplatform_v1beta1  # noqa: F401
    from google.cloud.aiplatform_v1.types import BatchPredictionJob as JobV1
    from google.cloud.aiplatform_v1.types import GenerateContentRequest
    from google.cloud.aiplatform_v1beta1.types import BatchPredictionJob as JobV1beta1

    seen: dict[str, Any] = {}
    for root in (JobV1, JobV1beta1, GenerateContentRequest):
        _closure(root.pb().DESCRIPTOR.file, seen)
    # proto-plus registers files in import order, so sort: by name, each after its dependencies.
    ordered: list[Any] = []
    done: set[str] = set()
    while len(ordered) < len(seen):
        for name in sorted(seen):
            deps = {d.name for d in seen[name].dependencies}
            if name not in done and deps <= done:
                ordered.append(seen[name])
                done.add(name)
                break
    file_set = descriptor_pb2.FileDescriptorSet()
    for file_descriptor in ordered:
        proto = file_set.file.add()
        proto.ParseFromString(file_descriptor.serialized_pb)
    return file_set.SerializeToString(deterministic=True)


def snapshot_info() -> str:
    """The text of ``descriptors.json``: where the snapshot came from."""
    from google.cloud import aiplatform

    info = {
        "sdk": "google-cloud-aiplatform",
        "sdk_version": aiplatform.__version__,
        "messages": [
            "google.cloud.aiplatform.v1.BatchPredictionJob",
            "google.cloud.aiplatform.v1beta1.BatchPredictionJob",
            "google.cloud.aiplatform.v1.GenerateContentRequest",
        ],
        "rebuild": ".venv/bin/python -m tests.unit.spec.descriptor_set",
    }
    return json.dumps(info, indent=2) + "\n"


if __name__ == "__main__":
    TARGET.write_bytes(build_descriptor_set())
    INFO.write_text(snapshot_info(), encoding="utf-8")
    print(f"wrote {TARGET} and {INFO}")
