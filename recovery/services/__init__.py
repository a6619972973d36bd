"""Every write to the clinical record goes through these functions (API, admin, sync, tasks).

Each one, in a single transaction: locks and advances the patient's sync clock, applies the
role rules of design.md section 3, validates with ``full_clean()`` (database constraints back
every rule that can live there), writes, stamps the row's ``sync_version`` and (re)plans the
reminders the change causes.
"""

from .clinical import *
from .records import (  # noqa: F401
    RECORD_KINDS,
    RecordKind,
    kind_for_model,
    kind_for_table,
    record_create,
    record_delete,
    record_update,
)
