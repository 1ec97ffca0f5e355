"""Message rendering: the default title, text and HTML, user templates, test messages."""

from __future__ import annotations

from datetime import timedelta
from html.parser import HTMLParser

import pytest

from tests.notify.channel_support import NOW, firing_alert, group, resolved_alert
from watchkeeper.notify.interface import MessageTemplate, Notification
from watchkeeper.notify.render import render_message, short_duration, shorten_runbook


def rendered(
    message: Notification, title: str | None = None, text: str | None = None
) -> Notification:
    return render_message(message, MessageTemplate(title=title, text=text), NOW)


def test_default_title_counts_firing_alerts_and_names_the_group() -> None:
    two = group(firing_alert(), firing_alert(fingerprint="ff"), resolved_alert())
    assert rendered(two).title == "[FIRING:2] HighErrorRate api (critical)"
    resolved = group(resolved_alert())
    assert rendered(resolved).title == "[RESOLVED] HighErrorRate api (critical)"


def test_ungrouped_title_lists_alert_names() -> None:
    message = group(
        firing_alert(labels={"alertname": "DiskFull", "severity": "warning"}),
        firing_alert(labels={"alertname": "HostDown", "severity": "critical"}),
        group_labels={},
    )
    assert rendered(message).title == "[FIRING:2] DiskFull, HostDown (critical)"


def test_default_text_describes_each_alert() -> None:
    text = rendered(group(firing_alert(), resolved_alert())).text
    firing, resolved, footer = text.split("\n\n")
    assert firing.splitlines() == [
        "FIRING: HighErrorRate (critical)",
        "Error rate above 5% on api",
        "5xx responses are 7.3% of all",
        "Value: 73.4m",
        "Since: 2026-03-01 11:55:00 UTC (for 5m)",
        "Labels: instance=api-1:8080, service=api",
        "Runbook: https://wiki.example.com/runbooks/high-errors",
        "1. Check the last deploy",
        "2. Roll back with `watchkeeper deploy rollback`",
        "Acknowledge: https://wk.example.com/alerts/a1b2c3d4e5f60718",
        "Silence: https://wk.example.com/silences/new?matcher=alertname%3DHighErrorRate",
    ]
    assert "RESOLVED: HighErrorRate (critical)" in resolved
    assert "Alert: https://wk.example.com/alerts/0f1e2d3c4b5a6978" in resolved
    assert "Resolved: 2026-03-01 11:58:00 UTC (fired from 2026-03-01 11:00:00 UTC, 58m)" in resolved
    assert footer == "All alerts of this group: https://wk.example.com/alerts/groups/9"


def test_long_inline_runbook_is_shortened() -> None:
    runbook = "\n".join(f"{i}. step number {i}" for i in range(1, 40))
    text = rendered(group(firing_alert(runbook=runbook))).text
    assert "8. step number 8 ..." in text
    assert "9. step number 9" not in text


def test_many_alerts_are_summed_up() -> None:
    alerts = [firing_alert(fingerprint=f"{i:04x}") for i in range(25)]
    text = rendered(group(*alerts)).text
    assert text.count("FIRING: HighErrorRate") == 20
    assert "... and 5 more alert(s)." in text


def test_user_templates_use_prometheus_style_and_message_variables() -> None:
    message = rendered(
        group(firing_alert(), firing_alert(fingerprint="ff")),
        title="{{ $labels.instance }}: {{ alerts|length }} alerts ({{ severity|toUpper }})",
        text="{% for a in firing %}{{ a.name }}={{ a.value|humanizePercentage }} {% endfor %}"
        "{{ $value|humanize }} {{ common_labels.service }} {{ group_url }} {{ test }}",
    )
    assert message.title == "api-1:8080: 2 alerts (CRITICAL)"
    assert message.text == (
        "HighErrorRate=7.34% HighErrorRate=7.34% 73.4m api "
        "https://wk.example.com/alerts/groups/9 False"
    )
    assert "https://wk.example.com/alerts/groups/9</a>" in message.html


def test_a_failing_user_template_shows_its_error() -> None:
    # A syntax error is refused when the plan is loaded; one stored before (or built without
    # validation) still renders with its error shown.
    with pytest.raises(ValueError, match="template error"):
        MessageTemplate(title="{{ alerts[0].name")
    template = MessageTemplate.model_construct(title="{{ alerts[0].name", text="{{ 1 / 0 }}")
    message = render_message(group(), template, NOW)
    assert message.title.startswith("{{ alerts[0].name [template error:")
    assert "[template error:" in message.text and "division" in message.text


@pytest.mark.parametrize("title", [None, "{{ group_name }}"])
def test_a_test_notification_says_so_in_its_title(title: str | None) -> None:
    message = rendered(group(test=True), title=title)
    assert message.title.startswith("[TEST] ")
    assert "HighErrorRate api" in message.title
    assert "test notification" in message.html


def test_a_test_notification_without_alerts() -> None:
    message = rendered(group(test=True, alerts=[]))
    assert message.title == "[TEST] Test notification from Watchkeeper"
    assert message.text.startswith("This is a test notification from Watchkeeper")


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.links += [v or "" for k, v in attrs if k == "href"]


def test_html_has_the_alert_links_and_inline_styles_only() -> None:
    html = rendered(group(firing_alert())).html
    parser = _Collect()
    parser.feed(html)
    assert {"link", "script", "style", "img"}.isdisjoint(parser.tags)
    assert parser.links == [
        "https://wiki.example.com/runbooks/high-errors",
        "https://wk.example.com/alerts/a1b2c3d4e5f60718",
        "https://wk.example.com/silences/new?matcher=alertname%3DHighErrorRate",
        "https://wk.example.com/alerts/groups/9",
        "https://wk.example.com",
    ]
    assert "<code>watchkeeper deploy rollback</code>" in html  # the runbook's Markdown
    assert "73.4m" in html and "HighErrorRate" in html


def test_html_escapes_labels_annotations_and_runbooks() -> None:
    alert = firing_alert(
        labels={"alertname": "X", "severity": "critical", "instance": "<script>alert(1)</script>"},
        annotations={"summary": '<img src=x onerror="alert(1)">'},
        runbook="<b>bold</b> [click](javascript:alert(1))",
        runbook_url="javascript:alert(1)",
    )
    html = rendered(group(alert, group_labels={})).html
    assert "<script>" not in html and "<img" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "javascript:" not in html.replace("[click](javascript:alert(1))", "")


def test_html_of_a_user_text_template_is_escaped_and_linked() -> None:
    html = rendered(group(), text="<script>x</script> see {{ group_url }}").html
    assert "<script>x" not in html and "&lt;script&gt;x&lt;/script&gt;" in html
    assert '<a href="https://wk.example.com/alerts/groups/9"' in html


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0, "0s"), (42, "42s"), (300, "5m"), (330, "5m 30s"), (4830, "1h 20m"), (183600, "2d 3h")],
)
def test_short_duration(seconds: int, shown: str) -> None:
    assert short_duration(seconds) == shown


def test_shorten_runbook_keeps_short_ones_whole() -> None:
    assert shorten_runbook("Restart it.\n") == "Restart it."
    assert shorten_runbook("word " * 200).endswith(" ...")


def test_naive_start_times_are_taken_as_utc() -> None:
    alert = firing_alert(starts_at=(NOW - timedelta(minutes=90)).replace(tzinfo=None))
    assert "Since: 2026-03-01 10:30:00 UTC (for 1h 30m)" in rendered(group(alert)).text
