"""The ``labctl`` commands that start servers: ``catalog serve``, ``queue manager`` and ``queue http``.

Each checks what it can first (profile, catalog, Redis, API key) and says what is wrong in one line, then
runs in the foreground until Ctrl-C.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from labctl.app.cli.common import DataDirOpt, ProfileOpt, app, catalog_app, fail, load_lab_profile
from labctl.app.services import queue

queue_app = typer.Typer(no_args_is_help=True, help="The queue server (bluesky-queueserver) of this instrument PC.")
app.add_typer(queue_app, name="queue")

HostOpt = Annotated[str, typer.Option("--host", help="interface to listen on (default: this PC only)")]
PortOpt = Annotated[int, typer.Option("--port", min=1, max=65535)]


def _lab(profile: Path | None, data_dir: Path | None):
    """The profile and data directory as every other command resolves them."""
    from labctl.storage import data_dir as resolve_data_dir

    prof = load_lab_profile(profile)
    where = Path(data_dir).expanduser() if data_dir is not None else resolve_data_dir(prof.lab.get("data_dir"))
    return prof, where


def _key():
    from labctl.app.services.keys import ApiKeyError, api_key

    try:
        return api_key()
    except ApiKeyError as exc:
        raise fail(str(exc)) from None


@catalog_app.command("serve")
def catalog_serve(host: HostOpt = "127.0.0.1", port: PortOpt = 8000,
                  profile: ProfileOpt = None, data_dir: DataDirOpt = None) -> None:
    """Serve the catalog of stored runs (Tiled) to holders of an API key ($LABCTL_API_KEY, else a new one)."""
    from labctl.app.services.catalog_server import serve
    from labctl.storage.location import CatalogError, CatalogLocation

    prof, where = _lab(profile, data_dir)
    key = _key()
    try:
        location = CatalogLocation.of(where, prof.lab.get("catalog"))
        location.check_reachable()
    except CatalogError as exc:
        raise fail(str(exc), 1) from None
    try:
        serve(location, key, host=host, port=port, announce=lambda line: typer.echo(line))
    except KeyboardInterrupt:
        pass


@queue_app.command("manager")
def queue_manager(redis: Annotated[str, typer.Option("--redis", help="Redis server host:port")] = queue.DEFAULT_REDIS,
                  host: HostOpt = queue.DEFAULT_HOST,
                  control_port: Annotated[int, typer.Option("--control-port", min=1, max=65535)] = queue.CONTROL_PORT,
                  info_port: Annotated[int, typer.Option("--info-port", min=1, max=65535)] = queue.INFO_PORT,
                  profile: ProfileOpt = None, data_dir: DataDirOpt = None) -> None:
    """Run bluesky-queueserver's RE Manager on this lab (`qserver environment open` brings the lab up)."""
    prof, where = _lab(profile, data_dir)
    reason = _redis_problem(redis)
    if reason:
        raise fail(f"cannot reach Redis at {redis}: {reason}", 1)
    command = queue.manager(profile=Path(prof.path), data_dir=where, redis=redis, host=host,
                            control_port=control_port, info_port=info_port)
    typer.echo(f"queue server for {prof.name!r} on {queue.zmq_address(host, control_port)} (Redis {redis}, "
               f"data in {where})")
    raise typer.Exit(command.run())


@queue_app.command("http")
def queue_http(host: HostOpt = queue.DEFAULT_HOST,
               port: PortOpt = queue.HTTP_PORT,
               manager_host: Annotated[str, typer.Option("--manager-host", help="where the RE Manager runs")]
               = queue.DEFAULT_HOST,
               control_port: Annotated[int, typer.Option("--control-port", min=1, max=65535)] = queue.CONTROL_PORT,
               info_port: Annotated[int, typer.Option("--info-port", min=1, max=65535)] = queue.INFO_PORT) -> None:
    """Run bluesky-httpserver in front of the queue server, for holders of an API key."""
    from labctl.app.services.catalog_server import is_loopback

    key = _key()
    command = queue.http_server(key, host=host, port=port, manager_host=manager_host, control_port=control_port,
                                info_port=info_port)
    shown = f"[{host}]" if ":" in host else host
    typer.echo(f"queue server HTTP API at http://{shown}:{port}/api ({key.announce()})")
    if not is_loopback(host):
        typer.echo(f"listening on {host}: reachable from other machines by whoever has the key")
    raise typer.Exit(command.run())


def _redis_problem(address: str, timeout: float = 3.0) -> str | None:
    """Why Redis at ``host:port`` does not answer, or None."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    hostport = address.removeprefix("redis://").split("/", 1)[0]  # the queue server also takes host:port/db
    host, _, port = hostport.rpartition(":") if ":" in hostport else (hostport, "", "6379")
    try:
        client = redis.Redis(host=host or "localhost", port=int(port or 6379), socket_timeout=timeout,
                             socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0))  # one try: say it now
        client.ping()
        client.close()
    except ValueError:
        return "the port is not a number"
    except redis.RedisError as exc:
        return (str(exc).splitlines() or [type(exc).__name__])[0]
    return None
