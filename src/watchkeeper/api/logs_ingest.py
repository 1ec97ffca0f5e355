"""Log push receivers: NDJSON/JSON (``/api/v1/logs``), OTLP/HTTP logs and Loki push.

All three take an API token (or a session) with the operator role; the log push routes also
take the token as the password of HTTP basic auth, which is all some shippers can send.
Decoding runs in a worker thread. A 2xx is sent only once the lines are in the write-ahead
log. When the ingest queue is full, ``overflow: block`` makes the request wait and ``drop``
answers 429 with Retry-After (as Loki does), so the sender retries later.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from watchkeeper.api.deps import get_ctx, require
from watchkeeper.api.ingest import _unsupported, read_body
from watchkeeper.api.problems import problem
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.logs.receivers import loki, ndjson, otlp
from watchkeeper.logs.receivers.common import Decoded, ReceiverError
from watchkeeper.metrics.payload import IngestError, PayloadTooLarge, gzip_body
from watchkeeper.telemetry import LOG_LINES

router = APIRouter(tags=["logs"])
Pusher = Annotated[SessionInfo, require("operator", basic=True)]
RETRY_AFTER = "5"  # seconds a sender waits after a 429 or 503


class _Refusal(Exception):
    """Ends a push early with ``response`` (a problem) before anything is queued."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


async def _decode(request: Request, source: str, decode: Callable[[bytes], Decoded]) -> Decoded:
    """Read, decompress (Content-Encoding gzip) and decode the body in a worker thread;
    raise _Refusal with the problem to answer when it cannot be read."""
    compression = request.headers.get("content-encoding", "identity").strip().lower()
    if compression not in ("identity", "gzip", ""):
        raise _Refusal(
            problem(
                415,
                f'Content-Encoding "{compression}" is not supported; use gzip or none',
                instance=request.url.path,
            )
        )

    def run(body: bytes) -> Decoded:
        return decode(gzip_body(body) if compression == "gzip" else body)

    try:
        body = await read_body(request)
        decoded = await run_in_threadpool(run, body)
    except PayloadTooLarge as exc:
        raise _Refusal(
            problem(413, str(exc), title="Payload too large", instance=request.url.path)
        ) from None
    except (ReceiverError, IngestError) as exc:
        raise _Refusal(problem(400, str(exc), instance=request.url.path)) from None
    if decoded.rejected:
        LOG_LINES.labels(source, "rejected").inc(decoded.rejected)
    return decoded


async def _submit(request: Request, source: str, decoded: Decoded) -> None:
    """Queue the lines and wait until they are in the write-ahead log; raise _Refusal
    (429 or 503, with Retry-After) when they cannot be taken now."""
    if not decoded.lines:
        return
    logs = get_ctx(request).logs
    try:
        accepted = await logs.queue.submit(source, decoded.lines, durable=True)
    except Exception:  # the writer logged why; the sender keeps its lines and retries
        raise _Refusal(
            problem(
                503,
                "the log store could not store the lines; try again shortly",
                headers={"Retry-After": RETRY_AFTER},
                instance=request.url.path,
            )
        ) from None
    if accepted:
        return
    if logs.queue.closed:
        raise _Refusal(
            problem(
                503,
                "the server is shutting down; send the lines again shortly",
                headers={"Retry-After": RETRY_AFTER},
                instance=request.url.path,
            )
        )
    raise _Refusal(
        problem(
            429,
            f"the log ingest queue is full; {len(decoded.lines)} lines were not taken, "
            "send them again later",
            headers={"Retry-After": RETRY_AFTER},
            instance=request.url.path,
        )
    )


def _named(decoded: Decoded) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for rejection in decoded.rejections:
        item: dict[str, Any] = {"where": rejection.where, "reason": rejection.reason}
        if rejection.line is not None:
            item["line"] = rejection.line
        out.append(item)
    return out


@router.post(
    "/api/v1/logs",
    summary="Push log lines as NDJSON (one JSON object per line) or a JSON array",
    description="Each object: `message` (or `msg`, `log`, `line`), `timestamp` (or `time`, "
    "`ts`; RFC 3339 or epoch s/ms/µs/ns), `labels` (object) or top-level `host`, `service`, "
    "`app`, `level`; other keys become fields. Bad objects are skipped and listed in "
    "`rejected` (200 when some lines were stored, 400 when none could be).",
)
async def push_lines(request: Request, _: Pusher) -> Response:
    content_type = request.headers.get("content-type", "")
    if not ndjson.accepts(content_type):
        return _unsupported(
            request,
            f'Content-Type "{content_type}" is not JSON; use application/x-ndjson or '
            "application/json",
        )
    received = time.time_ns()
    try:
        decoded = await _decode(request, "http", lambda body: ndjson.decode(body, received))
        if decoded.rejected and not decoded.lines:
            return problem(
                400,
                f"none of the {decoded.rejected} log lines could be stored",
                errors=[{"field": r.where, "message": r.reason} for r in decoded.rejections],
                instance=request.url.path,
            )
        await _submit(request, "http", decoded)
    except _Refusal as refusal:
        return refusal.response
    body: dict[str, Any] = {"accepted": len(decoded.lines), "rejected": _named(decoded)}
    if decoded.rejected > len(decoded.rejections):
        body["rejected_total"] = decoded.rejected
    return JSONResponse(body)


@router.post(
    "/api/v1/otlp/v1/logs",
    response_class=Response,
    summary="OTLP/HTTP logs receiver (protobuf or JSON, optionally gzip-compressed)",
)
async def otlp_logs(request: Request, _: Pusher) -> Response:
    content_type = request.headers.get("content-type", "")
    encoding = otlp.encoding_of(content_type)
    if encoding is None:
        return _unsupported(
            request,
            f'Content-Type "{content_type}" is not OTLP; use application/x-protobuf or '
            "application/json",
        )
    received = time.time_ns()
    try:
        decoded = await _decode(request, "otlp", lambda body: otlp.decode(body, encoding, received))
        await _submit(request, "otlp", decoded)
    except _Refusal as refusal:
        return refusal.response
    media = "application/x-protobuf" if encoding == "protobuf" else "application/json"
    return Response(otlp.encode_response(decoded, encoding), media_type=media)


@router.post(
    "/loki/api/v1/push",
    status_code=204,
    response_class=Response,
    summary="Loki-compatible push (snappy protobuf or JSON), for Promtail, Alloy, Fluent Bit "
    "and Vector",
    description="Answers 204 like Loki. Entries that cannot be stored are named in a 400 "
    "problem; the other entries of the request are stored all the same.",
)
async def loki_push(request: Request, _: Pusher) -> Response:
    content_type = request.headers.get("content-type", "")
    encoding = loki.encoding_of(content_type)
    if encoding is None:
        return _unsupported(
            request,
            f'Content-Type "{content_type}" is not a Loki push; use application/x-protobuf '
            "(snappy-compressed) or application/json",
        )
    received = time.time_ns()
    try:
        decoded = await _decode(request, "loki", lambda body: loki.decode(body, encoding, received))
        await _submit(request, "loki", decoded)
    except _Refusal as refusal:
        return refusal.response
    if not decoded.rejected:
        return Response(status_code=204)
    return problem(
        400,
        f"{decoded.rejected} entries refused; {len(decoded.lines)} entries of the request "
        "were stored",
        errors=[{"field": r.where, "message": r.reason} for r in decoded.rejections],
        instance=request.url.path,
    )
