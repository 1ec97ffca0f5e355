"""Render a notification's title, text and HTML from the channel's templates.

The delivery worker calls :func:`render_message` just before ``channel.send``. A channel's
``template.title`` and ``template.text`` (Jinja2 in a sandbox, Prometheus-style ``$labels``
accepted, see :mod:`watchkeeper.alerts.templating`) replace the defaults below; a template
that fails renders with its error shown rather than losing the notification. ``html`` (used
by e-mail) is the built-in HTML layout, or the rendered text with its links made clickable
when the channel has its own text template.

Variables of message templates:

``status``
    ``"firing"`` when any alert of the group fires, else ``"resolved"``.
``alerts``, ``firing``, ``resolved``
    All alerts of the group, the firing ones, the resolved ones. Each alert has ``name``
    (its ``alertname``), ``status``, ``severity``, ``labels``, ``annotations``, ``summary``
    and ``description`` (those annotations, or ""), ``value`` (a number, or none), ``since``
    (start, as ``2024-05-01 10:00:00 UTC``), ``ended`` (end of a resolved alert, or ""),
    ``duration`` (how long it has fired: ``5m``, ``1h 20m``), ``starts_at`` and ``ends_at``
    (datetimes, UTC), ``runbook_url``, ``runbook`` (inline Markdown), ``runbook_short`` (the
    runbook cut to a few lines), ``url`` (the alert's page, where it is acknowledged),
    ``silence_url`` (a prefilled silence form), ``fingerprint`` and ``rule``.
``labels``, ``annotations``, ``value``
    Those of the first alert (so ``{{ $labels.instance }}`` and ``{{ $value | humanize }}``
    read naturally when a group holds one alert).
``group_labels``, ``common_labels``, ``common_annotations``
    The labels the group is keyed by; the labels and annotations every alert shares.
``group_name``
    The group's label values (``HighErrorRate api``), or its alert names when ungrouped.
``severity``
    The highest severity among the firing alerts (``critical``, ``warning``, ``info``).
``external_url`` (also ``externalURL``), ``group_url``
    Watchkeeper's address; the alert group's page.
``channel``
    The channel's name.
``test``
    True for a test notification (the title then always says ``[TEST]``).
``incident``
    For an on-call page or a major-incident notice: the incident's ``id``, ``title``,
    ``severity``, ``status``, ``team``, ``services``, ``url``, ``drill`` (the drill's name or
    ""), ``major``, ``person`` (who is paged) and the signed ``ack_url`` and ``resolve_url``;
    none otherwise.

Filters: ``humanize``, ``humanize1024``, ``humanizeDuration``, ``humanizePercentage``,
``humanizeTimestamp``, ``toUpper``, ``toLower`` and Jinja2's own.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from functools import cache
from typing import Any

from jinja2 import ChainableUndefined
from jinja2.sandbox import SandboxedEnvironment
from markdown_it import MarkdownIt
from markupsafe import Markup, escape

from watchkeeper.alerts.templating import FILTERS, render
from watchkeeper.notify.interface import AlertItem, MessageTemplate, Notification

LISTED = 20
"""The default templates describe this many alerts, then say how many more there are."""
RUNBOOK_LINES = 8
RUNBOOK_CHARS = 600

DEFAULT_TITLE = (
    "{% if test %}[TEST] {% endif %}"
    "{% if incident %}{% if incident.drill %}[DRILL] {% endif %}"
    "{% if incident.major %}[MAJOR] {% endif %}[{{ incident.severity }}] "
    "Incident #{{ incident.id }}: {{ incident.title }}"
    "{% elif test and not alerts %}Test notification from Watchkeeper"
    '{% else %}{% if status == "firing" %}[FIRING:{{ firing|length }}]'
    "{% else %}[RESOLVED]{% endif %} {{ group_name }}"
    "{% if severity %} ({{ severity }}){% endif %}{% endif %}"
)

DEFAULT_TEXT = """\
{%- if test %}
This is a test notification from Watchkeeper: nothing is wrong, no action is needed.
{% endif %}
{%- if incident %}
{%- if incident.drill %}
This is a DRILL ({{ incident.drill }}): acknowledge it as you would a real incident.
{% endif %}
{%- if incident.major %}
A MAJOR INCIDENT has been declared.
{% endif %}
Incident #{{ incident.id }} ({{ incident.severity }}): {{ incident.title }}
{%- if incident.services %}
Services: {{ incident.services|join(", ") }}
{%- endif %}
{%- if incident.ack_url %}
Acknowledge: {{ incident.ack_url }}
{%- endif %}
{%- if incident.resolve_url %}
Resolve: {{ incident.resolve_url }}
{%- endif %}
Incident: {{ incident.url }}
{% endif %}
{%- for a in (firing + resolved)[:20] %}
{% if a.status == "firing" %}FIRING{% else %}RESOLVED{% endif %}: {{ a.name }}
{%- if a.severity %} ({{ a.severity }}){% endif %}
{%- if a.summary %}
{{ a.summary }}
{%- endif %}
{%- if a.description and a.description != a.summary %}
{{ a.description }}
{%- endif %}
{%- if a.value is not none %}
Value: {{ a.value|humanize }}
{%- endif %}
{%- if a.status == "firing" %}
Since: {{ a.since }} (for {{ a.duration }})
{%- else %}
Resolved: {{ a.ended or "now" }} (fired from {{ a.since }}, {{ a.duration }})
{%- endif %}
{%- set shown = a.labels|dictsort|rejectattr(0, "in", ["alertname", "severity"])|list %}
{%- if shown %}
Labels: {% for k, v in shown %}{{ k }}={{ v }}{% if not loop.last %}, {% endif %}{% endfor %}
{%- endif %}
{%- if a.runbook_url %}
Runbook: {{ a.runbook_url }}
{%- endif %}
{%- if a.runbook_short %}
{{ a.runbook_short }}
{%- endif %}
{%- if a.url %}
{% if a.status == "firing" %}Acknowledge{% else %}Alert{% endif %}: {{ a.url }}
{%- endif %}
{%- if a.silence_url %}
Silence: {{ a.silence_url }}
{%- endif %}
{% endfor %}
{%- if alerts|length > 20 %}
... and {{ alerts|length - 20 }} more alert(s).
{% endif %}
{%- if group_url %}
All alerts of this group: {{ group_url }}
{%- endif %}
"""

_HTML = """\
<!DOCTYPE html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{{ title }}</title></head>
<body style="margin:0;padding:0;background:#f4f5f7;color:#1f2328;\
font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;font-size:14px;line-height:1.5;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" \
style="background:#f4f5f7;"><tr><td align="center" style="padding:24px 12px;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" \
style="max-width:680px;background:#ffffff;border-radius:6px;\
border-top:6px solid {{ colors[color_key] }};">
<tr><td style="padding:20px 24px;">
{%- if test %}
<p style="margin:0 0 16px;padding:8px 12px;background:#fff8c5;border:1px solid #d4a72c;\
border-radius:4px;">This is a test notification from Watchkeeper: nothing is wrong, no action \
is needed.</p>
{%- endif %}
<h1 style="margin:0 0 16px;font-size:20px;line-height:1.3;">{{ title }}</h1>
{%- if incident and incident.ack_url %}
<p style="margin:0 0 16px;"><a href="{{ incident.ack_url|web_url }}" style="display:inline-block;\
padding:8px 16px;background:#1f883d;color:#ffffff;border-radius:6px;font-weight:600;\
text-decoration:none;">Acknowledge</a>{% if incident.resolve_url %} <a href="\
{{ incident.resolve_url|web_url }}" style="display:inline-block;margin-left:8px;\
padding:8px 16px;border:1px solid #d0d7de;color:#1f2328;border-radius:6px;\
text-decoration:none;">Resolve</a>{% endif %} <a href="\
{{ incident.url|web_url }}" style="margin-left:8px;color:#0969da;">Open incident</a></p>
{%- endif %}
{%- if custom_text %}
<div style="white-space:pre-wrap;font-family:ui-monospace,Menlo,Consolas,monospace;\
font-size:13px;">{{ custom_text|linkify }}</div>
{%- else %}
{%- for a in (firing + resolved)[:listed] %}
<div style="margin:0 0 16px;padding:12px 16px;border:1px solid #d0d7de;border-radius:4px;\
border-left:4px solid {{ colors[a.status if a.status == "resolved" else a.severity] \
or colors.warning }};">
<div style="font-size:16px;font-weight:600;">{{ a.name }}
<span style="display:inline-block;margin-left:6px;padding:0 6px;border-radius:10px;\
font-size:12px;font-weight:600;color:#ffffff;background:{{ colors[a.status if a.status == \
"resolved" else a.severity] or colors.warning }};">
{%- if a.status == "resolved" %}resolved{% else %}{{ a.severity or "firing" }}{% endif %}\
</span></div>
{%- if a.summary %}<p style="margin:6px 0 0;">{{ a.summary }}</p>{% endif %}
{%- if a.description and a.description != a.summary %}
<p style="margin:6px 0 0;color:#57606a;">{{ a.description }}</p>{% endif %}
<table role="presentation" cellpadding="0" cellspacing="0" style="margin:8px 0 0;font-size:13px;">
{%- if a.value is not none %}
<tr><td style="padding:2px 12px 2px 0;color:#57606a;">Value</td>\
<td style="padding:2px 0;font-weight:600;">{{ a.value|humanize }}</td></tr>
{%- endif %}
<tr><td style="padding:2px 12px 2px 0;color:#57606a;">Since</td><td style="padding:2px 0;">\
{{ a.since }}{% if a.status == "firing" %} (for {{ a.duration }}){% endif %}</td></tr>
{%- if a.status == "resolved" %}
<tr><td style="padding:2px 12px 2px 0;color:#57606a;">Resolved</td><td style="padding:2px 0;">\
{{ a.ended or "now" }} (after {{ a.duration }})</td></tr>
{%- endif %}
{%- set shown = a.labels|dictsort|rejectattr(0, "in", ["alertname", "severity"])|list %}
{%- if shown %}
<tr><td style="padding:2px 12px 2px 0;color:#57606a;vertical-align:top;">Labels</td>\
<td style="padding:2px 0;">{% for k, v in shown %}<span style="display:inline-block;\
margin:0 4px 2px 0;padding:0 6px;background:#eaeef2;border-radius:4px;\
font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;">{{ k }}={{ v }}</span>\
{% endfor %}</td></tr>
{%- endif %}
</table>
{%- if a.runbook_url|web_url %}
<p style="margin:8px 0 0;">Runbook: <a href="{{ a.runbook_url|web_url }}" \
style="color:#0969da;">{{ a.runbook_url }}</a></p>
{%- endif %}
{%- if a.runbook_short %}
<div style="margin:8px 0 0;padding:8px 12px;background:#f6f8fa;border-radius:4px;\
font-size:13px;">{{ a.runbook_short|markdown }}</div>
{%- endif %}
{%- if a.url|web_url or a.silence_url|web_url %}
<p style="margin:12px 0 0;">
{%- if a.url|web_url %}<a href="{{ a.url|web_url }}" style="display:inline-block;\
margin-right:8px;padding:6px 12px;background:#0969da;color:#ffffff;border-radius:4px;\
text-decoration:none;font-weight:600;">{% if a.status == "firing" %}Acknowledge\
{% else %}View alert{% endif %}</a>{% endif %}
{%- if a.silence_url|web_url %}<a href="{{ a.silence_url|web_url }}" \
style="display:inline-block;padding:6px 12px;background:#eaeef2;color:#1f2328;\
border-radius:4px;text-decoration:none;font-weight:600;">Silence</a>{% endif %}
</p>
{%- endif %}
</div>
{%- endfor %}
{%- if alerts|length > listed %}
<p style="margin:0 0 16px;">... and {{ alerts|length - listed }} more alert(s).</p>
{%- endif %}
{%- endif %}
{%- if group_url|web_url %}
<p style="margin:0;"><a href="{{ group_url|web_url }}" style="color:#0969da;">\
Open this alert group in Watchkeeper</a></p>
{%- endif %}
</td></tr>
<tr><td style="padding:12px 24px;border-top:1px solid #d0d7de;color:#57606a;font-size:12px;">
Sent by Watchkeeper
{%- if external_url|web_url %} from <a href="{{ external_url|web_url }}" \
style="color:#57606a;">{{ external_url }}</a>{% endif %}.</td></tr>
</table></td></tr></table>
</body></html>
"""

COLORS = {
    "critical": "#cf222e",
    "warning": "#bf8700",
    "info": "#0969da",
    "resolved": "#1a7f37",
    "test": "#8250df",
}
_URL = re.compile(r"https?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]]")
_MARKDOWN = MarkdownIt("commonmark", {"html": False})


def _web_url(value: Any) -> str:
    """``value`` when it is an http(s) URL, else "" (no ``javascript:`` links in e-mail)."""
    text = str(value or "")
    return text if text.startswith(("http://", "https://")) else ""


def _linkify(value: Any) -> Markup:
    """Escape plain text and make its http(s) URLs links."""
    escaped = str(escape(str(value)))
    return Markup(
        _URL.sub(
            lambda m: f'<a href="{m.group(0)}" style="color:#0969da;">{m.group(0)}</a>', escaped
        )
    )


def _markdown(value: Any) -> Markup:
    """Markdown to HTML; raw HTML in the source is escaped, unsafe link schemes dropped."""
    return Markup(_MARKDOWN.render(str(value)))


@cache
def _html_template() -> Any:
    env = SandboxedEnvironment(undefined=ChainableUndefined, autoescape=True)
    env.filters.update(FILTERS)
    env.filters.update(web_url=_web_url, linkify=_linkify, markdown=_markdown)
    return env.from_string(_HTML)


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def format_time(value: datetime | None) -> str:
    """Return ``2024-05-01 10:00:00 UTC`` (or "" for None)."""
    return _aware(value).strftime("%Y-%m-%d %H:%M:%S UTC") if value is not None else ""


def short_duration(seconds: float) -> str:
    """Return the two largest units of a duration: ``42s``, ``5m``, ``1h 20m``, ``2d 3h``."""
    rest = max(0, int(seconds))
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    return " ".join(parts[:2]) or "0s"


def shorten_runbook(text: str) -> str:
    """Return the start of an inline runbook: a few lines, whole words, "..." when cut."""
    text = text.strip()
    lines = text.splitlines()
    cut = "\n".join(lines[:RUNBOOK_LINES])
    if len(cut) > RUNBOOK_CHARS:
        cut = cut[:RUNBOOK_CHARS].rsplit(None, 1)[0]
    return cut if cut == text else cut.rstrip() + " ..."


def _value(value: float | None) -> float | None:
    return None if value is None or value != value else value


def alert_variables(alert: AlertItem, now: datetime) -> dict[str, Any]:
    """Return one alert as template variables (see the module docstring)."""
    start = _aware(alert.starts_at)
    end = _aware(alert.ends_at) if alert.ends_at is not None else None
    until = end if alert.status == "resolved" and end is not None else now
    return {
        "name": alert.name,
        "status": alert.status,
        "severity": alert.severity,
        "labels": alert.labels,
        "annotations": alert.annotations,
        "summary": alert.annotations.get("summary", ""),
        "description": alert.annotations.get("description", ""),
        "value": _value(alert.value),
        "starts_at": start,
        "ends_at": end,
        "since": format_time(start),
        "ended": format_time(end) if alert.status == "resolved" else "",
        "duration": short_duration((until - start).total_seconds()),
        "runbook_url": alert.runbook_url,
        "runbook": alert.runbook,
        "runbook_short": shorten_runbook(alert.runbook) if alert.runbook.strip() else "",
        "url": alert.url,
        "silence_url": alert.silence_url,
        "fingerprint": alert.fingerprint,
        "rule": alert.rule,
    }


def group_name(message: Notification) -> str:
    """The group's label values, alert name first (severity left out: the title shows it),
    or the names of its alerts when it is not grouped by labels."""
    labels = message.group_labels
    keys = sorted(labels, key=lambda k: (k != "alertname", k))
    values = [labels[k] for k in keys if k != "severity" and labels[k]]
    if values:
        return " ".join(values)
    names = list(dict.fromkeys(a.name for a in message.alerts if a.name))
    if len(names) > 3:
        return f"{', '.join(names[:3])} and {len(names) - 3} more"
    return ", ".join(names)


def message_variables(message: Notification, now: datetime | None = None) -> dict[str, Any]:
    """Return the variables of ``message``'s templates (see the module docstring)."""
    moment = _aware(now) if now is not None else datetime.now(UTC)
    alerts = [alert_variables(a, moment) for a in message.alerts]
    first = alerts[0] if alerts else {}
    return {
        "status": message.status,
        "alerts": alerts,
        "firing": [a for a in alerts if a["status"] == "firing"],
        "resolved": [a for a in alerts if a["status"] == "resolved"],
        "labels": first.get("labels", {}),
        "annotations": first.get("annotations", {}),
        "value": first.get("value"),
        "group_labels": message.group_labels,
        "common_labels": message.common_labels,
        "common_annotations": message.common_annotations,
        "group_name": group_name(message),
        "severity": message.severity,
        "external_url": message.external_url,
        "externalURL": message.external_url,
        "group_url": message.group_url,
        "channel": message.channel,
        "test": message.test,
        "incident": message.extra.get("incident") or None,
    }


def _one_line(text: str) -> str:
    return " ".join(text.split())


def render_message(
    message: Notification, template: MessageTemplate, now: datetime | None = None
) -> Notification:
    """Return a copy of ``message`` with ``title``, ``text`` and ``html`` rendered from
    ``template`` (the defaults where it sets nothing). Never raises for a bad template."""
    variables = message_variables(message, now)
    title = _one_line(render(template.title or DEFAULT_TITLE, variables))
    if message.test and not title.upper().startswith("[TEST]"):
        title = f"[TEST] {title}"
    text = render(template.text or DEFAULT_TEXT, variables).strip()
    color_key: str = "test" if message.test else message.status
    if color_key == "firing":
        color_key = message.severity if message.severity in COLORS else "warning"
    html = _html_template().render(
        variables,
        title=title,
        custom_text=text if template.text else "",
        listed=LISTED,
        colors=COLORS,
        color_key=color_key,
    )
    return replace(message, title=title, text=text, html=html)
