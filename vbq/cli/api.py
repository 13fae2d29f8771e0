"""``vbq api`` (the HTTP API server) and ``vbq api-key create``."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["api", "api_key", "register"]


@click.command("api")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--keys-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Hashed API keys (YAML/JSON hash -> tenant); default VBQ_API_KEYS_FILE.",
)
def api(host: str, port: int, keys_file: str | None) -> None:
    """Serve the HTTP API (POST/GET /v1/submissions, OpenAPI at /openapi.json) and the web
    console (/console; sign in with an API key).

    The keys file is re-read when it changes: add or revoke keys without a restart."""
    import uvicorn

    from vbq.errors import ConfigError
    from vbq.logs import configure_logging
    from vbq.producers.api import ReloadingKeyRing, create_app
    from vbq.producers.client import Client
    from vbq.settings import Settings

    try:
        settings = Settings.from_env()
        configure_logging(log_format=settings.log_format, level=settings.log_level)
        path = keys_file or settings.api_keys_file
        if not path:
            raise ConfigError("no API keys: pass --keys-file or set VBQ_API_KEYS_FILE")
        keyring = ReloadingKeyRing(path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if not len(keyring):
        click.echo(f"warning: {path} holds no keys yet; requests get 401 until added", err=True)
    app = create_app(
        client=Client.from_settings(settings),
        keyring=keyring,
        max_body_bytes=settings.api_max_body_bytes,
    )
    from vbq.health import add_fastapi_routes
    from vbq.readiness import readiness_for_role

    add_fastapi_routes(app, readiness=readiness_for_role("api", settings))  # on the API port
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    click.echo(
        f"vbq api: http://{shown}:{port}/v1/submissions, console http://{shown}:{port}/console"
    )
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace_s),
    )


@click.group("api-key")
def api_key() -> None:
    """Manage API keys of the HTTP API."""


@api_key.command("create")
@click.option("--tenant", default=None, help="Tenant the key acts for.")
@click.option(
    "--admin",
    is_flag=True,
    help="An admin key instead: the console and reads see every tenant; it cannot submit.",
)
@click.option(
    "--append",
    "append_to",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also append the hash line to this keys file.",
)
def create_key(tenant: str | None, admin: bool, append_to: str | None) -> None:
    """Print a new random API key (shown once) and the line for the keys file."""
    from vbq.producers.api.auth import (
        ADMIN_TENANT,
        TENANT_PATTERN,
        generate_api_key,
        key_file_line,
    )

    if admin == (tenant is not None):
        raise click.UsageError("give exactly one of --tenant T and --admin")
    if admin:
        tenant = ADMIN_TENANT
    assert tenant is not None
    if not admin and not TENANT_PATTERN.fullmatch(tenant):
        raise click.BadParameter(f"must match {TENANT_PATTERN.pattern}", param_hint="--tenant")
    key = generate_api_key()
    line = key_file_line(key, tenant)
    click.echo(f"api key (shown once, store it now): {key}")
    click.echo(f"keys file line: {line}")
    if append_to:
        file = Path(append_to)
        needs_newline = (
            file.exists() and not file.read_text().endswith("\n") and file.stat().st_size
        )
        with file.open("a", encoding="utf-8") as handle:
            handle.write(("\n" if needs_newline else "") + line + "\n")
        click.echo(f"appended to {file}", err=True)


def register(group: click.Group) -> None:
    """Attach ``vbq api`` and ``vbq api-key`` to the root group."""
    group.add_command(api)
    group.add_command(api_key)
