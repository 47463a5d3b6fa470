"""Opening an inspection cycle (`nianjian cycle open Y`) and the holiday-coverage check that
start-up, `nianjian cycle check` and `nianjian doctor` show.

Opening Y checks what the cycle needs and writes what is missing: the reminder schedule of Y
(a TOML file, defaults of DOMAIN.md, options for the dates), the holiday coverage of the years
it needs (reported: the notice is data the operator enters), the roster for Y (optional, the
usual import: it writes filings of Y only), and the switch (NIANJIAN_INSPECTION_YEAR and
NIANJIAN_REMINDERS_SCHEDULE in the env file, read at the next start). Run twice it changes
nothing the first run did; the filings of earlier years are never touched."""

from __future__ import annotations

import os
import tomllib
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from alembic.script import ScriptDirectory
from pydantic import ValidationError
from sqlalchemy import func, select

from bot.settings import Settings, env_file_values
from bot.tables import UnreadableTable, read_table
from dialogs import texts_cycle as t
from dialogs.cycle import Cycle
from dialogs.form import build_form
from dialogs.holidays import Source as CalendarSource
from dialogs.holidays import WorkCalendar
from dialogs.model import Filing, Key, Source, Value
from dialogs.roster import parse_rows
from dialogs.texts_reminders import STATUS_NAMES
from dialogs.totals import completion_rows
from dialogs.view import View
from dialogs.workdays import chinese_date
from reminders.holidays import EXAMPLE, HolidayFileError, HolidayFiles, file_to_fill
from reminders.schedule import Schedule, ScheduleError, ScheduleModel, load_schedule
from storage import migrate
from storage.db import Database
from storage.enterprises import EnterpriseRepository
from storage.last_year import last_filed
from storage.models import EnterpriseRow, FilingRow, MemberRow
from storage.repository import FilingRepository

INSPECTION_YEAR = "NIANJIAN_INSPECTION_YEAR"
SCHEDULE = "NIANJIAN_REMINDERS_SCHEDULE"


# --- holiday coverage -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CoverageReport:
    """Chinese lines for the operator; `blocking` when start-up would refuse (a bad holiday
    file or schedule), `estimated` the years computed Monday to Friday (a warning only)."""

    lines: list[str]
    blocking: bool
    estimated: tuple[int, ...]


def coverage_lines(
    calendar: WorkCalendar, years: tuple[int, ...], location: Path
) -> tuple[list[str], tuple[int, ...]]:
    lines = [t.COVERAGE_HEAD.format(years="、".join(str(y) for y in years))]
    overridden = set(calendar.overridden())
    notices = {n.year: n for n in calendar.notices}
    for year in years:
        source = calendar.source(year)
        if source is CalendarSource.FILE:
            notice = notices[year]
            wins = t.COVERAGE_FILE_WINS if year in overridden else ""
            origin = f"{notice.origin}{wins}"
            lines.append(t.COVERAGE_FILE.format(year=year, origin=origin, source=""))
        elif source is CalendarSource.PACKAGE:
            lines.append(t.COVERAGE_PACKAGE.format(year=year))
        else:
            lines.append(
                t.COVERAGE_NONE.format(
                    year=year, file=file_to_fill(location, year), example=EXAMPLE
                )
            )
    return lines, calendar.estimated(years)


def holiday_coverage_report(
    settings: Settings, holidays: HolidayFiles | None = None
) -> CoverageReport:
    """Which source gives each year the configured cycle needs working days of (Y, Y+1 and
    the schedule's dates), for doctor/status output; never raises."""
    lines: list[str] = []
    blocking = False
    if holidays is None:
        try:
            holidays = HolidayFiles.load(settings.holidays)
        except HolidayFileError as error:
            lines.append(t.COVERAGE_BAD_FILE.format(error=error))
            blocking = True
            holidays = HolidayFiles(settings.holidays, WorkCalendar())
    year = settings.inspection_year
    years: tuple[int, ...] = (year, year + 1)
    try:
        years = load_schedule(settings.reminders_schedule).calendar_years()
    except ScheduleError as error:
        lines.append(t.COVERAGE_BAD_SCHEDULE.format(error=error))
        blocking = True
    found, estimated = coverage_lines(holidays.calendar, years, settings.holidays)
    for notice_year in holidays.calendar.overridden():
        if notice_year not in years:
            found.append(
                t.COVERAGE_FILE.format(
                    year=notice_year,
                    origin=next(
                        n.origin for n in holidays.calendar.notices if n.year == notice_year
                    ),
                    source=t.COVERAGE_FILE_WINS,
                )
            )
    return CoverageReport([*lines, *found], blocking, estimated)


