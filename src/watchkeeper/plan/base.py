"""Base classes every plan model derives from."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from watchkeeper.plan.types import Name


class PlanModel(BaseModel):
    """A plan node: unknown keys are errors, and the allowed keys are remembered for hints."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, validate_default=True)

    @model_validator(mode="before")
    @classmethod
    def _remember_allowed_keys(cls, data: Any, info: ValidationInfo) -> Any:
        # The loader passes a context dict; it uses these lists for "did you mean" hints.
        if isinstance(info.context, dict) and isinstance(data, dict):
            allowed = info.context.setdefault("allowed_keys", {})
            allowed[id(data)] = [f.alias or n for n, f in cls.model_fields.items()]
        return data


class PlanObject(PlanModel):
    """An object the plan declares by name; stored, diffed and exported one by one."""

    name: Name = Field(description="Unique name within its section.")
    description: str = Field("", description="Free text shown in the UI.")
