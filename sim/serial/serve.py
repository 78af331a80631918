"""Serve a protocol simulator over TCP or on a pseudo-terminal.

TCP is how a serial-device server looks to a driver (``socket://host:port``); the pseudo-terminal gives a
device path for clients that insist on one (POSIX only: this is the one place labctl uses os.openpty).
"""

from __future__ import annotations

import os
import socket
import socketserver
import threading

from labctl.sim.serial.core import ProtocolCore


class TcpServer:
    """A threaded TCP server on loopback; ``port=0`` picks a free port (see :attr:`url`)."""

    def __init__(self, core: ProtocolCore, host: str = "127.0.0.1", port: int = 0):
        self.core = core

        class Handler(socketserver.BaseRequestHandler):
            def handle(inner):  # noqa: N805 (self is the server, outside)
                sock = inner.request
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                while True:
                    try:
                        data = sock.recv(4096)
                    except OSError:
                        return
                    if not data:
                        return
                    try:
                        reply = core.feed(data)
                    except ConnectionError:
                        sock.close()  # the fault: drop the line
                        return
                    if reply:
                        try:
                            sock.sendall(reply)
                        except OSError:
                            return

        class Server(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True

        self._server = Server((host, port), Handler)
        self.host, self.port = self._server.server_address[:2]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name=f"sim-tcp-{core.name}")

    @property
    def url(self) -> str:
        return f"socket://{self.host}:{self.port}"

    def start(self) -> TcpServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class PtyServer:
    """The simulator behind a pseudo-terminal; clients open :attr:`path` like a serial port."""

    def __init__(self, core: ProtocolCore):
        import tty

        self.core = core
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        tty.setraw(self._master)
        self.path = os.ttyname(self._slave)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._pump, daemon=True, name=f"sim-pty-{core.name}")

    def _pump(self) -> None:
        import select

        while not self._stop.is_set():
            ready, _, _ = select.select([self._master], [], [], 0.05)
            if not ready:
                continue
            try:
                data = os.read(self._master, 4096)
            except OSError:
                return
            try:
                reply = self.core.feed(data)
            except ConnectionError:
                continue  # a dropped line on a pty: nothing comes back
            if reply:
                os.write(self._master, reply)

    def start(self) -> PtyServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1)
        for fd in (self._master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
