"""structlog, configured once per process.

JSON lines when stderr is not a terminal (production), readable console output on a terminal.
Every line passes through a redaction step, so bearer tokens, key-looking values and URL
passwords never reach a log. Per-job context (``submission_id``, then ``job_name``) is bound with
:func:`bind_job` and carried by contextvars into every line logged inside the block.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any, TextIO

import structlog

from vbq.redaction import redact_mapping

__all__ = ["bind_job", "configure_logging", "get_logger"]

_configured = False


def _redact(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    return redact_mapping(event_dict)


def configure_logging(
    *,
    log_format: str = "auto",
    level: str = "INFO",
    stream: TextIO | None = None,
    force: bool = False,
) -> None:
    """Configure structlog and the standard library's root logger (once per process).

    Args:
        log_format: ``json``, ``console`` or ``auto`` (console when ``stream`` is a terminal).
        level: minimum level name (``DEBUG``, ``INFO``, ...).
        stream: where lines go (default: ``sys.stderr``).
        force: configure again even if already configured (tests).
    """
    global _configured
    if _configured and not force:
        return
    out = stream or sys.stderr
    use_console = log_format == "console" or (log_format == "auto" and out.isatty())
    level_no = logging.getLevelName(level.upper())
    if not isinstance(level_no, int):
        level_no = logging.INFO
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        _redact,
    ]
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=out.isatty())
        if use_console
        else structlog.processors.JSONRenderer(sort_keys=False)
    )
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level_no),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        # Never cached: a later configure_logging (a CLI option, a test) must reach every logger
        # that modules created at import time.
        cache_logger_on_first_use=False,
    )
    # Libraries using stdlib logging (celery, httpx, google) go through the same redaction.
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processor=renderer,
            foreign_pre_chain=[
                structlog.stdlib.add_log_level,
                structlog.stdlib.add_logger_name,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                structlog.processors.format_exc_info,
                _redact,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level_no)
    for noisy in ("httpx", "httpcore", "urllib3", "google.auth", "grpc"):
        logging.getLogger(noisy).setLevel(max(level_no, logging.WARNING))
    _configured = True


def get_logger(name: str | None = None, **initial: Any) -> Any:
    """A structlog logger with optional initial context."""
    logger = structlog.get_logger(name)
    return logger.bind(**initial) if initial else logger


@contextmanager
def bind_job(submission_id: str, job_name: str | None = None) -> Iterator[None]:
    """Bind ``submission_id`` (and ``job_name`` when known) to every log line inside the block."""
    values: dict[str, Any] = {"submission_id": submission_id}
    if job_name:
        values["job_name"] = job_name
    with structlog.contextvars.bound_contextvars(**values):
        yield
