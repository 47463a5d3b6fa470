"""The reviewer's dialog: queue, open, approve, reject with reason and sections, files."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from dialogs.effects import (
    Approve,
    DecideRequest,
    IssueInvite,
    PromoteReviewer,
    Reject,
    SendAttachment,
)
from dialogs.model import FileRef
from dialogs.replies import Choice, Event, Start, TextIn, reply_text
from dialogs.review import (
    Opened,
    QueueEntry,
    RequestEntry,
    ReviewOutcome,
    ReviewState,
    review_step,
)
from tests.fakes import completed_filing

FORM, FILING = completed_filing()
NOW = datetime(2025, 12, 2, 3, tzinfo=UTC)
LICENCE = FileRef("a" * 64, "营业执照.png", 2048, "image/png")


@dataclass
class Ports:
    opened: dict[int, Opened] = field(default_factory=dict)

    def queue(self) -> Sequence[QueueEntry]:
        return [
            QueueEntry(o.filing.id, o.enterprise, "乙", o.version, o.submitted_at or NOW, False)
            for o in self.opened.values()
            if o.status == "submitted"
        ]

    def open(self, filing_id: int) -> Opened | None:
        return self.opened.get(filing_id)

    def requests(self) -> Sequence[RequestEntry]:
        return self.pending

    pending: list[RequestEntry] = field(default_factory=list)


@dataclass
class Reviewer:
    ports: Ports
    state: ReviewState = field(default_factory=ReviewState)
    last: ReviewOutcome | None = None

    def send(self, event: Event | str) -> str:
        if isinstance(event, str):
            event = TextIn(event)
        self.last = review_step(FORM, self.ports, self.state, event, NOW)
        self.state = ReviewState.from_dict(self.last.state.to_dict())
        return "\n".join(reply_text(r) for r in self.last.replies)

    @property
    def options(self) -> list[tuple[str, str]]:
        assert self.last is not None
        reply = self.last.replies[-1]
        assert isinstance(reply, Choice)
        return [(b.label, b.value) for b in reply.options]


def _ports(*changes: str) -> Ports:
    filing = replace(FILING, id=7, status="submitted", version=2)
    opened = Opened(
        filing,
        "新疆天山智联信息技术有限公司",
        "submitted",
        2,
        datetime(2025, 12, 1, 2, tzinfo=UTC),
        changes=changes,
        history=("2025-12-01 10:00 提交 第 1 版", "2025-12-01 15:00 驳回：金额不符"),
        attachments=(("营业执照", LICENCE),),
    )
    return Ports({7: opened})


def test_empty_queue() -> None:
    reviewer = Reviewer(Ports())
    assert "目前没有待审核的申报" in reviewer.send(Start())


def test_open_from_queue_shows_figures_changes_and_history() -> None:
    reviewer = Reviewer(_ports("• 3 系统集成项目汇总 合同金额：401.50 → 400.00"))
    text = reviewer.send(Start())
    assert "【待审核 1 份】" in text and "第 2 版" in text
    assert reviewer.options[0] == ("1. 新疆天山智联信息技术有限公司", "打开 7")
    text = reviewer.send("1")
    assert reviewer.state == ReviewState("filing", 7)
    assert "【审核】新疆天山智联信息技术有限公司 · 第 2 版 · 待审核" in text
    assert "12 个，合同金额 3,532.00 万元" in text
    assert "三年系统集成项目总值：4,602.50 万元，达到参考指标" in text
    assert "与上次驳回版本相比的修改" in text and "401.50 → 400.00" in text
    assert "驳回：金额不符" in text
    assert [v for _label, v in reviewer.options] == ["通过", "驳回", "附件", "列表"]


def test_approve() -> None:
    reviewer = Reviewer(_ports())
    reviewer.send("打开 7")
    text = reviewer.send("通过")
    assert reviewer.last is not None and reviewer.last.effects == (Approve(7, 2),)
    assert "已通过" in text


def test_reject_with_reason_and_sections() -> None:
    reviewer = Reviewer(_ports())
    reviewer.send("打开 7")
    assert "驳回原因" in reviewer.send("驳回")
    text = reviewer.send("项目3的合同金额与附件不符")
    assert "驳回原因：项目3的合同金额与附件不符" in text
    reviewer.send("部分 projects")
    reviewer.send("部分 attachments")
    reviewer.send("部分 attachments")  # toggled off again
    assert ("☑ 3 系统集成项目汇总", "部分 projects") in reviewer.options
    reviewer.send("完成")
    assert reviewer.last is not None
    assert reviewer.last.effects == (Reject(7, 2, "项目3的合同金额与附件不符", ("projects",)),)


def test_attachments_are_sent_on_request() -> None:
    reviewer = Reviewer(_ports())
    reviewer.send("打开 7")
    reviewer.send("附件")
    assert reviewer.options[0] == ("营业执照：营业执照.png", "文件 1")
    text = reviewer.send("文件 1")
    assert reviewer.last is not None and reviewer.last.effects == (SendAttachment(LICENCE),)
    assert "正在发送" in text
    reviewer.send("返回")
    assert reviewer.state.mode == "filing"


def test_decisions_only_on_submitted_filings() -> None:
    ports = _ports()
    ports.opened[7] = replace(ports.opened[7], status="approved")
    reviewer = Reviewer(ports)
    reviewer.send("打开 7")
    reviewer.send("通过")
    assert reviewer.last is not None and not reviewer.last.effects


def test_requests_are_listed_and_decided() -> None:
    ports = Ports(pending=[RequestEntry(3, "binding", "李娜 申请绑定 天山智联（9111…）")])
    reviewer = Reviewer(ports)
    text = reviewer.send(Start())
    assert "目前没有待审核的申报" in text and "#3 绑定申请：李娜 申请绑定" in text
    assert ("✅ 批准 #3", "批准申请 3") in reviewer.options
    reviewer.send("批准申请 3")
    assert reviewer.last is not None and reviewer.last.effects == (DecideRequest(3, True),)


def test_promote_and_invite() -> None:
    reviewer = Reviewer(Ports())
    reviewer.send("添加审核员 telegram:42")
    assert reviewer.last is not None and reviewer.last.effects == (
        PromoteReviewer("telegram", "42"),
    )
    assert "格式" in reviewer.send("添加审核员 42")
    reviewer.send("邀请 91110108551385082Q")
    assert reviewer.last.effects == (IssueInvite("91110108551385082Q"),)
