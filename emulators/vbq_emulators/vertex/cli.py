"""``vbq emulator vertex``: run the Vertex AI batch prediction emulator in the foreground."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType

import click

from vbq.logs import configure_logging, get_logger
from vbq_emulators.errors import EmulatorConfigError
from vbq_emulators.vertex.config import EmulatorConfig
from vbq_emulators.vertex.server import VertexEmulator

__all__ = ["command"]


@click.command("vertex")
@click.option("--port", type=int, required=True, help="TCP port to listen on.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option(
    "--time-scale",
    type=float,
    default=None,
    help="Multiply every lifecycle duration (queued_s, run_s, ...); 0.01 in tests.",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="JSON file of timing and fault settings (see vbq_emulators.vertex.config).",
)
def command(port: int, host: str, time_scale: float | None, config_file: Path | None) -> None:
    """Serve the Vertex AI v1 batchPredictionJobs REST API on HOST:PORT.

    Point Google's SDK at it with aiplatform.init(api_transport="rest",
    api_endpoint="http://HOST:PORT", credentials=AnonymousCredentials()), and set
    STORAGE_EMULATOR_HOST for gs:// inputs and outputs.
    """
    configure_logging()
    log = get_logger("vbq.emulator.vertex")
    try:
        config = EmulatorConfig.from_file(config_file) if config_file else EmulatorConfig()
        if time_scale is not None:
            config = config.merged({"time_scale": time_scale})
    except EmulatorConfigError as exc:
        raise click.UsageError(str(exc)) from exc
    emulator = VertexEmulator(host=host, port=port, config=config)

    def _stop(signum: int, _frame: FrameType | None) -> None:
        # shutdown() blocks until serve_forever returns, so it must run on another thread.
        threading.Thread(target=emulator.stop, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    log.info("vertex emulator listening", url=emulator.url, time_scale=config.time_scale)
    emulator.serve_forever()
    log.info("vertex emulator stopped")
