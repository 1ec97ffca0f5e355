"""Parsing pipelines applied to every batch on the writer thread before it is stored.

Each line goes through three steps:

1. automatic extraction: a message that is a JSON object gives its members as fields (its
   ``message``/``msg`` becomes the message), a message starting with ``key=`` gives its
   logfmt pairs; a ``level``/``severity`` field sets the ``level`` label when the line has
   none (or ``unknown``);
2. the plan's pipelines whose ``match`` selector matches the line's labels, in plan order;
3. the plan's global ``logs.mask`` built-ins, on the message, every field and the labels.

Most lines only meet step 1, so it is kept to a first-character test and one anchored
regex match for plain text. Everything is compiled once per :class:`Processor`.
"""

from __future__ import annotations

import logging
from collections import Counter

from watchkeeper.logs.config import LogsSection, Pipeline
from watchkeeper.logs.extract import (
    json_fields,
    level_from_fields,
    looks_like_logfmt,
    parse_logfmt,
)
from watchkeeper.logs.masking import Mask, builtin
from watchkeeper.logs.model import Labels, LogLine
from watchkeeper.logs.selector import Matcher, matches_all, parse_selector
from watchkeeper.logs.stages import Run, StageContext, compile_stage
from watchkeeper.telemetry import LOG_LINES, LOG_PIPELINE_DROPPED, LOG_PIPELINE_ERRORS

log = logging.getLogger(__name__)
_UNSEEN = object()
INTERNAL = "*"
"""The pipeline label of lines that met an unexpected error (counted, kept if maskable)."""
MAX_CACHED = 10_000
"""Label sets remembered per cache (routes, masked labels); streams are normally far fewer."""


class _Compiled:
    __slots__ = ("name", "matchers", "stages")

    def __init__(self, name: str, matchers: tuple[Matcher, ...], stages: list[Run]) -> None:
        self.name = name
        self.matchers = matchers
        self.stages = stages


