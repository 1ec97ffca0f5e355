"""Re-seal stored secrets with the current key after a secret-key rotation."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute, Session

from watchkeeper.auth.secrets import SecretBox
from watchkeeper.store.tables import TotpCredential

# Every column that holds a value sealed by the secrets service. A new one must be added
# here, or it will stop opening once the previous key is dropped.
SEALED_COLUMNS: tuple[InstrumentedAttribute[str], ...] = (TotpCredential.secret_enc,)


def reseal_all(
    db: Session, box: SecretBox, progress: Callable[[int], None] | None = None
) -> tuple[int, int]:
    """Re-seal every value not sealed with the current key; return (re-sealed, total).

    Raise SecretError if a value opens with none of the configured keys (nothing is
    written then: the caller rolls back).
    """
    resealed = total = 0
    for column in SEALED_COLUMNS:
        model = column.class_
        for row in db.scalars(select(model)):
            total += 1
            sealed = getattr(row, column.key)
            if box.needs_reseal(sealed):
                setattr(row, column.key, box.seal(box.open(sealed)))
                resealed += 1
            if progress:
                progress(1)
    return resealed, total
