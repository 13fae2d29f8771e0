"""``vbq emulator pubsub``: run the Pub/Sub emulator in the foreground until SIGTERM/SIGINT."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType

import click

from vbq.logs import configure_logging
from vbq.settings import Settings
from vbq_emulators.errors import EmulatorConfigError
from vbq_emulators.pubsub.server import PubSubEmulatorServer

__all__ = ["command"]


@click.command("pubsub")
@click.option("--port", type=int, required=True, help="gRPC port (PUBSUB_EMULATOR_HOST=host:port).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option(
    "--data-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Journal file: state survives restarts (also kill -9). Default: memory only.",
)
@click.option(
    "--admin-port",
    type=int,
    default=None,
    help="HTTP port for GET /_emulator/stats (flow-control counters); off by default.",
)
def command(port: int, host: str, data_file: Path | None, admin_port: int | None) -> None:
    """Pub/Sub emulator (gRPC Publisher + Subscriber) for google-cloud-pubsub clients."""
    settings = Settings.from_env()
    configure_logging(log_format=settings.log_format, level=settings.log_level)
    try:
        server = PubSubEmulatorServer(
            host=host, port=port, data_file=data_file, admin_port=admin_port
        )
        server.start()
    except (EmulatorConfigError, OSError) as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"pubsub emulator on {host}:{server.port}", err=True)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while not stop.wait(0.5):
        pass
    server.stop()