class Processor:
    """The compiled parsing of one ``logs`` plan section."""

    def __init__(self, section: LogsSection) -> None:
        self.section = section
        self._errors: Counter[tuple[str, str]] = Counter()
        self._state = StageContext(self._errors)
        self._pipelines = [self._compile(p) for p in section.pipelines]
        self._masks: list[Mask] = [builtin(name) for name in dict.fromkeys(section.mask)]
        self._routes: dict[Labels, tuple[int, ...]] = {}
        self._masked_labels: dict[Labels, Labels] = {}
        self._secret_names: dict[str, str | None] = {}
        self._shortest = min((m.min_len for m in self._masks), default=0)
        self._failed_once = False

    def _compile(self, pipeline: Pipeline) -> _Compiled:
        stages = [compile_stage(stage, pipeline.name, self._state) for stage in pipeline.stages]
        return _Compiled(pipeline.name, parse_selector(pipeline.match), stages)

    def process(self, lines: list[LogLine], source: str | None = None) -> list[LogLine]:
        """Parse, filter and mask ``lines`` (changed in place); return the lines to store.

        Dropped lines are counted per pipeline (and as ``dropped_pipeline`` for ``source``
        when given); lines a stage could not parse are kept and counted as errors."""
        pipelines = self._pipelines
        masks = self._masks
        state = self._state
        dropped: Counter[str] = Counter()
        kept: list[LogLine] = []
        for line in lines:
            try:
                message = line.message
                state.auto = None
                if message:
                    if message[0] == "{":
                        self._auto_json(line)
                    elif looks_like_logfmt(message):
                        self._auto_logfmt(line)
                if pipelines:
                    dropper = self._run_pipelines(line)
                    if dropper is not None:
                        dropped[dropper] += 1
                        continue
                if masks:
                    self._mask(line)
            except Exception:
                # A bug must not cost the batch: keep the line as far as it got, but never
                # store it unmasked.
                self._errors[(INTERNAL, "internal")] += 1
                if not self._failed_once:
                    self._failed_once = True
                    log.exception("log pipeline failed on a line; it is stored as it was")
                if masks and not self._mask_safely(line):
                    dropped[INTERNAL] += 1
                    continue
            kept.append(line)
        self._count(dropped, source)
        return kept

    def _mask_safely(self, line: LogLine) -> bool:
        try:
            self._mask(line)
        except Exception:
            return False
        return True

    # --- step 1: automatic extraction ------------------------------------------------------

    def _auto_json(self, line: LogLine) -> None:
        parsed = json_fields(line.message)
        if parsed is None:
            return
        fields, message = parsed
        self._state.auto = "json"
        line.fields = {**line.fields, **fields} if line.fields else fields
        if message is not None:
            line.message = message
        self._auto_level(line, fields)

    def _auto_logfmt(self, line: LogLine) -> None:
        fields = parse_logfmt(line.message)
        if not fields:
            return
        self._state.auto = "logfmt"
        line.fields = {**line.fields, **fields} if line.fields else fields
        self._auto_level(line, fields)

    def _auto_level(self, line: LogLine, fields: dict[str, str]) -> None:
        current = line.label("level")
        if current and current != "unknown":
            return
        level = level_from_fields(fields)
        if level is not None:
            line.labels = self._state.with_label(line.labels, "level", level)

    # --- step 2: the plan's pipelines ------------------------------------------------------

    def _route(self, labels: Labels) -> tuple[int, ...]:
        route = self._routes.get(labels)
        if route is None:
            if len(self._routes) >= MAX_CACHED:
                self._routes.clear()
            route = tuple(
                i for i, p in enumerate(self._pipelines) if matches_all(p.matchers, labels)
            )
            self._routes[labels] = route
        return route

    def _run_pipelines(self, line: LogLine) -> str | None:
        """Run the matching pipelines on ``line``; return the name of the pipeline that
        dropped it, or None when it is kept."""
        route = self._route(line.labels)
        if not route:
            return None
        # Receivers may share one fields dict between lines; stages write to a copy.
        line.fields = dict(line.fields)
        pos = 0
        while pos < len(route):
            index = route[pos]
            pipeline = self._pipelines[index]
            labels = line.labels
            for run in pipeline.stages:
                if not run(line):
                    return pipeline.name
            if line.labels is not labels:
                # A stage changed the labels: later pipelines match on the new ones.
                route = tuple(i for i in self._route(line.labels) if i > index)
                pos = 0
            else:
                pos += 1
        return None

    # --- step 3: global masks --------------------------------------------------------------

    def _secret_field(self, name: str) -> str | None:
        replacement = self._secret_names.get(name, _UNSEEN)
        if replacement is _UNSEEN:
            if len(self._secret_names) >= MAX_CACHED:
                self._secret_names.clear()
            replacement = None
            for mask in self._masks:
                replacement = mask.secret_name(name)
                if replacement is not None:
                    break
            self._secret_names[name] = replacement
        return replacement  # type: ignore[return-value]

    def _mask(self, line: LogLine) -> None:
        masks = self._masks
        message = line.message
        for mask in masks:
            message = mask.text(message)
        line.message = message
        if line.fields:
            shortest = self._shortest
            fields = {}
            for name, value in line.fields.items():
                secret = self._secret_field(name)
                if secret is not None and value:
                    value = secret
                elif len(value) >= shortest:
                    for mask in masks:
                        value = mask.text(value)
                fields[name] = value
            line.fields = fields
        masked = self._masked_labels.get(line.labels)
        if masked is None:
            if len(self._masked_labels) >= MAX_CACHED:
                self._masked_labels.clear()
            pairs = []
            for name, value in line.labels:
                for mask in masks:
                    value = mask.field(name, value)
                pairs.append((name, value))
            masked = self._masked_labels[line.labels] = tuple(pairs)
        line.labels = masked

    def _count(self, dropped: Counter[str], source: str | None) -> None:
        # Counted once per batch: a labelled counter increment takes a lock.
        for name, count in dropped.items():
            LOG_PIPELINE_DROPPED.labels(name).inc(count)
        if source is not None and dropped:
            LOG_LINES.labels(source, "dropped_pipeline").inc(sum(dropped.values()))
        if self._errors:
            for (name, stage), count in self._errors.items():
                LOG_PIPELINE_ERRORS.labels(name, stage).inc(count)
            self._errors.clear()
