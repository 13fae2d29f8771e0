"""Rebuild ``vbq/requests/_descriptors.py`` from the installed google-cloud-aiplatform.

vbq checks every request added with ``Client.add_request`` against Google's own
``google.cloud.aiplatform.v1.GenerateContentRequest`` without depending on the aiplatform
package at run time: this script snapshots the descriptor of the file that defines it (with
every file it imports) into a base64 constant.

Run ``.venv/bin/python -m tests.unit.requests.descriptor_set`` after upgrading the SDK; the unit
test ``test_descriptors_match_installed_sdk`` fails until the snapshot is refreshed.
"""

from __future__ import annotations

import base64
import textwrap
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2

TARGET = Path(__file__).resolve().parents[3] / "vbq" / "requests" / "_descriptors.py"


def _closure(file_descriptor: Any, seen: dict[str, Any]) -> None:
    if file_descriptor.name in seen:
        return
    for dependency in file_descriptor.dependencies:
        _closure(dependency, seen)
    seen[file_descriptor.name] = file_descriptor


def build_descriptor_set() -> bytes:
    """Serialized ``FileDescriptorSet`` of GenerateContentRequest's file, dependencies first."""
    # proto-plus adds messages to a file's descriptor as their modules are imported: import
    # the whole SDK first, so the snapshot does not depend on what was imported before.
    import google.cloud.aiplatform
    import google.cloud.aiplatform_v1  # noqa: F401
    from google.cloud.aiplatform_v1.types import GenerateContentRequest

    seen: dict[str, Any] = {}
    _closure(GenerateContentRequest.pb().DESCRIPTOR.file, seen)
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


def render_module(data: bytes) -> str:
    """The text of ``vbq/requests/_descriptors.py`` holding ``data``."""
    from google.cloud import aiplatform

    encoded = base64.b64encode(data).decode("ascii")
    lines = "\n".join(f'    "{chunk}"' for chunk in textwrap.wrap(encoded, 88))
    return (
        '"""Generated: Google\'s GenerateContentRequest descriptors (v1).\n\n'
        f"Snapshot of google-cloud-aiplatform {aiplatform.__version__}. Do not edit; rebuild with\n"
        "``.venv/bin/python -m tests.unit.requests.descriptor_set``.\n"
        '"""\n\n'
        f'SDK_VERSION = "{aiplatform.__version__}"\n\n'
        f"DESCRIPTOR_SET_B64 = (\n{lines}\n)\n"
    )


if __name__ == "__main__":
    TARGET.write_text(render_module(build_descriptor_set()), encoding="utf-8")
    print(f"wrote {TARGET}")
