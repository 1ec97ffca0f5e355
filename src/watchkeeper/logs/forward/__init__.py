"""Forwarding stored log lines to other log systems: Loki's push API, Elasticsearch or
OpenSearch ``_bulk``, and OTLP/HTTP. See :class:`Forwarding`."""

from watchkeeper.logs.forward.service import TARGETS, Forwarding

__all__ = ["TARGETS", "Forwarding"]
