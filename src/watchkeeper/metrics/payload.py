"""Request bodies of the push formats (remote-write, OTLP): decompression under a size limit.

The limit applies to the decompressed size, checked before the memory is spent: a small
request must not expand into gigabytes (a "zip bomb").
"""

from __future__ import annotations

import zlib

import cramjam

from watchkeeper.exceptions import WatchkeeperError

MAX_BODY_BYTES = 32 * 1024 * 1024
"""Largest accepted body, decompressed (Prometheus sends batches of a few hundred kB)."""


class IngestError(WatchkeeperError):
    """A pushed body cannot be read at all (bad compression, bad encoding); nothing of it is
    stored."""


class PayloadTooLarge(IngestError):
    """The body is over the size limit, compressed or decompressed."""


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the request body is larger than {limit // (1024 * 1024)} MB decompressed; "
        "send smaller batches"
    )


def snappy_block(body: bytes, limit: int = MAX_BODY_BYTES) -> bytes:
    """Return ``body`` decompressed from the snappy block format (what remote-write uses).

    Raise PayloadTooLarge when its header announces more than ``limit`` bytes, IngestError
    when it is not valid snappy.
    """
    try:
        size = cramjam.snappy.decompress_raw_len(body)
        if size > limit:
            raise _too_large(limit)
        return bytes(cramjam.snappy.decompress_raw(body))
    except cramjam.DecompressionError as exc:
        raise IngestError(
            f"the body is not snappy-compressed (block format): {exc}; remote-write bodies "
            "must be snappy block-compressed protobuf"
        ) from None


def gzip_body(body: bytes, limit: int = MAX_BODY_BYTES) -> bytes:
    """Return a gzip body decompressed; raise PayloadTooLarge past ``limit``, IngestError when
    it is not valid gzip."""
    inflate = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflate.decompress(body, limit + 1)
    except zlib.error as exc:
        raise IngestError(f"the body is not valid gzip: {exc}") from None
    if len(out) > limit:
        raise _too_large(limit)
    if not inflate.eof:
        raise IngestError("the gzip body is truncated")
    return out
