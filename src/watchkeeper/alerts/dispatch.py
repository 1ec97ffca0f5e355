"""From firing alerts to notifications: muting, routing, grouping, and the outbox.

Each tick reads the firing alerts, decides which are muted (maintenance window, silence,
inhibition; recorded on the alert, never dropped), routes the others through the tree into
aggregation groups, and flushes the groups that are due (``group_wait`` after the first
alert, then every ``group_interval`` when something changed, every ``repeat_interval``
otherwise). A flush writes one outbox row per receiver in the same transaction as the
group's new state, so a crash neither loses a notification nor sends one twice.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from watchkeeper.alerts.config import AlertRule, AlertsSection, InhibitRule, MaintenanceWindow
from watchkeeper.alerts.matchers import matches, parse_matchers
from watchkeeper.alerts.routing import Node, compile_tree, match
from watchkeeper.alerts.silences import active_silences, new_silence_path, silenced_by
from watchkeeper.alerts.windows import is_open
from watchkeeper.knowledge.runbook_links import notification_runbook
from watchkeeper.metrics.labels import Matcher
from watchkeeper.notify.interface import AlertItem, Notification, to_payload
from watchkeeper.notify.outbox import enqueue
from watchkeeper.plan.objects import SETTINGS_KIND
from watchkeeper.store.tables import Alert, AlertEvent, AlertGroup, Silence, StoredObject

log = logging.getLogger(__name__)
FULL_TICK_EVERY = timedelta(seconds=30)


@dataclass(frozen=True)
class _Inhibit:
    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...]


@dataclass
class RoutingConfig:
    """What the dispatcher needs from the plan, read once per tick."""

    tree: Node | None
    inhibit: list[_Inhibit]
    windows: list[MaintenanceWindow]
    rules: dict[str, AlertRule]


def load_config(db: Session) -> RoutingConfig:
    """Read the routing tree, inhibition rules, windows and rules from the stored plan."""
    settings = db.scalar(
        select(StoredObject.spec).where(
            StoredObject.kind == SETTINGS_KIND, StoredObject.name == "alerts"
        )
    )
    section = AlertsSection.model_validate(dict(settings or {}))
    windows, rules = [], {}
    for obj in db.scalars(
        select(StoredObject).where(
            StoredObject.kind.in_(("alerts.maintenance_windows", "alerts.rules"))
        )
    ):
        try:
            if obj.kind == "alerts.rules":
                rules[obj.name] = AlertRule.model_validate(obj.spec)
            else:
                windows.append(MaintenanceWindow.model_validate(obj.spec))
        except ValidationError as exc:
            log.error("%s %s: stored configuration is invalid: %s", obj.kind, obj.name, exc)
    return RoutingConfig(
        tree=compile_tree(section.route) if section.route is not None else None,
        inhibit=[_compile_inhibit(r) for r in section.inhibit_rules],
        windows=windows,
        rules=rules,
    )


def _compile_inhibit(rule: InhibitRule) -> _Inhibit:
    return _Inhibit(
        tuple(parse_matchers(rule.source_matchers)),
        tuple(parse_matchers(rule.target_matchers)),
        tuple(rule.equal),
    )


def inhibited_by(
    alerts: Sequence[tuple[str, Mapping[str, str]]], rules: Sequence[_Inhibit]
) -> dict[str, list[str]]:
    """For (fingerprint, labels) of firing alerts: which alerts inhibit which (Alertmanager:
    a source mutes targets with equal ``equal`` labels; an alert never mutes itself)."""
    out: dict[str, list[str]] = {}
    source_labels = dict(alerts)
    for rule in rules:
        sources: dict[tuple[str, ...], list[str]] = {}
        for fp, labels in alerts:
            if matches(labels, rule.source):
                sources.setdefault(tuple(labels.get(k, "") for k in rule.equal), []).append(fp)
        if not sources:
            continue
        for fp, labels in alerts:
            if not matches(labels, rule.target):
                continue
            found = sources.get(tuple(labels.get(k, "") for k in rule.equal), [])
            if matches(labels, rule.source):
                # matches both sides: only sources that are not targets themselves count
                # (Alertmanager's excludeTwoSidedMatch), or two such alerts mute each other
                found = [s for s in found if not matches(source_labels[s], rule.target)]
            by = [s for s in found if s != fp]
            if by:
                out.setdefault(fp, []).extend(by)
    return out


def _by_path(tree: Node | None) -> dict[str, Node]:
    out: dict[str, Node] = {}
    stack = [tree] if tree is not None else []
    while stack:
        node = stack.pop()
        out[node.path] = node
        stack.extend(node.children)
    return out


@dataclass
class _Firing:
    """What the dispatcher needs of a firing alert every tick (full rows only to flush)."""

    id: int
    fingerprint: str
    labels: dict[str, str]
    severity: str
    muted: str
    muted_by: list[str]
    acknowledged: bool


@dataclass
class _Group:
    node: Node
    labels: dict[str, str]
    firing: dict[str, _Firing] = field(default_factory=dict)
    muted: set[str] = field(default_factory=set)


def _common(maps: Iterable[Mapping[str, str]]) -> dict[str, str]:
    it = iter(maps)
    first = next(it, None)
    if first is None:
        return {}
    common = dict(first)
    for m in it:
        common = {k: v for k, v in common.items() if m.get(k) == v}
    return common


class Dispatcher:
    """Turns alert states into outbox notifications; run by the alerts leader only."""

    def __init__(self, base_url: str = "") -> None:
        self.base_url = base_url.rstrip("/")
        self._routes: dict[str, list[tuple[Node, str, dict[str, str]]]] = {}
        self._tree: Node | None = None
        self._labels: dict[int, dict[str, str]] = {}
        self._last_signature: tuple[Any, ...] | None = None
        self._last_cfg: RoutingConfig | None = None
        self._wake_at: datetime | None = None
        self._full_at: datetime | None = None

    def _match(
        self, tree: Node, fp: str, labels: Mapping[str, str]
    ) -> list[tuple[Node, str, dict[str, str]]]:
        """The routes an alert takes, each with its group key and labels (cached: an
        alert's labels do not change while it fires)."""
        if tree is not self._tree and tree != self._tree:
            self._tree, self._routes = tree, {}
        found = self._routes.get(fp)
        if found is None:
            if len(self._routes) > 200_000:
                self._routes.clear()
            found = self._routes[fp] = [
                (node, *node.group_key(labels)) for node in match(tree, labels) if node.receivers
            ]
        return found

    # -- muting ------------------------------------------------------------------------------

    def _mute(self, db: Session, firing: list[_Firing], cfg: RoutingConfig, now: datetime) -> None:
        silences = active_silences(db, now)
        windows = [(w.name, parse_matchers(w.matchers)) for w in cfg.windows if is_open(w, now)]
        inhibited = inhibited_by([(a.fingerprint, a.labels) for a in firing], cfg.inhibit)
        changed: list[dict[str, Any]] = []
        for alert in firing:
            in_window = sorted(name for name, ms in windows if matches(alert.labels, ms))
            silenced = sorted(silenced_by(alert.labels, silences)) if silences else []
            by = inhibited.get(alert.fingerprint, [])
            if in_window:
                muted, muted_by = "maintenance", in_window
            elif silenced:
                muted, muted_by = "silenced", silenced
            elif by:
                muted, muted_by = "inhibited", sorted(set(by))
            else:
                muted, muted_by = "", []
            if (alert.muted, alert.muted_by) != (muted, muted_by):
                event = muted or "unmuted"
                alert.muted, alert.muted_by = muted, muted_by
                changed.append({"id": alert.id, "muted": muted, "muted_by": muted_by})
                db.add(
                    AlertEvent(
                        alert_id=alert.id, at=now, event=event, detail=", ".join(muted_by)[:500]
                    )
                )
        if changed:
            db.execute(update(Alert), changed)

    # -- notifications -----------------------------------------------------------------------

    def _item(self, alert: Alert, status: str, rules: Mapping[str, AlertRule]) -> AlertItem:
        rule = rules.get(alert.rule)
        silence_labels = {k: v for k, v in alert.labels.items() if k != "severity"}
        runbook_url, runbook = notification_runbook(
            (rule.runbook_url or "") if rule else "",
            (rule.runbook or "") if rule else "",
            self.base_url,
        )
        return AlertItem(
            fingerprint=alert.fingerprint,
            status="resolved" if status == "resolved" else "firing",
            labels=dict(alert.labels),
            annotations=dict(alert.annotations or {}),
            starts_at=alert.fired_at or alert.active_at,
            ends_at=alert.resolved_at if status == "resolved" else None,
            value=alert.value,
            rule=alert.rule,
            runbook_url=runbook_url,
            runbook=runbook,
            url=f"{self.base_url}/alerts/{alert.id}",
            silence_url=self.base_url + new_silence_path(silence_labels),
        )

    def _flush(
        self,
        db: Session,
        state: AlertGroup,
        firing: Mapping[str, _Firing],
        resolved: Mapping[str, Alert],
        rules: Mapping[str, AlertRule],
        now: datetime,
    ) -> int:
        ids = [a.id for a in firing.values()]
        full = [
            row
            for i in range(0, len(ids), 500)
            for row in db.scalars(select(Alert).where(Alert.id.in_(ids[i : i + 500])))
        ]
        items = [self._item(a, "firing", rules) for a in full]
        items += [self._item(a, "resolved", rules) for a in resolved.values()]
        items.sort(key=lambda i: (i.status != "firing", i.starts_at, i.fingerprint))
        flush = state.flushes + 1
        # unique over the group's lifetimes: a group that empties and comes back is new
        born = int(state.first_at.timestamp() * 1000)
        batch = f"{state.key[:32]}:{born}:{flush}"
        message = Notification(
            id=0,
            key="",
            channel="",
            status="firing" if firing else "resolved",
            group_key=state.key,
            group_labels=dict(state.group_labels),
            common_labels=_common(i.labels for i in items),
            common_annotations=_common(i.annotations for i in items),
            alerts=items,
            external_url=self.base_url,
            group_url=f"{self.base_url}/alerts",
        )
        payload = to_payload(message)
        queued = 0
        for channel in state.receivers:
            queued += enqueue(
                db,
                key=hashlib.sha256(f"{batch}:{channel}".encode()).hexdigest(),
                batch=batch,
                channel=channel,
                group_key=state.key,
                payload=payload,
                now=now,
            )
        state.flushes = flush
        state.last_flush_at = now
        state.notified = dict.fromkeys(firing, "firing")
        return queued

    def tick(
        self, db: Session, now: datetime, cfg: RoutingConfig | None = None, force: bool = True
    ) -> int:
        """Mute, route and flush once; return the number of notifications queued. The
        caller commits.

        A tick is skipped (cheaply) when nothing it depends on has changed since the last
        one — the firing alerts, the active silences, the open windows, the plan — and no
        group timer is due: with 10,000 firing alerts a full tick costs a few hundred ms."""
        cfg = cfg or load_config(db)
        signature = self._signature(db, now, cfg)
        if (
            not force
            and signature == self._last_signature
            and (cfg is self._last_cfg or cfg == self._last_cfg)
            and self._wake_at is not None
            and now < self._wake_at
            and self._full_at is not None
            and now - self._full_at < FULL_TICK_EVERY
        ):
            return 0
        queued = self._full_tick(db, now, cfg)
        db.flush()
        self._last_signature = self._signature(db, now, cfg)
        self._last_cfg, self._full_at = cfg, now
        return queued

    def _signature(self, db: Session, now: datetime, cfg: RoutingConfig) -> tuple[Any, ...]:
        # What can change a tick's outcome: alerts starting or ending (count, newest id) and
        # acknowledgements (the evaluator also says when its alerts changed); not value
        # refreshes, and mutes are this tick's own output.
        count, ids, acked = db.execute(
            select(func.count(), func.sum(Alert.id), func.count(Alert.acknowledged_at)).where(
                Alert.state == "firing"
            )
        ).one()
        silences = tuple(
            db.scalars(
                select(Silence.id)
                .where(Silence.starts_at <= now, Silence.ends_at > now)
                .order_by(Silence.id)
            )
        )
        windows = tuple(w.name for w in cfg.windows if is_open(w, now))
        return (count, ids, acked, silences, windows)

    def _full_tick(self, db: Session, now: datetime, cfg: RoutingConfig) -> int:
        wake: list[datetime] = []
        firing = self._firing(db)
        self._mute(db, firing, cfg, now)
        groups: dict[str, _Group] = {}
        if cfg.tree is not None:
            for alert in firing:
                for node, key, labels in self._match(cfg.tree, alert.fingerprint, alert.labels):
                    group = groups.get(key)
                    if group is None:
                        group = groups[key] = _Group(node, labels)
                    if alert.muted:
                        group.muted.add(alert.fingerprint)
                    else:
                        group.firing[alert.fingerprint] = alert
        states = {g.key: g for g in db.scalars(select(AlertGroup))}
        firing_fps = {a.fingerprint for a in firing}
        gone = {
            fp
            for s in states.values()
            for fp, how in (s.notified or {}).items()
            if how == "firing" and fp not in firing_fps
        }
        resolved = self._resolved(db, gone)
        queued = 0
        nodes = _by_path(cfg.tree)
        for key in set(groups) | set(states):
            grp = groups.get(key)
            state = states.get(key)
            now_firing = grp.firing if grp else {}
            if state is None:
                if not now_firing or grp is None:
                    continue
                state = AlertGroup(
                    key=key,
                    route=grp.node.path,
                    receivers=list(grp.node.receivers),
                    group_labels=grp.labels,
                    first_at=now,
                    notified={},
                    flushes=0,
                )
                db.add(state)
            muted = grp.muted if grp else set()
            # muted alerts leave the group quietly: when the mute ends they are new again;
            # notified alerts that vanished without a resolved row are dropped
            done = {
                fp: resolved[fp]
                for fp, how in (state.notified or {}).items()
                if how == "firing" and fp not in firing_fps and fp in resolved
            }
            state.notified = {
                fp: how
                for fp, how in (state.notified or {}).items()
                if fp not in muted and (fp in now_firing or fp in done)
            }
            new = set(now_firing) - set(state.notified)
            route = grp.node if grp else nodes.get(state.route)
            if state.last_flush_at is None:
                wait = route.wait_for({a.severity for a in now_firing.values()}) if route else None
                due = state.first_at + (wait or timedelta(0))
                changed, repeat = bool(now_firing), False
            else:
                due = state.last_flush_at + (route.group_interval if route else timedelta(0))
                changed = bool(new or done)
                # acknowledged alerts are not repeated (a new or resolved one still is sent)
                repeat = bool(
                    now_firing
                    and route
                    and now >= state.last_flush_at + route.repeat_interval
                    and not all(a.acknowledged for a in now_firing.values())
                )
            if (changed or repeat) and now >= due:
                queued += self._flush(db, state, now_firing, done, cfg.rules, now)
            elif changed:
                wake.append(due)
            if not now_firing and not state.notified:
                db.execute(delete(AlertGroup).where(AlertGroup.key == key))
            elif now_firing and route and state.last_flush_at is not None:
                wake.append(state.last_flush_at + route.repeat_interval)
        self._wake_at = min(wake) if wake else now + FULL_TICK_EVERY
        return queued

    def _firing(self, db: Session) -> list[_Firing]:
        """The firing alerts; labels (fixed for an alert's life) come from a cache, so a
        tick over 10,000 alerts reads a few small columns."""
        rows = db.execute(
            select(
                Alert.id,
                Alert.fingerprint,
                Alert.severity,
                Alert.muted,
                Alert.muted_by,
                Alert.acknowledged_at,
            ).where(Alert.state == "firing")
        ).all()
        missing = [r.id for r in rows if r.id not in self._labels]
        for i in range(0, len(missing), 500):
            chunk = missing[i : i + 500]
            for alert_id, labels in db.execute(
                select(Alert.id, Alert.labels).where(Alert.id.in_(chunk))
            ):
                self._labels[alert_id] = labels
        self._labels = {r.id: self._labels[r.id] for r in rows if r.id in self._labels}
        return [
            _Firing(
                r.id,
                r.fingerprint,
                self._labels[r.id],
                r.severity,
                r.muted,
                list(r.muted_by or []),
                r.acknowledged_at is not None,
            )
            for r in rows
            if r.id in self._labels
        ]

    def _resolved(self, db: Session, fingerprints: set[str]) -> dict[str, Alert]:
        """The latest resolved alert of each fingerprint."""
        out: dict[str, Alert] = {}
        fps = sorted(fingerprints)
        for i in range(0, len(fps), 500):
            rows = db.scalars(
                select(Alert)
                .where(Alert.fingerprint.in_(fps[i : i + 500]), Alert.state == "resolved")
                .order_by(Alert.resolved_at)
            )
            for row in rows:
                out[row.fingerprint] = row
        return out
