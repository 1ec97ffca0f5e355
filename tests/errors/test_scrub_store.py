"""Secrets sent in every part of an event cannot be found anywhere in the stored rows."""

from __future__ import annotations

import httpx
from sqlalchemy import inspect, text

from tests.errors.support import apply, event_envelope, exception_event, post, project
from watchkeeper.errors.events import load_payload
from watchkeeper.runtime.context import AppContext

SECRETS = {
    "password": "pw-Zebra-4417",
    "header_token": "hdr-tok-99aa77",
    "cookie": "sess-cookie-31337",
    "api_key": "ak-live-0f0f0f",
    "frame_secret": "frame-secret-8821",
    "card": "4111 1111 1111 1111",
    "card_digits": "5555555555554444",
    "configured": "iban-DE8937040044",
    "breadcrumb": "crumb-token-5150",
    "query": "qs-pass-7007",
    "db_password": "db-pw-2468",
    "auth_basic": "dXNlcjpzM2NyM3Q=",
}
KEPT = ("visible-marker-1234", "shop.views", "checkout")


def _event() -> dict[str, object]:
    s = SECRETS
    event = exception_event(
        "RuntimeError",
        f"could not connect to postgresql://app:{s['db_password']}@db/shop",
        request={
            "url": f"https://shop.example/pay?password={s['query']}&page=2",
            "method": "POST",
            "headers": {
                "Authorization": f"Bearer {s['header_token']}",
                "X-Api-Key": s["api_key"],
                "Cookie": f"session={s['cookie']}",
                "User-Agent": "visible-marker-1234",
            },
            "cookies": {"session": s["cookie"]},
            "query_string": [["password", s["query"]], ["page", "2"]],
            "data": {"password": s["password"], "card_number": s["card_digits"]},
        },
        extra={
            "iban": s["configured"],
            "note": f"paid with {s['card']}",
            "upstream": f"Authorization: Basic {s['auth_basic']}",
        },
        breadcrumbs={
            "values": [
                {"message": f"called api with token={s['breadcrumb']}", "category": "http"},
                {"category": "query", "data": {"secret": s["frame_secret"]}},
            ]
        },
        tags={"api_key": s["api_key"]},
        contexts={"payment": {"password": s["password"]}},
    )
    frames = event["exception"]["values"][0]["stacktrace"]["frames"]  # type: ignore[index]
    frames[-1]["vars"] = {"secret_value": f"'{s['frame_secret']}'", "amount": "12"}
    frames[-1]["context_line"] = f'    password = "{s["password"]}"'
    return event


def _all_stored_text(ctx: AppContext) -> str:
    """Every value of every row of every error-tracking table, payloads decompressed."""
    parts: list[str] = []
    with ctx.engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            if not table.startswith("error_"):
                continue
            for row in conn.execute(text(f"SELECT * FROM {table}")):
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        raw = bytes(value)
                        parts.append(raw.decode("latin-1"))
                        parts.append(str(load_payload(raw)))
                    else:
                        parts.append(str(value))
    return "\n".join(parts)


def test_secrets_are_not_in_any_stored_row(ctx: AppContext, client: httpx.Client) -> None:
    apply(ctx, "errors:\n  projects:\n    - name: shop\n      scrub_fields: [iban]\n")
    shop = project(ctx, "shop")
    resp = post(client, shop, event_envelope(_event()))
    assert resp.status_code == 200, resp.text
    stored = _all_stored_text(ctx)
    for marker in KEPT:
        assert marker in stored  # the event is there...
    leaked = {name for name, value in SECRETS.items() if value in stored}
    assert leaked == set()  # ...without its secrets
    assert stored.count("[Filtered]") >= len(SECRETS)
