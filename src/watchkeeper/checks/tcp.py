"""TCP check: open a connection to host:port."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from watchkeeper.checks.interface import CheckConfig


class TcpCheckConfig(CheckConfig):
    type: Literal["tcp"] = Field(description="`tcp`.")
    host: str = Field(min_length=1, description="Host name or address.")
    port: int = Field(ge=1, le=65535, description="TCP port.")


class TcpCheck:
    name = "tcp"
    description = "Open a TCP connection to host:port."
    config_model: ClassVar[type[CheckConfig]] = TcpCheckConfig
