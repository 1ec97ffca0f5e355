"""Checks: every check of the plan ran within three times its interval and is up (the
``check_status`` table the runner keeps); a heartbeat that is late is down there too."""

from __future__ import annotations

from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.security.compliance.freshness import (
    CHECK_LATE_FACTOR,
    check_allowance,
    check_interval,
)
from watchkeeper.security.compliance.plan_sections.base import (
    Live,
    SectionResult,
    Tally,
    at,
    every,
    not_in_plan,
    plural,
)
from watchkeeper.security.compliance.wording import span
from watchkeeper.store.tables import CheckStatus, StoredObject


def evaluate(db: Session, live: Live) -> SectionResult:
    # Rows of the columns read, not ORM objects: this runs every minute over every check.
    objects = db.execute(
        select(StoredObject.name, StoredObject.spec, StoredObject.created_at).where(
            StoredObject.kind == "checks"
        )
    ).all()
    if not objects:
        return not_in_plan("checks")
    states = {
        s.name: s
        for s in db.execute(
            select(
                CheckStatus.name,
                CheckStatus.status,
                CheckStatus.last_run_at,
                CheckStatus.changed_at,
                CheckStatus.last_message,
            )
        )
    }
    tally = Tally("checks")
    up = down = stopped = heartbeats = waiting = 0
    for obj in sorted(objects, key=lambda o: o.name):
        link = f"/checks/{quote(obj.name, safe='')}"
        kind = "heartbeat" if obj.spec.get("type") == "heartbeat" else "check"
        heartbeats += kind == "heartbeat"
        interval, allowed = check_interval(obj.spec), check_allowance(obj.spec)
        state = states.get(obj.name)
        last_run = state.last_run_at if state is not None else None
        if last_run is None:
            if live.now - obj.created_at > allowed:
                stopped += 1
                tally.failed(
                    kind,
                    obj.name,
                    f"never ran since it was declared {span(live.now - obj.created_at)} ago",
                    link,
                )
            else:
                waiting += 1
                tally.passed()  # new: its first run is not due yet
            continue
        if live.now - last_run > allowed:
            stopped += 1
            tally.failed(
                kind,
                obj.name,
                f"last ran {span(live.now - last_run)} ago (every {every(interval)}): the runner "
                "is not running it",
                link,
            )
            continue
        if state is not None and state.status == "down":
            down += 1
            what = "late or failed" if kind == "heartbeat" else "down"
            since = f" since {at(state.changed_at)}" if state.changed_at else ""
            detail = f": {state.last_message}" if state.last_message else ""
            tally.failed(kind, obj.name, f"{what}{since}{detail}", link)
            continue
        up += 1
        tally.passed()
    beats = f" ({plural(heartbeats, 'heartbeat')})" if heartbeats else ""
    tally.say(
        f"{plural(len(objects), 'check')} declared{beats}; "
        f"{up} ran on time and {'is' if up == 1 else 'are'} up."
    )
    if waiting:
        tally.say(f"{waiting} new, waiting for {'its' if waiting == 1 else 'their'} first run.")
    if stopped:
        tally.say(
            f"{plural(stopped, 'check')} did not run within {CHECK_LATE_FACTOR}× the interval."
        )
    if down:
        tally.say(f"{down} down.")
    return tally.result()
