"""Decoders of the HTTP log push formats (NDJSON/JSON, OTLP/HTTP logs, Loki push).

Each turns a request body into log lines plus the entries it refused and why; none of them
does I/O, so they can be tested and benchmarked without a server.
"""
