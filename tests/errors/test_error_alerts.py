"""Alert rules on error issues (``errors:``): a new issue, a regression, an event rate over a
threshold per issue or per project; evaluated on a controllable clock, then through the
alert evaluator so that states, routing and notifications follow as for other rules."""

from __future__ import annotations

import textwrap
from datetime import datetime, timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.errors.support import apply, project
from tests.errors.triage_support import OTHER_BUG, T0, store
from watchkeeper.alerts.config import AlertRule
from watchkeeper.alerts.evaluator import AlertEvaluator
from watchkeeper.auth.audit import Actor
from watchkeeper.errors.activity import advance
from watchkeeper.errors.alerting import ErrorAlertCondition, error_results
from watchkeeper.errors.triage import change_issue, parse_change
from watchkeeper.metrics.source import MemorySource
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import Alert

PLAN = "errors:\n  projects:\n    - name: shop\n    - name: api\n"


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def rule(**fields: object) -> ErrorAlertCondition:
    return ErrorAlertCondition.model_validate(fields)


def results(db: Session, condition: ErrorAlertCondition, at: datetime) -> list[object]:
    found = [(dict(labels), value) for labels, value in error_results(db, condition, at)]
    return sorted(found, key=lambda pair: sorted(pair[0].items()))


@pytest.fixture
def ids(ctx: AppContext) -> dict[str, int]:
    apply(ctx, PLAN)
    return {name: project(ctx, name).id for name in ("shop", "api")}


def test_a_new_issue_fires_for_its_window(ctx: AppContext, ids: dict[str, int]) -> None:
    new = rule(when="new_issue", project="shop", window="10m")
    with ctx.sessions() as db:
        bug = store(db, ids["shop"], T0)
        store(db, ids["api"], T0)  # another project's
        assert results(db, new, T0 + timedelta(minutes=1)) == [
            ({"project": "shop", "issue": str(bug.id)}, 1.0)
        ]
        assert len(results(db, rule(when="new_issue"), T0 + timedelta(minutes=1))) == 2
        assert results(db, new, T0 + timedelta(minutes=11)) == []
        # Ignoring it ends the alert at once.
        change_issue(db, bug.id, parse_change({"status": "ignored"}), Actor("ann"), T0)
        db.commit()
        assert results(db, new, T0 + timedelta(minutes=2)) == []


def test_a_regression_fires(ctx: AppContext, ids: dict[str, int]) -> None:
    regression = rule(when="regression", project="shop")
    with ctx.sessions() as db:
        bug = store(db, ids["shop"], T0, release="1.0")
        change_issue(db, bug.id, parse_change({"status": "resolved"}), Actor("ann"), T0)
        db.commit()
        store(db, ids["shop"], T0 + timedelta(minutes=10), release="1.1")
        assert results(db, regression, T0 + timedelta(minutes=10)) == []
        advance(db, T0 + timedelta(minutes=11))
        assert results(db, regression, T0 + timedelta(minutes=12)) == [
            ({"project": "shop", "issue": str(bug.id), "release": "1.1"}, 2.0)
        ]
        assert results(db, regression, T0 + timedelta(minutes=17)) == []


def test_the_event_rate_per_issue_and_per_project(ctx: AppContext, ids: dict[str, int]) -> None:
    per_issue = rule(when="rate", project="shop", threshold=2, window="5m")
    per_project = rule(when="rate", project="shop", threshold=3, window="5m", per="project")
    with ctx.sessions() as db:
        for _ in range(3):
            bug = store(db, ids["shop"], T0)
        store(db, ids["shop"], T0, frames=OTHER_BUG)
        advance(db, T0 + timedelta(minutes=1))
        at = T0 + timedelta(minutes=2)
        assert results(db, per_issue, at) == [({"project": "shop", "issue": str(bug.id)}, 3.0)]
        assert results(db, per_project, at) == [({"project": "shop"}, 4.0)]
        # Ten minutes later the window holds nothing.
        assert results(db, per_issue, at + timedelta(minutes=10)) == []
        assert results(db, per_project, at + timedelta(minutes=10)) == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"when": "rate"}, "needs `threshold`"),
        ({"when": "new_issue", "threshold": 3}, "go with `when: rate`"),
        ({"when": "soon"}, "Input should be"),
        ({"when": "rate", "threshold": 1, "window": "10s"}, "at least 1m"),
    ],
)
def test_bad_conditions(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        rule(**fields)
    assert message in str(caught.value)


def test_an_errors_rule_is_one_kind_of_alert_rule() -> None:
    made = AlertRule.model_validate({"name": "NewError", "errors": {"when": "new_issue"}})
    assert made.kind == "errors" and made.on_interval and not made.is_promql
    with pytest.raises(ValidationError, match="exactly one of"):
        AlertRule.model_validate(
            {"name": "Both", "errors": {"when": "new_issue"}, "expr": "up == 0"}
        )


EVALUATED = """
errors:
  projects:
    - name: shop
notifications:
  channels:
    - {name: pager, type: webhook, url: "http://127.0.0.1:9/"}
alerts:
  route: {receiver: pager}
  rules:
    - name: NewError
      errors: {when: new_issue, project: shop, window: 10m}
      annotations: {summary: "new error issue {{ $labels.issue }} in {{ $labels.project }}"}
"""


def test_the_evaluator_raises_and_resolves_error_alerts(ctx: AppContext) -> None:
    apply(ctx, textwrap.dedent(EVALUATED))
    shop = project(ctx, "shop").id
    with ctx.sessions() as db:
        bug = store(db, shop, T0)
    clock = Clock(T0 + timedelta(minutes=1))
    evaluator = AlertEvaluator(ctx.sessions, MemorySource(), clock=clock)
    evaluator._start()
    evaluator.promql_pass()
    with ctx.sessions() as db:
        (alert,) = db.scalars(select(Alert))
        assert (alert.rule, alert.state) == ("NewError", "firing")
        assert alert.labels["issue"] == str(bug.id)
        assert alert.annotations == {"summary": f"new error issue {bug.id} in shop"}
    clock.at = T0 + timedelta(minutes=20)
    evaluator._due.clear()  # due now, not after the real interval
    evaluator.promql_pass()
    with ctx.sessions() as db:
        (alert,) = db.scalars(select(Alert))
        assert alert.state == "resolved"
