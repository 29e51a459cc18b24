"""Realtime layer: the Socket.IO server class and engine.io's WebSocket, adapted to this server.

Two changes to the libraries' behaviour, both at the transport and nowhere else:

- WebSocket frames are not compressed (see `TransportWebSocket`).
- A packet the server cannot parse ends its connection at once. python-engineio lets a text
  frame it cannot decode escape its read loop, which leaves the connection open, its seat
  taken and the other participant waiting for the ping timeout (about a minute); a
  long-polling body or a Socket.IO packet it cannot decode is logged with a traceback and
  the connection carries on.
  Here either one closes the connection with the reason `malformed packet` (so the
  participant's seat is freed and the other side hears `peer_left` at once), logged once per
  connection, without a traceback or any of what the client sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any
from urllib.parse import parse_qs

import orjson
import socketio
from aiohttp import WSCloseCode, web
from engineio import packet as engineio_packet
from engineio import payload as engineio_payload
from engineio.async_drivers import aiohttp as engineio_aiohttp

log = logging.getLogger("telehealth.signaling")

# The disconnect reason a malformed packet gives (recorded in the call history).
MALFORMED = "malformed packet"
# What a packet that cannot be parsed raises in python-engineio and python-socketio: bad
# JSON, an unknown packet type, a short or mistyped event, unexpected binary attachments.
_PARSE_ERRORS = (ValueError, TypeError, LookupError)


async def drop_malformed(socket: Any, layer: str) -> None:
    """End an engine.io connection whose client sent a packet that cannot be parsed.

    The disconnect handlers run first (the seat is freed), then the writer is told to stop,
    which closes the WebSocket (or answers a pending long poll). Later packets of the same
    connection find it gone and are not logged again.
    """
    if socket.closed or socket.closing:
        return
    log.warning("signaling malformed packet", extra={"layer": layer, "eio_sid": socket.sid})
    await socket.close(wait=False, abort=True, reason=MALFORMED)
    # Gone from the server at once, as engine.io's own disconnect does: a later request of
    # this session is refused as unknown (400), not served from a closed socket.
    socket.server.sockets.pop(socket.sid, None)
    await socket.queue.put(None)


class TransportWebSocket(engineio_aiohttp.WebSocket):  # type: ignore[misc]  # untyped base
    """engine.io's aiohttp WebSocket, without permessage-deflate, that ends its connection on a
    text frame engine.io cannot decode.

    aiohttp's WebSocketResponse compresses every frame when the browser offers it (all do);
    for small signaling messages that costs CPU and saves little. Node's socket.io server
    does not compress by default either.
    """

    async def __call__(self, environ: dict[str, Any]) -> web.WebSocketResponse:
        request = environ["aiohttp.request"]
        sock = web.WebSocketResponse(max_msg_size=self.server.max_http_buffer_size, compress=False)
        self._sock = sock
        await sock.prepare(request)
        self.environ = environ
        live: set[web.WebSocketResponse] = self.server.telehealth_websockets
        live.add(sock)
        try:
            await self.handler(self)
        finally:
            live.discard(sock)
        return sock

    async def wait(self) -> str | bytes:
        data: str | bytes = await super().wait()
        if isinstance(data, str):
            try:
                engineio_packet.Packet(encoded_packet=data)
            except _PARSE_ERRORS:
                # engine.io's read loop would let this escape and leave the socket open. The
                # handler is the engine.io socket's bound method: that socket is ours to close.
                await drop_malformed(self.handler.__self__, "engine.io")
                # An OSError is how engine.io learns that the transport is gone.
                raise OSError(MALFORMED) from None
        return data


class _Body:
    """A request body already read, handed to engine.io in place of the stream."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    async def read(self, size: int = -1) -> bytes:
        data, self._data = self._data, b""
        return data


