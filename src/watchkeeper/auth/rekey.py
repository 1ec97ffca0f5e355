"""Re-seal stored secrets with the current key after a secret-key rotation."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute, Session

from watchkeeper.auth.secrets import SecretBox
from watchkeeper.store.tables import Meta, TotpCredential

# Every column that holds a value sealed by the secrets service. A new one must be added
# here, or it will stop opening once the previous key is dropped.
SEALED_COLUMNS: tuple[InstrumentedAttribute[str], ...] = (TotpCredential.secret_enc,)
# The rows of the ``meta`` table whose value is sealed (the compliance report signing key).
SEALED_META_KEYS: tuple[str, ...] = ("compliance_signing_key",)


def reseal_all(
    db: Session, box: SecretBox, progress: Callable[[int], None] | None = None
) -> tuple[int, int]:
    """Re-seal every value not sealed with the current key; return (re-sealed, total).

    Raise SecretError if a value opens with none of the configured keys (nothing is
    written then: the caller rolls back).
    """
    resealed = total = 0
    sources = [(column, select(column.class_)) for column in SEALED_COLUMNS]
    sources.append((Meta.value, select(Meta).where(Meta.key.in_(SEALED_META_KEYS))))
    for column, rows in sources:
        for row in db.scalars(rows):
            total += 1
            sealed = getattr(row, column.key)
            if box.needs_reseal(sealed):
                setattr(row, column.key, box.seal(box.open(sealed)))
                resealed += 1
            if progress:
                progress(1)
    return resealed, total
