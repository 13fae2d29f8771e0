"""Assemble the emulator: broker + gRPC server (+ optional admin HTTP endpoint)."""

from __future__ import annotations

from concurrent import futures
from pathlib import Path

import grpc

from vbq.logs import get_logger
from vbq_emulators.errors import EmulatorConfigError
from vbq_emulators.pubsub.admin import AdminServer
from vbq_emulators.pubsub.broker import Broker
from vbq_emulators.pubsub.service import handlers

__all__ = ["PubSubEmulatorServer"]

log = get_logger(__name__)

MAX_MESSAGE_BYTES = 20 * 1024 * 1024
"""Largest gRPC message accepted or sent (Google's Publish limit is 10 MB of data)."""


class PubSubEmulatorServer:
    """A Pub/Sub emulator listening on ``host:port``.

    Args:
        host: interface to bind (``127.0.0.1``).
        port: gRPC port; 0 picks a free one (read :attr:`port` after :meth:`start`).
        data_file: journal file for persistence across restarts (``None``: memory only).
        admin_port: port of the HTTP stats endpoint; ``None`` disables it, 0 picks one.
        max_workers: gRPC handler threads; each open StreamingPull holds one for its whole
            life, so this must stay well above the number of concurrent subscribers (threads
            are created on demand).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        data_file: Path | None = None,
        admin_port: int | None = None,
        max_workers: int = 256,
    ) -> None:
        self.host = host
        self.port = port
        self.broker = Broker(journal_path=data_file)
        self._grpc = grpc.server(
            futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="pubsub-rpc"),
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.so_reuseport", 0),
            ],
        )
        self._grpc.add_generic_rpc_handlers(handlers(self.broker))
        self._admin = (
            AdminServer(self.broker, host=host, port=admin_port) if admin_port is not None else None
        )

    @property
    def admin_port(self) -> int | None:
        """The admin endpoint's port, or ``None`` when disabled."""
        return self._admin.port if self._admin is not None else None

    def start(self) -> None:
        """Bind and start serving.

        Raises:
            EmulatorConfigError: the port could not be bound.
        """
        try:
            bound = self._grpc.add_insecure_port(f"{self.host}:{self.port}")
        except RuntimeError as err:
            raise EmulatorConfigError(f"cannot listen on {self.host}:{self.port}: {err}") from err
        if bound == 0:
            raise EmulatorConfigError(f"cannot listen on {self.host}:{self.port}")
        self.port = bound
        self.broker.start()
        self._grpc.start()
        if self._admin is not None:
            self._admin.start()
        log.info(
            "pubsub_emulator_listening", host=self.host, port=self.port, admin_port=self.admin_port
        )

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the server stops (or ``timeout_s`` passes); True when it stopped."""
        return bool(self._grpc.wait_for_termination(timeout=timeout_s))

    def stop(self, grace_s: float = 2.0) -> None:
        """End streams (clients reconnect elsewhere), stop serving, close the journal."""
        self.broker.stop()
        self._grpc.stop(grace_s).wait()
        if self._admin is not None:
            self._admin.stop()
        self.broker.close()
        log.info("pubsub_emulator_stopped", port=self.port)
