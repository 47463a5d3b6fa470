"""What the association does from the command line: import the roster, issue invite codes,
export a year's filings."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from bot.app import App
from bot.export import export_year, form_for, write
from bot.tables import read_table
from dialogs.roster import RosterProblem, parse_rows
from storage.enterprises import EnterpriseRepository
from storage.invites import InviteRepository, new_code

IMPORTED = "导入完成：新增 {created} 家，更新 {updated} 家。"
PROBLEMS = "以下 {count} 行有问题，未导入（其余行已导入）："
NO_SUCH_ENTERPRISE = "找不到统一社会信用代码为 {code} 的单位；请先导入名单。"
INVITE = "邀请码：{code}（{name}，有效期至 {until}，只能使用一次）"
INVITE_LINK = "Telegram 邀请链接：https://t.me/{bot}?start={code}"
INVITE_TYPE = "也可以在聊天中直接发送邀请码。"
WRITTEN = "已导出 {year} 年度 {count} 家企业的申报：{path}"


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    problems: list[RosterProblem] = field(default_factory=list)

    def result(self) -> tuple[list[str], bool]:
        out = [IMPORTED.format(created=self.created, updated=self.updated)]
        if self.problems:
            out.append(PROBLEMS.format(count=len({p.row for p in self.problems})))
            out.extend(f"  {p}" for p in self.problems)
        return out, not self.problems


def import_roster(app: App, path: Path) -> ImportReport:
    """Imports every valid row (a re-import updates); invalid rows are reported, not guessed."""
    header, rows = read_table(path)
    parsed = parse_rows(header, rows)
    report = ImportReport(problems=parsed.problems)
    now = app.service.clock.now()
    with app.db.session() as session:
        enterprises = EnterpriseRepository(session)
        for entry in parsed.entries:
            _id, created = enterprises.upsert_from_roster(entry, app.form.cycle.year, now)
            if created:
                report.created += 1
            else:
                report.updated += 1
    return report


def issue_invite(app: App, credit_code: str) -> tuple[list[str], bool]:
    now = app.service.clock.now()
    with app.db.session() as session:
        enterprise = EnterpriseRepository(session).by_credit_code(credit_code)
        if enterprise is None:
            return [NO_SUCH_ENTERPRISE.format(code=credit_code)], False
        valid = timedelta(days=app.settings.invite_days)
        code = InviteRepository(session).issue(enterprise.id, now, valid, new_code())
    until = (now + valid).astimezone().strftime("%Y-%m-%d")
    lines = [INVITE.format(code=code, name=enterprise.name, until=until)]
    bot = bot_username(app)
    if bot:
        lines.append(INVITE_LINK.format(bot=bot, code=code))
    lines.append(INVITE_TYPE)
    return lines, True


def bot_username(app: App) -> str | None:
    """The Telegram bot's username for deep links: configured, or asked of the Bot API."""
    settings = app.settings
    if settings.telegram_bot_username:
        return settings.telegram_bot_username.lstrip("@")
    if settings.telegram_token is None:
        return None
    from telegram import Bot

    async def ask() -> str | None:
        assert settings.telegram_token is not None
        bot = Bot(
            settings.telegram_token.get_secret_value(),
            base_url=settings.telegram_base_url,
            base_file_url=settings.telegram_base_file_url,
        )
        async with bot:
            return (await bot.get_me()).username

    try:
        return asyncio.run(ask())
    except Exception:  # no network: the code alone still works
        return None


def run_export(
    app: App, year: int | None, out: Path | None, fmt: str | None
) -> tuple[list[str], bool]:
    """`nianjian export`: the association's own copy, mobile numbers in full."""
    form = form_for(app.form, year or app.form.cycle.year)
    with app.db.session() as session:
        export = export_year(session, form, app.service.clock.now())
    target = out or Path(export.filename if fmt != "csv" else export.filename.removesuffix(".xlsx"))
    try:
        written = write(export, target, fmt)
    except ValueError as error:
        return [f"✗ {error}"], False
    lines = [WRITTEN.format(year=export.year, count=export.count, path=target)]
    if len(written) > 1:
        lines.extend(f"  {path.name}" for path in written)
    return lines, True
