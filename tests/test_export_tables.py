"""The export's tables built from filings in memory: no database, no file format
(`bot.export_tables`; the database and the XLSX/CSV files are `tests/test_export.py`)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from bot.export_formats import csv_value
from bot.export_tables import Cell, ExportedFiling, Table, build_tables
from dialogs.model import Key
from dialogs.spec import FormSpec
from storage.enterprises import Enterprise
from storage.statuses import ACTIVE, APPROVED, SUBMITTED
from storage.workflow import Transition
from tests.fakes import CODE_A, completed_filing
from tests.filing_script import CERTIFICATES, CERTIFIED_PEOPLE, COLUMN_TOTALS, THREE_YEAR_TOTAL

NAME = "新疆天山智联信息技术有限公司"
SUBMITTED_AT = datetime(2025, 12, 1, 2, 0, tzinfo=UTC)
APPROVED_AT = datetime(2025, 12, 2, 3, 30, tzinfo=UTC)


def _exported() -> tuple[ExportedFiling, FormSpec]:
    form, filing = completed_filing()
    enterprise = Enterprise(
        1, CODE_A, NAME, "乙", "XJSI-2025-0088", 2025, ACTIVE, SUBMITTED_AT, SUBMITTED_AT
    )
    history = (
        Transition(1, 1, 1, "draft", SUBMITTED, "tg:alice", "telegram", None, None, SUBMITTED_AT),
        Transition(2, 1, 1, SUBMITTED, APPROVED, "tg:wang", "telegram", None, None, APPROVED_AT),
    )
    approved = replace(filing, status=APPROVED, version=1, submitted_at=SUBMITTED_AT)
    return ExportedFiling(approved, enterprise, history), form


def _tables(*, mask_mobiles: bool = False) -> dict[str, Table]:
    item, form = _exported()
    tables = build_tables(form, [item], mask_mobiles=mask_mobiles)
    return {t.id: t for t in tables}


def _row(table: Table, index: int = 0) -> dict[str, Cell]:
    return dict(zip((c.id for c in table.columns), table.rows[index], strict=True))


def test_every_table_is_built_from_the_filing_alone() -> None:
    tables = _tables()
    ids = list(tables)
    assert ids[0] == "status" and ids[-1] == "legend"
    assert {"totals", "indicators", "history", "records_projects", "records_holders"} <= set(ids)
    status = _row(tables["status"])
    assert status["filing.id"] == 1 and status["enterprise.name"] == NAME
    assert status["filing.status"] == APPROVED and status["filing.progress"] == 100
    submitted, decided = status["filing.submitted_at"], status["filing.decided_at"]
    assert submitted == SUBMITTED_AT and decided == APPROVED_AT
    assert isinstance(submitted, datetime) and submitted.utcoffset() == timedelta(hours=8)
    assert len(tables["records_projects"].rows) == 12
    assert len(tables["records_holders"].rows) == CERTIFICATES


def test_the_totals_are_the_hand_computed_ones() -> None:
    totals = _row(_tables()["totals"])
    assert totals["total.holders.people"] == CERTIFIED_PEOPLE
    assert totals["total.holders.certificates"] == CERTIFICATES
    assert totals["total.projects.count"] == 12
    assert totals["total.project.fee_software"] == COLUMN_TOTALS["project.fee_software"]
    assert totals["total.projects.service_total"] == COLUMN_TOTALS["service_total"]
    assert totals["total.projects.contract_amount"] == COLUMN_TOTALS["contract_amount"]
    assert THREE_YEAR_TOTAL in totals.values()
    assert all(isinstance(v, Decimal) for k, v in totals.items() if k.startswith("total.project."))


def test_history_masking_and_legend() -> None:
    tables = _tables(mask_mobiles=True)
    history = tables["history"]
    assert [(r["transition.from"], r["transition.to"]) for r in _dicts(history)] == [
        ("draft", SUBMITTED),
        (SUBMITTED, APPROVED),
    ]
    contact = _row(tables["section_contact"])
    mobile = contact["contact.mobile"]
    assert isinstance(mobile, str) and "****" in mobile
    item, _form = _exported()
    assert item.filing.get(Key("contact.mobile")) != mobile  # masked only in the table
    legend = tables["legend"]
    listed = {(r[1], r[3]) for r in legend.rows}
    for table in tables.values():
        if table.id != "legend":
            assert {(f"{table.id}.csv", c.id) for c in table.columns} <= listed
    assert csv_value(Decimal("1234.5")) == "1234.50" and csv_value(True) == "true"


def _dicts(table: Table) -> list[dict[str, Cell]]:
    return [_row(table, i) for i in range(len(table.rows))]
