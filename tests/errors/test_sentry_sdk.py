"""The real sentry-sdk, configured with a DSN pointing at Watchkeeper on loopback, reports
the exceptions of a small app; the events are grouped into issues as docs/errors.md says."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sentry_sdk
from sqlalchemy import select

from tests.errors.conftest import TokenClient
from tests.errors.support import apply
from tests.helpers import LiveServer
from watchkeeper.errors.events import load_payload
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import ErrorEvent, ErrorIssue, ErrorIssueRelease

PLAN = """
errors:
  projects:
    - name: shop
      platform: python
      max_event_size: 16KB
      scrub_fields: [loyalty_number]
"""


# -- the small app ---------------------------------------------------------------------------


def cart_total(cart: dict[str, int]) -> float:
    return cart["total"] / cart["items"]  # ZeroDivisionError for an empty cart


def find_customer(customers: dict[str, str], name: str) -> str:
    return customers[name]  # KeyError for an unknown customer


def report(call: Any, *args: Any) -> str | None:
    try:
        call(*args)
    except Exception:
        return sentry_sdk.capture_exception()
    raise AssertionError("the app did not fail")


# -- the tests -------------------------------------------------------------------------------


@pytest.fixture
def dsn(ctx: AppContext, errors_server: LiveServer, api_as: TokenClient) -> str:
    """The project's DSN, as the API shows it."""
    apply(ctx, PLAN)
    (shop,) = api_as("viewer").get("/api/v1/errors/projects").json()
    assert shop["dsn"].startswith("http://") and shop["dsn"].endswith(f"/{shop['id']}")
    return str(shop["dsn"])


@contextmanager
def sdk(dsn: str, release: str) -> Iterator[None]:
    """The SDK initialised as an app would (without the integrations that would hook the
    test run itself); closed (after sending what it holds) at the end."""
    sentry_sdk.init(
        dsn=dsn,
        release=release,
        environment="production",
        default_integrations=False,
        auto_enabling_integrations=False,
        include_local_variables=True,
        send_client_reports=False,
    )
    try:
        yield
    finally:
        sentry_sdk.get_client().close(timeout=10)


def issues(ctx: AppContext) -> list[ErrorIssue]:
    with ctx.sessions() as db:
        return list(db.scalars(select(ErrorIssue).order_by(ErrorIssue.id)))


def test_sdk_events_are_grouped_into_issues(ctx: AppContext, dsn: str) -> None:
    with sdk(dsn, "shop@1.4.2"):
        first = report(cart_total, {"total": 10, "items": 0})
        sentry_sdk.flush(timeout=10)
    with sdk(dsn, "shop@1.5.0"):
        again = report(cart_total, {"total": 99, "items": 0})  # the same bug, a new release
        other = report(find_customer, {}, "ann")
        sentry_sdk.flush(timeout=10)
    assert first and again and other
    found = issues(ctx)
    assert [(i.title, i.count) for i in found] == [
        ("ZeroDivisionError: division by zero", 2),
        ("KeyError: 'ann'", 1),
    ]
    bug = found[0]
    assert bug.culprit.endswith("test_sentry_sdk in cart_total")
    assert (bug.first_release, bug.last_release) == ("shop@1.4.2", "shop@1.5.0")
    assert bug.status == "unresolved"
    with ctx.sessions() as db:
        releases = db.scalars(
            select(ErrorIssueRelease.release).where(ErrorIssueRelease.issue_id == bug.id)
        )
        assert sorted(releases) == ["shop@1.4.2", "shop@1.5.0"]
        ids = set(db.scalars(select(ErrorEvent.event_id)))
    assert ids == {first, again, other}


def test_oversized_event_is_refused_and_the_sdk_keeps_working(ctx: AppContext, dsn: str) -> None:
    with sdk(dsn, "shop@1.4.2"):
        with sentry_sdk.new_scope() as scope:
            scope.set_extra("report", "x" * 40_000)  # > max_event_size (16 KB)
            big = report(cart_total, {"total": 1, "items": 0})
        sentry_sdk.flush(timeout=10)
        later = report(find_customer, {}, "bob")
        sentry_sdk.flush(timeout=10)
    with ctx.sessions() as db:
        assert set(db.scalars(select(ErrorEvent.event_id))) == {later}
    assert big is not None
    assert [i.title for i in issues(ctx)] == ["KeyError: 'bob'"]


def test_scrubbed_fields_from_the_sdk_are_absent(ctx: AppContext, dsn: str) -> None:
    # Made at run time: the SDK sends source lines around each frame, and these must not
    # hold the values themselves (real code has no secrets in its source).
    card, password = " ".join(["4111", *["1111"] * 3]), "".join(("open", "sesame99"))
    loyalty_number, token = "-".join(("LN", "55501234")), "_".join(("tok", "8c1d2e3f4a5b"))

    def charge(card: str, password: str, loyalty_number: str) -> None:
        raise RuntimeError(f"charge failed for card {card}")

    with sdk(dsn, "shop@1.4.2"):
        with sentry_sdk.new_scope() as scope:
            scope.set_extra("loyalty_number", loyalty_number)  # a configured scrub field
            scope.set_extra("note", f"customer said: password={password}")
            scope.add_breadcrumb(message=f"login with token={token}", category="auth")
            # No positional *args on the way: a secret in an unnamed value has no key to
            # tell it apart (only its form: card numbers, key=value text).
            report(lambda: charge(card, password, loyalty_number))
        sentry_sdk.flush(timeout=10)
    with ctx.sessions() as db:
        (row,) = db.scalars(select(ErrorEvent))
        text = str(load_payload(row.payload))
        titles = [i.title for i in db.scalars(select(ErrorIssue))]
    for secret in (card, password, loyalty_number, token):
        assert secret not in text
        assert all(secret not in t for t in titles)
    assert "charge failed for card [Filtered]" in text
