"""Helpers of the error-tracking tests: a plan with projects, envelopes, and requests."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx

from watchkeeper.errors.projects import Project, sync_projects
from watchkeeper.plan.apply import apply_plan
from watchkeeper.plan.loader import load_plan_text
from watchkeeper.runtime.context import AppContext

FIXED_CLOCK = 1_800_000_000.0 + 5  # five seconds into a minute: rate windows never move


def apply(ctx: AppContext, text: str) -> None:
    """Apply a plan made of ``text`` to the store."""
    with ctx.sessions() as db:
        apply_plan(db, load_plan_text(text, env={}))
        db.commit()


def project(ctx: AppContext, name: str) -> Project:
    """The project named ``name`` with its id and DSN key (made on first sight)."""
    with ctx.sessions() as db:
        _, projects = sync_projects(db)
        db.commit()
    return next(p for p in projects if p.name == name)


def new_id() -> str:
    return uuid.uuid4().hex


def exception_event(
    kind: str = "ValueError",
    value: str = "bad value",
    frames: list[tuple[str, str, int]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """An event as the Python SDK sends one: an exception with in-app frames
    ``(module, function, line)``."""
    stack = frames or [("shop.views", "checkout", 10), ("shop.cart", "total", 42)]
    return {
        "event_id": new_id(),
        "platform": "python",
        "level": "error",
        "exception": {
            "values": [
                {
                    "type": kind,
                    "value": value,
                    "stacktrace": {
                        "frames": [
                            {"module": m, "function": f, "lineno": n, "in_app": True}
                            for m, f, n in stack
                        ]
                    },
                }
            ]
        },
        **extra,
    }


def envelope(*items: tuple[dict[str, Any], bytes | dict[str, Any]], header: Any = None) -> bytes:
    """An envelope: a header line, then each item's header and payload (``length`` set)."""
    lines = [json.dumps(header if header is not None else {}).encode()]
    for item_header, payload in items:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        lines.append(json.dumps({**item_header, "length": len(body)}).encode())
        lines.append(body)
    return b"\n".join(lines) + b"\n"


def event_envelope(event: dict[str, Any]) -> bytes:
    return envelope(({"type": "event"}, event), header={"event_id": event["event_id"]})


def auth(key: str) -> dict[str, str]:
    return {"X-Sentry-Auth": f"Sentry sentry_key={key}, sentry_version=7, sentry_client=test/1"}


def post(
    client: httpx.Client,
    target: Project,
    body: bytes,
    headers: dict[str, str] | None = None,
    endpoint: str = "envelope",
) -> httpx.Response:
    """POST ``body`` to the project's endpoint with its key (unless ``headers`` carry auth)."""
    sent = {"Content-Type": "application/x-sentry-envelope", **auth(target.public_key)}
    sent.update(headers or {})
    return client.post(f"/api/{target.id}/{endpoint}/", content=body, headers=sent)
