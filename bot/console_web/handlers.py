"""The console's pages on the process's one tornado server (bot/web.py)."""

from __future__ import annotations

import asyncio
import hmac
import io
import logging
import math
import re
import zipfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import segno
import tornado.web
from sqlalchemy.orm import Session

from bot.console_web import charts
from bot.console_web import texts as t
from bot.console_web.console import VIA, Console, Decision
from bot.console_web.figures import (
    BUCKET_ORDER,
    dashboard,
    median_or_none,
    overdue,
    roster,
    working_days_waited,
)
from bot.console_web.filing_page import FilingPage
from bot.declaration import declaration_pdf
from bot.export import export_year, form_for
from bot.export_formats import XLSX_TYPE, csv_zip
from bot.privacy import mask_mobile
from bot.tables import UnreadableTable
from bot.web import Route
from bot.workflow import ReviewerView
from dialogs.model import Key
from dialogs.replies import reply_text
from dialogs.view import View
from dialogs.workdays import SHANGHAI
from storage.console import SignedIn
from storage.members import MemberRepository
from storage.reviewers import ReviewerRepository
from storage.workflow import WorkflowRepository

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
COOKIE = "nj_console"
PREFIX = "/console"
PAGE_SIZE = 50

T = TypeVar("T")


def routes(console: Console) -> list[Route]:
    args: dict[str, Any] = {"console": console}
    p = PREFIX
    return [
        (f"{p}/login/([A-Za-z0-9_-]{{1,100}})", LoginHandler, args),
        (f"{p}/logout", LogoutHandler, args),
        (f"{p}/?", DashboardHandler, args),
        (f"{p}/queue", QueueHandler, args),
        (rf"{p}/filing/(\d+)", FilingHandler, args),
        (rf"{p}/filing/(\d+)/decide", DecideHandler, args),
        (rf"{p}/filing/(\d+)/file/(\d+)", FileHandler, args),
        (rf"{p}/filing/(\d+)/files\.zip", ZipHandler, args),
        (rf"{p}/filing/(\d+)/declaration\.pdf", DeclarationHandler, args),
        (f"{p}/enterprises", EnterprisesHandler, args),
        (f"{p}/roster", RosterHandler, args),
        (rf"{p}/invite/(\d+)", InviteHandler, args),
        (f"{p}/requests", RequestsHandler, args),
        (f"{p}/reviewers", ReviewersHandler, args),
        (f"{p}/exports", ExportsHandler, args),
        (f"{p}/reminders", RemindersHandler, args),
        (f"{p}/viewer", ViewerHandler, args),
        (rf"{p}/export/(\d{{4}})\.(xlsx|zip)", ExportHandler, args),
        (f"{p}/static/(.*)", StaticHandler, {"path": str(STATIC)}),
    ]


