"""One validated settings object, read once at start-up and passed down."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from dialogs.cycle import Cycle

DEFAULT_DATABASE_URL = "sqlite:///data/nianjian.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NIANJIAN_", env_file=".env", extra="ignore")

    database_url: str = Field(
        DEFAULT_DATABASE_URL, validation_alias=AliasChoices("DATABASE_URL", "NIANJIAN_DATABASE_URL")
    )
    attachments_dir: Path = Path("data/attachments")
    # 20 MB is also what a Telegram bot may download; one limit for every channel.
    max_upload_mb: int = 20
    telegram_token: SecretStr | None = Field(
        None, validation_alias=AliasChoices("TELEGRAM_TOKEN", "NIANJIAN_TELEGRAM_TOKEN")
    )

    # The inspection cycle: Y and the dates derived from it (each overridable).
    inspection_year: int = 2025
    results_date: date | None = None
    renewal_deadline: date | None = None
    help_line: str = "0991-2301105"
    timezone: str = "Asia/Shanghai"

    def cycle(self) -> Cycle:
        return Cycle.for_year(
            self.inspection_year,
            results_date=self.results_date,
            renewal_deadline=self.renewal_deadline,
            help_line=self.help_line,
        )

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024
