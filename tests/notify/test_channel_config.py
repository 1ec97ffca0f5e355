"""Channel settings in the plan file: bad ones are reported with file:line, secrets unquoted."""

from __future__ import annotations

from textwrap import dedent

import pytest

from watchkeeper.notify.email import EmailChannelConfig
from watchkeeper.notify.interface import registry as channel_registry
from watchkeeper.notify.slack import SlackChannelConfig
from watchkeeper.notify.webhook import WebhookChannelConfig
from watchkeeper.plan.loader import PlanInvalid, load_plan_text


def problems(text: str) -> list[str]:
    with pytest.raises(PlanInvalid) as info:
        load_plan_text(dedent(text), env={})
    return [str(p) for p in info.value.problems]


def test_channel_types_are_registered() -> None:
    loaded = channel_registry.all()
    for name in ("webhook", "slack", "teams", "email"):
        assert name in loaded, channel_registry.failures.get(name)
        for field, info in loaded[name].config_model.model_fields.items():
            assert info.description, f"{name}.{field} has no description"


def test_valid_channels_load() -> None:
    plan = load_plan_text(
        dedent(
            """\
            notifications:
              channels:
                - name: hook
                  type: webhook
                  url: https://hooks.example.com/watchkeeper
                  secret: 12345678
                  headers: {Authorization: Bearer abc}
                  max_alerts: 50
                - name: chat
                  type: slack
                  webhook_url: https://hooks.slack.com/services/T0/B0/XYZ
                  channel: "#ops"
                - name: teams
                  type: teams
                  webhook_url: https://prod.example.logic.azure.com/workflows/1/triggers/manual
                - name: mail
                  type: email
                  to: ops@example.com
                  from: Watchkeeper <wk@example.com>
                  host: smtp.example.com
                  security: tls
            """
        ),
        env={},
    ).plan
    hook, chat, teams, mail = plan.notifications.channels
    assert isinstance(hook, WebhookChannelConfig) and hook.secret == "12345678"
    assert isinstance(chat, SlackChannelConfig) and chat.channel == "#ops"
    assert teams.type == "teams"
    assert isinstance(mail, EmailChannelConfig)
    assert mail.to == ["ops@example.com"] and mail.from_ == "Watchkeeper <wk@example.com>"
    assert mail.smtp_port == 465


def test_webhook_without_url_names_the_line() -> None:
    assert problems(
        """\
        notifications:
          channels:
            - name: ok
              type: webhook
              url: https://example.com/hook
            - name: hook
              type: webhook
              headers: {X-Team: ops}
        """
    ) == ["watchkeeper.yaml:6:7 notifications.channels[1].url: is required"]


def test_bad_values_are_reported_together() -> None:
    assert problems(
        """\
        notifications:
          channels:
            - name: mail
              type: email
              to: [ops@example.com, not-an-address]
              from: wk@example.com
              security: ssl
              username: alerts
            - name: hook
              type: webhook
              url: ftp://example.com/
              headers: {Idempotency-Key: mine}
        """
    ) == [
        "watchkeeper.yaml:5:29 notifications.channels[0].to[1]: "
        '"not-an-address" is not an e-mail address',
        "watchkeeper.yaml:7:17 notifications.channels[0].security: "
        "input should be 'starttls', 'tls' or 'none' (got \"ssl\")",
        "watchkeeper.yaml:11:12 notifications.channels[1].url: "
        '"ftp://example.com/" is not an http:// or https:// URL',
        "watchkeeper.yaml:12:16 notifications.channels[1].headers: "
        '"Idempotency-Key" is set by Watchkeeper',
    ]


def test_username_needs_a_password() -> None:
    (problem,) = problems(
        """\
        notifications:
          channels:
            - name: mail
              type: email
              to: ops@example.com
              from: wk@example.com
              username: alerts
        """
    )
    assert "give both `username` and `password`, or neither" in problem


@pytest.mark.parametrize("kind", ["slack", "teams"])
def test_a_bad_webhook_url_is_not_quoted(kind: str) -> None:
    (problem,) = problems(
        f"""\
        notifications:
          channels:
            - name: chat
              type: {kind}
              webhook_url: hooks.example.com/services/T0/B0/S3CRETKEY
        """
    )
    assert problem.startswith("watchkeeper.yaml:3:7 notifications.channels[0]")
    assert "`webhook_url` is not an http:// or https:// URL" in problem
    assert "S3CRETKEY" not in problem
