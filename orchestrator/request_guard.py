"""What every request passes through first: its id, its size, the client leaving, our bugs.

A plain ASGI middleware (not Starlette's BaseHTTPMiddleware, which re-raises a handler's
exception to the server, where it is logged with its traceback, and resets the connection):
- a request id, kept from X-Request-ID when sent, on every answer;
- the body limit: MAX_REQUEST_BYTES, from Content-Length before reading, else counted as
  the bytes arrive (chunked bodies too), answered 413 as soon as it is passed;
- then caller access and admission (orchestrator/access.py, orchestrator/admission.py),
  which it wraps: they read the request id and start time this sets;
- a client that goes away before its answer cancels its request, so the stage jobs it
  started are cancelled too (orchestrator/runpod_client.py);
- an unexpected exception is answered 500 in the error shape and logged once, by type and
  request id: never a traceback, which can hold the caller's text;
- one log line per request: method, path, status, duration, request id; never the body.
"""

import asyncio
import contextlib
import logging
import re
import time
import uuid

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orchestrator.errors import (
    BodyTooLargeError,
    InternalError,
    answer_error,
)
from orchestrator.metrics import Metrics

log = logging.getLogger("orchestrator")

CLIENT_CLOSED = 499
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestGuard:
    def __init__(
        self,
        app: ASGIApp,
        max_request_bytes: int,
        metrics: Metrics | None = None,
    ):
        self.app = app
        self.metrics = metrics
        self.max_request_bytes = max_request_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        state = scope.setdefault("state", {})
        state["request_id"], state["started"] = request_id, started
        status = {"code": 500, "started": False, "complete": False, "client_gone": False}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"], status["started"] = message["status"], True
                headers = [(k, v) for k, v in message.get("headers", []) if k != b"x-request-id"]
                message = {**message, "headers": [*headers, (b"x-request-id", request_id.encode())]}
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                status["complete"] = True
            await send(message)

        try:
            if _declared_length(scope) > self.max_request_bytes:
                # Refused before a byte is read. A body without Content-Length (chunked) is
                # counted as it arrives instead (_serve).
                response = answer_error(
                    BodyTooLargeError(self.max_request_bytes), request_id, started
                )
                await response(scope, receive, send_with_id)
                return
            await self._serve(scope, receive, send_with_id, status)
        finally:
            # 499, as proxies log it: the client closed the connection before its answer.
            code = CLIENT_CLOSED if status["client_gone"] else status["code"]
            if self.metrics is not None:
                self.metrics.answered(_route_of(scope), code, time.perf_counter() - started)
            log.info(
                "%s %s %d %.1fms request_id=%s%s%s",
                scope.get("method", "-"),
                scope.get("path", ""),
                code,
                (time.perf_counter() - started) * 1000,
                request_id,
                # The caller key's id (access.py), never the key.
                f" key={state['key_id']}" if "key_id" in state else "",
                " (the client went away first)" if status["client_gone"] else "",
            )

    async def _serve(self, scope: Scope, receive: Receive, send: Send, status: dict) -> None:
        """Run the app; cancel it if the client leaves first; answer 500 for our own bugs."""
        body_read = asyncio.Event()
        client_gone = asyncio.Event()
        received = 0

        async def app_receive() -> Message:
            nonlocal received
            if body_read.is_set():
                # The body is in; the only message left is the client leaving.
                await client_gone.wait()
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.disconnect":
                client_gone.set()
                status["client_gone"] = True
                body_read.set()
                return message
            received += len(message.get("body", b""))
            if received > self.max_request_bytes:
                # Raised into the route reading the body; answered 413 by the error handlers,
                # before the rest of the body is read.
                raise HTTPException(413)
            if not message.get("more_body", False):
                body_read.set()
            return message

        async def watch_for_disconnect() -> None:
            await body_read.wait()
            if client_gone.is_set():
                return
            message = await receive()
            if message["type"] == "http.disconnect" and not status["complete"]:
                client_gone.set()
                status["client_gone"] = True

        app_task = asyncio.ensure_future(self.app(scope, app_receive, send))
        watcher = asyncio.ensure_future(watch_for_disconnect())
        gone = asyncio.ensure_future(client_gone.wait())
        try:
            await asyncio.wait({app_task, gone}, return_when=asyncio.FIRST_COMPLETED)
            if not app_task.done():
                # Nobody will read this answer: stop the work, which cancels its stage jobs.
                app_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await app_task
                return
            app_task.result()
        except asyncio.CancelledError:
            app_task.cancel()
            raise
        except Exception as exc:
            if client_gone.is_set():
                return  # the client left while its body was being read: nobody to answer
            request_id = scope["state"]["request_id"]
            # Once, by type and request id: a message or traceback can carry user text.
            log.error("request_id=%s internal error: %s", request_id, type(exc).__name__)
            if not status["started"]:
                response = answer_error(InternalError(), request_id, scope["state"]["started"])
                with contextlib.suppress(Exception):
                    await response(scope, receive, send)
        finally:
            watcher.cancel()
            gone.cancel()


def _route_of(scope: Scope) -> str:
    """The matched route's template, so metrics' labels stay few whatever paths are asked."""
    route = scope.get("route")
    return getattr(route, "path", None) or "unmatched"


def _declared_length(scope: Scope) -> int:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            sent = value.decode("latin-1")
            if _REQUEST_ID.match(sent):
                return sent
            break
    return uuid.uuid4().hex
