"""What every collector route shares: bodies read within limits, and answers in JSON."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse as StarletteJSONResponse
from starlette.responses import Response

from cxcore.errors import Problem
from cxcore.intake import (
    Accepted,
    IntakeResult,
    OptOutRecorded,
    Rejected,
    RejectReason,
    StatusRecorded,
)

__all__ = [
    "BodyTooLarge",
    "JSONResponse",
    "client_address",
    "error_json",
    "read_body",
    "rejection_status",
    "result_json",
    "results_response",
    "wants_html",
]

_STATUS: Mapping[RejectReason, int] = {
    RejectReason.TAMPERED_TOKEN: 403,
    RejectReason.WRONG_PURPOSE: 403,
    RejectReason.EXPIRED: 410,
    RejectReason.UNKNOWN_INVITATION: 410,
    RejectReason.INVALID_ANSWERS: 422,
    RejectReason.CONFLICT: 409,
    RejectReason.TOO_LARGE: 413,
    RejectReason.UNKNOWN_SURVEY: 404,
    RejectReason.NO_OPEN_INVITATION: 404,
    RejectReason.UNREADABLE_REPLY: 422,
    RejectReason.AMBIGUOUS_REPLY: 422,
    RejectReason.NO_ADDRESS: 422,
    RejectReason.UNMATCHED_STATUS: 404,
    RejectReason.INVALID_EVENT: 400,
}


def rejection_status(reason: RejectReason) -> int:
    """The HTTP status a refusal is answered with."""
    return _STATUS.get(reason, 400)


_JSON = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


class JSONResponse(StarletteJSONResponse):
    """Starlette's JSON response, the same bytes, from one encoder made once."""

    def render(self, content: Any) -> bytes:  # noqa: ANN401 - JSON values of any shape
        """The body: *content* as compact UTF-8 JSON (NaN refused, as Starlette does)."""
        return _JSON.encode(content).encode("utf-8")


class BodyTooLarge(Exception):  # noqa: N818 - a signal the routes answer with 413
    """The request body is larger than the collector accepts."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body is larger than {limit} bytes")
        self.limit = limit


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refusing more than *limit* bytes before reading them.

    Raises:
        BodyTooLarge: If ``Content-Length`` says more, or the stream brings more.
    """
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise BodyTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def client_address(request: Request) -> str:
    """The address the request came from (the proxy's, behind one: configure its headers)."""
    return request.client.host if request.client else "unknown"


def wants_html(request: Request) -> bool:
    """Whether the request comes from a person's browser rather than a program."""
    accept = request.headers.get("accept", "")
    return "text/html" in accept


def error_json(
    status: int,
    reason: str,
    message: str,
    *,
    problems: Sequence[Problem] = (),
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A JSON error: ``{"ok": false, "error": {"reason", "message", "problems"}}``."""
    body: dict[str, Any] = {"reason": reason, "message": message}
    if problems:
        body["problems"] = [{"path": p.path, "message": p.message} for p in problems]
    return JSONResponse({"ok": False, "error": body}, status_code=status, headers=headers)


def result_json(result: IntakeResult) -> dict[str, Any]:
    """One intake result as JSON: what an API client needs, and nothing personal."""
    match result:
        case Accepted():
            return {
                "type": "answer",
                "outcome": result.outcome.value,
                "response_id": result.response.id,
                "complete": result.complete,
                "remaining": [q.id for q in result.remaining],
            }
        case Rejected():
            body: dict[str, Any] = {
                "type": "rejected",
                "reason": result.reason.value,
                "message": result.message,
            }
            if result.problems:
                body["problems"] = [{"path": p.path, "message": p.message} for p in result.problems]
            return body
        case OptOutRecorded():
            return {
                "type": "opt_out" if result.opted_out else "opt_in",
                "changed": result.changed,
                "channel": result.channel,
            }
        case StatusRecorded():
            return {
                "type": "status",
                "disposition": result.disposition.value,
                "applied": result.result.applied,
                "current": result.result.current.value if result.result.current else None,
            }
    msg = f"not an intake result: {result!r}"  # type: ignore[unreachable]
    raise TypeError(msg)


def results_response(
    results: Sequence[IntakeResult], *, headers: Mapping[str, str] | None = None
) -> Response:
    """Every result of one request as JSON; the status is the first refusal's, or 200."""
    refused = next((r for r in results if isinstance(r, Rejected)), None)
    status = 200 if refused is None else rejection_status(refused.reason)
    body = {"ok": refused is None, "results": [result_json(r) for r in results]}
    return JSONResponse(body, status_code=status, headers=headers)


def json_object(body: bytes) -> dict[str, Any] | str:
    """The body as a JSON object, or what is wrong with it."""
    try:
        value = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        return "the body is not UTF-8"
    except ValueError as exc:
        return f"the body is not JSON: {exc}"
    if not isinstance(value, dict):
        return f"the body is a JSON {type(value).__name__}, not an object"
    return value
