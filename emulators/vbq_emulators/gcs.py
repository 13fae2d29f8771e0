"""``vbq emulator gcs``: a local Cloud Storage (JSON API) on gcp-storage-emulator.

Google's storage client talks to it when ``STORAGE_EMULATOR_HOST=http://127.0.0.1:PORT`` is
set (create buckets, upload, list, download). Without ``--data-dir`` objects live in memory;
with it they persist under ``DIR/.cloudstorage``.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from types import FrameType

import click

from vbq.logs import configure_logging, get_logger

__all__ = ["command"]


@click.command("gcs")
@click.option("--port", type=int, required=True, help="TCP port to listen on.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep objects in this folder (default: in memory).",
)
@click.option("--default-bucket", default=None, help="Create this bucket at start.")
def command(port: int, host: str, data_dir: Path | None, default_bucket: str | None) -> None:
    """Serve a Cloud Storage emulator on HOST:PORT (set STORAGE_EMULATOR_HOST to use it)."""
    from gcp_storage_emulator.server import create_server

    configure_logging()
    log = get_logger("vbq.emulator.gcs")
    if data_dir is not None:
        data_dir = data_dir.resolve()
        data_dir.mkdir(parents=True, exist_ok=True)
    server = create_server(
        host,
        port,
        in_memory=data_dir is None,
        default_bucket=default_bucket,
        data_dir=str(data_dir) if data_dir else None,
    )
    stopped = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    server.start()
    log.info("gcs emulator listening", host=f"http://{host}:{port}", data_dir=str(data_dir or ""))
    while not stopped.is_set():
        time.sleep(0.1)
    server.stop()
    log.info("gcs emulator stopped")
