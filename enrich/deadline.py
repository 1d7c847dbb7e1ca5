"""An overall deadline for a conversation over sockets: a watchdog that shuts them down when it passes.

A socket timeout bounds each read, so a server that trickles its answer a byte at a time (an SMTP
greeting, an HTTP status line or headers) is never timed out by it. :class:`SocketDeadline` is the
bound on the whole exchange: every socket it watches is shut down (``SHUT_RDWR``) when ``seconds``
pass before :meth:`SocketDeadline.stop`, so whatever read or write is blocked returns at once, and
:attr:`SocketDeadline.fired` tells the caller why. The morning e-mail (``enrich/mail.py``) and the CRM
push (``enrich/webhook_client.py``) use it.
"""

from __future__ import annotations

import socket
import threading


class SocketDeadline:
    """A watchdog over the sockets of one exchange; a context manager that starts and stops it."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.fired = seconds, False
        self._sockets: list[socket.socket] = []
        self._stopped = False
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def __enter__(self) -> SocketDeadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def watch(self, sock: socket.socket | None) -> None:
        """Shut ``sock`` down too when the deadline passes (at once, when it has)."""
        if sock is None:
            return
        with self._lock:
            if self._stopped:
                return
            self._sockets.append(sock)
            if self.fired:
                _shut(sock)

    def stop(self) -> None:
        """Call before the sockets are closed: the watchdog never touches them (or their reused
        descriptors) afterwards."""
        self._timer.cancel()
        with self._lock:
            self._stopped = True
            self._sockets.clear()

    def _fire(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self.fired = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    try:  # the plain socket's shutdown, also for a TLS socket: its own would also drop its TLS state
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass  # already closed, or detached by its TLS wrapper
