"""The console's port onto the product: reads on a session of the app's database, and every
decision carried out by the chat service's reviewer workflow (so the contacts are told on their
channels and the history names the web console as the channel)."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

from sqlalchemy.orm import Session

from bot.admin import ImportReport, bot_username, import_roster
from bot.app import App
from bot.channels.wechat.api import ApiError, WeChatApi
from bot.console_web.figures import FactsCache, roster
from bot.service import Turn
from bot.workflow import ReviewerView
from dialogs.effects import Approve, DecideRequest, Effect, PromoteReviewer, Reject
from dialogs.spec import FormSpec
from storage.console import ConsoleAuth, SignedIn
from storage.enterprises import EnterpriseRepository
from storage.invites import InviteRepository, new_code
from storage.reviewers import ReviewerRepository
from storage.statuses import APPROVED, REJECTED, SUBMITTED
from storage.workflow import Transition, WorkflowRepository

log = logging.getLogger(__name__)

# The channel the history records for what is done in the web console ("console" is the
# terminal chat's).
VIA = "web"

T = TypeVar("T")
_WARM_CHUNK = 20  # filings per transaction when the dashboard's facts are prepared

# Hands chats that got messages to the running channels for delivery now.
Deliver = Callable[[Sequence[tuple[str, str]]], None]


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: str  # approved | rejected | conflict | missing
    name: str = ""
    version: int = 0
    decided_by: Transition | None = None
    turn: Turn | None = None  # what the workflow queued, for `Console.deliver`


@dataclass
class Console:
    app: App
    deliverers: list[Deliver] = field(default_factory=list)
    # WeChat's API where WeChat is configured: invites get a parametric QR code.
    wechat: WeChatApi | None = None
    facts: FactsCache = field(default_factory=FactsCache)
    # The Telegram bot's username for invite deep links, asked once.
    _bot: str | None = None
    _bot_asked: bool = False

    @property
    def form(self) -> FormSpec:
        return self.app.form

    def now(self) -> datetime:
        return self.app.service.clock.now()

    def read(self, work: Callable[[Session], T]) -> T:
        with self.app.db.session() as session:
            return work(session)

    def deliver(self, turn: Turn | None) -> None:
        """On the event loop: the channels send what a decision queued now."""
        if turn is not None and turn.notified:
            for deliver in self.deliverers:
                deliver(turn.notified)

    def warm(self) -> None:
        """Works out every filing's dashboard facts once, so that the first dashboard after a
        start does not wait for them."""
        try:
            with self.app.db.session() as session:
                rows = [r for r in roster(session, self.form.cycle.year) if r.bucket != "unbound"]
            # A short transaction per few filings: on SQLite the process's transactions take
            # turns, and the chat must not wait seconds behind this.
            for start in range(0, len(rows), _WARM_CHUNK):
                with self.app.db.session() as session:
                    self.facts.of(session, self.form, rows[start : start + _WARM_CHUNK])
        except Exception:  # the dashboard works them out itself then
            log.warning("console: dashboard facts not prepared in advance", exc_info=True)

    # --- sign-in -------------------------------------------------------------------------------

    def sign_in(self, token: str) -> tuple[str, SignedIn] | str:
        """A session for the link's reviewer, or why not (unknown, used, expired,
        not_reviewer)."""
        settings = self.app.settings
        with self.app.db.session() as session:
            auth = ConsoleAuth(session)
            used = auth.use_link(token, self.now())
            if isinstance(used, str):
                return used
            channel, chat_id = used
            if not self.is_reviewer(session, channel, chat_id):
                return "not_reviewer"
            valid = timedelta(hours=settings.console_session_hours)
            return auth.open_session(channel, chat_id, self.now(), valid)

    def signed_in(self, token: str) -> SignedIn | None:
        """The live session of this cookie; a removed reviewer's sessions end here too."""
        with self.app.db.session() as session:
            auth = ConsoleAuth(session)
            signed = auth.session(token, self.now())
            if signed is None:
                return None
            if not self.is_reviewer(session, signed.channel, signed.chat_id):
                auth.end_all_of(signed.channel, signed.chat_id, self.now())
                return None
            return signed

    def sign_out(self, token: str) -> None:
        with self.app.db.session() as session:
            ConsoleAuth(session).end(token, self.now())

    def is_reviewer(self, session: Session, channel: str, chat_id: str) -> bool:
        configured = self.app.service.configured_reviewers
        return ReviewerRepository(session).is_reviewer(channel, chat_id, configured)

    # --- review --------------------------------------------------------------------------------

    def decide(
        self,
        signed: SignedIn,
        filing_id: int,
        approve: bool,
        *,
        reason: str = "",
        sections: Sequence[str] = (),
        version: int | None = None,
    ) -> Decision:
        """Approves or rejects version `version` (the one the page showed) through the chat's
        workflow; when another reviewer decided first, says who (nothing is decided twice:
        the status move is guarded); a newer version than the page showed is not decided."""
        opened = self.read(lambda s: ReviewerView(s, self.form, self.now()).open(filing_id))
        if opened is None:
            return Decision("missing")
        if version is not None and opened.version != version:
            return Decision("newer", opened.enterprise, opened.version)
        effect: Effect
        if approve:
            effect = Approve(filing_id, opened.version)
        else:
            effect = Reject(filing_id, opened.version, reason, tuple(sections))
        turn = None
        if opened.status == SUBMITTED:
            turn = self.app.service.act_as_reviewer(VIA, signed.reviewer, [effect])
        moves = self.read(lambda s: WorkflowRepository(s).history(filing_id))
        decisive = next(
            (
                m
                for m in reversed(moves)
                if m.version == opened.version and m.to_status in (APPROVED, REJECTED)
            ),
            None,
        )
        if decisive is None:
            return Decision("missing", opened.enterprise, opened.version)
        mine = decisive.actor == f"{VIA}:{signed.reviewer}" and opened.status == SUBMITTED
        outcome = decisive.to_status if mine else "conflict"
        return Decision(outcome, opened.enterprise, opened.version, decisive, turn)

    def act(self, signed: SignedIn, effects: Sequence[Effect]) -> Turn:
        return self.app.service.act_as_reviewer(VIA, signed.reviewer, effects)

    def decide_request(self, signed: SignedIn, request_id: int, approve: bool) -> Turn:
        return self.act(signed, [DecideRequest(request_id, approve)])

    def add_reviewer(self, signed: SignedIn, channel: str, chat_id: str) -> Turn:
        return self.act(signed, [PromoteReviewer(channel, chat_id)])

    def remove_reviewer(self, channel: str, chat_id: str) -> bool:
        """Removes a stored reviewer and ends every console session of theirs at once."""
        with self.app.db.session() as session:
            removed = ReviewerRepository(session).remove(channel, chat_id)
            ended = ConsoleAuth(session).end_all_of(channel, chat_id, self.now())
        log.info(
            "reviewer %s:%s removed in the console (%d sessions ended)", channel, chat_id, ended
        )
        return removed

    # --- roster and invites --------------------------------------------------------------------

    def import_roster(self, name: str, data: bytes) -> ImportReport:
        """The CLI's import of an uploaded XLSX/CSV (read from a temporary file)."""
        suffix = Path(name).suffix.lower() if Path(name).suffix.lower() in (".csv", ".xlsx") else ""
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"roster{suffix or '.xlsx'}"
            path.write_bytes(data)
            return import_roster(self.app, path)

    def issue_invite(self, enterprise_id: int) -> tuple[str, str, datetime] | None:
        """(code, enterprise name, valid until) of a new one-time invite."""
        valid = timedelta(days=self.app.settings.invite_days)
        now = self.now()
        with self.app.db.session() as session:
            enterprise = EnterpriseRepository(session).get(enterprise_id)
            if enterprise is None:
                return None
            code = InviteRepository(session).issue(enterprise.id, now, valid, new_code())
        return code, enterprise.name, now + valid

    def invite_link(self, code: str) -> tuple[str, str]:
        """(what the invite's QR code carries, "wechat" or "telegram"); ("", "") when neither
        a WeChat parametric code nor a Telegram deep link can be made (the code alone)."""
        if self.wechat is not None:
            # A temporary parametric code lives at most 30 days (WeChat's limit).
            seconds = min(self.app.settings.invite_days * 86400, 30 * 86400)
            try:
                return self.wechat.scene_qr(code, seconds), "wechat"
            except ApiError as error:
                log.warning("console: no WeChat QR code for an invite: %s", error)
        bot = self.bot_username()
        return (f"https://t.me/{bot}?start={code}", "telegram") if bot else ("", "")

    def bot_username(self) -> str | None:
        if not self._bot_asked:
            self._bot = self.app.service.bot_username or bot_username(self.app)
            self._bot_asked = True
        return self._bot
