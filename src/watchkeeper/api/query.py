"""Prometheus's HTTP query API over the metric store, so Grafana can use Watchkeeper.

Routes, parameters and bodies follow https://prometheus.io/docs/prometheus/latest/querying/api/:
GET or form-encoded POST, ``{"status": "success", "data": ...}``, and on bad input a 400
with ``{"status": "error", "errorType": "bad_data", "error": ...}``: Prometheus clients
read that shape, so these routes answer it instead of problem+json (the body also carries
``title``, ``detail`` and, for a bad query, the error's ``position``).
"""

from __future__ import annotations

import math
import re
import time
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MultiDict

from watchkeeper import __version__
from watchkeeper.api.deps import get_ctx, require
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.metrics.labels import Matcher
from watchkeeper.metrics.promql import (
    Engine,
    EvaluationError,
    PromQLError,
    parse,
)
from watchkeeper.metrics.promql.ast import VectorSelector
from watchkeeper.metrics.promql.format import render_success
from watchkeeper.metrics.store import MetricStore

router = APIRouter(prefix="/api/v1", tags=["metrics queries"])
Viewer = Annotated[SessionInfo, require("viewer")]

MAX_POINTS = 11_000
MAX_SECONDS = 10**12  # ±31,000 years: far inside int64 milliseconds
_DURATION = re.compile(
    r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$"
)
_UNIT_MS = (31_536_000_000, 604_800_000, 86_400_000, 3_600_000, 60_000, 1_000, 1)


class BadData(Exception):
    """Bad parameters or a query that does not parse: 400 ``bad_data``."""

    status, error_type, title = 400, "bad_data", "Bad query"

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.position = position


class ExecutionFailed(BadData):
    """A query that parses but cannot be evaluated on the data: 422 ``execution``."""

    status, error_type, title = 422, "execution", "Query failed"


def _bad_data(exc: BadData) -> JSONResponse:
    body: dict[str, Any] = {
        "status": "error",
        "errorType": exc.error_type,
        "error": str(exc),
        "title": exc.title,
        "detail": str(exc),
    }
    if exc.position is not None:
        body["position"] = exc.position
    return JSONResponse(body, status_code=exc.status)


def _success(data: Any) -> dict[str, Any]:
    return {"status": "success", "data": data}


