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
    # What is judged of each check, read a few hundred specs at a time: this runs every
    # minute, and ten thousand decoded specs at once weigh tens of megabytes.
    declared = [
        (name, spec.get("type") == "heartbeat", check_interval(spec), check_allowance(spec), made)
        for name, spec, made in db.execute(
            select(StoredObject.name, StoredObject.spec, StoredObject.created_at)
            .where(StoredObject.kind == "checks")
            .execution_options(yield_per=500)
        )
    ]
    if not declared:
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
    for name, is_heartbeat, interval, allowed, created_at in sorted(declared):
        link = f"/checks/{quote(name, safe='')}"
        kind = "heartbeat" if is_heartbeat else "check"
        heartbeats += is_heartbeat
        state = states.get(name)
        last_run = state.last_run_at if state is not None else None
        if last_run is None:
            if live.now - created_at > allowed:
                stopped += 1
                tally.failed(
                    kind,
                    name,
                    f"never ran since it was declared {span(live.now - created_at)} ago",
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
                name,
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
            tally.failed(kind, name, f"{what}{since}{detail}", link)
            continue
        up += 1
        tally.passed()
    beats = f" ({plural(heartbeats, 'heartbeat')})" if heartbeats else ""
    tally.say(
        f"{plural(len(declared), 'check')} declared{beats}; "
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
