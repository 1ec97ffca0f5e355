"""Opening a GitHub issue for an error issue through the incidents section's trackers
(the same plugins, a fake GitHub on loopback): the link kept and shown, one per issue, the
roles, webhook trackers refused, and nothing kept when the tracker refuses."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import login, make_user
from tests.errors.conftest import TokenClient
from tests.errors.support import apply, event_envelope, exception_event, post, project
from tests.helpers import LiveServer
from tests.incidents.fake_trackers import GITHUB_TOKEN, FakeTrackers
from watchkeeper.incidents.config import Tracker
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import StoredObject


@pytest.fixture
def fake() -> Iterator[FakeTrackers]:
    with FakeTrackers() as server:
        yield server


def test_open_a_github_issue(
    ctx: AppContext, errors_server: LiveServer, api_as: TokenClient, fake: FakeTrackers
) -> None:
    apply(ctx, "errors:\n  projects:\n    - name: shop\n")
    with ctx.sessions() as db:
        for spec in [
            {
                "name": "gh",
                "type": "github",
                "url": fake.url,
                "project": "acme/shop",
                "token": GITHUB_TOKEN,
            },
            {"name": "hook", "type": "webhook", "url": f"{fake.url}/hooks/x"},
        ]:
            tracker = Tracker.model_validate(spec)
            db.add(
                StoredObject(
                    kind="incidents.trackers",
                    name=tracker.name,
                    spec=tracker.model_dump(mode="json", by_alias=True),
                    managed=True,
                )
            )
        db.commit()
    shop = project(ctx, "shop")
    with httpx.Client(base_url=errors_server.url) as sdk:
        assert post(sdk, shop, event_envelope(exception_event())).status_code == 200
    viewer, responder, operator = api_as("viewer"), api_as("responder"), api_as("operator")
    (listed,) = viewer.get("/api/v1/errors/issues").json()["issues"]
    url = f"/api/v1/errors/issues/{listed['id']}/tracker"
    assert responder.post(url, json={"tracker": "gh"}).status_code == 403
    fake.answer = (422, {"message": "Validation Failed"})
    refused = operator.post(url, json={"tracker": "gh"})
    assert refused.status_code == 502, refused.text
    assert viewer.get(f"/api/v1/errors/issues/{listed['id']}").json()["tracker_issue"] is None
    fake.answer = None
    opened = operator.post(url, json={"tracker": "gh"})
    assert opened.status_code == 200, opened.text
    assert opened.json()["tracker_issue"] == {
        "tracker": "gh",
        "external_id": "1",
        "url": "https://github.com/acme/shop/issues/1",
    }
    sent = fake.requests_to("/repos/")[-1].json()
    assert sent["title"] == "[shop] ValueError: bad value"
    assert "shop.cart in total" in sent["body"]
    assert operator.post(url, json={"tracker": "gh"}).status_code == 409
    hook = operator.post(url, json={"tracker": "hook"})
    assert hook.status_code == 409 and "webhook tracker" in hook.json()["detail"]
    assert operator.post(url, json={"tracker": "nope"}).status_code == 404
    assert operator.post(url, json={}).status_code == 422
    make_user(ctx, "val", "viewer")
    browser = login(errors_server.url, "val")
    try:
        page = browser.get(f"/errors/issues/{listed['id']}")
    finally:
        browser.close()
    assert page.status_code == 200
    assert 'href="https://github.com/acme/shop/issues/1"' in page.text
