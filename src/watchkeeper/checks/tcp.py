"""TCP check: open a connection to host:port."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import ClassVar, Literal

from pydantic import Field

from watchkeeper.checks.interface import CheckConfig, Outcome


class TcpCheckConfig(CheckConfig):
    type: Literal["tcp"] = Field(description="`tcp`.")
    host: str = Field(min_length=1, description="Host name or address.")
    port: int = Field(ge=1, le=65535, description="TCP port.")


class TcpCheck:
    name = "tcp"
    description = "Open a TCP connection to host:port."
    config_model: ClassVar[type[CheckConfig]] = TcpCheckConfig

    async def run(self, config: TcpCheckConfig) -> Outcome:
        start = time.perf_counter()
        try:
            _, writer = await asyncio.open_connection(config.host, config.port)
        except OSError as exc:
            reason = exc.strerror or str(exc) or type(exc).__name__
            return Outcome(False, f"cannot connect to {config.host}:{config.port}: {reason}")
        elapsed = (time.perf_counter() - start) * 1000
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return Outcome(True, "connected", elapsed)