# --- the schedule file of a cycle -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CycleOptions:
    results: date | None = None
    renewal: date | None = None
    filing_deadline: date | None = None
    notify: bool = False
    roster: Path | None = None
    directory: Path = Path("data/cycles")
    env_file: Path = Path(".env")


def _toml_date(day: date | None) -> str:
    return day.isoformat() if day is not None else ""


def schedule_toml(model: ScheduleModel, help_line: str) -> str:
    """The schedule as a commented TOML file, in the shape of the shipped schedule.toml."""
    s = Schedule.from_model(model)
    note = model.results.note or (
        f"结果文件请在协会网站“通知公告”栏目查看，或致电协会 {help_line} 咨询。"
    )
    deadline = (
        f"date = {_toml_date(s.filing_deadline)}" if s.filing_deadline else "# date = YYYY-MM-DD"
    )
    kickoff = f"date = {_toml_date(s.kickoff_date)}" if s.kickoff_date else "# date = YYYY-MM-DD"
    return f"""# The reminder schedule of inspection year {s.year} (`nianjian cycle open {s.year}`).
# Edit the dates here and run the command again to check the file (see reminders/schedule.toml).
year = {s.year}
send_time = "{s.send_time:%H:%M}"
check_every_minutes = {s.check_every_minutes}

[stamped_form]
working_days = {list(s.stamped_working_days)}
then_every_days = {s.stamped_then_every_days}

[results]
date = {_toml_date(s.results_date)}
note = {_quote(note)}

[renewal]
deadline = {_toml_date(s.renewal_deadline)}
days_before = {list(s.renewal_days_before)}

[review]
overdue_working_days = {s.review_overdue_working_days}

[filing_deadline]
# Optional: nudges to unsubmitted drafts before this date.
{deadline}
days_before = {list(s.draft_days_before)}

[kickoff]
# Optional: the notice that the cycle is open, to every bound contact, once per enterprise.
{kickoff}
"""


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def schedule_path(year: int, options: CycleOptions) -> Path:
    return options.directory / f"schedule-{year}.toml"


def write_schedule(
    year: int, options: CycleOptions, today: date, help_line: str
) -> tuple[Path, list[str], bool]:
    """The schedule file of `year`: kept when it exists and no option changes it, written (or
    updated with the options) otherwise. Returns the path, report lines and success."""
    path = schedule_path(year, options)
    data: dict[str, object] = {"year": year}
    existed = path.exists()
    if existed:
        try:
            with path.open("rb") as file:
                data = tomllib.load(file)
            model = ScheduleModel.model_validate(data)
        except (OSError, tomllib.TOMLDecodeError, ValidationError) as error:
            return path, [t.SCHEDULE_BAD.format(path=path, error=error)], False
        if model.year != year:
            error_text = f"year = {model.year}"
            return path, [t.SCHEDULE_BAD.format(path=path, error=error_text)], False
    else:
        model = ScheduleModel.model_validate(data)
    changed = model
    if options.results is not None:
        changed = changed.model_copy(
            update={"results": changed.results.model_copy(update={"date": options.results})}
        )
    if options.renewal is not None:
        changed = changed.model_copy(
            update={"renewal": changed.renewal.model_copy(update={"deadline": options.renewal})}
        )
    if options.filing_deadline is not None:
        changed = changed.model_copy(
            update={
                "filing_deadline": changed.filing_deadline.model_copy(
                    update={"date": options.filing_deadline}
                )
            }
        )
    if options.notify and changed.kickoff.date is None:
        # Once set, the kick-off day stays: a second run never sends it again anyway (the
        # reminder is recorded once per enterprise and cycle).
        changed = changed.model_copy(
            update={"kickoff": changed.kickoff.model_copy(update={"date": today})}
        )
    try:
        # Validated exactly as at start-up (the model's rules), before anything is written.
        changed = ScheduleModel.model_validate(changed.model_dump())
    except ValidationError as error:
        return path, [t.SCHEDULE_BAD.format(path=path, error=error)], False
    if existed and changed == model:
        lines = [t.SCHEDULE_KEPT.format(path=path)]
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(schedule_toml(changed, help_line), encoding="utf-8")
        template = t.SCHEDULE_UPDATED if existed else t.SCHEDULE_WRITTEN
        lines = [template.format(path=path)]
    s = Schedule.from_model(changed)
    lines.append(
        t.SCHEDULE_DATES.format(
            results=chinese_date(s.results_date),
            renewal=chinese_date(s.renewal_deadline),
            deadline=chinese_date(s.filing_deadline) if s.filing_deadline else t.NO_DEADLINE,
            send_time=f"{s.send_time:%H:%M}",
        )
    )
    if s.kickoff_date is not None:
        lines.append(t.KICKOFF_SET.format(date=chinese_date(s.kickoff_date)))
    else:
        lines.append(t.KICKOFF_OFF)
    return path, lines, True


