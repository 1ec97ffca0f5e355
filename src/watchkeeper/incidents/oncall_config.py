"""The plan's ``oncall`` section: people and how to reach them, schedules, escalation policies."""

from __future__ import annotations

import re
from datetime import date, time, timedelta
from typing import Literal

from pydantic import Field, field_validator, model_validator

from watchkeeper.plan.base import PlanModel, PlanObject
from watchkeeper.plan.types import Duration, Name, TimeZone

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"([01]\d|2[0-3]):[0-5]\d")


def parse_hhmm(value: str) -> time:
    if not _HHMM.fullmatch(value):
        raise ValueError(f'"{value}" is not a time of day (use HH:MM, 24-hour)')
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


class ContactRule(PlanModel):
    """One way to reach a person: a notification channel, after a delay from the page."""

    channel: Name = Field(description="Notification channel (from `notifications.channels`).")
    address: str = Field(
        "",
        description="This person's address on that channel, where the channel has one "
        "(an e-mail address for `email`); empty: the channel's own recipients.",
    )
    after: Duration = Field(
        timedelta(0), description="Wait this long after the page before using this rule."
    )


class Person(PlanObject):
    """Someone who can be paged. ``name`` is their Watchkeeper user name when they have one."""

    full_name: str = Field("", description="Name shown in the UI.")
    email: str = Field("", description="E-mail address (shown in the directory).")
    phone: str = Field("", description="Phone number (shown in the directory).")
    time_zone: TimeZone = Field("UTC", description="Their time zone (for the calendar).")
    contact: list[ContactRule] = Field(
        default_factory=list,
        description="Notification rules, e.g. e-mail at once, Slack after 2 minutes.",
    )


class Restriction(PlanModel):
    """A part of the week a layer covers (for example office hours)."""

    days: list[Weekday] = Field(
        default_factory=lambda: list(WEEKDAYS), description="Days of the week."
    )
    start: str = Field("00:00", description="From this time of day (HH:MM).")
    end: str = Field("24:00", description="Until this time of day (HH:MM, 24:00 = midnight).")

    @field_validator("start")
    @classmethod
    def _start(cls, value: str) -> str:
        parse_hhmm(value)
        return value

    @field_validator("end")
    @classmethod
    def _end(cls, value: str) -> str:
        if value != "24:00":
            parse_hhmm(value)
        return value


class Layer(PlanModel):
    """A rotation: members take turns, each for one shift; later layers win where they cover."""

    name: str = Field("", description="Name shown in the calendar.")
    rotation: Literal["daily", "weekly", "custom"] = Field(
        "weekly", description="Shift length: one day, one week, or `shift_length`."
    )
    shift_length: Duration | None = Field(None, description="Shift length of a custom rotation.")
    handoff: str = Field("09:00", description="Hand-off time of day (HH:MM) in the time zone.")
    handoff_day: Weekday = Field("mon", description="Hand-off day of a weekly rotation.")
    start: date = Field(
        date(2026, 1, 5), description="The first shift starts on this date (its hand-off time)."
    )
    members: list[Name] = Field(min_length=1, description="People in rotation order.")
    restrict: list[Restriction] = Field(
        default_factory=list, description="Only these parts of the week (empty: all of it)."
    )

    @field_validator("handoff")
    @classmethod
    def _handoff(cls, value: str) -> str:
        parse_hhmm(value)
        return value

    @model_validator(mode="after")
    def _length(self) -> Layer:
        if self.rotation == "custom":
            if self.shift_length is None:
                raise ValueError("a custom rotation needs `shift_length`")
            if self.shift_length < timedelta(hours=1):
                raise ValueError("`shift_length` must be at least 1h")
        elif self.shift_length is not None:
            raise ValueError("`shift_length` is only for `rotation: custom`")
        return self


class Schedule(PlanObject):
    """Who is on call when: layers of rotations, in one time zone."""

    time_zone: TimeZone = Field("UTC", description="Time zone of hand-offs and restrictions.")
    layers: list[Layer] = Field(min_length=1, description="Rotations; later layers win.")
    holidays: list[date] = Field(
        default_factory=list, description="Days marked as holidays in the calendar."
    )


class Target(PlanModel):
    """Whom one escalation step pages: exactly one of the keys."""

    schedule: Name | None = Field(None, description="Whoever is on call in this schedule.")
    person: Name | None = Field(None, description="This person.")
    channel: Name | None = Field(None, description="This notification channel directly.")

    @model_validator(mode="after")
    def _one(self) -> Target:
        given = [k for k in ("schedule", "person", "channel") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("give exactly one of `schedule`, `person`, `channel`")
        return self


class Step(PlanModel):
    """One escalation step: page these targets, then wait for an acknowledgement."""

    notify: list[Target] = Field(min_length=1, description="Targets paged at this step.")
    escalate_after: Duration = Field(
        timedelta(minutes=10), description="Go to the next step when not acknowledged by then."
    )

    @field_validator("escalate_after")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value.total_seconds() < 1:
            raise ValueError("`escalate_after` must be at least 1s")
        return value


class EscalationPolicy(PlanObject):
    """Ordered steps; after the last, start again ``repeat`` more times."""

    steps: list[Step] = Field(min_length=1, description="Steps in order.")
    repeat: int = Field(0, ge=0, le=10, description="Run the steps again this many times.")


class OncallSection(PlanModel):
    """People, on-call schedules and escalation policies."""

    people: list[Person] = Field(default_factory=list, description="People who can be paged.")
    schedules: list[Schedule] = Field(default_factory=list, description="On-call schedules.")
    escalation_policies: list[EscalationPolicy] = Field(
        default_factory=list, description="Escalation policies."
    )
