"""The log query API: lines, metric queries, a histogram, a line's context, streams and
disk use, saved searches and query history. The live tail is in ``api/logs_tail.py``.

Store work runs in the thread pool. A query that cannot be read answers 400 problem+json
naming the field and, for the query, the 0-based ``position`` of the problem.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from watchkeeper.api.deps import Db, get_ctx, require
from watchkeeper.api.logs_params import (
    MAX_LIMIT,
    BadParam,
    line_json,
    now_ns,
    parse_int,
    parse_step,
    parse_time,
    rfc3339,
)
from watchkeeper.api.problems import PROBLEM
from watchkeeper.auth.roles import role_allows
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.logs import searches
from watchkeeper.logs.model import LogLine
from watchkeeper.logs.query.engine import (
    QueryError,
    evaluate_instant,
    evaluate_range,
    histogram,
    select_lines,
)
from watchkeeper.logs.query.parser import is_metric, parse_log_query, parse_metric
from watchkeeper.logs.selector import Matcher, QuerySyntaxError, matches_all, parse_selector
from watchkeeper.logs.store import ChunkStore
from watchkeeper.logs.system import LogSystem

router = APIRouter(prefix="/api/v1/logs", tags=["logs"])
Viewer = Annotated[SessionInfo, require("viewer")]
HOUR_NS = 3600 * 10**9
MAX_CONTEXT = 500
T = TypeVar("T")


def bad_request(request: Request, exc: BadParam) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": "Bad query" if exc.field == "query" else "Bad request",
        "status": 400,
        "detail": str(exc),
        "instance": request.url.path,
        "errors": [{"field": exc.field, "message": exc.message}],
    }
    if exc.position is not None:
        body["position"] = exc.position
    return JSONResponse(body, status_code=400, media_type=PROBLEM)


def query_error(exc: QuerySyntaxError | QueryError) -> BadParam:
    if isinstance(exc, QuerySyntaxError):
        return BadParam("query", str(exc), exc.position)
    return BadParam("query", str(exc))


async def answer(request: Request, work: Callable[..., T], *args: Any) -> T | Response:
    """Run ``work`` in the thread pool; a BadParam or query error becomes a 400 problem."""
    try:
        return await run_in_threadpool(work, *args)
    except BadParam as exc:
        return bad_request(request, exc)
    except (QuerySyntaxError, QueryError) as exc:
        return bad_request(request, query_error(exc))
    except RecursionError:
        return bad_request(request, BadParam("query", "the query is nested too deeply"))


def _query(params: dict[str, str]) -> str:
    text = params.get("query", "")
    if not text.strip():  # positions in errors count from what was sent: no stripping
        raise BadParam("query", 'missing: give a query such as {app="api"} |= "error"')
    return text


def _range(params: dict[str, str]) -> tuple[int, int]:
    now = now_ns()
    end = parse_time("end", params.get("end"), now, now)
    start = parse_time("start", params.get("start"), end - HOUR_NS, now)
    if end < start:
        raise BadParam("end", "must not be before start")
    return start, end


def _vector(result: list[tuple[dict[str, str], float]], at: int) -> list[dict[str, Any]]:
    return [{"labels": labels, "value": [at / 1e9, value]} for labels, value in result]


def run_query(logs: LogSystem, params: dict[str, str]) -> dict[str, Any]:
    """Lines of a log query, or the instant vector of a metric query at ``end``."""
    text = _query(params)
    start, end = _range(params)
    limit = parse_int("limit", params.get("limit"), 100, 1, MAX_LIMIT)
    direction = params.get("direction") or "backward"
    if direction not in ("backward", "forward"):
        raise BadParam("direction", 'use "backward" (newest first) or "forward"')
    if is_metric(text):
        result = evaluate_instant(logs.store, parse_metric(text), end)
        return {"resultType": "vector", "result": _vector(result, end)}
    found = select_lines(logs.store, text, start, end, limit=limit, direction=direction)
    return {
        "resultType": "streams",
        "lines": [line_json(line) for line in found.lines],
        "stats": {
            "scanned": found.scanned,
            "elapsed": round(found.elapsed, 6),
            "truncated": found.truncated,
        },
    }


@router.get("/query", summary="Lines matching a log query (or a metric query at one time)")
async def query(request: Request, user: Viewer, db: Db) -> Any:
    params = dict(request.query_params)
    result = await answer(request, run_query, get_ctx(request).logs, params)
    if not isinstance(result, Response) and params.get("record") in ("1", "true"):
        await run_in_threadpool(_record, db, user.user_id, params["query"])
    return result


def _record(db: Any, user_id: int, text: str) -> None:
    searches.remember_query(db, user_id, text)
    db.commit()


def run_range(logs: LogSystem, params: dict[str, str]) -> dict[str, Any]:
    text = _query(params)
    start, end = _range(params)
    step = parse_step(params.get("step"), start, end)
    result = evaluate_range(logs.store, parse_metric(text), start, end, step)
    return {
        "resultType": "matrix",
        "step": step / 1e9,
        "result": [
            {"labels": s.labels, "points": [list(p) for p in s.points(result.steps)]}
            for s in result.series
        ],
    }


@router.get("/query_range", summary="A metric query over a time range")
async def query_range(request: Request, _: Viewer) -> Any:
    return await answer(request, run_range, get_ctx(request).logs, dict(request.query_params))


def run_histogram(logs: LogSystem, params: dict[str, str]) -> dict[str, Any]:
    text = _query(params)
    start, end = _range(params)
    buckets = parse_int("buckets", params.get("buckets"), 60, 1, 1000)
    width, counts = histogram(logs.store, parse_log_query(text), start, end, buckets)
    return {
        "start": start / 1e9,
        "end": end / 1e9,
        "width": width / 1e9,
        "total": sum(c for _, c in counts),
        "buckets": [[t, c] for t, c in counts],
    }


@router.get("/histogram", summary="Lines matching a log query per time bucket")
async def histogram_route(request: Request, _: Viewer) -> Any:
    return await answer(request, run_histogram, get_ctx(request).logs, dict(request.query_params))


def run_context(logs: LogSystem, params: dict[str, str]) -> dict[str, Any]:
    """Lines around one line of one stream: ``before`` older, the line(s) at ``ts``,
    ``after`` newer; oldest first, those at ``ts`` flagged ``match``."""
    raw = params.get("stream", "").strip()
    if not raw:
        raise BadParam("stream", 'missing: give the line\'s labels, e.g. {app="api"}')
    try:
        matchers = parse_selector(raw)
    except QuerySyntaxError as exc:
        raise BadParam("stream", str(exc), exc.position) from None
    if not params.get("ts"):
        raise BadParam("ts", "missing: give the line's time in ns")
    ts = parse_time("ts", params.get("ts"), 0)
    before = parse_int("before", params.get("before"), 20, 0, MAX_CONTEXT)
    after = parse_int("after", params.get("after"), 20, 0, MAX_CONTEXT)
    exact = {m.name: m.value for m in matchers} if all(m.op == "=" for m in matchers) else None

    def lines(start: int, end: int, direction: str, limit: int) -> list[LogLine]:
        out: list[LogLine] = []
        if limit <= 0:
            return out
        for line in logs.store.scan(matchers, start, end, direction=direction):  # type: ignore[arg-type]
            if exact is None or dict(line.labels) == exact:
                out.append(line)
                if len(out) >= limit:
                    break
        return out

    older = lines(0, ts - 1, "backward", before)[::-1]
    at = lines(ts, ts, "forward", MAX_CONTEXT)
    newer = lines(ts + 1, 2**62, "forward", after)
    return {
        "lines": [{**line_json(x), "match": False} for x in older]
        + [{**line_json(x), "match": True} for x in at]
        + [{**line_json(x), "match": False} for x in newer]
    }


@router.get("/context", summary="Lines before and after one line of a stream")
async def context(request: Request, _: Viewer) -> Any:
    return await answer(request, run_context, get_ctx(request).logs, dict(request.query_params))


def _retention(logs: LogSystem) -> list[tuple[tuple[Matcher, ...], str, int | None]]:
    """The plan's retention rules as (matchers, keep, max size); unreadable ones skipped."""
    rules = []
    for rule in logs.section.retention:
        try:
            rules.append((parse_selector(rule.match), _duration(rule.keep), rule.max_size))
        except QuerySyntaxError:
            continue
    return rules


