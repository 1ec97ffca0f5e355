"""HTTP(S) check: request a URL and judge the response."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from watchkeeper.checks.interface import CheckConfig


class HttpCheckConfig(CheckConfig):
    type: Literal["http"] = Field(description="`http`.")
    url: str = Field(description="http:// or https:// URL to request.")
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] = Field(
        "GET", description="HTTP method."
    )
    headers: dict[str, str] = Field(default_factory=dict, description="Request headers.")
    expected_status: list[int] = Field(
        default_factory=list, description="Accepted status codes; empty means any 2xx."
    )
    body_contains: str | None = Field(None, description="Text the response body must contain.")
    follow_redirects: bool = Field(True, description="Follow redirects.")
    tls_verify: bool = Field(True, description="Verify the server's TLS certificate.")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")) or len(value) < 10:
            raise PydanticCustomError(
                "url", '"{value}" is not an http:// or https:// URL', {"value": value}
            )
        return value

    @field_validator("expected_status")
    @classmethod
    def _statuses(cls, value: list[int]) -> list[int]:
        for code in value:
            if not 100 <= code <= 599:
                raise PydanticCustomError(
                    "status", "{code} is not an HTTP status code (100-599)", {"code": code}
                )
        return value


class HttpCheck:
    name = "http"
    description = "Request a URL; judge the status code and the body."
    config_model: ClassVar[type[CheckConfig]] = HttpCheckConfig