def shanghai(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return moment.astimezone(SHANGHAI).strftime(fmt) if moment is not None else ""


def who(actor: str) -> str:
    """ "web:telegram:777" or "telegram:777" as people read it: Telegram 777（网页后台）."""
    via, _, rest = actor.partition(":")
    if via == VIA and rest:
        return f"{who(rest)}（{t.CHANNELS[VIA]}）"
    return f"{t.CHANNELS.get(via, via)} {rest}".strip()


class StaticHandler(tornado.web.StaticFileHandler):
    pass


class Base(tornado.web.RequestHandler):
    """Every console page: a signed-in reviewer's session (the cookie names a server-side
    row), and on every POST the session's CSRF token."""

    public = False  # the sign-in page needs no session

    def initialize(self, console: Console) -> None:
        self.console = console
        self.signed: SignedIn | None = None
        self.token = ""

    def get_template_path(self) -> str:
        return str(TEMPLATES)

    def set_default_headers(self) -> None:
        # Nothing from elsewhere: scripts, styles, frames and forms stay on this server.
        self.set_header(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "frame-ancestors 'self'; form-action 'self'; base-uri 'none'",
        )
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("X-Frame-Options", "SAMEORIGIN")
        self.set_header("Referrer-Policy", "no-referrer")
        self.set_header("Cache-Control", "no-store")

    async def run(self, work: Callable[[], T]) -> T:
        """Database work off the event loop: the chat channels share it."""
        return await asyncio.to_thread(work)

    async def prepare(self) -> None:
        if self.public:
            return
        self.token = self.get_cookie(COOKIE) or ""
        signed = await self.run(lambda: self.console.signed_in(self.token)) if self.token else None
        if signed is None:
            log.warning(
                "console: %s %s refused: no valid session (%s)",
                self.request.method,
                self.request.path,
                "cookie unknown, ended or expired" if self.token else "no cookie",
            )
            self.set_status(401)
            self.render("message.html", title=t.LOGIN_TITLE, message=t.NO_SESSION, signed=None)
            return
        self.signed = signed
        if self.request.method == "POST":
            sent = self.get_body_argument("_csrf", "") or self.request.headers.get(
                "X-CSRF-Token", ""
            )
            if not sent or not hmac.compare_digest(sent.encode(), signed.csrf.encode()):
                log.warning(
                    "console: POST %s by %s refused: CSRF token %s",
                    self.request.path,
                    signed.reviewer,
                    "wrong" if sent else "missing",
                )
                self.set_status(403)
                self.render("message.html", title=t.TITLE, message=t.CSRF_REFUSED, signed=signed)

    def get_template_namespace(self) -> dict[str, Any]:
        namespace = super().get_template_namespace()
        namespace.update(t=t, shanghai=shanghai, who=who, signed=self.signed, nav="")
        return namespace

    @property
    def me(self) -> SignedIn:
        assert self.signed is not None
        return self.signed


# --- sign-in -------------------------------------------------------------------------------------


class LoginHandler(Base):
    public = True

    def get(self, token: str) -> None:
        # Only a page with a button: chat apps fetch links for previews, which must not use
        # the link up.
        self.render("login.html", token=token, signed=None)

    async def post(self, token: str) -> None:
        result = await self.run(lambda: self.console.sign_in(token))
        if isinstance(result, str):
            log.warning("console: sign-in link refused (%s)", result)
            self.set_status(403)
            message = f"{t.LOGIN_REFUSED[result]}{t.LOGIN_AGAIN}"
            self.render("message.html", title=t.LOGIN_TITLE, message=message, signed=None)
            return
        cookie, signed = result
        log.info("console: %s signed in", signed.reviewer)
        self.set_cookie(
            COOKIE,
            cookie,
            path=PREFIX,
            httponly=True,
            secure=True,
            samesite="Lax",
            # A browser-session cookie: the server-side row decides when it expires.
        )
        self.redirect(f"{PREFIX}/", status=303)


class LogoutHandler(Base):
    async def post(self) -> None:
        await self.run(lambda: self.console.sign_out(self.token))
        log.info("console: %s signed out", self.me.reviewer)
        self.clear_cookie(COOKIE, path=PREFIX)
        self.render("message.html", title=t.TITLE, message=t.SIGNED_OUT, signed=None)


# --- dashboard ----------------------------------------------------------------------------------


class DashboardHandler(Base):
    async def get(self) -> None:
        form, facts, now = self.console.form, self.console.facts, self.console.now()
        figures = await self.run(
            lambda: self.console.read(lambda s: dashboard(s, form, facts, now))
        )
        total = sum(figures.buckets.values())
        status_chart = charts.bars(
            [
                charts.Bar(
                    t.BUCKETS[b],
                    figures.buckets[b],
                    t.BUCKET_COLORS[b],
                    f"{PREFIX}/enterprises?{urlencode({'bucket': b})}",
                )
                for b in BUCKET_ORDER
            ]
        )
        colors = ("#2680c2", "#3ebd93", "#d64545")
        daily_chart = charts.stacked_columns(
            [
                charts.Column(
                    d.day.strftime("%m-%d"),
                    (d.submitted, d.approved, d.rejected),
                    f"{PREFIX}/queue?{urlencode({'status': 'all', 'day': d.day.isoformat()})}",
                )
                for d in figures.days
            ],
            colors,
        )
        decided = figures.decided_hours
        middle = median_or_none(decided)
        self.render(
            "dashboard.html",
            nav="dashboard",
            figures=figures,
            total=total,
            status_chart=status_chart,
            daily_chart=daily_chart,
            colors=colors,
            median=_duration(middle) if middle is not None else "",
            longest=_duration(max(decided)) if decided else "",
            progress_chart=charts.bars(
                [
                    charts.Bar(
                        t.PROGRESS_BUCKETS[n],
                        count,
                        "#f0b429",
                        f"{PREFIX}/enterprises?bucket=draft",
                    )
                    for n, count in enumerate(figures.progress)
                ]
            ),
        )


def _duration(hours: float) -> str:
    return t.HOURS.format(hours=hours) if hours < 48 else t.DAYS.format(days=hours / 24)


# --- the queue and a filing ----------------------------------------------------------------------


class QueueHandler(Base):
    async def get(self) -> None:
        status = self.get_query_argument("status", "submitted")
        grade = self.get_query_argument("grade", "")
        wait = self.get_query_argument("wait", "")
        query = self.get_query_argument("q", "").strip()
        day = self.get_query_argument("day", "")
        page = max(1, _int(self.get_query_argument("page", "1")))
        statuses = (
            ("submitted", "rejected", "approved", "complete")
            if status == "all"
            else (status if status in t.STATUS else "submitted",)
        )
        year = self.console.form.cycle.year
        now = self.console.now()

        def load(session: Session) -> list[Any]:
            items = [i for i in WorkflowRepository(session).queue(statuses) if i.year == year]
            if grade:
                items = [i for i in items if i.grade == grade]
            if wait:
                items = [i for i in items if overdue(i.submitted_at, now) == (wait == "overdue")]
            if query:
                folded = query.upper().replace(" ", "")
                items = [i for i in items if query in i.enterprise_name or folded in i.credit_code]
            if day:
                items = [i for i in items if shanghai(i.submitted_at, "%Y-%m-%d") == day]
            return items

        items = await self.run(lambda: self.console.read(load))
        pages = max(1, math.ceil(len(items) / PAGE_SIZE))
        page = min(page, pages)
        shown = items[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
        rows = [
            {
                "item": i,
                "waited": working_days_waited(i.submitted_at, now),
                "overdue": i.status == "submitted" and overdue(i.submitted_at, now),
            }
            for i in shown
        ]
        args = {"status": status, "grade": grade, "wait": wait, "q": query, "day": day}
        self.render(
            "queue.html",
            nav="queue",
            rows=rows,
            count=len(items),
            page=page,
            pages=pages,
            args=args,
            link=lambda **change: f"{PREFIX}/queue?{urlencode(args | change)}",
        )


class FilingHandler(Base):
    async def get(self, filing_id: str) -> None:
        number = int(filing_id)
        now = self.console.now()
        form = self.console.form

        def load(session: Session) -> Any:
            opened = ReviewerView(session, form, now).open(number)
            if opened is None:
                return None
            moves = WorkflowRepository(session).history(number)
            view = View(form, opened.filing)
            page = FilingPage(view, opened.attachments)
            return opened, moves, page, page.sections(), page.indicators()

        loaded = await self.run(lambda: self.console.read(load))
        if loaded is None:
            raise tornado.web.HTTPError(404)
        opened, moves, page, sections, indicators = loaded
        grade = page.view.grade
        self.render(
            "filing.html",
            nav="queue",
            opened=opened,
            moves=moves,
            sections=sections,
            indicators=indicators,
            grade=grade.value if grade else "",
            notice=self._notice(moves, opened.enterprise),
            code=str(opened.filing.get(Key("enterprise.credit_code")) or ""),
            form_sections=[(s.id, s.heading) for s in form.sections],
            error=self.get_query_argument("error", ""),
        )

    def _notice(self, moves: list[Any], name: str) -> str:
        done = self.get_query_argument("done", "")
        if done == "newer":
            return t.NEWER_VERSION
        if done in ("approved", "rejected", "conflict") and moves:
            decisive = next(
                (m for m in reversed(moves) if m.to_status in ("approved", "rejected")), None
            )
            if decisive is None:
                return ""
            if done == "conflict":
                what = t.DECIDED_WHAT.get(decisive.to_status, decisive.to_status)
                return t.ALREADY_DECIDED.format(
                    who=who(decisive.actor), when=shanghai(decisive.at), what=what
                )
            template = t.APPROVED_DONE if done == "approved" else t.REJECTED_DONE
            return template.format(name=name, version=decisive.version)
        return ""


class ViewerHandler(Base):
    """The filing page's document viewer before a document is chosen."""

    def get(self) -> None:
        self.render("viewer.html")


class DecideHandler(Base):
    async def post(self, filing_id: str) -> None:
        number = int(filing_id)
        action = self.get_body_argument("action", "")
        if action not in ("approve", "reject"):
            raise tornado.web.HTTPError(400)
        reason = " ".join(self.get_body_argument("reason", "").split())[:500]
        sections = [s for s in self.get_body_arguments("section") if s]
        if action == "reject" and len(reason) < 2:
            self.redirect(f"{PREFIX}/filing/{number}?{urlencode({'error': 'reason'})}", status=303)
            return
        signed = self.me
        shown = _int(self.get_body_argument("version", "")) or None
        decision: Decision = await self.run(
            lambda: self.console.decide(
                signed,
                number,
                action == "approve",
                reason=reason,
                sections=sections,
                version=shown,
            )
        )
        self.console.deliver(decision.turn)
        log.info("console: %s %s filing %d: %s", signed.reviewer, action, number, decision.outcome)
        if decision.outcome == "missing":
            raise tornado.web.HTTPError(404)
        self.redirect(
            f"{PREFIX}/filing/{number}?{urlencode({'done': decision.outcome})}", status=303
        )


class _FilingDocuments(Base):
    async def _opened(self, filing_id: int) -> Any:
        form, now = self.console.form, self.console.now()
        opened = await self.run(
            lambda: self.console.read(lambda s: ReviewerView(s, form, now).open(filing_id))
        )
        if opened is None:
            raise tornado.web.HTTPError(404)
        return opened


class FileHandler(_FilingDocuments):
    async def get(self, filing_id: str, index: str) -> None:
        opened = await self._opened(int(filing_id))
        n = int(index)
        if not 1 <= n <= len(opened.attachments):
            raise tornado.web.HTTPError(404)
        _label, ref = opened.attachments[n - 1]
        data = await self.run(lambda: self.console.app.service.files.read(ref.sha256))
        self.set_header("Content-Type", ref.content_type or "application/octet-stream")
        # Shown in the page's viewer; the name for "save as".
        self.set_header("Content-Disposition", _disposition("inline", ref.name))
        self.finish(data)


class ZipHandler(_FilingDocuments):
    async def get(self, filing_id: str) -> None:
        opened = await self._opened(int(filing_id))
        files = self.console.app.service.files

        def pack() -> bytes:
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
                for n, (label, ref) in enumerate(opened.attachments, 1):
                    # Names come from what contacts typed: no folders, no "..".
                    name = re.sub(r'[\\/:*?"<>|]', "_", f"{n:02d}-{label}-{ref.name}")[:180]
                    archive.writestr(name, files.read(ref.sha256))
            return buffer.getvalue()

        data = await self.run(pack)
        self.set_header("Content-Type", "application/zip")
        name = f"{opened.enterprise}-第{opened.version}版-附件.zip"
        self.set_header("Content-Disposition", _disposition("attachment", name))
        self.finish(data)


class DeclarationHandler(_FilingDocuments):
    async def get(self, filing_id: str) -> None:
        opened = await self._opened(int(filing_id))
        app = self.console.app
        now = self.console.now()
        pdf = await self.run(
            lambda: declaration_pdf(
                View(app.form, opened.filing),
                version=opened.version,
                fonts=app.service.fonts,
                generated_at=now,
            )
        )
        self.set_header("Content-Type", "application/pdf")
        name = f"{opened.enterprise}-年检申报表-第{opened.version}版.pdf"
        self.set_header("Content-Disposition", _disposition("inline", name))
        self.finish(pdf)


def _disposition(kind: str, name: str) -> str:
    return f"{kind}; filename*=UTF-8''{quote(name)}"


def _int(text: str) -> int:
    return int(text) if text.isdecimal() else 0


# --- roster, invites, requests, reviewers --------------------------------------------------------


class EnterprisesHandler(Base):
    async def get(self, report: Any = None, error: str = "") -> None:
        bucket = self.get_query_argument("bucket", "")
        query = self.get_query_argument("q", "").strip()
        page = max(1, _int(self.get_query_argument("page", "1")))
        year = self.console.form.cycle.year

        form, cache = self.console.form, self.console.facts

        def load(session: Session) -> tuple[list[Any], dict[int, Any], dict[int, Any]]:
            rows = roster(session, year)
            if bucket:
                rows = [r for r in rows if r.bucket == bucket]
            if query:
                folded = query.upper().replace(" ", "")
                rows = [r for r in rows if query in r.name or folded in r.credit_code]
            start = (page - 1) * PAGE_SIZE
            members = MemberRepository(session)
            shown = rows[start : start + PAGE_SIZE]
            bound = {r.enterprise_id: members.of_enterprise(r.enterprise_id) for r in shown}
            drafts = [r for r in shown if r.bucket == "draft"]
            return rows, bound, cache.of(session, form, drafts)

        rows, bound, facts = await self.run(lambda: self.console.read(load))
        pages = max(1, math.ceil(len(rows) / PAGE_SIZE))
        args = {"bucket": bucket, "q": query}
        self.render(
            "enterprises.html",
            nav="enterprises",
            rows=rows[(page - 1) * PAGE_SIZE : page * PAGE_SIZE],
            bound=bound,
            facts=facts,
            count=len(rows),
            page=min(page, pages),
            pages=pages,
            args=args,
            link=lambda **change: f"{PREFIX}/enterprises?{urlencode(args | change)}",
            mask=mask_mobile,
            report=report,
            error=error,
        )


class RosterHandler(EnterprisesHandler):
    async def post(self) -> None:
        uploads = self.request.files.get("roster") or []
        if not uploads or not uploads[0].body:
            await self.get(error=t.ROSTER_NO_FILE)
            return
        upload = uploads[0]
        try:
            report = await self.run(
                lambda: self.console.import_roster(upload.filename, upload.body)
            )
        except UnreadableTable as unreadable:
            await self.get(error=t.ROSTER_UNREADABLE.format(error=unreadable))
            return
        log.info(
            "console: %s imported a roster: %d new, %d updated, %d problems",
            self.me.reviewer,
            report.created,
            report.updated,
            len(report.problems),
        )
        await self.get(report=report)


class InviteHandler(Base):
    async def post(self, enterprise_id: str) -> None:
        issued = await self.run(lambda: self.console.issue_invite(int(enterprise_id)))
        if issued is None:
            raise tornado.web.HTTPError(404)
        code, name, until = issued
        link, kind = await self.run(lambda: self.console.invite_link(code))
        qr = segno.make(link, error="m").png_data_uri(scale=8, border=2) if link else ""
        log.info("console: %s issued an invite for enterprise %s", self.me.reviewer, enterprise_id)
        self.render(
            "invite.html",
            nav="enterprises",
            code=code,
            name=name,
            until=shanghai(until, "%Y-%m-%d"),
            link=link,
            kind=kind,
            qr=qr,
        )


class RequestsHandler(Base):
    async def get(self, notice: str = "") -> None:
        form, now = self.console.form, self.console.now()
        entries = await self.run(
            lambda: self.console.read(lambda s: list(ReviewerView(s, form, now).requests()))
        )
        self.render("requests.html", nav="requests", entries=entries, notice=notice)

    async def post(self) -> None:
        request_id = _int(self.get_body_argument("request", ""))
        approve = self.get_body_argument("action", "") == "approve"
        signed = self.me
        turn = await self.run(lambda: self.console.decide_request(signed, request_id, approve))
        self.console.deliver(turn)
        verdict = t.APPROVE_REQUEST if approve else t.DECLINE_REQUEST
        await self.get(notice=t.REQUEST_DONE.format(id=request_id, verdict=verdict))


class ReviewersHandler(Base):
    async def get(self, notice: str = "", error: str = "") -> None:
        configured = self.console.app.service.configured_reviewers
        everyone = await self.run(
            lambda: self.console.read(lambda s: ReviewerRepository(s).all(configured))
        )
        self.render(
            "reviewers.html",
            nav="reviewers",
            reviewers=[(c, i, (c, i) in configured) for c, i in everyone],
            notice=notice,
            error=error,
        )

    async def post(self) -> None:
        action = self.get_body_argument("action", "")
        channel, sep, chat_id = self.get_body_argument("who", "").strip().partition(":")
        if not (sep and channel.strip() and chat_id.strip()) or len(channel) > 20:
            await self.get(error=t.REVIEWER_FORMAT)
            return
        channel, chat_id = channel.strip(), chat_id.strip()
        signed = self.me
        if action == "remove":
            await self.run(lambda: self.console.remove_reviewer(channel, chat_id))
            await self.get(notice=t.REVIEWER_REMOVED.format(who=f"{channel}:{chat_id}"))
            return
        turn = await self.run(lambda: self.console.add_reviewer(signed, channel, chat_id))
        self.console.deliver(turn)
        await self.get(notice=t.REVIEWER_ADDED.format(who=f"{channel}:{chat_id}"))


class RemindersHandler(Base):
    """What the chat's /reminders tells a reviewer: what goes out next, overdue reviews, the
    contacts who cannot be reached."""

    async def get(self) -> None:
        views = self.console.app.service.reminders
        now = self.console.now()
        text = ""
        if views is not None:
            reply = await self.run(lambda: self.console.read(lambda s: views.reviewer(s, now)))
            text = reply_text(reply)
        self.render("reminders.html", nav="dashboard", text=text)


# --- exports -----------------------------------------------------------------------------------


class ExportsHandler(Base):
    def get(self) -> None:
        year = self.console.form.cycle.year
        self.render("exports.html", nav="exports", years=[year, year - 1])


class ExportHandler(Base):
    async def get(self, year_text: str, kind: str) -> None:
        year = int(year_text)
        current = self.console.form.cycle.year
        if not current - 5 <= year <= current + 1:
            raise tornado.web.HTTPError(404)
        form = form_for(self.console.form, year)
        now = self.console.now()

        def build(session: Session) -> tuple[int, str, bytes]:
            export = export_year(session, form, now, mask_mobiles=True)
            if kind == "xlsx":
                return export.count, export.filename, export.xlsx()
            return (
                export.count,
                export.filename.removesuffix(".xlsx") + ".zip",
                csv_zip(export.tables),
            )

        count, name, data = await self.run(lambda: self.console.read(build))
        if not count:
            self.render(
                "message.html", title=t.EXPORTS_TITLE, message=t.EXPORT_EMPTY.format(year=year)
            )
            return
        self.set_header("Content-Type", XLSX_TYPE if kind == "xlsx" else "application/zip")
        self.set_header("Content-Disposition", _disposition("attachment", name))
        log.info("console: %s exported %d (%s)", self.me.reviewer, year, kind)
        self.finish(data)
