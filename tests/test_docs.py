"""The docs generated from code must be current, and every plugin must describe itself."""

from __future__ import annotations

from pathlib import Path

from watchkeeper.checks.interface import registry as check_registry
from watchkeeper.plan.reference import render_reference

ROOT = Path(__file__).resolve().parents[1]


def test_plan_reference_is_current() -> None:
    current = (ROOT / "docs" / "plan.md").read_text(encoding="utf-8")
    assert current == render_reference(), "docs/plan.md is stale: run `make docs`"


def test_every_check_type_is_documented() -> None:
    reference = render_reference()
    assert check_registry.all(), "no check types loaded"
    assert not check_registry.failures
    for name, plugin in check_registry.all().items():
        assert plugin.description, f"check type {name} has no description"
        assert f"`type: {name}`" in reference
        for field, info in plugin.config_model.model_fields.items():
            assert info.description, f"{name}.{field} has no description"
