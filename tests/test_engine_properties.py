"""Properties of the pure engine, for every field of the form and any text people may send.

Whatever arrives, `step` answers without raising, says something, returns a state that survives
the JSON round trip through storage, and changes the filing only by storing the asked answer
when that answer was accepted ("✓"); a refusal ("✗") changes nothing and asks again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dialogs.bulk import is_bulk, labelled_line, record_keys, section_keys
from dialogs.cycle import Cycle
from dialogs.engine import Outcome, step
from dialogs.form import build_form
from dialogs.model import (
    AddRecord,
    Change,
    FileRef,
    Filing,
    Key,
    SetAnswer,
    Source,
    Value,
    apply_changes,
)
from dialogs.replies import Button, Choice, Event, FileIn, FileRequest, Start, TextIn, reply_text
from dialogs.spec import FieldSpec, GroupSpec, Kind
from dialogs.state import ConvState, Mode
from dialogs.view import SKIPPED, View
from storage.repository import check_storable

FORM = build_form(Cycle.for_year(2025))
NOW = datetime(2025, 12, 1, tzinfo=UTC)
FILE = FileRef("ab" * 32, "营业执照.pdf", 2048, "application/pdf")
NEW_RECORD = "x1"

# --- a complete, consistent filing --------------------------------------------------------

# Values by kind; the few overrides keep the section checks satisfied (parts <= wholes).
_BY_KIND: dict[Kind, Value] = {
    Kind.TEXT: "测试内容",
    Kind.AMOUNT: Decimal("10.00"),
    Kind.COUNT: 10,
    Kind.YEAR: 2025,  # a newly certified enterprise: three business years
    Kind.DATE: date(2025, 5, 1),
    Kind.YESNO: True,  # every optional group applies
    Kind.MOBILE: "13800138000",
    Kind.LANDLINE: "0991-2301105",
    Kind.EMAIL: "zhangsan@example.com",
    Kind.CREDIT_CODE: "91110108551385082Q",
    Kind.FILE: FILE,
}
_OVERRIDES: dict[str, Value] = {"personnel.employees": 100, "personnel.technical": 40}


def _sample(spec: FieldSpec) -> Value:
    if spec.id in _OVERRIDES:
        return _OVERRIDES[spec.id]
    if spec.kind is Kind.CHOICE:
        return spec.options[0].value
    return _BY_KIND[spec.kind]


def _complete_filing() -> Filing:
    """Every applicable answer given, one record per group, item by item in form order so
    that the answers deciding applicability and years come first."""
    filing = Filing(1, 2025)
    for section in FORM.sections:
        for item in section.items:
            view = View(FORM, filing)
            changes: list[Change] = []
            if isinstance(item, GroupSpec):
                record = view.new_record_id(item)
                changes.append(AddRecord(item.id, record))
                changes.extend(SetAnswer(Key(f.id, record), _sample(f)) for f in item.fields)
            elif view.applies(item):
                years = view.section_years(section)
                changes.extend(
                    SetAnswer(key, _sample(item)) for key in view.field_keys(item, years=years)
                )
            filing = apply_changes(filing, changes)
    return filing


COMPLETE = _complete_filing()

# --- situations: a filing and a state asking one key --------------------------------------


@dataclass(frozen=True)
class Situation:
    name: str
    filing: Filing
    state: ConvState

    @property
    def key(self) -> Key:
        return self.state.key


def _keys_of(spec: FieldSpec) -> list[Key]:
    """The keys of this field that the complete filing holds (records and years included)."""
    return sorted(k for k in COMPLETE.answers if k.field == spec.id)


def _without(filing: Filing, key: Key) -> Filing:
    answers = {k: a for k, a in filing.answers.items() if k != key}
    return replace(filing, answers=answers)


def _with_roster(filing: Filing, key: Key) -> Filing:
    answer = filing.answers[key]
    return replace(filing, answers={**filing.answers, key: replace(answer, source=Source.ROSTER)})


def _seen(filing: Filing, key: Key) -> int:
    """The revision a question shows: what the contact saw when it was asked."""
    answer = filing.answers.get(key)
    return answer.revision if answer is not None else 0


def situations(spec: FieldSpec) -> list[Situation]:
    keys = _keys_of(spec)
    assert keys, f"the complete filing has no answer for {spec.id}"
    key = keys[0]
    section = FORM.section_of(spec.id).id
    seen = _seen(COMPLETE, key)
    asking = ConvState().asking(key, section)
    out = [
        Situation("unanswered", _without(COMPLETE, key), asking),
        Situation("answered", COMPLETE, ConvState().asking(key, section, seen=seen)),
        Situation(
            "editing",
            COMPLETE,
            ConvState().asking(key, section, editing=True, back_to="summary", seen=seen),
        ),
        Situation("roster", _with_roster(COMPLETE, key), asking),
    ]
    group = FORM.group_of(spec.id)
    if group is not None:
        new = Key(spec.id, NEW_RECORD)
        out.append(Situation("new record", COMPLETE, ConvState().asking(new, section)))
        out.append(
            Situation(
                "editing in record",
                COMPLETE,
                ConvState().asking(key, section, editing=True, back_to="record", seen=seen),
            )
        )
    if len(keys) > 1:  # per-year answers: the last year too
        out.append(
            Situation("last year", _without(COMPLETE, keys[-1]), asking.asking(keys[-1], section))
        )
    return out


FIELDS = [spec.id for spec in FORM.all_fields()]
SECTIONS = [section.id for section in FORM.sections]
FILE_FIELDS = [spec.id for spec in FORM.all_fields() if spec.kind is Kind.FILE]

# --- inputs ---------------------------------------------------------------------------------

COMMANDS = [
    "返回", "上一步", "跳过", "帮助", "?", "保留", "修改", "修改 2", "总览", "暂停", "继续",
    "取消", "确认", "添加", "编辑", "编辑 1", "删除", "删除 1", "确定删除", "不删除",
    "继续添加", "添加完毕", "/start", "back", "SKIP", "保留。", "跳过！",
]  # fmt: skip
REALISTIC = [
    # numbers and amounts
    "0", "1", "2", "3", "4", "9", "12", "35", "99", "100000", "1000001", "-1", "负5", "+3",
    "120人", "35 人", "五", "二十", "一百零八", "三万五", "两千", "１２", "３８００", "4.0",
    "4.5", "1,234.56", "1,23", "1.2.3", "12345600元", "3.5万", "3500万", "1亿", "56.78万元",
    "-35.5", "-0", "无", "没有", "不适用", ".5", "1e5", "NaN", "Infinity", "10000001",
    # years and dates
    "2025", "２０２５年", "2019", "1960", "1999", "3000", "25", "2025-03-01", "2025/3/1",
    "2025.3.1", "2025年3月1日", "20250301", "2025-02-30", "2024-12-31", "2026-01-01",
    "25-3-1", "0000-01-01", "9999-12-31",
    # yes/no and options
    "是", "否", "有", "不", "y", "N", "ok", "乙", "乙级", "甲", "丁级", "第2个", "（3）",
    "网络工程师", "网工", "高项", "ccie", "HCIP", "系统架构", "软件著作权", "发明专利", "工程师",
    # codes, phones, mail
    "91110108551385082Q", "9111 0108 5513 8508 2q", "91110108551385082A", "ABC",
    "91650100MA7XXXXXXX", "13800138000", "+86 138-0013-8000", "8613800138000", "1234567",
    "0991-2301105", "(010)12345678转123", "2301105", "zhangsan@example.com", "a@b", "foo@",
    "a@b@c.cn", "张三@例子.中国",
    # free text and noise
    "测试科技有限公司", "  新疆天山智联信息技术有限公司 ", "某某局信息化建设项目", "ＡＢＣ",
    "😀", "👍🏻 好的", "\u200b", "\ufeff1", "a\x00b", "\x00", "\x1b[31m", "\t", " ", "",
    "\n\n", "\r\n", "✓", "✗", "【】", "%s {0} {label}", "<b>x</b>", "' OR 1=1 --",
    "\u202e逆序", "\ud800", "x" * 201, "长" * 5000, "1" * 40, "9" * 400,
]  # fmt: skip
SAMPLES = COMMANDS + REALISTIC


# Any text, including control characters and lone surrogates (what a broken client may send).
ANY_TEXT = st.one_of(
    st.sampled_from(SAMPLES),
    st.text(),
    st.text(st.characters(exclude_categories=()), max_size=30),
    st.builds(
        "".join,
        st.lists(st.sampled_from([*SAMPLES, " ", "万", "元", "年", "-", "."]), max_size=4),
    ),
)

# --- invariants ----------------------------------------------------------------------------


def _check_value(spec: FieldSpec, key: Key, value: Value, required: bool) -> None:
    check_storable(key, value)
    if isinstance(value, str) and value == SKIPPED:
        assert not required, f"required {key} stored as skipped"
        return
    expected: dict[Kind, type] = {
        Kind.AMOUNT: Decimal,
        Kind.COUNT: int,
        Kind.YEAR: int,
        Kind.DATE: date,
        Kind.YESNO: bool,
        Kind.FILE: FileRef,
    }
    assert isinstance(value, expected.get(spec.kind, str)), (key, value)
    if spec.kind in (Kind.COUNT, Kind.YEAR):
        assert isinstance(value, int) and not isinstance(value, bool), (key, value)
        assert value >= 0, (key, value)
    if isinstance(value, Decimal):
        assert value.as_tuple().exponent == -2, (key, value)
        assert spec.allow_negative or value >= 0, (key, value)
    if isinstance(value, str):
        assert value == value.strip() and len(value) <= spec.max_len, (key, value)
        value.encode("utf-8")  # lone surrogates would break the database driver
        if spec.kind is Kind.CHOICE:
            assert value in {o.value for o in spec.options}, (key, value)


def check_outcome(filing: Filing, before: ConvState, event: Event, outcome: Outcome) -> None:
    """What holds after any step, whatever the state and the event."""
    assert outcome.replies, (before, event)
    for reply in outcome.replies:
        assert reply_text(reply).strip(), (before, event, outcome.replies)
        if isinstance(reply, Choice | FileRequest):
            for button in reply.options:
                assert button.label.strip() and button.value.strip(), reply
    data = outcome.state.to_dict()
    assert ConvState.from_dict(json.loads(json.dumps(data, ensure_ascii=False))) == outcome.state
    check_state(outcome.state)
    # The view handed on to the next step is of the filing after the changes, and what it
    # reuses from before them is what a fresh view works out.
    assert outcome.view is not None
    after = apply_changes(filing, outcome.changes)
    assert outcome.view.filing == after
    fresh = View(FORM, after)
    assert outcome.view.progress() == fresh.progress(), (before, event)
    assert list(outcome.view.iter_states()) == list(fresh.iter_states()), (before, event)
    if before.mode is Mode.ASK:
        check_answer_step(filing, before, event, outcome)
    elif isinstance(event, TextIn | FileIn) and before.mode is Mode.PAUSED:
        assert not outcome.changes, "nothing is stored while paused"


def check_state(state: ConvState) -> None:
    """The state names things that exist: what resume and redisplay will look up."""
    if state.mode is Mode.ASK:
        assert state.field in FIELDS, state
        assert state.section == FORM.section_of(state.field).id, state
    elif state.mode not in (Mode.WELCOME, Mode.OVERVIEW, Mode.PAUSED, Mode.SUBMIT):
        assert state.section in SECTIONS, state
    if state.mode in (Mode.AFTER_RECORD, Mode.RECORD, Mode.CONFIRM_DELETE):
        assert state.record and any(FORM.section(state.section).groups()), state
    if state.mode is Mode.PAUSED:
        assert state.resume is not None, state
        check_state(ConvState.from_dict(state.resume))


def check_records(filing: Filing) -> None:
    """Every answer of a record belongs to a record that exists: none is orphaned."""
    for key in filing.answers:
        if not key.record:
            continue
        spec = FORM.field(key.field)
        group = FORM.group_of(key.field)
        owner = group.id if group is not None else spec.for_records
        assert owner and key.record in filing.record_ids(owner), key


def check_bulk_step(filing: Filing, asked: Key, first: str, outcome: Outcome) -> None:
    """Several answers in one message: stored only in the asked record (or rows as new
    records of its group) or the asked section, with the summary first; never a roster
    answer."""
    assert first.startswith(("已识别", "【表格检查】")), first
    group = FORM.group_of(asked.field)
    section = FORM.section_of(asked.field)
    for change in outcome.changes:
        if isinstance(change, AddRecord):
            assert group is not None and change.group == group.id, outcome.changes
            continue
        assert isinstance(change, SetAnswer), outcome.changes
        assert FORM.section_of(change.key.field).id == section.id, outcome.changes
        if group is None:
            assert FORM.group_of(change.key.field) is None, outcome.changes
        previous = filing.answers.get(change.key)
        assert previous is None or previous.source is not Source.ROSTER, change


def named_elsewhere(filing: Filing, asked: Key, event: Event) -> Key | None:
    """The other question of the record or section that a single line "名称 值" names."""
    if not isinstance(event, TextIn):
        return None
    view = View(FORM, filing)
    group = FORM.group_of(asked.field)
    if group is not None:
        keys = record_keys(view, group, asked.record)
    else:
        keys = section_keys(view, FORM.section_of(asked.field))
    found = labelled_line(view, keys, asked, event.text)
    return found[0] if found is not None and found[0] != asked else None


def check_answer_step(filing: Filing, before: ConvState, event: Event, outcome: Outcome) -> None:
    """Asked key K: the only possible change is storing K (creating its record if new), and
    only with a "✓"; a refusal leads with "✗" (the typed text may contain one anywhere)."""
    asked = before.key
    first = reply_text(outcome.replies[0])
    named = named_elsewhere(filing, asked, event)
    if first.startswith("✗"):
        assert not outcome.changes, (asked, first)
        assert outcome.state.mode is Mode.ASK, outcome.state
        assert outcome.state.key in (asked, named), outcome.state
        assert isinstance(event, FileIn) or "例如" in first, first
    if not outcome.changes:
        return
    if isinstance(event, TextIn) and is_bulk(event.text) and not first.startswith("✓"):
        check_bulk_step(filing, asked, first, outcome)
        return
    assert first.startswith("✓"), (asked, first, outcome.changes)
    asked = named or asked  # one line "名称 值" answers the question it names
    *added, last = outcome.changes
    group = FORM.group_of(asked.field)
    if added:
        assert group is not None and added == [AddRecord(group.id, asked.record)], outcome.changes
        assert asked.record not in filing.record_ids(group.id)
    assert isinstance(last, SetAnswer) and last.key == asked, outcome.changes
    current = filing.answers.get(asked)
    assert current is None or current.source is Source.USER, "roster answers are read-only"
    assert last.previous == filing.get(asked), "storage checks the value the user saw"
    spec = FORM.field(asked.field)
    view = View(FORM, apply_changes(filing, outcome.changes))
    _check_value(spec, asked, last.value, view.required(spec, asked))


def run_step(filing: Filing, state: ConvState, event: Event) -> Outcome:
    outcome = step(FORM, filing, state, event, NOW)
    check_outcome(filing, state, event, outcome)
    return outcome


# --- every field, any text ----------------------------------------------------------------


@pytest.mark.parametrize("field_id", FIELDS)
def test_every_field_survives_realistic_input(field_id: str) -> None:
    for situation in situations(FORM.field(field_id)):
        for text in SAMPLES:
            run_step(situation.filing, situation.state, TextIn(text))


@pytest.mark.parametrize("field_id", FIELDS)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), text=ANY_TEXT)
def test_every_field_survives_any_text(field_id: str, data: st.DataObject, text: str) -> None:
    situation = data.draw(st.sampled_from(situations(FORM.field(field_id))), label="situation")
    run_step(situation.filing, situation.state, TextIn(text))


@pytest.mark.parametrize("field_id", FILE_FIELDS)
def test_file_fields_take_files_and_refuse_rejected_ones(field_id: str) -> None:
    for situation in situations(FORM.field(field_id)):
        if situation.name == "roster":
            continue  # see test_a_file_never_replaces_a_roster_answer
        refused = run_step(situation.filing, situation.state, FileIn(None, rejected="文件为空"))
        assert reply_text(refused.replies[0]).startswith("✗ 文件未被接受")
        assert "文件为空" in reply_text(refused.replies[0])
        assert not refused.changes and refused.state.key == situation.key
        taken = run_step(situation.filing, situation.state, FileIn(FILE))
        previous = situation.filing.get(situation.key)
        assert taken.changes[-1] == SetAnswer(situation.key, FILE, previous)


@pytest.mark.parametrize("event", [FileIn(FILE), FileIn(None, rejected="文件为空")])
@pytest.mark.parametrize("field_id", FILE_FIELDS)
def test_a_file_never_replaces_a_roster_answer(field_id: str, event: FileIn) -> None:
    [roster] = [s for s in situations(FORM.field(field_id)) if s.name == "roster"]
    assert not run_step(roster.filing, roster.state, event).changes


@pytest.mark.parametrize("event", [FileIn(FILE), FileIn(None, rejected="文件为空")])
def test_a_file_while_paused_gets_a_reply_and_stays_paused(event: FileIn) -> None:
    asking = ConvState().asking(Key("attach.licence"), "attachments")
    filing = _without(COMPLETE, asking.key)
    paused = run_step(filing, asking, TextIn("暂停")).state
    assert paused.mode is Mode.PAUSED
    outcome = run_step(filing, paused, event)
    assert outcome.state == paused and not outcome.changes


@pytest.mark.parametrize("text", ["❶", "编辑 ❶", "⓵"])
@pytest.mark.parametrize(
    "state",
    [
        ConvState().asking(Key("enterprise.grade"), "enterprise"),  # a choice question
        ConvState().at(Mode.SUMMARY, "holders"),
        ConvState().at(Mode.OVERVIEW, ""),
    ],
    ids=["choice", "summary", "overview"],
)
def test_odd_digits_at_a_choice_are_not_a_crash(state: ConvState, text: str) -> None:
    # Circled and other non-ASCII digits are not option numbers; they must not crash.
    outcome = run_step(COMPLETE, state, TextIn(text))
    assert outcome.replies and not outcome.changes


def test_odd_digits_in_a_year_are_refused() -> None:
    asking = ConvState().asking(Key("enterprise.first_year"), "enterprise")
    outcome = run_step(_without(COMPLETE, asking.key), asking, TextIn("202❶"))
    assert reply_text(outcome.replies[0]).startswith("✗")


@pytest.mark.parametrize("field_id", [f for f in FIELDS if f not in FILE_FIELDS])
def test_files_where_none_is_expected_change_nothing(field_id: str) -> None:
    for situation in situations(FORM.field(field_id)):
        for event in (FileIn(FILE), FileIn(None, rejected="文件为空")):
            outcome = run_step(situation.filing, situation.state, event)
            assert not outcome.changes
            assert outcome.state.key == situation.key


# --- conversations: random sequences from a fresh start -------------------------------------


class Valid:
    """Stands for "a valid answer to whatever is on screen", so that random conversations get
    past the first questions and reach summaries, records, edits and deletions."""

    def __repr__(self) -> str:
        return "VALID"


VALID = Valid()


@dataclass(frozen=True)
class Press:
    """Pressing the n-th button on screen (modulo their number), as a chat client does."""

    n: int


_VALID_TEXT: dict[Kind, str] = {
    Kind.AMOUNT: "10",
    Kind.COUNT: "0",
    Kind.YEAR: "2025",
    Kind.DATE: "2025-05-01",
    Kind.YESNO: "是",
    Kind.CHOICE: "1",
    Kind.MOBILE: "13800138000",
    Kind.LANDLINE: "0991-2301105",
    Kind.EMAIL: "zhangsan@example.com",
    Kind.CREDIT_CODE: "91110108551385082Q",
}


def _valid_answer(state: ConvState, n: int) -> Event:
    """An answer the asked field accepts (section checks permitting)."""
    kind = FORM.field(state.field).kind
    if kind is Kind.FILE:
        return FileIn(FILE)
    return TextIn(_VALID_TEXT.get(kind, f"名称{n}"))  # distinct names: no duplicate holders


def _only(sections: set[str]) -> Filing:
    """The complete filing cut down to the answers and records of some sections."""
    answers = {k: a for k, a in COMPLETE.answers.items() if FORM.section_of(k.field).id in sections}
    records = {g: ids for g, ids in COMPLETE.records.items() if FORM.section_of(g).id in sections}
    return replace(COMPLETE, answers=answers, records=records)


# Fresh conversations on filings at several stages, plus the summaries of the sections with
# records, where edit/delete/add paths start.
STARTS: dict[str, tuple[Filing, ConvState]] = {
    "empty": (Filing(1, 2025), ConvState()),
    "first three sections": (_only({"enterprise", "contact", "personnel"}), ConvState()),
    "all but attachments": (
        _only({s.id for s in FORM.sections} - {"attachments"}),
        ConvState(),
    ),
    "complete": (COMPLETE, ConvState()),
    **{
        f"{s.id} summary": (COMPLETE, ConvState().at(Mode.SUMMARY, s.id))
        for s in FORM.sections
        if any(s.groups())
    },
}
EVENTS = st.one_of(
    st.just(VALID),
    st.just(VALID),
    st.integers(0, 9).map(Press),
    st.sampled_from(COMMANDS).map(TextIn),
    st.sampled_from(SAMPLES).map(TextIn),
    st.text(max_size=10).map(TextIn),
    st.sampled_from([Start(), FileIn(FILE), FileIn(None, rejected="文件为空")]),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    start=st.sampled_from(sorted(STARTS)),
    # Drawing the length first: plain st.lists favours short lists, and depth needs long ones.
    events=st.integers(1, 40).flatmap(lambda n: st.lists(EVENTS, min_size=n, max_size=n)),
)
def test_random_conversations_never_break(start: str, events: list[Event | Valid | Press]) -> None:
    filing, state = STARTS[start]
    buttons: tuple[Button, ...] = ()
    for n, drawn in enumerate(events):
        event: Event
        if isinstance(drawn, Valid) and state.mode is Mode.ASK:
            event = _valid_answer(state, n)
        elif isinstance(drawn, Valid | Press) and buttons:
            # Outside questions the valid moves are the buttons on screen.
            event = TextIn(
                buttons[(drawn.n if isinstance(drawn, Press) else n) % len(buttons)].value
            )
        elif isinstance(drawn, Valid | Press):
            event = Start() if state.mode is Mode.WELCOME else TextIn("继续")
        else:
            event = drawn
        outcome = run_step(filing, state, event)
        filing = apply_changes(filing, outcome.changes)
        check_records(filing)
        # What the next message sees is the state as stored, not the object in memory.
        state = ConvState.from_dict(json.loads(json.dumps(outcome.state.to_dict())))
        last = outcome.replies[-1]
        buttons = last.options if isinstance(last, Choice | FileRequest) else ()


def test_complete_filing_is_complete() -> None:
    """The base of the situations above answers every field and passes every check (else
    the properties would test refusals of a broken filing instead of answers)."""
    view = View(FORM, COMPLETE)
    for section_state in view.iter_states():
        assert not section_state.missing and not section_state.problems, section_state
    assert {k.field for k in COMPLETE.answers} == set(FIELDS)
