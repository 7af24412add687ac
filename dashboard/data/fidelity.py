"""The fidelity report from the database: fills by evidence, data-gate refusals per strategy."""

from __future__ import annotations

from sqlalchemy.orm import Session

from dashboard.data.common import Row
from database.queries import data_gate_refusals, fill_evidence
from services.execution.fidelity import fidelity_report


def fidelity(session: Session, strategy: str | None = None) -> list[Row]:
    """Return the fidelity report rows, by strategy (see ``Fidelity.as_dict``)."""
    report = fidelity_report(
        fill_evidence(session, strategy), data_gate_refusals(session, strategy)
    )
    return [row.as_dict() for row in report.values()]
