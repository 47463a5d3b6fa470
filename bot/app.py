"""The composition root: builds the service from settings; tests call it with their own."""

from __future__ import annotations

from dataclasses import dataclass

from bot.clock import Clock, SystemClock
from bot.declaration import register_font
from bot.service import ChatService
from bot.settings import Settings
from dialogs.form import build_form
from dialogs.spec import FormSpec
from storage.db import Database
from storage.files import AttachmentStore


@dataclass(frozen=True)
class App:
    settings: Settings
    db: Database
    form: FormSpec
    service: ChatService


def bootstrap(settings: Settings, clock: Clock | None = None) -> App:
    db = Database.from_url(settings.database_url)
    form = build_form(settings.cycle())
    files = AttachmentStore(settings.attachments_dir, max_bytes=settings.max_upload_bytes)
    service = ChatService(
        db,
        form,
        clock or SystemClock(),
        files,
        reviewers=settings.reviewer_ids(),
        trial_channels=settings.trial_channel_names(),
        fonts=register_font(settings.pdf_font),
        invite_days=settings.invite_days,
        bot_username=(settings.telegram_bot_username or "").lstrip("@") or None,
    )
    return App(settings, db, form, service)
