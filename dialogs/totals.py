"""Computed (grey) values of the filing: never typed, always derived from the answers."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from dialogs import catalog
from dialogs.spec import Reading
from dialogs.view import SKIPPED

SERVICE_FEES: tuple[str, ...] = (
    "project.fee_software",
    "project.fee_consulting",
    "project.fee_integration",
    "project.fee_maintenance",
    "project.fee_data",
    "project.fee_operation",
)
OTHER_COSTS: tuple[str, ...] = (
    "project.hw_selfmade",
    "project.hw_purchased",
    "project.sw_purchased",
    "project.other",
)
PROJECTS = "projects"
HOLDERS = "holders"
INNOVATIONS = "innovations"


def service_total(view: Reading, record: str) -> Decimal:
    """软件和信息技术服务费合计 = the six service fees."""
    return sum((view.num(f, record) for f in SERVICE_FEES), Decimal(0))


def contract_amount(view: Reading, record: str) -> Decimal:
    """合同金额 = service-fee total + self-made hardware, purchased hardware/software, other."""
    return view.memo(
        ("contract", record),
        lambda: (
            service_total(view, record)
            + sum((view.num(f, record) for f in OTHER_COSTS), Decimal(0))
        ),
    )


def project_records(view: Reading) -> tuple[str, ...]:
    if view.get("projects.has_projects") is False:
        return ()
    return view.records(PROJECTS)


def column_totals(view: Reading) -> dict[str, Decimal]:
    """Column totals of the project summary, keyed by field id plus the two computed columns."""
    totals = {f: Decimal(0) for f in (*SERVICE_FEES, *OTHER_COSTS)}
    totals["service_total"] = Decimal(0)
    totals["contract_amount"] = Decimal(0)
    for rid in project_records(view):
        for f in (*SERVICE_FEES, *OTHER_COSTS):
            totals[f] += view.num(f, rid)
        totals["service_total"] += service_total(view, rid)
        totals["contract_amount"] += contract_amount(view, rid)
    return totals


def largest_projects(view: Reading, count: int) -> tuple[str, ...]:
    """The projects with the largest contract amounts (ties keep the order of entry)."""

    def compute() -> tuple[str, ...]:
        ranked = sorted(project_records(view), key=lambda rid: -contract_amount(view, rid))
        return tuple(ranked[:count])

    return view.memo(("largest", count), compute)


@dataclass(frozen=True, slots=True)
class CompletionRow:
    year: int
    count: int
    contract: Decimal
    service: Decimal
    computed: bool  # the inspection year comes from the project summary


def completion_rows(view: Reading) -> list[CompletionRow]:
    rows = []
    for year in view.cycle.window:
        if year == view.year:
            totals = column_totals(view)
            rows.append(
                CompletionRow(
                    year,
                    len(project_records(view)),
                    totals["contract_amount"],
                    totals["service_total"],
                    computed=True,
                )
            )
        else:
            rows.append(
                CompletionRow(
                    year,
                    int(view.num("completion.count", year=year)),
                    view.num("completion.contract", year=year),
                    view.num("completion.service", year=year),
                    computed=False,
                )
            )
    return rows


def three_year_total(view: Reading) -> Decimal:
    """三年系统集成项目总值: contract value over the completion table's three years."""
    return sum((row.contract for row in completion_rows(view)), Decimal(0))


def person_key(name: str) -> str:
    """Two records of one person count once; spacing and width variants are the same name."""
    return "".join(unicodedata.normalize("NFKC", name).split()).casefold()


def certificate_valid(view: Reading, record: str) -> bool:
    """A certificate counts when it is in the catalog and, if it has an end date, still valid
    at the end of the inspection year."""
    cert = view.get("holder.certificate", record)
    if not isinstance(cert, str) or cert not in catalog.BY_ID:
        return False
    until = view.get("holder.valid_until", record)
    return not isinstance(until, date) or until >= date(view.year, 12, 31)


def certified_people(view: Reading) -> int:
    """持证人员总数: distinct people holding at least one valid certificate."""
    people = set()
    for rid in view.records(HOLDERS):
        name = view.get("holder.name", rid)
        if isinstance(name, str) and name != SKIPPED and certificate_valid(view, rid):
            people.add(person_key(name))
    return len(people)


def certificate_count(view: Reading) -> int:
    return sum(1 for rid in view.records(HOLDERS) if certificate_valid(view, rid))
