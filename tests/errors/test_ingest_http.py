"""The ingest endpoints over real HTTP: compression, items, limits, keys, malformed bodies."""

from __future__ import annotations

import base64
import gzip
import json
import re
import zlib
from concurrent.futures import ThreadPoolExecutor

import cramjam
import httpx
import pytest
from sqlalchemy import func, select

from tests.errors.support import (
    apply,
    auth,
    envelope,
    event_envelope,
    exception_event,
    new_id,
    post,
    project,
)
from watchkeeper.errors.events import load_payload
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import ErrorEvent, ErrorIssue
from watchkeeper.telemetry import REGISTRY

PLAN = """
errors:
  events_per_issue: 3
  projects:
    - name: shop
      team: payments
      platform: python
      max_event_size: 8KiB
    - name: api
      rate_limit: 3
    - name: web
      environments: [production]
"""


@pytest.fixture(autouse=True)
def _plan(ctx: AppContext) -> None:
    apply(ctx, PLAN)


def _count(ctx: AppContext, table: type[ErrorEvent] | type[ErrorIssue]) -> int:
    with ctx.sessions() as db:
        return db.scalar(select(func.count()).select_from(table)) or 0


def _problem(resp: httpx.Response, status: int) -> str:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    body = resp.json()
    assert body["status"] == status
    return str(body["detail"])


@pytest.mark.parametrize(
    ("encoding", "pack"),
    [
        ("gzip", gzip.compress),
        ("br", lambda data: bytes(cramjam.brotli.compress(data))),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data)[2:-4]),  # raw deflate, as some send it
        ("identity", lambda data: data),
    ],
)
def test_compressed_envelopes(ctx: AppContext, client: httpx.Client, encoding: str, pack) -> None:  # type: ignore[no-untyped-def]
    shop = project(ctx, "shop")
    event = exception_event()
    resp = post(client, shop, pack(event_envelope(event)), {"Content-Encoding": encoding})
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"id": event["event_id"]}
    assert resp.headers["access-control-allow-origin"] == "*"
    with ctx.sessions() as db:
        stored = db.scalar(select(ErrorEvent))
        assert stored is not None and stored.event_id == event["event_id"]
        assert load_payload(stored.payload)["exception"] == event["exception"]


def test_bad_compression(ctx: AppContext, client: httpx.Client) -> None:
    shop = project(ctx, "shop")
    body = event_envelope(exception_event())
    assert "zstd" in _problem(post(client, shop, body, {"Content-Encoding": "zstd"}), 415)
    detail = _problem(post(client, shop, body, {"Content-Encoding": "gzip"}), 400)
    assert "not valid gzip" in detail
    cut = gzip.compress(body)[:-12]
    assert "cut short" in _problem(post(client, shop, cut, {"Content-Encoding": "gzip"}), 400)


def test_unknown_and_ignored_items_are_accepted(ctx: AppContext, client: httpx.Client) -> None:
    shop = project(ctx, "shop")
    event = exception_event()
    body = envelope(
        ({"type": "a_type_from_the_future"}, {"anything": True}),
        ({"type": "session"}, {"sid": new_id(), "status": "ok"}),
        ({"type": "attachment", "filename": "a.txt"}, b"\x00\x01binary"),
        ({"type": "transaction"}, {"type": "transaction", "spans": []}),
        ({"type": "event"}, event),
        header={"event_id": event["event_id"], "sent_at": "2026-12-06T04:00:00Z"},
    )
    resp = post(client, shop, body)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"id": event["event_id"]}
    assert _count(ctx, ErrorEvent) == 1
    only_unknown = envelope(({"type": "brand_new"}, b"?"))
    assert post(client, shop, only_unknown).json() == {}


def test_client_reports_are_counted(ctx: AppContext, client: httpx.Client) -> None:
    shop = project(ctx, "shop")
    labels = {"project": "shop", "reason": "queue_overflow", "category": "error"}
    name = "watchkeeper_error_sdk_discarded_total"
    before = REGISTRY.get_sample_value(name, labels) or 0.0
    report = {
        "timestamp": "2026-12-06T04:00:00Z",
        "discarded_events": [
            {"reason": "queue_overflow", "category": "error", "quantity": 4},
            {"reason": "made_up", "category": "error", "quantity": 1},
            {"reason": "queue_overflow", "category": "error", "quantity": "x"},
        ],
    }
    resp = post(client, shop, envelope(({"type": "client_report"}, report)))
    assert resp.status_code == 200
    assert REGISTRY.get_sample_value(name, labels) == before + 4
    broken = post(client, shop, envelope(({"type": "client_report"}, b"not json")))
    assert broken.status_code == 200  # an SDK's bookkeeping is never worth an error


