"""Caller keys at the door: who may spend the endpoints' money, and how fast.

A plain ASGI middleware, run inside RequestGuard (which gives every request its id and
answers its 500s); admission belongs inside this one, so a request refused here takes no
admission slot:
- with API_KEYS or API_KEYS_FILE set, every route but /ping needs `Authorization: Bearer
  <key>`, and /health and /metrics too unless OPEN_HEALTH_AND_METRICS; a missing or unknown
  key is answered 401 with WWW-Authenticate, in the one error shape (a path that does not
  exist too, so the routes cannot be probed without a key);
- each key's limits (key_limits.py): 429 with Retry-After;
- refusals are logged with the request id and, once a key is known, its id: never the key.
Without keys nothing is installed, and the orchestrator warns at start when that leaves
hosted endpoints open to whoever can reach it (exposure_warning).
"""

import ipaddress
import logging
import uuid

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from contracts import ErrorType
from orchestrator.caller_keys import CallerKeys
from orchestrator.errors import error_answer
from orchestrator.key_limits import KeyLimits
from orchestrator.settings import OrchestratorSettings

log = logging.getLogger("orchestrator")

ALWAYS_OPEN = frozenset({"/ping"})
OPENABLE = frozenset({"/health", "/metrics"})
_REALM = 'Bearer realm="orchestrator"'


class CallerAccess:
    def __init__(
        self, app: ASGIApp, keys: CallerKeys, limits: KeyLimits, open_paths: frozenset[str]
    ):
        self.app = app
        self.keys = keys
        self.limits = limits
        self.open_paths = open_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in self.open_paths:
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        request_id = state.setdefault("request_id", uuid.uuid4().hex)
        started = state.get("started")
        presented = bearer_token(scope)
        key = self.keys.match(presented) if presented is not None else None
        if key is None:
            await _unauthorized(request_id, started, presented is None)(scope, receive, send)
            return
        state["key_id"] = key.id
        refusal = self.limits.enter(key.id)
        if refusal is not None:
            log.warning("request_id=%s key=%s refused: %s", request_id, key.id, refusal.message)
            response = error_answer(
                request_id,
                started,
                429,
                refusal.message,
                ErrorType.OVERLOADED,
                headers={"Retry-After": str(refusal.retry_after_s)},
            )
            await response(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.limits.leave(key.id)


def _unauthorized(request_id: str, started: float | None, missing: bool) -> JSONResponse:
    log.warning("request_id=%s refused: %s API key", request_id, "no" if missing else "unknown")
    return error_answer(
        request_id,
        started,
        401,
        "Missing API key: send Authorization: Bearer <key>" if missing else "Invalid API key",
        ErrorType.UNAUTHORIZED,
        # RFC 6750: a wrong key is an invalid token; a missing one gets the challenge alone.
        headers={"WWW-Authenticate": _REALM if missing else f'{_REALM}, error="invalid_token"'},
    )


def bearer_token(scope: Scope) -> str | None:
    """The token of the request's `Authorization: Bearer <token>`, or None."""
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").strip().partition(" ")
            token = token.strip()
            return token if scheme.lower() == "bearer" and token else None
    return None


def install_caller_access(app: FastAPI, settings: OrchestratorSettings) -> None:
    """Require caller keys when some are configured. Call it before RequestGuard is added,
    so that RequestGuard runs first (Starlette runs the last added middleware first)."""
    keys = settings.caller_keys()
    if not keys:
        return
    open_paths = ALWAYS_OPEN | (OPENABLE if settings.open_health_and_metrics else frozenset())
    limits = KeyLimits(
        settings.api_key_rate_per_s, settings.api_key_burst, settings.api_key_max_in_flight
    )
    app.add_middleware(CallerAccess, keys=keys, limits=limits, open_paths=open_paths)
    log.info("caller keys required; key ids: %s", ", ".join(keys.ids))


def exposure_warning(settings: OrchestratorSettings) -> str | None:
    """One line when anyone who can reach the orchestrator could spend the Runpod account's
    money: hosted endpoints, listening beyond loopback, and no caller keys."""
    hosted = settings.hosted_endpoint_variables()
    if not hosted or _loopback(settings.host) or settings.caller_keys():
        return None
    return (
        f"anyone who can reach HOST={settings.host} port {settings.port} can run jobs on "
        f"{', '.join(hosted)} with this RUNPOD_API_KEY: set API_KEYS or API_KEYS_FILE "
        "(see the README's Caller keys), or HOST=127.0.0.1"
    )


def _loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve anywhere
