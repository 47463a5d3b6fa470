"""The pure side of the reminders: the schedule file, every series' dates on the Chinese
working-day calendar, what is due at time T, superseded and obsolete reminders, the texts."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from reminders.due import (
    REVIEWERS,
    EnterpriseFacts,
    Facts,
    Kind,
    Occurrence,
    Recipient,
    next_due,
    plan,
    still_due,
    upcoming,
)
from reminders.render import enterprise_message, review_message, when
from reminders.schedule import DEFAULT_SCHEDULE, Schedule, ScheduleError, load_schedule

BJ = timedelta(hours=8)


def bj(y: int, m: int, d: int, hh: int = 9, mm: int = 0) -> datetime:
    """A Beijing wall-clock time as the aware UTC datetime the code works with."""
    return datetime(y, m, d, hh, mm, tzinfo=UTC) - BJ


def facts_of(*enterprises: EnterpriseFacts, **kwargs: object) -> Facts:
    return Facts(tuple(enterprises), **kwargs)  # type: ignore[arg-type]


def enterprise(**changes: object) -> EnterpriseFacts:
    base = EnterpriseFacts(
        enterprise_id=7,
        name="新疆天山智联信息技术有限公司",
        grade="乙",
        filing_id=70,
        status="approved",
        version=1,
        submitted_at=bj(2025, 9, 26, 10),
        approved_at=bj(2025, 9, 30, 16),
        renewal_done_at=None,
        contacts=(Recipient("telegram", "42"),),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


SCHEDULE = load_schedule()


def test_the_shipped_schedule_is_the_seeds_cycle() -> None:
    assert DEFAULT_SCHEDULE.name == "schedule.toml"
    s = SCHEDULE
    assert (s.year, s.results_date, s.renewal_deadline) == (
        2025,
        date(2026, 3, 15),
        date(2026, 4, 30),
    )
    assert s.renewal_days_before == (30, 14, 7, 3, 1, 0)
    assert s.stamped_working_days == (1, 3, 7) and s.stamped_then_every_days == 7
    assert s.review_overdue_working_days == 1
    assert s.filing_deadline is None  # draft nudges are off unless configured
    assert s.send_time.hour == 9 and s.send_time.minute == 0


def test_next_cycle_is_a_configuration_change(tmp_path: Path) -> None:
    path = tmp_path / "2024.toml"
    path.write_text('year = 2024\nsend_time = "08:30"\n[filing_deadline]\ndate = 2025-02-28\n')
    s = load_schedule(path)
    # Dates left out follow DOMAIN.md's defaults for Y = 2024.
    assert (s.results_date, s.renewal_deadline) == (date(2025, 3, 15), date(2025, 4, 30))
    assert s.filing_deadline == date(2025, 2, 28) and s.draft_days_before == (14, 7, 3, 1)


def test_a_year_the_calendar_does_not_cover_loads_and_is_flagged(tmp_path: Path) -> None:
    path = tmp_path / "2026.toml"
    path.write_text("year = 2026\n")  # its stamped-form cadence runs in 2027
    s = load_schedule(path)
    assert s.calendar_years() == (2026, 2027)
    assert s.calendar.estimated(s.calendar_years()) == (2027,)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("year = 2025\nsend_time = '25:00'\n", "send_time"),
        ("year = 2025\n[renewal]\ndays_before = [-1]\n", "days_before"),
        ("year = 2025\nunknown = 1\n", "unknown"),
        ("year = ", "not valid TOML"),
    ],
)
def test_invalid_schedules_name_the_file_and_the_field(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ScheduleError) as error:
        load_schedule(path)
    assert str(path) in str(error.value) and message in str(error.value)
    with pytest.raises(ScheduleError, match=r"missing\.toml"):
        load_schedule(tmp_path / "missing.toml")


def test_stamped_form_cadence_over_national_day() -> None:
    # Approved on 2025-09-30, the working day before National Day (1-8 October off, Saturday
    # 11 October an adjusted working day): working days 1, 3, 7 after, then weekly.
    e = enterprise()
    series = upcoming(SCHEDULE, facts_of(e), bj(2025, 9, 30, 16), bj(2025, 10, 31, 23))
    assert [(o.kind, o.due_at, o.ordinal) for o in series] == [
        (Kind.STAMPED, bj(2025, 10, 9), 1),
        (Kind.STAMPED, bj(2025, 10, 11), 2),
        (Kind.STAMPED, bj(2025, 10, 16), 3),
        (Kind.STAMPED, bj(2025, 10, 23), 4),
        (Kind.STAMPED, bj(2025, 10, 30), 5),
    ]
    assert [o.occurrence for o in series[:2]] == ["2025:v1:1", "2025:v1:2"]
    assert next_due(SCHEDULE, facts_of(e), bj(2025, 10, 9, 9, 1)) == bj(2025, 10, 11)


def test_only_the_latest_of_a_series_goes_out_after_an_outage() -> None:
    e = enterprise()
    # Down from before the first reminder until after the third: one reminder, the third.
    due = plan(SCHEDULE, facts_of(e), bj(2025, 10, 17, 14))
    assert [o.ordinal for o in due.send] == [3]
    assert [o.ordinal for o in due.superseded] == [1, 2]
    recorded = {(7, "stamped_form"): {o.occurrence: o.due_at for o in (*due.send, *due.superseded)}}
    # Recorded: nothing is due again, and an earlier one never comes back.
    assert plan(SCHEDULE, facts_of(e, recorded=recorded), bj(2025, 10, 18)).send == ()
    later = plan(SCHEDULE, facts_of(e, recorded=recorded), bj(2025, 10, 23, 9))
    assert [o.ordinal for o in later.send] == [4]
    assert not later.send[0].late(bj(2025, 10, 23, 9, 30))
    assert due.send[0].late(bj(2025, 10, 17, 14))


def test_obsolete_reminders_are_not_due() -> None:
    now = bj(2025, 10, 10)
    # The stamped form came back (complete), or the filing is no longer approved.
    assert plan(SCHEDULE, facts_of(enterprise(status="complete")), now).send == ()
    assert plan(SCHEDULE, facts_of(enterprise(status="rejected")), now).send == ()
    key = (7, "stamped_form", "2025:v1:1")
    assert still_due(SCHEDULE, facts_of(enterprise()), key, now) is not None
    assert still_due(SCHEDULE, facts_of(enterprise(status="complete")), key, now) is None
    # No bound contact: nothing is due until someone is bound.
    assert plan(SCHEDULE, facts_of(enterprise(contacts=())), now).send == ()


def test_results_and_renewal_countdown_until_marked_done() -> None:
    e = enterprise(status="complete")
    coming = upcoming(SCHEDULE, facts_of(e), bj(2026, 3, 1), bj(2026, 5, 1))
    assert [(o.kind, o.due_at, o.days_left) for o in coming] == [
        (Kind.RESULTS, bj(2026, 3, 15), None),
        (Kind.RENEWAL, bj(2026, 3, 31), 30),
        (Kind.RENEWAL, bj(2026, 4, 16), 14),
        (Kind.RENEWAL, bj(2026, 4, 23), 7),
        (Kind.RENEWAL, bj(2026, 4, 27), 3),
        (Kind.RENEWAL, bj(2026, 4, 29), 1),
        (Kind.RENEWAL, bj(2026, 4, 30), 0),
    ]
    done = enterprise(status="complete", renewal_done_at=bj(2026, 4, 20))
    assert [
        o.kind for o in upcoming(SCHEDULE, facts_of(done), bj(2026, 4, 20), bj(2026, 5, 1))
    ] == []
    # Drafts never filed get neither; after the deadline day the countdown is over.
    assert (
        upcoming(
            SCHEDULE,
            facts_of(enterprise(status="draft", version=0)),
            bj(2026, 3, 1),
            bj(2026, 5, 1),
        )
        == []
    )
    assert plan(SCHEDULE, facts_of(e), bj(2026, 5, 1)).send == ()


def test_reviewer_digest_of_submissions_waiting_over_a_working_day() -> None:
    # Submitted Friday 2025-09-26; Sunday the 28th is an adjusted working day, so review is
    # expected by then and the digest goes out on Monday the 29th at 09:00.
    e = enterprise(status="submitted", approved_at=None)
    reviewers = (Recipient("telegram", "9"),)
    facts = facts_of(e, reviewers=reviewers)
    assert plan(SCHEDULE, facts, bj(2025, 9, 29, 8, 59)).send == ()
    (digest,) = plan(SCHEDULE, facts, bj(2025, 9, 29, 9)).send
    assert (digest.enterprise_id, digest.kind, digest.occurrence) == (
        REVIEWERS,
        Kind.REVIEW,
        "2025-09-29",
    )
    assert digest.filing_ids == (70,)
    text = review_message(SCHEDULE, digest, {70: e}, bj(2025, 9, 29, 9)).text
    assert text == (
        "【审核提醒】1份申报等待审核已超过1个工作日：\n"
        "1. 新疆天山智联信息技术有限公司（乙级）第1版，2025年9月26日（周五）10:00提交，"
        "应于2025年9月28日（周日）前审核"
    )
    assert plan(SCHEDULE, facts_of(e), bj(2025, 9, 29, 9)).send == ()  # no reviewers


def test_draft_nudges_only_when_a_filing_deadline_is_configured() -> None:
    schedule = Schedule.for_year(2025, filing_deadline={"date": date(2026, 1, 31)})
    draft = enterprise(status="draft", version=0, submitted_at=None, approved_at=None)
    coming = upcoming(schedule, facts_of(draft), bj(2026, 1, 1), bj(2026, 2, 28))
    assert [(o.kind, o.due_at) for o in coming] == [
        (Kind.DRAFT, bj(2026, 1, 17)),
        (Kind.DRAFT, bj(2026, 1, 24)),
        (Kind.DRAFT, bj(2026, 1, 28)),
        (Kind.DRAFT, bj(2026, 1, 30)),
    ]
    assert upcoming(SCHEDULE, facts_of(draft), bj(2026, 1, 1), bj(2026, 2, 28)) == []
    submitted = enterprise(status="submitted")
    assert [
        o
        for o in upcoming(schedule, facts_of(submitted), bj(2026, 1, 1), bj(2026, 2, 28))
        if o.kind is Kind.DRAFT
    ] == []


def test_texts_say_what_by_when_and_offer_a_button() -> None:
    e = enterprise(status="complete")
    o = Occurrence(7, Kind.RENEWAL, "2025:7d", bj(2026, 4, 23), 3, date(2026, 4, 30), 7)
    on_time = enterprise_message(SCHEDULE, o, e, bj(2026, 4, 23))
    assert on_time.text == (
        "【续证提醒】新疆天山智联信息技术有限公司：资质证书续证须在2026年4月30日（周四）前办理完成，"
        "还有7天。\n办理完成后请点「续证已办理」，之后不再提醒。"
    )
    assert [(b.label, b.value) for b in on_time.options] == [
        ("✅ 续证已办理", "续证已办理"),
        ("查看我的提醒", "/reminders"),
    ]
    late = enterprise_message(SCHEDULE, o, e, bj(2026, 4, 24, 11))
    assert late.text.endswith(
        "（本提醒原定于2026年4月23日（周四）09:00发送，因系统暂停而延迟送达。）"
    )
    assert when(bj(2026, 4, 30, 9)) == "2026年4月30日（周四）09:00"