def test_store_endpoint_plain_and_legacy_encoded(ctx: AppContext, client: httpx.Client) -> None:
    shop = project(ctx, "shop")
    plain = exception_event()
    resp = post(client, shop, json.dumps(plain).encode(), endpoint="store")
    assert resp.status_code == 200 and resp.json() == {"id": plain["event_id"]}
    legacy = exception_event("KeyError")
    packed = base64.b64encode(zlib.compress(json.dumps(legacy).encode()))
    resp = post(client, shop, packed, endpoint="store")
    assert resp.status_code == 200 and resp.json() == {"id": legacy["event_id"]}
    assert _count(ctx, ErrorIssue) == 2


def test_keys_in_header_query_or_envelope(ctx: AppContext, client: httpx.Client) -> None:
    shop = project(ctx, "shop")
    by_query = client.post(
        f"/api/{shop.id}/envelope/?sentry_key={shop.public_key}&sentry_version=7",
        content=event_envelope(exception_event()),
    )
    assert by_query.status_code == 200, by_query.text
    event = exception_event()
    by_dsn = envelope(
        ({"type": "event"}, event),
        header={"event_id": event["event_id"], "dsn": f"http://{shop.public_key}@h/{shop.id}"},
    )
    resp = client.post(f"/api/{shop.id}/envelope/", content=by_dsn)
    assert resp.status_code == 200, resp.text
    legacy_auth = client.post(
        f"/api/{shop.id}/store/",
        content=json.dumps(exception_event()),
        headers={"Authorization": f"Sentry sentry_key={shop.public_key}, sentry_version=5"},
    )
    assert legacy_auth.status_code == 200


def test_bad_keys_are_refused_with_a_problem(ctx: AppContext, client: httpx.Client) -> None:
    shop, api = project(ctx, "shop"), project(ctx, "api")
    body = event_envelope(exception_event())
    none = client.post(f"/api/{shop.id}/envelope/", content=body)
    assert "no DSN key" in _problem(none, 401)
    wrong = post(client, shop, body, auth("0" * 32))
    assert "not valid" in _problem(wrong, 401)
    assert wrong.headers["x-sentry-error"].startswith("the DSN key is not valid")
    other = client.post(f"/api/{shop.id}/envelope/", content=body, headers=auth(api.public_key))
    assert f"not the key of project {shop.id}" in _problem(other, 403)
    unknown_project = client.post("/api/999/envelope/", content=body, headers=auth("1" * 32))
    _problem(unknown_project, 401)
    bad_dsn = envelope(({"type": "event"}, exception_event()), header={"dsn": "nonsense"})
    _problem(client.post(f"/api/{shop.id}/envelope/", content=bad_dsn), 401)
    assert _count(ctx, ErrorEvent) == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{broken\n", "line 1: the envelope header is not valid JSON"),
        (b'{}\n{"type":"event","length":99}\n{}\n', "declares a length of 99 bytes"),
        (b'{}\n{"type":"event"}\n[1, 2]\n', "item 1 (event): the event is not a JSON object"),
        (b'{}\n{"type":"event"}\n{"a": \n', "item 1 (event): the event is not valid JSON"),
        (
            b'{}\n{"type":"event"}\n{"event_id": "nope"}\n',
            'item 1 (event): event_id "nope" is not a UUID',
        ),
        (b"", "the envelope is empty"),
    ],
)
def test_malformed_envelopes_are_400_naming_the_problem(
    ctx: AppContext, client: httpx.Client, body: bytes, message: str
) -> None:
    assert message in _problem(post(client, project(ctx, "shop"), body), 400)


def test_oversized_event_is_413_and_later_events_arrive(
    ctx: AppContext, client: httpx.Client
) -> None:
    shop = project(ctx, "shop")
    big = exception_event(extra={"blob": "x" * 9000})
    detail = _problem(post(client, shop, event_envelope(big)), 413)
    assert 'project "shop" takes events of up to 8192 bytes' in detail
    assert post(client, shop, event_envelope(exception_event())).status_code == 200
    assert _count(ctx, ErrorEvent) == 1


def test_oversized_body_is_413(ctx: AppContext, client: httpx.Client) -> None:
    apply(ctx, PLAN + "  max_envelope_size: 64KiB\n")
    shop = project(ctx, "shop")
    huge = envelope(({"type": "attachment"}, b"a" * 70_000))
    _problem(post(client, shop, huge), 413)
    bomb = gzip.compress(envelope(({"type": "attachment"}, b"a" * 2_000_000)))
    assert len(bomb) < 65536
    assert "decompressed" in _problem(post(client, shop, bomb, {"Content-Encoding": "gzip"}), 413)