def _duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def run_streams(logs: LogSystem) -> dict[str, Any]:
    store = logs.store
    rules = _retention(logs)
    default = _duration(logs.section.default_retention)
    out = []
    for usage in sorted(store.usage(), key=lambda u: -u.stored_bytes):
        keep: str = default
        max_size: int | None = None
        for matchers, rule_keep, rule_size in rules:
            if matches_all(matchers, usage.stream.labels):
                keep, max_size = rule_keep, rule_size
                break
        out.append(
            {
                "id": usage.stream.id,
                "labels": dict(usage.stream.labels),
                "chunks": usage.chunks,
                "lines": usage.lines,
                "raw_bytes": usage.raw_bytes,
                "stored_bytes": usage.stored_bytes,
                "oldest": rfc3339(usage.oldest) if usage.oldest is not None else None,
                "newest": rfc3339(usage.newest) if usage.newest is not None else None,
                "retention": keep,
                "max_size": max_size,
            }
        )
    disk = store.disk_bytes() if isinstance(store, ChunkStore) else 0
    return {"streams": out, "disk_bytes": disk, "default_retention": default}


@router.get("/streams", summary="Streams with their lines, sizes, time span and retention")
async def streams(request: Request, _: Viewer) -> Any:
    return await answer(request, run_streams, get_ctx(request).logs)


