"""The whole filing, scripted as a contact would type it, through the service and storage,
with every computed total and indicator checked against hand-computed values."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from pathlib import Path

from dialogs import totals
from dialogs.cycle import Cycle
from dialogs.form import build_form
from dialogs.indicators import evaluate_all
from dialogs.model import FileRef, Key
from dialogs.replies import Start, reply_text
from dialogs.view import Status, View
from storage.db import Database
from storage.repository import FilingRepository
from tests import filing_script as script
from tests.fakes import make_service, play


def test_complete_filing_with_messy_inputs(  # noqa: PLR0915 - one scripted journey
    database: Database, tmp_path: Path
) -> None:
    service = make_service(database, tmp_path / "files")
    first = service.handle("test", "alice", Start())
    assert "单位名称" in reply_text(first.replies[0])
    replies = []
    for step in script.filing_script():
        replies = play(service, "alice", step)
    assert "所有部分都已填写完整" in reply_text(replies[0])

    assert first.filing_id is not None
    with database.session() as session:
        filing = FilingRepository(session).load(first.filing_id)
    view = View(build_form(Cycle.for_year(2025)), filing)

    # Normalised answers
    assert view.get("enterprise.name") == "新疆天山智联信息技术有限公司"
    assert view.get("enterprise.credit_code") == "91110108551385082Q"
    assert view.get("enterprise.grade") == "乙"
    assert view.get("enterprise.first_year") == 2025
    assert view.is_new and view.business_years == (2023, 2024, 2025)
    assert view.get("contact.mobile") == "13991234567"
    assert view.get("contact.landline") == "0991-2301105"
    assert view.get("contact.email") == "lina@tszl.cn"
    assert view.get("personnel.postgraduate") == 5
    assert view.get("personnel.college") == 10
    assert view.get("personnel.intermediate_title") == 20
    assert view.get("business.revenue", year=2025) == Decimal("4567.89")
    assert view.get("business.software_it_revenue", year=2025) == Decimal("3800.00")
    assert view.get("business.net_assets", year=2024) == Decimal("-15.50")
    assert view.get("completion.service", year=2024) == Decimal("400.00")

    # Every section complete, no failed check
    for state in view.iter_states():
        assert state.status is Status.DONE, (state.section.id, state.missing, state.problems)

    # Projects: per-project and column totals
    projects = view.records(totals.PROJECTS)
    assert len(projects) == 12
    for rid, (service_total, contract) in zip(projects, script.PROJECT_TOTALS, strict=True):
        assert totals.service_total(view, rid) == service_total
        assert totals.contract_amount(view, rid) == contract
    assert totals.column_totals(view) == script.COLUMN_TOTALS
    assert view.get("projects.self_developed_sales") == Decimal("56.78")
    assert view.get("project.merged", projects[10]) is True

    # Completion table and the three-year total
    rows = totals.completion_rows(view)
    assert [(r.year, r.count, r.contract, r.service) for r in rows] == [
        (2023, 5, Decimal("420.50"), Decimal("300.00")),
        (2024, 7, Decimal("650.00"), Decimal("400.00")),
        (2025, 12, Decimal("3532.00"), Decimal("1706.15")),
    ]
    assert totals.three_year_total(view) == script.THREE_YEAR_TOTAL

    # Certificate holders: 9 certificates, 8 people
    assert totals.certificate_count(view) == script.CERTIFICATES
    assert totals.certified_people(view) == script.CERTIFIED_PEOPLE

    # Indicators against the 乙 grade
    results = {r.spec.id: r for r in evaluate_all(view)}
    assert results["technical_staff"].value == script.TECHNICAL_STAFF
    assert results["technical_staff"].met is True
    assert results["certified_people"].value == 8 and results["certified_people"].met is True
    assert results["three_year_value"].value == Decimal("4602.50")
    assert results["three_year_value"].met is True

    # Attachments: the ten largest projects have files, the two smallest were skipped
    for i, rid in enumerate(projects):
        value = view.get("attach.project_file", rid)
        if i < 10:
            assert isinstance(value, FileRef) and value.name == f"合同{i + 1}.pdf"
            assert (
                value.sha256 == hashlib.sha256(script.pdf_bytes(script.PROJECTS[i][0])).hexdigest()
            )
        else:
            assert value == ""
    licence = view.get("attach.licence")
    assert isinstance(licence, FileRef) and licence.content_type == "image/png"
    assert service.files.exists(licence.sha256)
    assert filing.get(Key("innovation.type", view.records(totals.INNOVATIONS)[0])) == (
        "software_copyright"
    )
