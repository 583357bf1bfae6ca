"""Rows of the SQL stores read back as the interface's records: a job row (the columns of
``_JOB_COLS``) as a :class:`~scheduler.stores.StoredJob`, a run row (``_RUN_READ``) as a
:class:`~scheduler.stores.RunRecord`, in the order :mod:`scheduler.stores._sql_schema` selects
them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from . import JobDefinition, RunOutcome, RunRecord, StoredJob

if TYPE_CHECKING:
    from ._sql_schema import Dialect

__all__ = ["SQLRows"]


class SQLRows:
    """Mixin of :class:`~scheduler.stores._sql.SQLStore`: row decoding by its dialect."""

    dialect: Dialect

    def _job(self, row: Sequence[Any]) -> StoredJob:
        dt = self.dialect.dt
        return StoredJob(
            definition=JobDefinition.from_json(row[0]),
            fingerprint=row[1],
            anchor=dt(row[2]),  # type: ignore[arg-type]
            last_fire=dt(row[3]),
            registered_by=row[4],
            registered_at=dt(row[5]),  # type: ignore[arg-type]
            broken=row[6],
            paused=bool(row[7]),
        )

    def _run(self, row: Sequence[Any]) -> RunRecord:
        dt = self.dialect.dt
        return RunRecord(
            run_id=row[0],
            job_id=row[1],
            scheduled_time=dt(row[2]),  # type: ignore[arg-type]
            outcome=None if row[3] is None else RunOutcome(row[3]),
            attempt=row[4],
            token=row[5],
            claimed_at=dt(row[6]),
            started_at=dt(row[7]),
            finished_at=dt(row[8]),
            lease_expires=dt(row[9]),
            error=row[10],
            result=row[11],
            owner=row[12],
            coalesced=row[13],
            cancel_requested=bool(row[14]),
            killed=bool(row[15]),
            trigger=row[16],
            requested_by=row[17],
        )