class _Json:
    """orjson where it gives the same answer as the standard library (which python-socketio
    uses by default), the standard library where orjson refuses: lone surrogates, NaN,
    integers beyond 64 bits. Parsing and writing were a tenth of a relayed signal's cost."""

    @staticmethod
    def dumps(obj: Any, **_options: Any) -> str:
        try:
            return orjson.dumps(obj).decode()
        except TypeError:
            return json.dumps(obj, separators=(",", ":"))

    @staticmethod
    def loads(text: str | bytes, **_options: Any) -> Any:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            return json.loads(text)


class _Packet(socketio.packet.Packet):  # type: ignore[misc]  # untyped base
    """Socket.IO packets in JSON via `_Json`. The server never sends bytes, so the walk of
    every outgoing payload looking for them (to switch to binary framing) is skipped."""

    json = _Json

    @classmethod
    def data_is_binary(cls, data: Any) -> bool:
        return False


class TransportServer(socketio.AsyncServer):  # type: ignore[misc]  # untyped base
    """python-socketio's server, ending a connection whose Socket.IO packet cannot be parsed
    instead of logging a traceback for each one. It uses `TransportWebSocket`."""

    def __init__(self, **options: Any) -> None:
        options.setdefault("serializer", _Packet)
        super().__init__(**options)
        # Per-server copy of the driver table, so other engine.io servers are unaffected.
        self.eio._async = {
            **self.eio._async,
            "websocket": TransportWebSocket,
            "translate_request": self._translate_request,
        }
        self.eio.telehealth_websockets = set()

    async def _translate_request(self, request: web.Request) -> dict[str, Any]:
        """engine.io's view of a request; a long-polling POST whose body engine.io cannot
        decode ends its connection here and reaches engine.io as an empty body."""
        environ: dict[str, Any] = engineio_aiohttp.translate_request(request)
        sid = parse_qs(request.query_string).get("sid", [""])[0]
        socket = self.eio.sockets.get(sid)
        if request.method != "POST" or socket is None:
            return environ
        if request.content_length is not None and (
            request.content_length > self.eio.max_http_buffer_size
        ):
            return environ  # engine.io refuses it unread (and closes the connection)
        body = await request.read()
        try:
            engineio_payload.Payload(encoded_payload=body.decode("utf-8"))
        except _PARSE_ERRORS:
            await drop_malformed(socket, "engine.io")
            body = b""
        environ["wsgi.input"] = _Body(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        return environ

    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        socket = self.eio.sockets.get(eio_sid)
        if socket is None or socket.closed or socket.closing:
            return  # dropped already: the rest of what it sent is not read
        try:
            await super()._handle_eio_message(eio_sid, data)
        except _PARSE_ERRORS:
            # The event handlers catch their own errors (and answer with an ack), so what
            # reaches here is python-socketio failing to read the packet itself.
            await drop_malformed(socket, "socket.io")

    async def drop_everyone(self) -> None:
        """On shutdown: drop every socket without a goodbye, so clients reconnect to the next
        server (a socket.io DISCONNECT would tell them not to)."""
        live: set[web.WebSocketResponse] = self.eio.telehealth_websockets
        # 1012 "service restart": the client reconnects.
        await asyncio.gather(
            *(ws.close(code=WSCloseCode.SERVICE_RESTART) for ws in list(live)),
            return_exceptions=True,
        )
        for socket in list(self.eio.sockets.values()):
            # Polling clients: end their sessions without a goodbye packet.
            with contextlib.suppress(Exception):
                await socket.close(wait=False, abort=True)

    async def close_manager(self) -> None:
        """Stop the client manager's Redis subscriber and close its connections (the
        manager runs its listener until cancelled and has no close of its own)."""
        listener = getattr(self.manager, "thread", None)
        if isinstance(listener, asyncio.Task):
            listener.cancel()
            with contextlib.suppress(BaseException):
                await listener
        for client in (getattr(self.manager, "pubsub", None), getattr(self.manager, "redis", None)):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.aclose()