async def _params(request: Request) -> MultiDict:
    """Query-string and form parameters together (Grafana POSTs forms)."""
    items = list(request.query_params.multi_items())
    if request.method == "POST":
        form = await request.form()
        items += [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    return MultiDict(items)


def parse_time(name: str, raw: str | None, default_ms: int) -> int:
    """A Unix timestamp in seconds (fractions allowed) or RFC 3339, as Prometheus accepts."""
    if raw is None or raw == "":
        return default_ms
    try:
        seconds = float(raw)
        if math.isfinite(seconds) and abs(seconds) <= MAX_SECONDS:
            return round(seconds * 1000)
    except ValueError:
        try:
            return round(datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp() * 1000)
        except ValueError:
            pass
    raise BadData(f'invalid parameter "{name}": cannot parse "{raw}" to a valid timestamp')


def parse_step(raw: str | None) -> int:
    """A step in seconds (``15``, ``0.5``) or a duration (``1m30s``); must be positive."""
    if not raw:
        raise BadData('invalid parameter "step": missing')
    try:
        step_ms = round(float(raw) * 1000)
    except OverflowError:  # "inf", or digits beyond a float
        step_ms = MAX_SECONDS * 1000 + 1
    except ValueError:
        match = _DURATION.match(raw)
        if not match or not any(match.groups()):
            raise BadData(
                f'invalid parameter "step": cannot parse "{raw}" to a valid duration'
            ) from None
        step_ms = sum(int(g or 0) * unit for g, unit in zip(match.groups(), _UNIT_MS, strict=True))
    if step_ms > MAX_SECONDS * 1000:
        raise BadData(f'invalid parameter "step": "{raw}" is out of range')
    if step_ms <= 0:
        raise BadData(
            'invalid parameter "step": zero or negative query resolution step widths are '
            "not accepted. Try a positive integer"
        )
    return step_ms


def _engine(request: Request) -> Engine:
    return Engine(get_ctx(request).metrics)


def _evaluate(request: Request, params: MultiDict, ranged: bool) -> Response:
    """Answer a query with its body already encoded: a large matrix is rendered straight
    from its arrays (going through dicts and FastAPI's encoder took several seconds)."""
    query = params.get("query")
    if not query:
        raise BadData('invalid parameter "query": missing')
    now = round(time.time() * 1000)
    try:
        if not ranged:
            result = _engine(request).instant(query, parse_time("time", params.get("time"), now))
        else:
            start = parse_time("start", params.get("start"), now)
            end = parse_time("end", params.get("end"), now)
            if end < start:
                raise BadData(
                    'invalid parameter "end": end timestamp must not be before start time'
                )
            step = parse_step(params.get("step"))
            if (end - start) // step > MAX_POINTS:
                raise BadData(
                    "exceeded maximum resolution of 11,000 points per timeseries. "
                    "Try decreasing the query resolution (?step=XX)"
                )
            result = _engine(request).range(query, start, end, step)
    except PromQLError as exc:
        raise BadData(str(exc), exc.position) from None
    except EvaluationError as exc:
        raise ExecutionFailed(str(exc)) from None
    except RecursionError:
        raise BadData("the query is nested too deeply") from None
    except (ArithmeticError, MemoryError) as exc:  # e.g. topk(1e300, …), a huge subquery
        raise ExecutionFailed(f"the query cannot be evaluated: {type(exc).__name__}") from None
    return Response(render_success(result), media_type="application/json")


@router.get("/query", summary="Evaluate a PromQL instant query", operation_id="instant_query_get")
@router.post(
    "/query",
    summary="Evaluate a PromQL instant query (form-encoded)",
    operation_id="instant_query_post",
)
async def instant_query(request: Request, _: Viewer) -> Any:
    try:
        params = await _params(request)
        return await run_in_threadpool(_evaluate, request, params, False)
    except BadData as exc:
        return _bad_data(exc)


@router.get(
    "/query_range", summary="Evaluate a PromQL query over a range", operation_id="range_query_get"
)
@router.post(
    "/query_range",
    summary="Evaluate a PromQL query over a range (form-encoded)",
    operation_id="range_query_post",
)
async def range_query(request: Request, _: Viewer) -> Any:
    try:
        params = await _params(request)
        return await run_in_threadpool(_evaluate, request, params, True)
    except BadData as exc:
        return _bad_data(exc)


def _selectors(params: MultiDict) -> list[list[Matcher]]:
    """The ``match[]`` parameters, each a series selector like ``up{job="node"}``."""
    out = []
    for raw in params.getlist("match[]"):
        try:
            expr = parse(raw)
        except PromQLError as exc:
            raise BadData(str(exc), exc.position) from None
        except RecursionError:
            raise BadData("the selector is nested too deeply") from None
        if not isinstance(expr, VectorSelector):
            raise BadData(f'invalid parameter "match[]": "{raw}" is not a series selector')
        out.append(list(expr.matchers))
    return out


def _matching_labels(store: MetricStore, params: MultiDict) -> list[dict[str, str]]:
    now = round(time.time() * 1000)
    selectors = _selectors(params)
    if not selectors:
        raise BadData('invalid parameter "match[]": no match[] parameter provided')
    start = parse_time("start", params.get("start"), 0)
    end = parse_time("end", params.get("end"), now)
    seen: dict[tuple[tuple[str, str], ...], None] = {}
    for matchers in selectors:
        for series in store.select(matchers, start, end):
            seen.setdefault(series.labels, None)
    return [dict(labels) for labels in seen]


@router.get("/series", summary="Series matching selectors", operation_id="series_get")
@router.post(
    "/series", summary="Series matching selectors (form-encoded)", operation_id="series_post"
)
async def series(request: Request, _: Viewer) -> Any:
    try:
        params = await _params(request)
        store = get_ctx(request).metrics
        return _success(await run_in_threadpool(_matching_labels, store, params))
    except BadData as exc:
        return _bad_data(exc)


def _label_names(store: MetricStore, params: MultiDict) -> list[str]:
    selectors = _selectors(params) or [[]]
    names: set[str] = set()
    for matchers in selectors:
        names.update(store.label_names(matchers))
    return sorted(names)


@router.get("/labels", summary="Label names", operation_id="labels_get")
@router.post("/labels", summary="Label names (form-encoded)", operation_id="labels_post")
async def labels(request: Request, _: Viewer) -> Any:
    try:
        params = await _params(request)
        store = get_ctx(request).metrics
        return _success(await run_in_threadpool(_label_names, store, params))
    except BadData as exc:
        return _bad_data(exc)


def _label_values(store: MetricStore, name: str, params: MultiDict) -> list[str]:
    values: set[str] = set()
    for matchers in _selectors(params) or [[]]:
        values.update(store.label_values(name, matchers))
    return sorted(values)


@router.get("/label/{name}/values", summary="Values of one label")
async def label_values(name: str, request: Request, _: Viewer) -> Any:
    try:
        params = await _params(request)
        store = get_ctx(request).metrics
        return _success(await run_in_threadpool(_label_values, store, name, params))
    except BadData as exc:
        return _bad_data(exc)


@router.get("/metadata", summary="Metric metadata (none is kept: always empty)")
def metadata(_: Viewer) -> dict[str, Any]:
    return _success({})


@router.get("/status/buildinfo", summary="Version, for clients that ask")
def buildinfo(_: Viewer) -> dict[str, Any]:
    return _success(
        {
            "version": __version__,
            "revision": "",
            "branch": "",
            "buildUser": "",
            "buildDate": "",
            "goVersion": "",
        }
    )