# --- the switch -------------------------------------------------------------------------------


def env_overrides(path: Path, wanted: dict[str, str]) -> list[str]:
    """Names the process environment sets otherwise: pydantic-settings prefers it to the
    env file, so writing the file would switch nothing."""
    found = []
    for name, value in wanted.items():
        current = os.environ.get(name)
        if current is not None and current != value:
            found.append(
                t.ENV_OVERRIDDEN.format(
                    name=name, value=current, path=path, wanted=f"{name}={value}"
                )
            )
    return found


def switch_env(path: Path, wanted: dict[str, str]) -> tuple[list[str], bool]:
    """Sets `wanted` in the env file (other lines kept); refuses when the process
    environment overrides a name."""
    overridden = env_overrides(path, wanted)
    if overridden:
        return overridden, False
    lines, values = env_file_values(path)
    year = wanted[INSPECTION_YEAR]
    if all(values.get(name) == value for name, value in wanted.items()):
        return [t.ENV_KEPT.format(path=path, year=year)], True
    kept = [
        line
        for line in lines
        if line.partition("=")[0].strip().removeprefix("export ").strip() not in wanted
    ]
    kept.extend(f"{name}={value}" for name, value in wanted.items())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return [t.ENV_WRITTEN.format(path=path, year=year)], True


# --- what the database holds ------------------------------------------------------------------


def database_lines(db: Database, year: int) -> list[str]:
    with db.session() as session:
        enterprises = session.scalar(
            select(func.count()).select_from(EnterpriseRow).where(EnterpriseRow.status == "active")
        )
        bound = session.scalar(select(func.count(func.distinct(MemberRow.enterprise_id))))
        last = Counter(
            status
            for (status,) in session.execute(
                select(FilingRow.status).where(FilingRow.year == year - 1, FilingRow.version > 0)
            )
        )
        current = session.scalar(
            select(func.count()).select_from(FilingRow).where(FilingRow.year == year)
        )
    statuses = "，".join(f"{STATUS_NAMES.get(s, s)} {n}" for s, n in sorted(last.items())) or "无"
    return [
        t.STATE.format(
            enterprises=enterprises or 0,
            bound=bound or 0,
            last=year - 1,
            last_filed=sum(last.values()),
            last_statuses=statuses,
            year=year,
            current=current or 0,
        )
    ]


def database_is_current(url: str) -> tuple[bool, str]:
    current = migrate.current_revision(url)
    head = ScriptDirectory.from_config(migrate.make_config(url)).get_current_head()
    return current == head, current or "空"


# --- nianjian cycle open ----------------------------------------------------------------------


def open_cycle(
    settings: Settings, year: int, options: CycleOptions, today: date
) -> tuple[list[str], bool]:
    """Checks and writes what cycle `year` needs; the Chinese report and whether it is
    ready (False when something marked ✗ must be fixed first)."""
    lines = [t.OPEN_HEAD.format(year=year, first=year - 2)]
    current, revision = database_is_current(settings.database_url)
    if not current:
        lines.append(t.DB_NOT_CURRENT.format(current=revision))
        return lines, False
    path = schedule_path(year, options)
    # Before anything is written: a switch the environment would undo is no switch.
    overridden = env_overrides(options.env_file, _wanted(year, path))
    if overridden:
        lines.extend([*overridden, t.NOT_READY.format(year=year)])
        return lines, False
    path, found, ok = write_schedule(year, options, today, settings.help_line)
    lines.extend(found)
    if not ok:
        lines.append(t.NOT_READY.format(year=year))
        return lines, False
    switched = settings.model_copy(
        update={"inspection_year": year, "reminders_schedule": path.resolve()}
    )
    coverage = holiday_coverage_report(switched)
    lines.extend(coverage.lines)
    if coverage.blocking:
        lines.append(t.NOT_READY.format(year=year))
        return lines, False
    lines.extend(_roster_and_state(switched, options))
    env_lines, switched_ok = switch_env(options.env_file, _wanted(year, path))
    lines.extend(env_lines)
    if not switched_ok:
        lines.append(t.NOT_READY.format(year=year))
        return lines, False
    lines.append(t.RESTART.format(year=year))
    done = t.READY_WITH_WARNINGS if coverage.estimated else t.READY
    lines.append(done.format(year=year))
    return lines, True


