"""The applied plan's ``security`` section, read back from the store (so every replica, the
API and the CLI see the same plan as the services).

A stored section that does not validate (a plan applied by another version, say) is an
error, never the defaults: those have no sources, suppressions or exposed hosts, so alerts
would fire for suppressed findings and the scan would prune findings with the default
history. The services skip their pass; the API answers 409, the CLI ends with one line.
"""

from __future__ import annotations

from pydantic import ValidationError
from sqlalchemy.orm import Session

from watchkeeper.exceptions import ConflictError
from watchkeeper.plan.source import format_path
from watchkeeper.plan.stored import stored_section
from watchkeeper.security.config import SecuritySection

MAX_PLACES = 5
"""Places of a validation error named in the message."""


class SectionUnreadable(ConflictError):
    """The stored ``security`` section does not validate; nothing that depends on it runs."""


def load_section(db: Session) -> SecuritySection:
    """The stored ``security`` section (the defaults when absent); raise SectionUnreadable
    when it does not validate."""
    try:
        return SecuritySection.model_validate(stored_section(db, "security"))
    except ValidationError as exc:
        raise SectionUnreadable(describe(exc)) from None


def describe(exc: ValidationError) -> str:
    """What is wrong with the stored section: the number of problems and where they are,
    never the values (a source's mirror URL is a secret, and the error would quote it)."""
    places = list(
        dict.fromkeys(
            format_path(("security", *e["loc"]))
            for e in exc.errors(include_url=False, include_input=False, include_context=False)
        )
    )
    shown = ", ".join(places[:MAX_PLACES]) + (", …" if len(places) > MAX_PLACES else "")
    return (
        f"the stored security section does not validate ({exc.error_count()} problem(s) at "
        f"{shown}); re-apply the plan (`watchkeeper plan check` shows where)"
    )