def test_rate_limit_answers_429_with_the_protocol_headers(
    ctx: AppContext, client: httpx.Client
) -> None:
    api = project(ctx, "api")
    for _ in range(3):
        assert post(client, api, event_envelope(exception_event())).status_code == 200
    refused = post(client, api, event_envelope(exception_event()))
    assert "over its rate limit of 3 events per minute" in _problem(refused, 429)
    assert refused.headers["retry-after"] == "55"  # the fixed clock is 5 s into its minute
    assert (
        refused.headers["x-sentry-rate-limits"] == "55:error;default;security:project:project_quota"
    )
    assert re.fullmatch(r"\d+:[a-z;]+:project:\w+", refused.headers["x-sentry-rate-limits"])
    # Other projects and items that are not events are not limited.
    assert post(client, project(ctx, "shop"), event_envelope(exception_event())).status_code == 200
    assert post(client, api, envelope(({"type": "session"}, {}))).status_code == 200
    assert _count(ctx, ErrorEvent) == 4


def test_environment_filter_accepts_and_drops(ctx: AppContext, client: httpx.Client) -> None:
    web = project(ctx, "web")
    staging = exception_event(environment="staging")
    resp = post(client, web, event_envelope(staging))
    assert resp.status_code == 200 and resp.json() == {"id": staging["event_id"]}
    assert post(client, web, event_envelope(exception_event(environment="production"))).is_success
    assert _count(ctx, ErrorEvent) == 1


def test_latest_events_kept_per_issue_and_retries_not_counted_twice(
    ctx: AppContext, client: httpx.Client
) -> None:
    shop = project(ctx, "shop")
    sent = [exception_event(release=f"1.{i}.0") for i in range(5)]
    for event in sent:
        assert post(client, shop, event_envelope(event)).status_code == 200
    assert post(client, shop, event_envelope(sent[-1])).status_code == 200  # an SDK's retry
    with ctx.sessions() as db:
        issue = db.scalar(select(ErrorIssue))
        assert issue is not None
        assert issue.count == 5
        assert (issue.first_release, issue.last_release) == ("1.0.0", "1.4.0")
        kept = list(db.scalars(select(ErrorEvent.event_id).order_by(ErrorEvent.id)))
    assert kept == [e["event_id"] for e in sent[-3:]]


def test_preflight_for_browser_sdks(ctx: AppContext, client: httpx.Client) -> None:
    shop = project(ctx, "shop")
    resp = client.options(
        f"/api/{shop.id}/envelope/",
        headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"},
    )
    assert resp.status_code == 200
    assert resp.headers["access-control-allow-origin"] == "*"
    assert "x-sentry-auth" in resp.headers["access-control-allow-headers"].lower()


def test_ingest_answers_carry_the_usual_headers_and_metrics(
    ctx: AppContext, client: httpx.Client
) -> None:
    """The ingest routes are answered ahead of the router (``IngestShortcut``); they keep
    the security headers and the request counter by route template, and what the shortcut
    does not take still reaches the declared routes."""
    shop = project(ctx, "shop")
    labels = {"method": "POST", "route": "/api/{project_id}/envelope/", "status": "200"}
    name = "watchkeeper_http_requests_total"
    before = REGISTRY.get_sample_value(name, labels) or 0
    resp = post(client, shop, event_envelope(exception_event()))
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert REGISTRY.get_sample_value(name, labels) == before + 1
    assert client.get(f"/api/{shop.id}/envelope/").status_code == 405
    no_slash = client.post(f"/api/{shop.id}/envelope")  # the router's redirect, as before
    assert no_slash.status_code == 307
    assert no_slash.headers["location"].endswith(f"/api/{shop.id}/envelope/")
    too_long = "9" * 30  # past the shortcut's pattern: the router's route answers alike
    resp = client.post(
        f"/api/{too_long}/envelope/",
        content=event_envelope(exception_event()),
        headers=auth(shop.public_key),
    )
    assert "not the key of project" in _problem(resp, 403)


def test_concurrent_envelopes_share_batches_and_count_right(
    ctx: AppContext, client: httpx.Client
) -> None:
    shop = project(ctx, "shop")
    kinds = ("KeyError", "TypeError", "ValueError")
    events = [exception_event(kinds[i % 3], user={"id": f"u{i % 5}"}) for i in range(60)]

    def send(event: dict[str, object]) -> int:
        return post(client, shop, event_envelope(event)).status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        assert set(pool.map(send, events)) == {200}
    with ctx.sessions() as db:
        found = {i.title.split(":")[0]: (i.count, i.users) for i in db.scalars(select(ErrorIssue))}
    assert found == dict.fromkeys(kinds, (20, 5))