# -- saved searches and history ------------------------------------------------------------------


class SearchIn(BaseModel):
    name: str = Field(max_length=200)
    query: str = Field(max_length=20_000)
    time_range: str = Field("", max_length=100, description='"1h", or "start,end" in RFC 3339')
    shared: bool = False


def _search_json(found: searches.SavedSearch, user: SessionInfo) -> dict[str, Any]:
    return {
        "id": found.id,
        "name": found.name,
        "query": found.query,
        "time_range": found.time_range,
        "shared": found.shared,
        "owner": found.owner,
        "mine": found.owner == user.username,
        "created_at": found.created_at.isoformat(),
    }


@router.get("/searches", summary="Your saved searches and those shared with everybody")
async def list_searches(user: Viewer, db: Db) -> dict[str, Any]:
    found = await run_in_threadpool(searches.list_searches, db, user.user_id)
    return {"searches": [_search_json(s, user) for s in found]}


@router.post("/searches", status_code=201, summary="Save a search")
async def save_search(body: SearchIn, user: Viewer, db: Db) -> dict[str, Any]:
    def work() -> searches.SavedSearch:
        saved = searches.save_search(
            db, user.user_id, body.name, body.query, body.time_range, body.shared
        )
        db.commit()
        return saved

    return _search_json(await run_in_threadpool(work), user)


@router.delete("/searches/{search_id}", status_code=204, summary="Delete a saved search")
async def delete_search(search_id: int, user: Viewer, db: Db) -> Response:
    def work() -> None:
        admin = role_allows(user.role, "admin")
        searches.delete_search(db, user.user_id, search_id, admin=admin)
        db.commit()

    await run_in_threadpool(work)
    return Response(status_code=204)


@router.get("/history", summary="The last 50 queries you ran in the log explorer")
async def query_history(user: Viewer, db: Db) -> dict[str, Any]:
    rows = await run_in_threadpool(searches.history, db, user.user_id)
    return {"queries": [{"query": q, "ran_at": at.isoformat()} for q, at in rows]}