def _wanted(year: int, path: Path) -> dict[str, str]:
    return {INSPECTION_YEAR: str(year), SCHEDULE: str(path.resolve())}


# --- the completion table from last year's approved filing -----------------------------------

# The author of carried answers in the answers' history (`updated_by`).
CARRIED_BY = "last_year"


def carried_completion(last: Filing, year: int) -> dict[Key, Value]:
    """What the approved filing of Y-1 says about the completion table of Y: its rows of Y-2
    (imported or typed then) and Y-1 (computed from its projects)."""
    view = View(build_form(Cycle.for_year(year - 1)), last)
    found: dict[Key, Value] = {}
    for row in completion_rows(view):
        if row.year in (year - 2, year - 1):
            found[Key("completion.count", "", row.year)] = row.count
            found[Key("completion.contract", "", row.year)] = row.contract
            found[Key("completion.service", "", row.year)] = row.service
    return found


def carry_completion(db: Database, year: int, now: datetime) -> int:
    """For every enterprise whose Y-1 filing was approved: the completion table's years Y-2
    and Y-1 of its Y filing, where the roster gave none, from that filing (read-only for the
    contact, like roster answers). Returns how many enterprises got values; run again, it
    writes nothing new."""
    carried = 0
    with db.session() as session:
        approved = session.execute(
            select(FilingRow.enterprise_id)
            .join(EnterpriseRow, EnterpriseRow.id == FilingRow.enterprise_id)
            .where(
                FilingRow.year == year - 1,
                FilingRow.status.in_(("approved", "complete")),
                EnterpriseRow.status == "active",
            )
            .order_by(FilingRow.enterprise_id)
        ).all()
        for (found_id,) in approved:
            if found_id is None:  # trial filings belong to no enterprise
                continue
            enterprise_id = int(found_id)
            last = last_filed(session, enterprise_id, year)
            if last is None:
                continue
            values = carried_completion(last, year)
            filing_id = EnterpriseRepository(session).filing_for(enterprise_id, year, now)
            filings = FilingRepository(session)
            stored = filings.stored_values(filing_id, list(values))
            wrote = False
            for key, value in values.items():
                old = stored.get(key)
                # The roster's own values stay; typed ones give way to the approved filing.
                if old is None or old[1] is Source.USER:
                    filings.import_answer(filing_id, key, value, now, actor=CARRIED_BY)
                    wrote = True
            carried += wrote
    return carried


def roster_left(db: Database, path: Path) -> list[str]:
    """Active enterprises the roster file does not list (left the association, or missing)."""
    header, rows = read_table(path)
    listed = {entry.credit_code for entry in parse_rows(header, rows).entries}
    with db.session() as session:
        found = session.execute(
            select(EnterpriseRow.name, EnterpriseRow.credit_code)
            .where(EnterpriseRow.status == "active")
            .order_by(EnterpriseRow.id)
        )
        return [name for name, code in found if code not in listed]


def _roster_and_state(settings: Settings, options: CycleOptions) -> list[str]:
    # Imported here: bot.admin and bot.app import this module's neighbours (the CLI loads it).
    from bot.admin import import_roster
    from bot.app import bootstrap

    app = bootstrap(settings)
    lines: list[str] = []
    try:
        if options.roster is not None:
            lines.append(t.ROSTER_HEAD.format(path=options.roster))
            try:
                report = import_roster(app, options.roster)
            except UnreadableTable as error:
                lines.append(f"  ✗ {error}")
                return lines
            found, _ok = report.result()
            lines.extend(f"  {line}" for line in found)
            left = roster_left(app.db, options.roster)
            if left:
                names = "、".join(left[:10]) + ("等" if len(left) > 10 else "")
                lines.append(t.ROSTER_LEFT.format(count=len(left), names=names))
        else:
            lines.append(t.ROSTER_NONE)
        year = settings.inspection_year
        carried = carry_completion(app.db, year, app.service.clock.now())
        lines.append(t.CARRIED.format(count=carried, last=year - 1, first=year - 2))
        lines.extend(database_lines(app.db, year))
    finally:
        app.db.dispose()
    return lines


__all__ = [
    "CoverageReport",
    "CycleOptions",
    "holiday_coverage_report",
    "open_cycle",
]
