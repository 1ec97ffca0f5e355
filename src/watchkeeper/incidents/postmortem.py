"""Postmortems: a Markdown document per incident, drafted from a template that pulls the
incident's facts and timeline, saved as draft or published, exported as Markdown or PDF;
and action items (owner, due date, done) tracked across incidents.

Two parts of the document are generated: the Timeline table and the Action items table.
The timeline can be re-pulled on request (:func:`refresh`); the action items table is
refreshed from the stored items whenever the document is previewed or exported, so an
export always shows the items as they stand (delete the table to write that section freely).
"""

from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from watchkeeper.auth import audit
from watchkeeper.auth.audit import Actor
from watchkeeper.exceptions import ConflictError, NotFoundError, ValidationFailed
from watchkeeper.incidents import timeline
from watchkeeper.store.tables import ActionItem, Incident, IncidentEvent, Postmortem, utcnow

Status = Literal["draft", "published"]
STATUSES: tuple[Status, ...] = ("draft", "published")
MAX_BODY_BYTES = 200_000  # 200 kB of UTF-8
MAX_TITLE = 300
MAX_OWNER = 128
# A flapping alert can leave thousands of entries: keep the draft well under the size limit.
MAX_TIMELINE_ROWS = 500
MAX_CELL = 200

TIMELINE_HEADER = "| Time (UTC) | Who | What |"
NO_TIMELINE = "_No timeline entries._"
ITEMS_HEADER = "| Action | Owner | Due | Status |"
NO_ITEMS = "_No action items yet._"

KIND_LABELS = {
    "opened": "Opened",
    "alert_firing": "Alert firing",
    "alert_resolved": "Alert resolved",
    "notified": "Notified",
    "escalated": "Escalated",
    "acknowledged": "Acknowledged",
    "resolved": "Resolved",
    "reopened": "Reopened",
    "note": "Note",
    "link": "Link",
    "assigned": "Assigned",
    "severity": "Severity",
    "major": "Major incident",
    "status_update": "Status update",
    "tracker": "Tracker",
    "postmortem": "Postmortem",
    "drill": "Drill",
}


class _Unset(enum.Enum):
    UNSET = 0


UNSET = _Unset.UNSET


@dataclass(frozen=True)
class PostmortemView:
    incident_id: int
    incident_title: str
    body: str
    status: Status
    created_at: datetime
    updated_at: datetime
    updated_by: str


@dataclass(frozen=True)
class ItemView:
    id: int
    incident_id: int
    incident_title: str
    title: str
    owner: str
    due: date | None
    done_at: datetime | None
    created_at: datetime
    created_by: str
    overdue: bool


# -- formatting ----------------------------------------------------------------------------


