"""A fixed history of deploys and incidents for the DORA tests, whose figures were worked out
by hand (see EXPECTED and the comments in seed()).

The window is the 28 days before END, a Monday: 2025-05-05 .. 2025-06-02, four ISO weeks
W1 (05-05), W2 (05-12), W3 (05-19), W4 (05-26), which are also the 7-day blocks counted back
from END; the 30-day "months" counted back from END are one block cut at the window's start.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from textwrap import dedent

from sqlalchemy.orm import Session

from watchkeeper.plan.apply import apply_plan
from watchkeeper.plan.loader import load_plan_text
from watchkeeper.store.tables import Deploy, Incident

END = datetime(2025, 6, 2, tzinfo=UTC)
WINDOW = timedelta(days=28)
START = END - WINDOW
H = 3600.0  # seconds in an hour

PLAN = """
releases:
  services:
    - {name: api, team: payments, environments: [production, staging]}
    - {name: web, team: payments, environments: [prod, staging]}
    - {name: search, team: search}
    - {name: batch, team: search}
"""


def at(day: str, hour: float = 10) -> datetime:
    """2025-``day`` (MM-DD) at ``hour`` UTC."""
    month, dom = (int(p) for p in day.split("-"))
    return datetime(2025, month, dom, tzinfo=UTC) + timedelta(hours=hour)


def apply(db: Session) -> None:
    apply_plan(db, load_plan_text(dedent(PLAN)))
    db.commit()


def deploy(
    db: Session,
    service: str,
    when: datetime,
    *,
    status: str = "succeeded",
    environment: str = "production",
    commits: tuple[datetime, ...] = (),
    first_commit: datetime | None = None,
    gate: str = "skipped",
    incident_id: int | None = None,
) -> Deploy:
    row = Deploy(
        service=service,
        version=f"1.0.{int(when.timestamp()) % 100000}",
        environment=environment,
        commit_times=[c.isoformat() for c in commits],
        first_commit_at=first_commit,
        status=status,
        gate=gate,
        incident_id=incident_id,
        deployed_at=when,
    )
    db.add(row)
    db.flush()
    return row


def incident(
    db: Session,
    opened: datetime,
    resolved_after: timedelta | None,
    *,
    services: tuple[str, ...] = (),
    team: str = "",
    drill: str = "",
) -> Incident:
    row = Incident(
        title=f"incident at {opened:%m-%d %H:%M}",
        severity="SEV2",
        status="resolved" if resolved_after is not None else "triggered",
        team=team,
        services=list(services),
        drill=drill,
        opened_at=opened,
        opened_by="test",
        resolved_at=opened + resolved_after if resolved_after is not None else None,
    )
    db.add(row)
    db.flush()
    return row


def seed(db: Session) -> None:
    """The history (commits as hours before their deploy in the comments)."""
    apply(db)
    hours = timedelta(hours=1)
    # Incidents. TTR: I1 0.5 h, I2 3 h, I3 open, I4 a drill (left out), I5 before the window,
    # I6 team payments only, 2 d; I7 search 10 min; I8 resolved after END (open as of END).
    incident(db, at("05-06", 12), 30 * timedelta(minutes=1), services=("api",), team="payments")
    incident(db, at("05-13", 0), 3 * hours, services=("api", "web"))
    i3 = incident(db, at("05-21", 0), None, services=("api",), team="payments")
    incident(db, at("05-15", 0), 5 * timedelta(minutes=1), services=("api",), drill="gameday")
    incident(db, at("04-20", 0), hours, services=("api",))
    incident(db, at("05-27", 0), timedelta(days=2), team="payments")
    incident(db, at("05-10", 0), 10 * timedelta(minutes=1), services=("search",), team="search")
    incident(db, at("05-30", 0), timedelta(days=4), services=("api",))

    # api, production = "production"; first deploy ever long before the window.
    deploy(db, "api", at("04-01"))
    # W1: reached on 05-05, 05-06, 05-08 (3 days); 05-07 failed.
    deploy(db, "api", at("05-05"), commits=(at("05-05", 8), at("05-04", 10)))  # 2 h, 24 h
    deploy(db, "api", at("05-06"), commits=(at("05-06", 6),))  # 4 h
    deploy(db, "api", at("05-07"), status="failed", commits=(at("05-07", 9),))  # not reached
    deploy(db, "api", at("05-08"), first_commit=at("05-07"))  # 24 h (first_commit_at)
    # W2: 05-12 twice (regressed at the gate; rolled back), 05-14 (commit after the deploy).
    deploy(db, "api", at("05-12"), gate="regressed", commits=(at("05-12", 9),))  # 1 h
    deploy(db, "api", at("05-12", 15), status="rolled_back", commits=(at("05-12", 13),))  # 2 h
    deploy(db, "api", at("05-14"), commits=(at("05-14", 10.5),))  # skewed clock: left out
    # W3: 05-20 linked to an incident, 05-22 without commit times, 05-23 still under way.
    deploy(db, "api", at("05-20"), incident_id=i3.id, commits=(at("05-17"),))  # 72 h
    deploy(db, "api", at("05-22"))
    deploy(db, "api", at("05-23"), status="started", commits=(at("05-23", 9),))
    # W4: 05-26, 05-27, 05-28.
    deploy(db, "api", at("05-26"), commits=(at("05-25"),))  # 24 h
    deploy(db, "api", at("05-27"), commits=(at("05-27", 4),))  # 6 h
    deploy(db, "api", at("05-28"), commits=(at("05-28", 9.5),))  # 0.5 h
    # Not counted: staging, and a deploy at END (the window is [START, END)).
    deploy(db, "api", at("05-29"), environment="staging", status="failed")
    deploy(db, "api", END, status="failed")

    # web, production = "prod"; first deploy ever on 05-19 (the window starts that day for
    # its frequency: 14 days, two weeks).
    deploy(db, "web", at("05-19", 9), environment="prod", commits=(at("05-12", 9),))  # 168 h
    deploy(db, "web", at("05-26", 9), environment="prod", commits=(at("05-24", 9),))  # 48 h
    deploy(db, "web", at("05-28", 9), environment="staging", status="failed")
    deploy(db, "web", at("05-20", 9), environment="production", status="failed")  # not prod

    # search: Mon, Tue, Wed of each week at noon, no commit times; deployed since January.
    deploy(db, "search", at("01-06", 12))
    for week in range(4):
        for day in range(3):
            deploy(db, "search", START + timedelta(days=7 * week + day, hours=12))
    # batch: never deployed.
    db.commit()


# The figures of each scope over the window, worked out by hand:
# (per_day, frequency band), (lead time s, band), (failed, finished, band), (TTR s, band)
EXPECTED = {
    # api: reached 11 (W1 3, W2 3, W3 2, W4 3); days with a deploy per week [3, 2, 2, 3],
    # median 2.5 < 3, every week has one: high. Lead times (h) 2, 24, 4, 24, 1, 2, 72, 24, 6,
    # 0.5 -> sorted middle pair 4 and 6: 5 h, elite. Finished 12 (all but "started"), failed
    # 4 (failed, regressed, rolled back, incident): 33% medium. Incidents I1 0.5 h, I2 3 h,
    # I3 and I8 open: median 1.75 h, high.
    "service:api": ((11 / 28, "high"), (5 * H, "elite"), (4, 12, "medium"), (1.75 * H, "high")),
    # web: 2 deploys in the 14 days since its first; both weeks have one (1 day each): high.
    # Lead times 168 h and 48 h: 108 h, high. 0 of 2 failed: elite. I2 3 h: high.
    "service:web": ((2 / 14, "high"), (108 * H, "high"), (0, 2, "elite"), (3 * H, "high")),
    # search: 12 deploys, 3 days every week: elite. No commit times: no lead time. 0 of 12:
    # elite. I7 10 min: elite.
    "service:search": ((12 / 28, "elite"), (None, None), (0, 12, "elite"), (600.0, "elite")),
    # batch: nothing at all.
    "service:batch": ((None, None), (None, None), (None, None, None), (None, None)),
    # payments = api + web: 13 deploys; days per week W1 3, W2 2, W3 3 (api 20, 22; web 19),
    # W4 3 (26 both, 27, 28) -> [3, 3, 2, 3] median 3: elite. Lead times api's and 168, 48:
    # twelve values, middle pair 6 h and 24 h: 15 h, elite. 4 of 14 failed = 28.6%: high.
    # Incidents I1, I2, I3, I6 (team), I8: resolved 0.5 h, 3 h, 48 h -> 3 h: high.
    "team:payments": ((13 / 28, "elite"), (15 * H, "elite"), (4, 14, "high"), (3 * H, "high")),
    # search team = search + batch; I7 is its incident (team and service).
    "team:search": ((12 / 28, "elite"), (None, None), (0, 12, "elite"), (600.0, "elite")),
    # all: 25 deploys; days per week W1 {5,6,7,8} 4, W2 {12,13,14} 3, W3 {19,20,21,22} 4,
    # W4 {26,27,28} 3 -> median 3.5: elite. Lead time as payments: 15 h. 4 of 26 = 15.4%:
    # above 15%, high. Incidents I1 I2 I3 I6 I7 I8: resolved 10 min, 0.5 h, 3 h, 48 h ->
    # middle pair 0.5 h and 3 h: 1.75 h, high.
    "all": ((25 / 28, "elite"), (15 * H, "elite"), (4, 26, "high"), (1.75 * H, "high")),
}
