"""The migration report of a batch: counts per outcome and every installation's reasons.

Outcomes are the installation's migration state, with the failure category where there is
one: ``commissioned``, ``rejected``, ``failed: missing_keys``, ``retry_wait: no_wan``,
``scheduled`` and so on. The report is what a supplier retrieves (``opendcc migrate report
BATCH``, or ``--json`` for machines).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from opendcc.migration.lifecycle import DUE, InstallationState
from opendcc.migration.store import Batch, Installation, MigrationStore


class UnknownBatch(LookupError):
    pass


def outcome_of(state: str, category: str | None) -> str:
    return f"{state}: {category}" if category else state


@dataclass(frozen=True, slots=True)
class Report:
    batch: Batch
    counts: dict[str, int]  # outcome -> installations
    installations: list[Installation]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def finished(self) -> bool:
        """Whether no installation has work left (tested, waiting or scheduled)."""
        return not any(i.state in DUE for i in self.installations)

    def as_json(self) -> dict[str, Any]:
        return {
            "batch": self.batch.batch_id,
            "submitter": str(self.batch.submitter),
            "file": self.batch.file_name,
            "submitted_at": self.batch.submitted_at.isoformat(),
            "loaded": self.batch.loaded,
            "total": self.total,
            "counts": self.counts,
            "installations": [
                {
                    "record": i.record,
                    "installation": i.installation_id,
                    "outcome": outcome_of(i.state.value, i.category and i.category.value),
                    "attempts": i.attempts,
                    "next_attempt_at": i.due_at.isoformat()
                    if i.due_at and i.state is InstallationState.RETRY_WAIT
                    else None,
                    "reasons": i.reasons,
                }
                for i in self.installations
            ],
        }


def build(store: MigrationStore, batch_id: str) -> Report:
    batch = store.batch(batch_id)
    if batch is None:
        raise UnknownBatch(f"no migration batch {batch_id}")
    counts: Counter[str] = Counter()
    for (state, category), n in store.counts(batch_id).items():
        counts[outcome_of(state, category)] += n
    return Report(batch, dict(sorted(counts.items())), store.installations(batch_id))