def span(seconds: float) -> str:
    """Return a length of time for people: "40 s", "4 min 10 s", "2 h 5 min", "3 d 4 h"."""
    total = int(abs(seconds))
    if total < 60:
        return f"{total} s"
    if total < 3600:
        minutes, secs = divmod(total, 60)
        return f"{minutes} min" + (f" {secs} s" if secs else "")
    if total < 86400:
        hours, rest = divmod(total, 3600)
        return f"{hours} h" + (f" {rest // 60} min" if rest // 60 else "")
    days, rest = divmod(total, 86400)
    return f"{days} d" + (f" {rest // 3600} h" if rest // 3600 else "")


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _minute(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _cell(text: str, limit: int = MAX_CELL) -> str:
    """One line of a Markdown table cell: no line breaks, pipes escaped, shortened."""
    flat = " ".join(text.split())
    if len(flat) > limit:
        flat = flat[: limit - 1].rstrip() + "…"
    return flat.replace("\\", "\\\\").replace("|", "\\|") or "–"


def _what(event: IncidentEvent) -> str:
    label = KIND_LABELS.get(event.kind, event.kind)
    return f"{label}: {event.text}" if event.text.strip() else label


def timeline_table(events: Sequence[IncidentEvent]) -> str:
    """Return the timeline as a Markdown table (entries about the postmortem itself are
    left out); at most MAX_TIMELINE_ROWS rows, the first and last halves when longer."""
    rows = [e for e in events if e.kind != "postmortem"]
    if not rows:
        return NO_TIMELINE
    lines = [TIMELINE_HEADER, "| --- | --- | --- |"]
    half = MAX_TIMELINE_ROWS // 2
    shown = rows if len(rows) <= MAX_TIMELINE_ROWS else rows[:half] + rows[-half:]
    for i, event in enumerate(shown):
        if len(rows) > MAX_TIMELINE_ROWS and i == half:
            lines.append(f"| … | … | {len(rows) - 2 * half} entries left out |")
        lines.append(f"| {_utc(event.at)} | {_cell(event.actor, 64)} | {_cell(_what(event))} |")
    return "\n".join(lines)


def _item_status(item: ItemView) -> str:
    if item.done_at is not None:
        return f"done {item.done_at.astimezone(UTC):%Y-%m-%d}"
    return "**overdue**" if item.overdue else "open"


def items_table(items: Sequence[ItemView]) -> str:
    """Return the action items as a Markdown table."""
    if not items:
        return NO_ITEMS
    lines = [ITEMS_HEADER, "| --- | --- | --- | --- |"]
    for item in items:
        due = item.due.isoformat() if item.due else "–"
        lines.append(
            f"| {_cell(item.title, MAX_TITLE)} | {_cell(item.owner)} | {due} "
            f"| {_item_status(item)} |"
        )
    return "\n".join(lines)


def _impact(incident: Incident, now: datetime) -> str:
    opened = incident.opened_at
    if incident.resolved_at is not None:
        ended = (
            f"{_minute(incident.resolved_at)}, after "
            f"{span((incident.resolved_at - opened).total_seconds())}"
        )
    else:
        ended = f"not resolved yet (open for {span((now - opened).total_seconds())})"
    if incident.acknowledged_at is not None:
        by = f" by {incident.acknowledged_by}" if incident.acknowledged_by else ""
        ack = f"{span((incident.acknowledged_at - opened).total_seconds())}{by}"
    else:
        ack = "not acknowledged"
    services = ", ".join(incident.services) if incident.services else "none recorded"
    lines = [
        f"- **Severity:** {incident.severity}" + (" (major incident)" if incident.major else ""),
        f"- **Services:** {services}",
    ]
    if incident.team:
        lines.append(f"- **Team:** {incident.team}")
    if incident.commander:
        lines.append(f"- **Commander:** {incident.commander}")
    lines += [
        f"- **Opened:** {_minute(opened)} by {incident.opened_by}",
        f"- **Resolved:** {ended}",
        f"- **Time to acknowledge:** {ack}",
        "- **Who was affected, and how:** _users, customers or teams; how many; what they saw_",
    ]
    return "\n".join(lines)


def render_template(
    incident: Incident,
    events: Sequence[IncidentEvent],
    items: Sequence[ItemView],
    now: datetime | None = None,
) -> str:
    """Return a new postmortem for ``incident``, with its facts, timeline and action items."""
    summary = incident.summary.strip() or "_What happened, in two or three sentences._"
    drill = f"\n\n_This incident was a drill ({incident.drill})._" if incident.drill else ""
    return f"""# Postmortem: {incident.title}

Incident #{incident.id}{drill}

## Summary

{summary}

## Impact

{_impact(incident, now or utcnow())}

## Timeline

{timeline_table(events)}

## Root cause

_Why it happened: follow the chain of causes until it reaches something we can change._

## Contributing factors

- _What made it more likely, bigger or longer (alerting, tooling, process, documentation)._

## Action items

{items_table(items)}

## Lessons learned

### What went well

-

### What went badly

-

### Where we got lucky

-
"""


# -- generated sections --------------------------------------------------------------------


def _section_bounds(lines: list[str], title: str) -> tuple[int, int] | None:
    """(heading line, end) of the ``## title`` section; it ends at the next # or ## heading."""
    heading = re.compile(rf"^##\s+{re.escape(title)}\s*#*\s*$", re.IGNORECASE)
    for i, line in enumerate(lines):
        if heading.match(line.strip()):
            end = next(
                (j for j in range(i + 1, len(lines)) if re.match(r"^#{1,2}\s", lines[j])),
                len(lines),
            )
            return i, end
    return None


def _replace_table(
    body: str, section: str, header: str, placeholder: str, block: str
) -> str | None:
    """Replace the generated table (or its placeholder) in ``section``; None when absent."""
    lines = body.split("\n")
    bounds = _section_bounds(lines, section)
    if bounds is None:
        return None
    for i in range(bounds[0] + 1, bounds[1]):
        stripped = lines[i].strip()
        if stripped == placeholder:
            end = i + 1
        elif stripped.replace(" ", "") == header.replace(" ", ""):
            end = i + 1
            while end < bounds[1] and lines[end].lstrip().startswith("|"):
                end += 1
        else:
            continue
        return "\n".join(lines[:i] + block.split("\n") + lines[end:])
    return None


def refresh_timeline(body: str, events: Sequence[IncidentEvent]) -> str:
    """Return ``body`` with its Timeline table pulled again from ``events``: in place of the
    old table, at the top of the section when it has none, in a new section when missing."""
    table = timeline_table(events)
    replaced = _replace_table(body, "Timeline", TIMELINE_HEADER, NO_TIMELINE, table)
    if replaced is not None:
        return replaced
    lines = body.split("\n")
    bounds = _section_bounds(lines, "Timeline")
    if bounds is None:
        return body.rstrip("\n") + f"\n\n## Timeline\n\n{table}\n"
    at = bounds[0] + 1
    return "\n".join(lines[:at] + ["", *table.split("\n")] + lines[at:])


def sync_items(body: str, items: Sequence[ItemView]) -> str:
    """Return ``body`` with the generated Action items table showing ``items`` (unchanged
    when the section has no generated table)."""
    replaced = _replace_table(body, "Action items", ITEMS_HEADER, NO_ITEMS, items_table(items))
    return body if replaced is None else replaced


# -- postmortems ---------------------------------------------------------------------------


def _incident(db: Session, incident_id: int) -> Incident:
    incident = db.get(Incident, incident_id) if 0 < incident_id < 2**63 else None
    if incident is None:
        raise NotFoundError(f"no incident {incident_id}")
    return incident


def _view(row: Postmortem, incident: Incident) -> PostmortemView:
    status: Status = "published" if row.status == "published" else "draft"
    return PostmortemView(
        incident_id=row.incident_id,
        incident_title=incident.title,
        body=row.body,
        status=status,
        created_at=row.created_at,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


def find(db: Session, incident_id: int) -> PostmortemView | None:
    """Return the incident's postmortem, None when it has none; raise NotFoundError when
    there is no such incident."""
    incident = _incident(db, incident_id)
    row = db.get(Postmortem, incident_id)
    return None if row is None else _view(row, incident)


def get(db: Session, incident_id: int) -> PostmortemView:
    """Return the incident's postmortem; raise NotFoundError when it has none."""
    found = find(db, incident_id)
    if found is None:
        raise NotFoundError(f"incident {incident_id} has no postmortem yet")
    return found


def _check_body(body: str) -> None:
    size = len(body.encode("utf-8"))
    if size > MAX_BODY_BYTES:
        raise ValidationFailed(
            "the postmortem is too long",
            [("body", f"is {size:,} bytes; the limit is {MAX_BODY_BYTES:,} bytes (200 kB)")],
        )


def _digest(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def draft(
    db: Session, incident_id: int, actor: Actor, now: datetime | None = None
) -> PostmortemView:
    """Create the incident's postmortem from the template, as a draft.

    Raise NotFoundError for an unknown incident, ConflictError when it has one already."""
    now = now or utcnow()
    incident = _incident(db, incident_id)
    if db.get(Postmortem, incident_id) is not None:
        raise ConflictError(f"incident {incident_id} has a postmortem already")
    body = render_template(
        incident, timeline.events(db, incident_id), items_for(db, incident_id, now), now
    )
    if len(body.encode("utf-8")) > MAX_BODY_BYTES:  # very long notes: keep what fits
        body = body.encode("utf-8")[: MAX_BODY_BYTES - 100].decode("utf-8", "ignore")
        body += "\n\n_(cut at the size limit)_\n"
    row = Postmortem(
        incident_id=incident_id,
        body=body,
        status="draft",
        created_at=now,
        updated_at=now,
        updated_by=actor.name[:128],
    )
    db.add(row)
    try:
        db.flush()
    except IntegrityError as exc:  # drafted at the same moment by someone else
        raise ConflictError(f"incident {incident_id} has a postmortem already") from exc
    timeline.add_event(db, incident_id, "postmortem", actor.name, "Postmortem drafted", at=now)
    audit.record(db, actor, "postmortem.draft", f"incident/{incident_id}", {"status": "draft"})
    return _view(row, incident)


def save(
    db: Session,
    incident_id: int,
    body: str,
    actor: Actor,
    status: Status | None = None,
    now: datetime | None = None,
) -> PostmortemView:
    """Store a new text (and status: draft or published; None keeps it).

    Raise NotFoundError when the incident has no postmortem, ValidationFailed (field
    ``body`` or ``status``) for a text over MAX_BODY_BYTES or an unknown status."""
    if status is not None and status not in STATUSES:
        raise ValidationFailed(
            "the postmortem is not valid", [("status", f"{status!r} is not draft or published")]
        )
    _check_body(body)
    now = now or utcnow()
    incident = _incident(db, incident_id)
    row = db.get(Postmortem, incident_id)
    if row is None:
        raise NotFoundError(f"incident {incident_id} has no postmortem yet")
    before = row.status
    after = status or before
    row.body, row.status, row.updated_at, row.updated_by = body, after, now, actor.name[:128]
    db.flush()
    if after == "published" and before != "published":
        what, action = "Postmortem published", "postmortem.publish"
    elif after == "draft" and before == "published":
        what, action = "Postmortem moved back to draft", "postmortem.unpublish"
    else:
        what, action = f"Postmortem saved ({after})", "postmortem.save"
    timeline.add_event(db, incident_id, "postmortem", actor.name, what, {"status": after}, at=now)
    audit.record(
        db,
        actor,
        action,
        f"incident/{incident_id}",
        {
            "status": after,
            "was": before,
            "bytes": len(body.encode("utf-8")),
            "sha256": _digest(body),
        },
    )
    return _view(row, incident)


def refresh(db: Session, incident_id: int, actor: Actor, body: str | None = None) -> PostmortemView:
    """Pull the Timeline table again (into ``body`` when given, else the stored text) and
    save; raise as :func:`save` does."""
    current = get(db, incident_id)
    text = refresh_timeline(
        current.body if body is None else body, timeline.events(db, incident_id)
    )
    return save(db, incident_id, text, actor)


# -- action items --------------------------------------------------------------------------


def _due(value: date | datetime | None) -> datetime | None:
    if value is None:
        return None
    day = value.astimezone(UTC).date() if isinstance(value, datetime) else value
    return datetime.combine(day, time(), UTC)


def _item_view(row: ActionItem, incident_title: str, now: datetime) -> ItemView:
    due = row.due.astimezone(UTC).date() if row.due is not None else None
    return ItemView(
        id=row.id,
        incident_id=row.incident_id,
        incident_title=incident_title,
        title=row.title,
        owner=row.owner,
        due=due,
        done_at=row.done_at,
        created_at=row.created_at,
        created_by=row.created_by,
        overdue=row.done_at is None and due is not None and due < now.astimezone(UTC).date(),
    )


def _check_item(title: str | None, owner: str | None) -> list[tuple[str, str]]:
    errors = []
    if title is not None:
        if not title.strip():
            errors.append(("title", "must not be empty"))
        elif len(title.strip()) > MAX_TITLE:
            errors.append(("title", f"is longer than {MAX_TITLE} characters"))
    if owner is not None and len(owner.strip()) > MAX_OWNER:
        errors.append(("owner", f"is longer than {MAX_OWNER} characters"))
    return errors


def _item_detail(row: ActionItem) -> dict[str, object]:
    return {
        "title": row.title,
        "owner": row.owner,
        "due": row.due.date().isoformat() if row.due else None,
        "done": row.done_at is not None,
    }


def add_item(
    db: Session,
    incident_id: int,
    actor: Actor,
    title: str,
    owner: str = "",
    due: date | datetime | None = None,
    now: datetime | None = None,
) -> ItemView:
    """Add an action item to an incident (``due`` is a day); raise NotFoundError for an
    unknown incident, ValidationFailed naming ``title`` or ``owner``."""
    now = now or utcnow()
    incident = _incident(db, incident_id)
    errors = _check_item(title, owner)
    if errors:
        raise ValidationFailed("the action item is not valid", errors)
    row = ActionItem(
        incident_id=incident_id,
        title=title.strip(),
        owner=owner.strip(),
        due=_due(due),
        created_at=now,
        created_by=actor.name[:128],
    )
    db.add(row)
    db.flush()
    audit.record(db, actor, "action_item.create", f"action_item/{row.id}", _item_detail(row))
    return _item_view(row, incident.title, now)


def update_item(
    db: Session,
    incident_id: int,
    item_id: int,
    actor: Actor,
    *,
    title: str | _Unset = UNSET,
    owner: str | _Unset = UNSET,
    due: date | datetime | None | _Unset = UNSET,
    done: bool | _Unset = UNSET,
    now: datetime | None = None,
) -> ItemView:
    """Change what is given of an item (``due=None`` clears the due day; ``done`` marks it
    done or open again). Raise NotFoundError when the incident has no such item,
    ValidationFailed naming ``title`` or ``owner``."""
    now = now or utcnow()
    incident = _incident(db, incident_id)
    row = db.get(ActionItem, item_id) if 0 < item_id < 2**63 else None
    if row is None or row.incident_id != incident_id:
        raise NotFoundError(f"incident {incident_id} has no action item {item_id}")
    errors = _check_item(
        None if isinstance(title, _Unset) else title, None if isinstance(owner, _Unset) else owner
    )
    if errors:
        raise ValidationFailed("the action item is not valid", errors)
    before = _item_detail(row)
    if not isinstance(title, _Unset):
        row.title = title.strip()
    if not isinstance(owner, _Unset):
        row.owner = owner.strip()
    if not isinstance(due, _Unset):
        row.due = _due(due)
    if not isinstance(done, _Unset) and done != (row.done_at is not None):
        row.done_at = now if done else None
    db.flush()
    diff = audit.changes(before, _item_detail(row))
    if diff:
        audit.record(db, actor, "action_item.update", f"action_item/{row.id}", diff)
    return _item_view(row, incident.title, now)


def items_for(db: Session, incident_id: int, now: datetime | None = None) -> list[ItemView]:
    """The incident's action items, in the order they were added."""
    now = now or utcnow()
    incident = _incident(db, incident_id)
    rows = db.scalars(
        select(ActionItem).where(ActionItem.incident_id == incident_id).order_by(ActionItem.id)
    )
    return [_item_view(r, incident.title, now) for r in rows]


def open_items(db: Session, now: datetime | None = None, limit: int = 1000) -> list[ItemView]:
    """Items not done yet, across incidents: overdue ones first (longest overdue first),
    then by due day, then those without one (oldest first)."""
    now = now or utcnow()
    rows = db.execute(
        select(ActionItem, Incident.title)
        .join(Incident, Incident.id == ActionItem.incident_id)
        .where(ActionItem.done_at.is_(None))
        .order_by(ActionItem.id)
    ).all()
    views = [_item_view(item, title, now) for item, title in rows]
    views.sort(key=lambda v: (not v.overdue, v.due is None, v.due or date.max, v.id))
    return views[:limit]


def all_items(db: Session, now: datetime | None = None, limit: int = 1000) -> list[ItemView]:
    """Every item across incidents, newest first (at most ``limit``)."""
    now = now or utcnow()
    rows = db.execute(
        select(ActionItem, Incident.title)
        .join(Incident, Incident.id == ActionItem.incident_id)
        .order_by(ActionItem.id.desc())
        .limit(limit)
    ).all()
    return [_item_view(item, title, now) for item, title in rows]


# -- exports -------------------------------------------------------------------------------


def current_body(db: Session, incident_id: int, body: str | None = None) -> str:
    """The text as exported: ``body`` (default: the stored one) with the action items
    table refreshed."""
    text = get(db, incident_id).body if body is None else body
    return sync_items(text, items_for(db, incident_id))


def export_markdown(db: Session, incident_id: int) -> str:
    """Return the postmortem as a Markdown document; raise NotFoundError when none."""
    text = current_body(db, incident_id)
    return text if text.endswith("\n") else text + "\n"


def export_pdf(db: Session, incident_id: int, *, compress: bool = True) -> bytes:
    """Return the postmortem as a PDF document; raise NotFoundError when none."""
    from fpdf.errors import FPDFException

    from watchkeeper.incidents.postmortem_pdf import markdown_to_pdf

    view = get(db, incident_id)
    status = "published" if view.status == "published" else "draft"
    try:
        return markdown_to_pdf(
            current_body(db, incident_id, view.body),
            title=f"Postmortem: {view.incident_title}",
            footer=f"Incident #{incident_id} postmortem ({status}, updated "
            f"{_minute(view.updated_at)})",
            compress=compress,
        )
    except FPDFException as exc:  # e.g. a table too wide for the page
        raise ValidationFailed(
            "the postmortem cannot be laid out as a PDF",
            [("body", f"{exc} (download it as Markdown instead, or narrow its tables)")],
        ) from None
