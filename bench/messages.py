"""How many messages a contact needs: the complete filing of the test suite's enterprise
(`tests/filing_script.py`: 乙 grade, new in 2025, 9 certificate holders, 12 projects), done
the fastest way the bot offers, and a reviewer-requested correction of one amount.

Everything goes through the real `ChatService` of a bootstrapped `App` on a fresh SQLite
file, as a Telegram contact would: the roster is imported, the contact binds with an invite
code, answers a section's questions in one message ("名称 值" lines), pastes the holders and
the projects as rows copied from Excel (one message each), sends every attachment, submits;
a reviewer rejects naming the project section; the contact corrects one amount and submits
again. Every contact message is counted (a button pressed counts as a message: it is one),
and the correction's taps are counted from the rejection notice to the resubmission.

    python -m bench.messages              # the two figures
    python -m bench.messages --transcript docs/fast-path-transcript.md
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.report import Figure, Target, judged
from bot.admin import import_roster, issue_invite
from bot.app import App, bootstrap
from bot.settings import Settings
from dialogs.replies import Choice, FileRequest, Reply, Start, TextIn, from_payload, reply_text
from storage.messaging import Outbox
from storage.migrate import upgrade
from tests.fakes import ENTERPRISE_A, FrozenClock, write_roster
from tests.filing_script import (
    BUSINESS,
    COMPLETION,
    HOLDERS,
    PROJECTS,
    Upload,
    pdf_bytes,
    png_bytes,
)

TARGET_MESSAGES = Target(60, at_least=False)
TARGET_TAPS = Target(4, at_least=False)
# The question-by-question path of `tests/filing_script.py` before issue 14: 327 inputs.
BEFORE_MESSAGES = 340

CHANNEL = "tg"
CONTACT, REVIEWER = "alice", "wang"
CREDIT_CODE = "91110108551385082Q"

_BUSINESS_LABELS = (
    "营业收入",
    "软件和信息技术服务收入",
    "其中：系统集成收入",
    "利润总额",
    "净利润",
    "上缴税金",
    "研发经费支出",
    "资产总额",
    "净资产",
)
_COMPLETION_LABELS = ("完成项目数", "项目合同总值", "其中软件和信息技术服务费总值")


def fast_path() -> list[str | Upload]:
    """The filing of `tests/filing_script.py` (the same figures), the fastest way: after
    binding, one message per section or record group, one per attachment."""
    steps: list[str | Upload] = [
        # Contact (section 1, 企业信息, came from the roster)
        "联系人姓名：李娜\n联系人手机：+86 139-9123-4567\n固定电话：0991 2301105\n"
        "电子邮箱：lina@TSZL.cn",
        "确认",
        "职工总数 120人\n技术人员总数 ４５\n技术人员中研究生及以上学历 五\n技术人员中本科学历 30\n"
        "技术人员中大专学历 10\n技术人员中高级职称 8\n技术人员中中级职称 二十",
        "确认",
        # 1.2 Certificate holders: nine rows copied from Excel
        "\n".join("\t".join(holder) for holder in HOLDERS),
        "完成",
        "确认",
        # 2 Business figures of three years, one line each
        "\n".join(
            f"{year}年{label} {value}"
            for year, values in BUSINESS
            for label, value in zip(_BUSINESS_LABELS, values, strict=True)
        ),
        "确认",
        # 3 Projects: twelve rows copied from the project template
        "是",
        "\n".join(
            "\t".join((name, client, signed, accepted, merged, *fees))
            for name, client, signed, accepted, merged, fees in PROJECTS
        ),
        "完成",
        "56.78万元",
        "确认",
        # 4 Completion table of 2023 and 2024
        "\n".join(
            f"{year}年{label} {value}"
            for year, values in zip((2023, 2024), COMPLETION, strict=True)
            for label, value in zip(_COMPLETION_LABELS, values, strict=True)
        ),
        "确认",
        # 5 One innovation item: its row, then its certificate
        "是",
        "软件著作权\t天山智联运维管理平台 V2.0\t2025SR0123456\t2025/8/8",
        Upload("软著证书.pdf", pdf_bytes("copyright")),
        "完成",
        "确认",
        # 6 Attachments
        Upload("营业执照.png", png_bytes()),
        Upload("资产负债表.pdf", pdf_bytes("balance")),
        Upload("利润表.pdf", pdf_bytes("income")),
        Upload("现金流量表.pdf", pdf_bytes("cash")),
    ]
    for i, (name, *_rest) in enumerate(PROJECTS):
        steps.append("跳过" if i >= 10 else Upload(f"合同{i + 1}.pdf", pdf_bytes(name)))
    steps.extend(["确认", "提交", "确认提交"])
    return steps


@dataclass
class Transcript:
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def contact(self, step: str | Upload) -> None:
        shown = f"📎 {step.name}" if isinstance(step, Upload) else step
        quoted = "\n".join(f"> {line}" for line in shown.splitlines())
        self.lines.append(f"**联系人：**\n\n{quoted}\n")

    def bot(self, replies: Sequence[Reply]) -> None:
        for reply in replies:
            text = reply_text(reply).rstrip()
            self.lines.append("```text\n" + text + "\n```")
            if isinstance(reply, Choice | FileRequest) and reply.options:
                buttons = " ".join(f"[{b.label}]" for b in reply.options)
                self.lines.append(f"按钮：{buttons}\n")


@dataclass(frozen=True, slots=True)
class MessagesResult:
    messages: int
    taps: int
    transcript: tuple[str, ...]
    problems: tuple[str, ...]

    def figures(self) -> list[Figure]:
        return [
            judged("contact messages, 12-project filing", self.messages, ",.0f", TARGET_MESSAGES),
            judged("taps, one amount corrected", self.taps, ",.0f", TARGET_TAPS),
        ]


class Contact:
    def __init__(self, app: App, transcript: Transcript) -> None:
        self.app = app
        self.transcript = transcript
        self.sent = 0
        self.filing_id: int | None = None
        self.buttons: dict[str, str] = {}  # a deep link's value -> its label, for the transcript

    def send(self, step: str | Upload | Start) -> list[Reply]:
        self.sent += 1
        service = self.app.service
        if isinstance(step, str) and step in self.buttons:
            self.transcript.contact(f"（点击按钮）{self.buttons[step]}")
            turn = service.handle(CHANNEL, CONTACT, TextIn(step), queue=True)
        elif isinstance(step, Start):
            self.transcript.contact(f"/start {step.payload}")
            turn = service.handle(CHANNEL, CONTACT, step, queue=True)
        elif isinstance(step, Upload):
            self.transcript.contact(step)
            turn = service.receive_file(CHANNEL, CONTACT, step.data, step.name, queue=True)
        else:
            self.transcript.contact(step)
            turn = service.handle(CHANNEL, CONTACT, TextIn(step), queue=True)
        replies = list(turn.replies)
        self.filing_id = turn.filing_id or self.filing_id
        self.transcript.bot(replies)
        first = reply_text(replies[0]) if replies else ""
        if first.startswith("✗") or "需要补充" in first.split("\n")[0]:
            self.transcript.problems.append(f"message {self.sent}: {first[:160]!r}")
        return replies


def _reviewer(app: App, text: str) -> str:
    turn = app.service.handle(CHANNEL, REVIEWER, TextIn(text), queue=True)
    return "\n".join(reply_text(r) for r in turn.replies)


def _outbox(app: App, chat: str) -> list[Reply]:
    with app.db.session() as session:
        items = Outbox(session).pending(CHANNEL, chat)
    return [from_payload(item.payload) for item in items]


def run(work: Path) -> MessagesResult:
    url = f"sqlite:///{work / 'nianjian.sqlite3'}"
    upgrade(url)
    settings = Settings(
        database_url=url,
        attachments_dir=work / "files",
        reviewers=f"{CHANNEL}:{REVIEWER}",
        trial_channels="console",
    )
    app = bootstrap(settings, FrozenClock())
    try:
        return _play(app, work)
    finally:
        app.db.dispose()


def _play(app: App, work: Path) -> MessagesResult:
    import_roster(app, write_roster(work / "roster.xlsx", [ENTERPRISE_A]))
    invite, _found = issue_invite(app, CREDIT_CODE)
    code = invite[0].split("：")[1][:8]
    transcript = Transcript()
    transcript.lines.append("## 填报（最快路径）\n")
    contact = Contact(app, transcript)
    replies = contact.send(Start(code))
    filing_id = contact.filing_id
    for step in fast_path():
        replies = contact.send(step)
    messages = contact.sent
    if "已提交审核（第 1 版）" not in "\n".join(reply_text(r) for r in replies):
        transcript.problems.append("the fast path did not end in a submission")

    # The reviewer rejects, naming the project section.
    _reviewer(app, f"打开 {filing_id}")
    _reviewer(app, "驳回")
    _reviewer(app, "项目1的软件开发费与合同不符")
    _reviewer(app, "部分 projects")
    _reviewer(app, "完成")
    transcript.lines.append("## 审核员驳回后：改正一个金额\n")
    notice = _outbox(app, CONTACT)[-1:]
    transcript.bot(notice)
    before = contact.sent
    contact.buttons = {o.value: o.label for r in notice if isinstance(r, Choice) for o in r.options}
    for step in correction_path(notice):
        replies = contact.send(step)
    taps = contact.sent - before
    if "已提交审核（第 2 版）" not in "\n".join(reply_text(r) for r in replies):
        transcript.problems.append("the correction did not end in a resubmission")
    review = _reviewer(app, f"打开 {filing_id}")
    transcript.lines.append("## 审核员看到的修改\n")
    transcript.lines.append("```text\n" + review + "\n```")
    return MessagesResult(messages, taps, tuple(transcript.lines), tuple(transcript.problems))


def correction_path(notice: Sequence[Reply]) -> list[str]:
    """From the rejection notice to the resubmission: the deep link the notice offers for
    the answer the reviewer named, the amount typed, the pre-submit check confirmed."""
    options = [o for r in notice if isinstance(r, Choice) for o in r.options]
    links = [o.value for o in options if o.label.startswith("✏️")]
    if not links:
        return ["总览", "6", "编辑 1", "6", "100", "提交", "确认提交"]  # the way without one
    return [links[0], "100", "确认提交"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.messages", description=__doc__)
    parser.add_argument("--transcript", type=Path, help="write the transcript (Markdown) here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="nj_bench_") as work:
        result = run(Path(work))
    print(f"contact messages, complete filing: {result.messages} (before: ~{BEFORE_MESSAGES})")
    print(f"taps, one amount corrected after a rejection: {result.taps}")
    for problem in result.problems:
        print(f"note: {problem}")
    if args.transcript is not None:
        head = [
            "# 最快路径的对话记录",
            "",
            "由 `python -m bench.messages --transcript docs/fast-path-transcript.md` 生成，"
            "请勿手改。测试数据为 `tests/filing_script.py` 的企业（乙级，9 名持证人，12 个项目）。"
            f"联系人共发送 {result.messages} 条消息；驳回后改正一个金额共 {result.taps} 次操作。",
            "",
        ]
        args.transcript.write_text("\n".join([*head, *result.transcript]) + "\n", "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
