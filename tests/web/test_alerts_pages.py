"""The alerts, silences and notifications pages as rendered HTML, over alert rows written
into the store."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from urllib.parse import quote

import httpx

from tests.alerts.alert_rows import RUNBOOK, add_alert, add_notification
from tests.conftest import form_token
from watchkeeper.alerts import silences
from watchkeeper.auth.audit import Actor
from watchkeeper.plan import catalog
from watchkeeper.runtime.context import AppContext

SignIn = Callable[..., httpx.Client]


def seed(ctx: AppContext) -> dict[str, int]:
    with ctx.sessions() as db:
        catalog.create_object(
            db,
            "alerts.rules",
            {
                "name": "DiskFull",
                "expr": "disk_free < 0.1",
                "runbook_url": "https://wiki.example.com/disk",
                "runbook": RUNBOOK,
            },
            Actor("test"),
        )
        catalog.create_object(
            db,
            "notifications.channels",
            {"name": "ops-hook", "type": "webhook", "url": "http://127.0.0.1:9/hook"},
            Actor("test"),
        )
        disk = add_alert(
            db, "DiskFull", severity="critical", labels={"instance": "db-1"}, value=0.04
        )
        add_notification(db, disk, "ops-hook")
        add_notification(db, disk, "pager", status="failed", error="answered HTTP 400")
        ids = {
            "disk": disk.id,
            "cpu": add_alert(
                db, "HighCPU", labels={"instance": "web-1"}, muted="silenced", muted_by=["s-1"]
            ).id,
            "lag": add_alert(db, "ReplicationLag", state="pending", severity="info").id,
            "old": add_alert(db, "DiskFull", state="resolved", labels={"instance": "db-2"}).id,
        }
        db.commit()
    return ids


def tab_count(page: str, title: str) -> int:
    found = re.search(rf">{title} <span class=\"count\">(\d+)</span>", page)
    assert found, title
    return int(found.group(1))


def test_alert_list_tabs_counts_and_rows(ctx: AppContext, sign_in: SignIn) -> None:
    ids = seed(ctx)
    vera = sign_in("vera", "viewer")
    page = vera.get("/alerts").text
    assert tab_count(page, "Firing") == 1
    assert tab_count(page, "Pending") == 1
    assert tab_count(page, "Silenced") == 1
    assert tab_count(page, "In maintenance") == 0
    assert tab_count(page, "Resolved") == 1
    assert f'href="/alerts/{ids["disk"]}"' in page
    assert 'class="sev sev-critical">critical<' in page
    assert '<span class="k">instance</span>=<span class="v">db-1</span>' in page
    assert ">0.04<" in page
    assert "min ago</time>" in page
    assert f'href="/alerts/{ids["cpu"]}"' not in page  # silenced: under its own tab
    assert "New silence" not in page  # viewers cannot silence

    silenced = vera.get("/alerts", params={"tab": "silenced"}).text
    assert f'href="/alerts/{ids["cpu"]}"' in silenced
    assert 'class="pill muted-flag" title="s-1">silenced<' in silenced
    resolved = vera.get("/alerts", params={"tab": "resolved"}).text
    assert f'href="/alerts/{ids["old"]}"' in resolved
    only_info = vera.get("/alerts", params={"tab": "firing", "severity": "info"}).text
    assert "No firing alerts match these filters." in only_info
    assert vera.get("/alerts", params={"tab": "sideways"}).status_code == 422


def test_alert_page_shows_history_runbook_and_notifications(
    ctx: AppContext, sign_in: SignIn
) -> None:
    ids = seed(ctx)
    rita = sign_in("rita", "responder")
    page = rita.get(f"/alerts/{ids['disk']}").text
    assert "<h1>DiskFull" in page
    assert "DiskFull on db-1" in page  # the summary annotation
    assert page.count('class="pill state-firing">firing<') >= 2  # title and timeline
    assert 'class="pill state-pending">pending<' in page
    # The runbook: Markdown rendered, raw HTML escaped, javascript: links dropped.
    assert "<h2>Disk full</h2>" in page
    assert "<code>du -xh / | sort -h | tail</code>" in page
    assert "&lt;script&gt;" in page and "<script>alert" not in page
    assert 'href="javascript:' not in page
    assert '<a href="https://wiki.example.com/disk">the wiki</a>' in page
    assert 'href="https://wiki.example.com/disk" rel="noopener noreferrer"' in page
    # Silence: the form prefilled with the alert's labels (not its severity).
    silence = html.unescape(re.search(r'href="(/alerts/silences/new\?[^"]+)"', page).group(1))  # type: ignore[union-attr]
    assert silence == (
        "/alerts/silences/new?matcher="
        + quote('alertname="DiskFull"', safe="")
        + "&matcher="
        + quote('instance="db-1"', safe="")
    )
    # The notifications about it, found by fingerprint; the failure with its error.
    assert "ops-hook" in page and "answered HTTP 400" in page
    assert rita.get("/alerts/424242").status_code == 404
    assert rita.get("/alerts/nope").status_code == 422


def test_new_silence_form_is_prefilled_and_previews(ctx: AppContext, sign_in: SignIn) -> None:
    ids = seed(ctx)
    rita = sign_in("rita", "responder")
    page = rita.get(
        "/alerts/silences/new", params=[("matcher", 'alertname="DiskFull"'), ("matcher", "")]
    ).text
    assert ">alertname=&#34;DiskFull&#34;</textarea>" in page
    assert 'name="created_by" value="rita"' in page
    assert f'href="/alerts/{ids["disk"]}"' in page  # would silence the firing DiskFull
    assert f'href="/alerts/{ids["old"]}"' not in page  # resolved: not in the preview
    preview = rita.get("/alerts/silences/preview", params={"matchers": "instance=~web-.*"}).text
    assert f'href="/alerts/{ids["cpu"]}"' in preview and "1</strong> active alert:" in preview
    bad = rita.get("/alerts/silences/preview", params={"matchers": "alertname=A\nnope"}).text
    assert "Line 2:" in bad and "is not a label matcher" in bad
    everything = rita.get("/alerts/silences/preview", params={"matchers": 'job=~".*"'}).text
    assert "would mute every alert" in everything


def test_silence_created_listed_and_expired_from_the_pages(
    ctx: AppContext, sign_in: SignIn
) -> None:
    seed(ctx)
    rita = sign_in("rita", "responder")
    token = form_token(rita, "/alerts/silences/new")
    resp = rita.post(
        "/alerts/silences",
        data={
            "csrf_token": token,
            "matchers": 'alertname="DiskFull"\r\ninstance=~"db-.*"\r\n',
            "duration": "3h",
            "comment": "disk swap on db-1",
            "created_by": "rita",
        },
    )
    assert resp.status_code == 303
    assert resp.headers["location"].startswith("/alerts/silences?done=created#silence-")
    with ctx.sessions() as db:
        (made,) = silences.list_silences(db, "active")
    assert made.matchers == ['alertname="DiskFull"', 'instance=~"db-.*"']
    listing = rita.get(resp.headers["location"]).text
    assert "Silence created." in listing
    assert f'id="silence-{made.id}"' in listing
    assert "disk swap on db-1" in listing
    assert "1 alert<" in listing  # it mutes the firing DiskFull on db-1
    assert f'action="/alerts/silences/{made.id}/expire"' in listing

    vera = sign_in("vera", "viewer")
    seen = vera.get("/alerts/silences").text
    assert f'id="silence-{made.id}"' in seen and "/expire" not in seen
    refused = vera.post(f"/alerts/silences/{made.id}/expire")
    assert refused.status_code == 403

    resp = rita.post(f"/alerts/silences/{made.id}/expire", data={"csrf_token": token})
    assert resp.status_code == 303
    after = rita.get(resp.headers["location"]).text
    assert "Silence expired." in after
    assert "No silence is active." in after
    again = rita.post(f"/alerts/silences/{made.id}/expire", data={"csrf_token": token})
    assert "already-expired" in again.headers["location"]


def test_a_bad_silence_form_comes_back_with_the_reasons(ctx: AppContext, sign_in: SignIn) -> None:
    rita = sign_in("rita", "responder")
    token = form_token(rita, "/alerts/silences/new")
    resp = rita.post(
        "/alerts/silences",
        data={
            "csrf_token": token,
            "matchers": "alertname=A\nwhat is this",
            "duration": "forever",
            "comment": "",
            "created_by": "rita",
        },
    )
    assert resp.status_code == 422
    page = resp.text
    assert "Not saved:" in page
    assert "Line 2:" in page and "is not a label matcher" in page
    assert "Duration:" in page and "is not a duration" in page
    assert "Comment: say why" in page
    assert "what is this</textarea>" in page  # what was typed is kept
    past = rita.post(
        "/alerts/silences",
        data={
            "csrf_token": token,
            "matchers": "alertname=A",
            "duration": "1h",
            "ends_at": "2000-01-01T10:00",
            "comment": "x",
        },
    )
    assert past.status_code == 422 and "End: must be after the start" in past.text
    with ctx.sessions() as db:
        assert silences.list_silences(db) == []


def test_notifications_page_channels_outbox_and_test_send(ctx: AppContext, sign_in: SignIn) -> None:
    seed(ctx)
    vera = sign_in("vera", "viewer")
    page = vera.get("/notifications").text
    assert "ops-hook" in page and "<code>webhook</code>" in page
    assert "Send test" not in page
    assert re.search(r'<tr id="n-\d+" class="failed">', page)
    assert "answered HTTP 400" in page
    failed_card = r'delivery-card-failed" href="\?status=failed#outbox"><span class="num">1<'
    assert re.search(failed_card, page)
    failed_only = vera.get("/notifications", params={"status": "failed"}).text
    assert failed_only.count('<tr id="n-') == 1

    olga = sign_in("olga", "operator")
    page = olga.get("/notifications").text
    assert 'action="/notifications/channels/ops-hook/test"' in page
    token = form_token(olga, "/notifications")
    resp = olga.post("/notifications/channels/ops-hook/test", data={"csrf_token": token})
    assert resp.status_code == 303
    sent = olga.get(resp.headers["location"]).text
    assert "Test notification #" in sent and "queued for “ops-hook”" in sent
    assert "Test notification</td>" in sent or "test</span> Test notification" in sent
    missing = olga.post("/notifications/channels/nope/test", data={"csrf_token": token})
    assert missing.status_code == 404
    assert vera.post("/notifications/channels/ops-hook/test").status_code == 403


def test_a_responder_acknowledges_an_alert_from_its_page(ctx: AppContext, sign_in: SignIn) -> None:
    with ctx.sessions() as db:
        alert_id = add_alert(db, "ApiDown", severity="critical").id
        db.commit()
    rita = sign_in("rita", "responder")
    page = rita.get(f"/alerts/{alert_id}").text
    assert f'action="/alerts/{alert_id}/ack"' in page
    token = form_token(rita, f"/alerts/{alert_id}")
    resp = rita.post(f"/alerts/{alert_id}/ack", data={"csrf_token": token})
    assert resp.status_code == 303
    page = rita.get(f"/alerts/{alert_id}").text
    assert "Acknowledged</strong> by rita" in page
    assert f'action="/alerts/{alert_id}/ack"' not in page
