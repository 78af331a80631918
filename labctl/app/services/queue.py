"""The queue server for one instrument PC: bluesky-queueserver's RE Manager on labctl's startup module, and
bluesky-httpserver in front of it for remote control.

Both are the ecosystem's own programs; this module only starts them with labctl's arguments: the startup
module :mod:`labctl.app.queueserver`, the lab's profile and data directory for the worker, the packaged user
permissions, 0MQ and HTTP on the loopback interface unless told otherwise, and an API key for HTTP
(:mod:`labctl.app.services.keys`). Closing the environment (``qserver environment close``) ends the worker
and the session in it, which leaves the instruments safe: do that before stopping the manager.
"""

from __future__ import annotations

import importlib.resources
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path

from labctl.app.services.keys import ApiKey

STARTUP_MODULE = "labctl.app.queueserver"
DEFAULT_HOST = "127.0.0.1"
CONTROL_PORT = 60615  # the queue server's own defaults, so `qserver` and the HTTP server find it
INFO_PORT = 60625
HTTP_PORT = 60610
DEFAULT_REDIS = "127.0.0.1:6379"
EXISTING_PLANS_FILE = "existing_plans_and_devices.yaml"


def permissions_file() -> Path:
    """The packaged user-group permissions: every plan and device of the startup module, for every user."""
    return Path(str(importlib.resources.files("labctl.app.services").joinpath("queue_permissions.yaml")))


def _script(name: str) -> list[str]:
    """The command running console script *name* of this Python environment, on any platform."""
    (ep,) = entry_points(group="console_scripts", name=name)
    module, func = ep.value.split(":")
    return [sys.executable, "-c", f"import sys; from {module} import {func}; sys.exit({func}())"]


def zmq_address(host: str, port: int) -> str:
    """A 0MQ TCP address as the queue server and its clients write it."""
    return f"tcp://{host}:{port}"


@dataclass
class Command:
    """A server's command line and the environment it needs on top of this process's."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)

    def run(self) -> int:
        """Run in the foreground until it ends or this process is interrupted or terminated; the exit code.
        On SIGTERM or Ctrl-C the server is asked to stop and waited for, never left behind."""
        proc = subprocess.Popen(self.argv, env={**os.environ, **self.env})

        def stop(signum, frame):
            raise KeyboardInterrupt

        previous = signal.signal(signal.SIGTERM, stop)
        try:
            return proc.wait()
        except KeyboardInterrupt:
            _stop(proc)
            return 130
        finally:
            signal.signal(signal.SIGTERM, previous)
            if proc.poll() is None:
                _stop(proc)


def _stop(proc: subprocess.Popen, grace: float = 20.0) -> None:
    try:
        if os.name == "posix":
            proc.send_signal(signal.SIGINT)  # what Ctrl-C would send: the server shuts down in order
        else:
            proc.terminate()
        proc.wait(grace)
    except (subprocess.TimeoutExpired, OSError):
        proc.kill()
        proc.wait()


def manager(*, profile: Path | None, data_dir: Path, redis: str = DEFAULT_REDIS, host: str = DEFAULT_HOST,
            control_port: int = CONTROL_PORT, info_port: int = INFO_PORT) -> Command:
    """``start-re-manager`` for the lab of *profile* (the built-in one if None), storing into *data_dir*."""
    state = Path(data_dir) / "queueserver"
    state.mkdir(parents=True, exist_ok=True)
    argv = _script("start-re-manager") + [
        "--startup-module", STARTUP_MODULE,
        "--existing-plans-devices", str(state / EXISTING_PLANS_FILE),
        "--update-existing-plans-devices", "ENVIRONMENT_OPEN",
        "--user-group-permissions", str(permissions_file()),
        "--redis-addr", redis,
        "--zmq-control-addr", zmq_address(host, control_port),
        "--zmq-info-addr", zmq_address(host, info_port),
        "--zmq-publish-console", "ON",
    ]
    env = {"LABCTL_DATA": str(Path(data_dir).resolve())}
    if profile is not None:
        env["LABCTL_PROFILE"] = str(Path(profile).resolve())
    return Command(argv, env)


def http_server(key: ApiKey, *, host: str = DEFAULT_HOST, port: int = HTTP_PORT, manager_host: str = DEFAULT_HOST,
                control_port: int = CONTROL_PORT, info_port: int = INFO_PORT) -> Command:
    """``start-bluesky-httpserver`` in front of the RE Manager at *manager_host*, open to holders of *key*."""
    argv = _script("start-bluesky-httpserver") + ["--host", host, "--port", str(port)]
    env = {"QSERVER_HTTP_SERVER_SINGLE_USER_API_KEY": key.value,
           "QSERVER_ZMQ_CONTROL_ADDRESS": zmq_address(manager_host, control_port),
           "QSERVER_ZMQ_INFO_ADDRESS": zmq_address(manager_host, info_port)}
    return Command(argv, env)
