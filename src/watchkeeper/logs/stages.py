"""The stages of a parsing pipeline, each compiled once into a function of one line.

A compiled stage changes the line in place and returns False when the line is to be dropped.
A value it cannot parse leaves the line as it is and is counted in
:attr:`StageContext.errors` under (pipeline, stage kind).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable

from watchkeeper.logs.config import (
    FilterStage,
    LevelStage,
    MaskStage,
    RegexStage,
    Stage,
    TimestampStage,
)
from watchkeeper.logs.extract import json_fields, level_label, parse_logfmt
from watchkeeper.logs.masking import BUILTIN_REPLACEMENTS, compile_mask
from watchkeeper.logs.model import MAX_LABELS, Labels, LogLine, make_labels
from watchkeeper.logs.timestamps import compile_parser

Run = Callable[[LogLine], bool]
Getter = Callable[[LogLine], str | None]
MESSAGE = "message"
"""The name by which a stage refers to the message rather than a field."""
_MAX_CACHED = 10_000


class StageContext:
    """What the compiled stages of one Processor share: the error counts of the current
    batch and which automatic extraction (``json``/``logfmt``/None) the current line had."""

    __slots__ = ("errors", "auto", "_labels")

    def __init__(self, errors: Counter[tuple[str, str]]) -> None:
        self.errors = errors
        self.auto: str | None = None
        self._labels: dict[tuple[Labels, str, str], Labels] = {}

    def with_label(self, labels: Labels, name: str, value: str) -> Labels:
        """Return ``labels`` with ``name`` set to ``value`` (cached: streams are few, and
        sharing the tuples saves memory downstream)."""
        key = (labels, name, value)
        out = self._labels.get(key)
        if out is None:
            if len(self._labels) >= _MAX_CACHED:
                self._labels.clear()
            out = self._labels[key] = set_label(labels, name, value)
        return out


def set_label(labels: Labels, name: str, value: str) -> Labels:
    """Return ``labels`` with ``name`` set to ``value``, still sorted."""
    pairs = dict(labels)
    pairs[name] = value
    return make_labels(pairs)


def getter(name: str | None) -> Getter:
    """Return a function reading field ``name`` of a line (the message for None/``message``)."""
    if name is None or name == MESSAGE:
        return lambda line: line.message
    return lambda line: line.fields.get(name)


def compile_stage(stage: Stage, pipeline: str, ctx: StageContext) -> Run:
    """Return the compiled form of ``stage`` (exactly one key is set; the plan model checks)."""
    if stage.regex is not None:
        return _regex(stage.regex)
    if stage.json_ is not None:
        return _json(stage.json_, pipeline, ctx)
    if stage.logfmt is not None:
        return _logfmt(stage.logfmt, pipeline, ctx)
    if stage.timestamp is not None:
        return _timestamp(stage.timestamp, pipeline, ctx)
    if stage.level is not None:
        return _level(stage.level, ctx)
    if stage.drop is not None:
        return _filter(stage.drop, keep=False)
    if stage.keep is not None:
        return _filter(stage.keep, keep=True)
    if stage.rename is not None:
        return _rename(stage.rename)
    if stage.labels is not None:
        return _labels(stage.labels, pipeline, ctx)
    if stage.mask is not None:
        return _mask(stage.mask)
    if stage.message is not None:
        return _message(stage.message)
    raise ValueError("empty stage")  # unreachable: Stage requires exactly one key


def _regex(cfg: RegexStage) -> Run:
    rx = re.compile(cfg.expression)
    get = getter(cfg.source)

    def run(line: LogLine) -> bool:
        text = get(line)
        if text is not None:
            match = rx.search(text)
            if match is not None:
                for name, value in match.groupdict().items():
                    if value is not None:
                        line.fields[name] = value
        return True

    return run


def _json(source: str, pipeline: str, ctx: StageContext) -> Run:
    get = getter(source)
    is_message = source == MESSAGE

    def run(line: LogLine) -> bool:
        if is_message and ctx.auto == "json":
            return True  # the automatic step has parsed it already
        text = get(line)
        if text is None:
            return True
        parsed = json_fields(text, take_message=is_message)
        if parsed is None:
            ctx.errors[(pipeline, "json")] += 1
            return True
        fields, message = parsed
        line.fields.update(fields)
        if message is not None:
            line.message = message
        return True

    return run


def _logfmt(source: str, pipeline: str, ctx: StageContext) -> Run:
    get = getter(source)
    is_message = source == MESSAGE

    def run(line: LogLine) -> bool:
        if is_message and ctx.auto == "logfmt":
            return True
        text = get(line)
        if text is None:
            return True
        fields = parse_logfmt(text)
        if not fields:
            ctx.errors[(pipeline, "logfmt")] += 1
            return True
        line.fields.update(fields)
        return True

    return run


def _timestamp(cfg: TimestampStage, pipeline: str, ctx: StageContext) -> Run:
    parse = compile_parser(cfg.format, cfg.timezone)
    get = getter(cfg.field)

    def run(line: LogLine) -> bool:
        text = get(line)
        if text is None:
            return True
        ns = parse(text, line.received)
        if ns is None:
            ctx.errors[(pipeline, "timestamp")] += 1
        else:
            line.ts = ns
        return True

    return run


def _level(cfg: LevelStage, ctx: StageContext) -> Run:
    get = getter(cfg.field)
    exact = {key: level_label(value) for key, value in cfg.map.items()}
    folded = {key.lower(): value for key, value in exact.items()}

    def run(line: LogLine) -> bool:
        text = get(line)
        if text is None or text == "":
            return True
        level = exact.get(text) or folded.get(text.lower()) or level_label(text)
        if level:
            line.labels = ctx.with_label(line.labels, "level", level)
        return True

    return run


def _filter(cfg: FilterStage, *, keep: bool) -> Run:
    get = getter(cfg.field)
    if cfg.regex is not None:
        rx = re.compile(cfg.regex)

        def hit(line: LogLine) -> bool:
            return rx.search(get(line) or "") is not None

    else:
        wanted = cfg.value

        def hit(line: LogLine) -> bool:
            return (get(line) or "") == wanted

    if keep:
        return hit
    return lambda line: not hit(line)


def _rename(renames: dict[str, str]) -> Run:
    pairs = tuple(renames.items())

    def run(line: LogLine) -> bool:
        fields = line.fields
        for old, new in pairs:
            if old in fields:
                fields[new] = fields.pop(old)
        return True

    return run


def _labels(names: list[str], pipeline: str, ctx: StageContext) -> Run:
    wanted = tuple(dict.fromkeys(names))

    def run(line: LogLine) -> bool:
        fields = line.fields
        labels = line.labels
        for name in wanted:
            value = fields.get(name)
            if not value:
                continue
            if len(labels) >= MAX_LABELS and not any(k == name for k, _v in labels):
                ctx.errors[(pipeline, "labels")] += 1  # too many labels: stays a field
                continue
            labels = ctx.with_label(labels, name, value)
            del fields[name]
        line.labels = labels
        return True

    return run


def _mask(cfg: MaskStage) -> Run:
    explicit = "replace" in cfg.model_fields_set
    builtin_name = cfg.pattern in BUILTIN_REPLACEMENTS
    mask = compile_mask(cfg.pattern, cfg.replace if explicit or not builtin_name else None)
    every_field = "*" in cfg.fields
    names = tuple(n for n in cfg.fields if n not in ("*", MESSAGE))

    def run(line: LogLine) -> bool:
        line.message = mask.text(line.message)
        fields = line.fields
        if every_field:
            for name, value in fields.items():
                fields[name] = mask.field(name, value)
        else:
            for name in names:
                found = fields.get(name)
                if found is not None:
                    fields[name] = mask.field(name, found)
        return True

    return run


def _message(name: str) -> Run:
    def run(line: LogLine) -> bool:
        value = line.fields.pop(name, None)
        if value is not None:
            line.message = value
        return True

    return run
