"""Metric push receivers: Prometheus remote-write and OTLP/HTTP metrics; and the reading of
push bodies shared with the agents' receivers (:func:`read_body`, :func:`read_push`).

Both take an API token (or a session) with the operator role. Decoding and writing run in a
worker thread: a large batch must not stall the event loop. A body that cannot be read at
all is a 400 problem; a batch with some bad series stores the good ones and names the bad
ones (remote-write: a 400, so that Prometheus does not retry what will never be accepted;
OTLP: a 200 whose ``partial_success`` counts the rejected data points).
"""

from __future__ import annotations

from typing import Annotated, TypeVar

from fastapi import APIRouter, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from watchkeeper.api.deps import get_ctx, require
from watchkeeper.api.problems import problem
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.metrics import otlp
from watchkeeper.metrics.payload import MAX_BODY_BYTES, IngestError, PayloadTooLarge, gzip_body
from watchkeeper.metrics.remote_write import DecodedWrite, decode_write_request
from watchkeeper.metrics.store import MetricStore
from watchkeeper.telemetry import INGEST_SAMPLES

router = APIRouter(prefix="/api/v1", tags=["metrics"])
Operator = Annotated[SessionInfo, require("operator")]
MAX_LISTED = 100  # bad series named in one response
MAX_FIELD_ERRORS = 20
"""Field errors listed in the 422 of a bad push (a bad 100,000-row body must not echo
100,000 errors)."""
PushT = TypeVar("PushT", bound=BaseModel)


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """Return the request body; raise PayloadTooLarge past ``limit`` bytes (before reading
    it all when Content-Length says so)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the request body is larger than {limit >> 20} MB")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"the request body is larger than {limit >> 20} MB")
    return bytes(body)


async def read_push(request: Request, model: type[PushT], limit: int = MAX_BODY_BYTES) -> PushT:
    """Read an agent's JSON push (gzip-compressed with ``Content-Encoding: gzip``, or not)
    into ``model``, at most ``limit`` bytes of it (compressed and decompressed). Raise what
    the problem handlers answer: 415 for another encoding, 413 past the limit, 400 for a
    body that is not gzip, 422 naming the first fields that do not validate.

    Call it once the caller is known to be allowed (a body parameter would be read and
    parsed before the role check)."""
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip"):
        raise HTTPException(
            415, f'Content-Encoding "{encoding}" is not supported; send gzip or nothing'
        )
    try:
        raw = await read_body(request, limit)
        if encoding == "gzip":
            raw = gzip_body(raw, limit)
    except PayloadTooLarge as exc:
        raise HTTPException(413, str(exc)) from None
    except IngestError as exc:
        raise HTTPException(400, str(exc)) from None
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)[:MAX_FIELD_ERRORS]) from None


def _too_large(request: Request, exc: PayloadTooLarge) -> JSONResponse:
    return problem(413, str(exc), title="Payload too large", instance=request.url.path)


def _unsupported(request: Request, detail: str) -> JSONResponse:
    return problem(415, detail, instance=request.url.path)


def _store_remote_write(store: MetricStore, body: bytes) -> DecodedWrite:
    decoded = decode_write_request(body)
    report = store.write(decoded.series)
    INGEST_SAMPLES.labels("remote_write", "accepted").inc(report.accepted)
    INGEST_SAMPLES.labels("remote_write", "duplicate").inc(report.duplicates)
    INGEST_SAMPLES.labels("remote_write", "rejected").inc(decoded.rejected_samples)
    INGEST_SAMPLES.labels("remote_write", "ignored").inc(decoded.histograms)
    return decoded


@router.post(
    "/write",
    status_code=204,
    response_class=Response,
    summary="Prometheus remote-write 1.0 receiver (snappy-compressed protobuf)",
)
async def remote_write(request: Request, _: Operator) -> Response:
    encoding = request.headers.get("content-encoding", "snappy").strip().lower()
    if encoding != "snappy":
        return _unsupported(
            request, f'Content-Encoding "{encoding}" is not supported; remote-write uses snappy'
        )
    try:
        body = await read_body(request)
        decoded = await run_in_threadpool(_store_remote_write, get_ctx(request).metrics, body)
    except PayloadTooLarge as exc:
        return _too_large(request, exc)
    if not decoded.problems:
        return Response(status_code=204)
    listed = [
        {"field": f"timeseries[{p.index}]", "message": f"{p.series}: {p.reason}"}
        for p in decoded.problems[:MAX_LISTED]
    ]
    more = len(decoded.problems) - len(listed)
    return problem(
        400,
        f"{len(decoded.problems)} series refused ({decoded.rejected_samples} samples); "
        f"{decoded.samples} samples of the other series were stored"
        + (f"; the first {MAX_LISTED} refused series are listed" if more else ""),
        errors=listed,
        instance=request.url.path,
    )


def _store_otlp(
    store: MetricStore, body: bytes, encoding: otlp.Encoding, gzipped: bool
) -> otlp.Translated:
    request = otlp.decode_request(gzip_body(body) if gzipped else body, encoding)
    translated = otlp.translate(request)
    report = store.write(translated.series)
    INGEST_SAMPLES.labels("otlp", "accepted").inc(report.accepted)
    INGEST_SAMPLES.labels("otlp", "duplicate").inc(report.duplicates)
    INGEST_SAMPLES.labels("otlp", "rejected").inc(translated.rejected_points)
    return translated


@router.post(
    "/otlp/v1/metrics",
    response_class=Response,
    summary="OTLP/HTTP metrics receiver (protobuf or JSON, optionally gzip-compressed)",
)
async def otlp_metrics(request: Request, _: Operator) -> Response:
    content_type = request.headers.get("content-type", "")
    encoding = otlp.encoding_of(content_type)
    if encoding is None:
        return _unsupported(
            request,
            f'Content-Type "{content_type}" is not OTLP; use application/x-protobuf or '
            "application/json",
        )
    compression = request.headers.get("content-encoding", "identity").strip().lower()
    if compression not in ("identity", "gzip"):
        return _unsupported(
            request, f'Content-Encoding "{compression}" is not supported; use gzip or none'
        )
    try:
        body = await read_body(request)
        translated = await run_in_threadpool(
            _store_otlp, get_ctx(request).metrics, body, encoding, compression == "gzip"
        )
    except PayloadTooLarge as exc:
        return _too_large(request, exc)
    media = "application/x-protobuf" if encoding == "protobuf" else "application/json"
    return Response(otlp.encode_response(translated, encoding), media_type=media)
