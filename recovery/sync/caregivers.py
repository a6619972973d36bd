"""A caregiver's sync after their access ended (docs/sync.md, "Caregivers").

When a grant is revoked or expires, or loses the scope that covered some tables (``read``),
the caregiver's phone still holds the patient's records. So:

- **Pull**: the next pull with a ``last_pulled_at`` answers 200 with, for each table the
  caregiver's scopes covered at some moment after ``last_pulled_at`` and no longer cover, the
  ids of the patient's records they could have had (created before the access ended; live, or
  deleted after ``last_pulled_at``) under ``deleted``, nothing under ``created``/``updated``:
  WatermelonDB removes them locally. Ids only, never content. Its ``timestamp`` is at or after
  the end of the access, so the pull after it (and any first pull) is the 404 ``not_in_scope``.
- **Push**: refused as a whole (403 ``consent_revoked``), and every pushed record is kept in the
  rejected-record store (reason ``consent_revoked``, the caregiver as its user): nothing a
  caregiver entered is lost, the care team sees it (a replay applies it as the caregiver: only
  once their access is granted again).

Only for a caregiver who had a grant for that patient: anyone else keeps the plain 404 (another
patient's record is a 404, never a list of their ids). The history is ``CaregiverGrantEvent``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import transaction
from django.db.models import Q

from accounts.models import CaregiverGrant, CaregiverGrantEvent, CaregiverScope, PatientProfile
from accounts.services import patient_clock_read, patient_clock_tick
from config.errors import Forbidden

from .protocol import PushBatch, Refusal
from .rejections import rejected_store
from .tables import SyncTable, tables_for

INBOX = "notifications"  # the patient's own inbox: no scope covers it
REVOKED = "consent_revoked"
CONSENT_REVOKED = (
    "Your access to this patient's record was withdrawn or has ended: nothing was applied. "
    "What you sent is kept for the care team; remove this patient's data from the device."
)


def table_scope(table_name: str) -> str | None:
    """The grant scope that lets a caregiver pull ``table_name`` (None: never sent to a
    caregiver). Every clinical table comes with ``read``; the inbox never."""
    return None if table_name == INBOX else CaregiverScope.READ


@dataclass(frozen=True)
class Span:
    """While a grant carried ``scopes``: from ``start`` to ``end`` (None: still open)."""

    start: datetime
    end: datetime | None
    scopes: frozenset[str]


def _spans(grant: CaregiverGrant, events: list[CaregiverGrantEvent]) -> list[Span]:
    """A grant's history as spans of scopes, each cut at the grant's expiry of the time and at
    its revocation (an expired grant closed without an event ends at its expiry anyway)."""
    steps = [(e.at, e.action, list(e.scopes), e.expires_at) for e in events]
    if not steps:
        steps = [(grant.created_at, "granted", list(grant.scopes), grant.expires_at)]
    spans = []
    for index, (at, action, scopes, expires_at) in enumerate(steps):
        if action == CaregiverGrantEvent.Action.REVOKED:
            break
        ends = [t for t in (expires_at, grant.revoked_at) if t is not None]
        if index + 1 < len(steps):
            ends.append(steps[index + 1][0])
        end = min(ends) if ends else None
        if end is None or end > at:
            spans.append(Span(at, end, frozenset(scopes)))
    return spans


def access_history(*, caregiver_id: int, patient_id: int) -> list[Span]:
    """Every span of access caregiver ``caregiver_id`` had to ``patient_id``'s record (empty:
    never had any). Two queries."""
    grants = list(
        CaregiverGrant.objects.filter(caregiver_id=caregiver_id, patient_id=patient_id)
        .prefetch_related("events")
        .order_by("created_at", "id")
    )
    return [span for grant in grants for span in _spans(grant, list(grant.events.all()))]


def had_grant(*, caregiver_id: int, patient_id: int | None) -> bool:
    """Did this caregiver ever have a grant for this patient (revoked and expired included)?"""
    return (
        patient_id is not None
        and CaregiverGrant.objects.filter(caregiver_id=caregiver_id, patient_id=patient_id).exists()
    )


def ever_granted_patient(*, caregiver_id: int) -> int | None:
    """The one patient a caregiver ever had a grant for (a pull or push without ``?patient=``
    after the access ended), else None."""
    found = list(
        CaregiverGrant.objects.filter(caregiver_id=caregiver_id)
        .values_list("patient_id", flat=True)
        .distinct()[:2]
    )
    return found[0] if len(found) == 1 else None


def lost_tables(
    spans: list[Span], *, since: datetime, now: datetime, schema_version: int
) -> dict[SyncTable, datetime]:
    """The tables a caregiver could pull at some moment after ``since`` and may not pull
    ``now``, each with the moment its access ended (the latest such end)."""
    lost = {}
    for table in tables_for(schema_version):
        scope = table_scope(table.name)
        if scope is None:
            continue
        holding = [s for s in spans if scope in s.scopes]
        if any(s.start <= now and (s.end is None or s.end > now) for s in holding):
            continue  # still covered: the ordinary pull
        ends = [s.end for s in holding if s.end is not None and s.end > since]
        if ends:
            lost[table] = max(ends)
    return lost


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000) + (1 if moment.microsecond % 1000 else 0)


def _ids_held(table: SyncTable, *, patient_id: int, since: int, ended: datetime) -> list[str]:
    """The ids of ``patient_id``'s rows of ``table`` a device that pulled up to ``since`` and
    until ``ended`` may hold: created by then, and live or deleted after ``since``."""
    rows = table.model._base_manager.filter(patient_id=patient_id, created_at__lte=ended).filter(
        Q(deleted_at__isnull=True) | Q(sync_version__gt=since)
    )
    return list(rows.order_by("id").values_list("id", flat=True))


def caregiver_ended_pull(
    *,
    caregiver_id: int,
    patient_id: int | None,
    last_pulled_at: int | None,
    schema_version: int,
    now: datetime | None = None,
) -> dict | None:
    """The pull answer that removes from a caregiver's phone what they may no longer see: every
    table lost since ``last_pulled_at`` with the ids under ``deleted`` (other tables empty), or
    None when there is nothing to remove (never had access, a first pull, already told): the
    caller answers the 404 ``not_in_scope``. Queries: the grants and their events, then the
    clock and one per lost table."""
    if patient_id is None or last_pulled_at is None:
        return None
    spans = access_history(caregiver_id=caregiver_id, patient_id=patient_id)
    if not spans:
        return None  # another patient's record: a 404, never a list of their ids
    now = now or datetime.now(UTC)
    since = datetime.fromtimestamp(last_pulled_at / 1000, UTC)
    lost = lost_tables(spans, since=since, now=now, schema_version=schema_version)
    if not lost:
        return None
    ended = max(lost.values())
    with transaction.atomic():
        timestamp = patient_clock_read(patient_id=patient_id)
        if timestamp < _ms(ended):
            # The answer's timestamp must be past the end of the access (so the next pull is
            # the 404) and a value of the clock (so a caregiver granted again pulls from it).
            timestamp = patient_clock_tick(patient_id=patient_id)
        changes = {
            table.name: {
                "created": [],
                "updated": [],
                "deleted": _ids_held(
                    table, patient_id=patient_id, since=last_pulled_at, ended=lost[table]
                )
                if table in lost
                else [],
            }
            for table in tables_for(schema_version)
        }
    return {"changes": changes, "timestamp": timestamp, "rejected": []}


def _pushed_refusals(batch: PushBatch) -> list[Refusal]:
    """Every record of the push (applicable or not, deletions too), refused as sent."""
    pushed = [
        *((r.table.name, r.id, r.section, r.raw) for r in batch.records),
        *((r.table, r.id, r.section, r.raw) for r in batch.refused),
        *((t.name, i, "deleted", i) for t, i in batch.deleted),
    ]
    return [
        Refusal(
            table=table,
            id=record_id,
            section=section,
            raw=raw,
            errors=[{"code": REVOKED, "detail": CONSENT_REVOKED, "attr": f"{table}.{record_id}"}],
        )
        for table, record_id, section, raw in pushed
    ]


def caregiver_ended_push(
    *,
    actor,
    patient_id: int | None,
    last_pulled_at: int,
    batch: PushBatch,
    device: str = "",
) -> None:
    """A push from a caregiver whose access to ``patient_id`` ended (revoked, expired, or no
    ``read`` any more): nothing is applied, every record is kept in the rejected-record store
    with reason ``consent_revoked`` (the caregiver as its user; a check-in opens the care
    team's alert), then a 403 ``consent_revoked``. Returns (for the 404) when the caregiver
    never had a grant for that patient: nothing is kept for a stranger."""
    if not had_grant(caregiver_id=actor.pk, patient_id=patient_id):
        return
    refusals = _pushed_refusals(batch)
    if refusals:
        patient = PatientProfile.objects.get(pk=patient_id)
        with transaction.atomic():
            version = patient_clock_tick(patient_id=patient_id)
            rejected_store(
                patient=patient,
                actor=actor,
                refusals=refusals,
                last_pulled_at=last_pulled_at,
                version=version,
                device=device,
            )
    raise Forbidden(CONSENT_REVOKED, code=REVOKED, extra={"kept": len(refusals)})
