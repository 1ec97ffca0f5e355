"""The compliance pages over HTTP: who may generate a report, the problems bad dates get,
the control page, and the check of an uploaded report."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.conftest import form_token
from tests.security.compliance.support import apply
from watchkeeper.runtime.context import AppContext
from watchkeeper.security.compliance.evaluate import evaluate_all
from watchkeeper.store.tables import utcnow

PLAN = """
compliance:
  frameworks: [gdpr]
"""


def test_generate_and_verify_through_the_pages(
    ctx: AppContext, sign_in: Callable[..., httpx.Client]
) -> None:
    with ctx.sessions() as db:
        apply(db, PLAN)
        evaluate_all(db, utcnow())
        db.commit()
    viewer = sign_in("vera", "viewer")
    page = viewer.get("/compliance")
    assert page.status_code == 200
    assert "GDPR-32.1b-ACCESS" in page.text and "Generate a report" not in page.text
    token = form_token(viewer, "/compliance")
    today = utcnow().date().isoformat()
    refused = viewer.post(
        "/compliance/reports", data={"csrf_token": token, "from": today, "to": today}
    )
    assert refused.status_code == 403

    operator = sign_in("otto", "operator")
    token = form_token(operator, "/compliance")
    bad = operator.post(
        "/compliance/reports", data={"csrf_token": token, "from": "yesterday", "to": today}
    )
    assert bad.status_code == 422
    assert "give both days of the period as YYYY-MM-DD" in bad.text
    backwards = operator.post(
        "/compliance/reports", data={"csrf_token": token, "from": today, "to": "2026-01-01"}
    )
    assert backwards.status_code == 422 and "must not be before `from`" in backwards.text
    issued = operator.post(
        "/compliance/reports",
        data={"csrf_token": token, "from": today, "to": today},
        follow_redirects=False,
    )
    assert issued.status_code == 303
    assert issued.headers["location"] == "/compliance?issued=1#reports"
    listed = operator.get("/compliance?issued=1")
    assert "Report #1 issued." in listed.text and "/api/v1/compliance/reports/1.pdf" in listed.text

    pdf = operator.get("/api/v1/compliance/reports/1.pdf").content
    checked = operator.post(
        "/compliance/reports/verify",
        data={"csrf_token": token},
        files={"file": ("report.pdf", pdf, "application/pdf")},
    )
    assert checked.status_code == 200
    assert "Valid:</strong> the PDF of report #1" in checked.text

    control = operator.get("/compliance/controls/GDPR-32.1b-ACCESS")
    assert control.status_code == 200 and 'class="timeline"' in control.text
    assert operator.get("/compliance/controls/NOPE").status_code == 404
