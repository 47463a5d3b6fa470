"""One validated settings object, read once at start-up and passed down."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from dialogs.cycle import Cycle
from dialogs.holidays import WorkCalendar
from dialogs.workdays import PACKAGE_ONLY

DEFAULT_DATABASE_URL = "sqlite:///data/nianjian.db"


def env_file_values(path: Path) -> tuple[list[str], dict[str, str]]:
    """The lines of an env file (such as `.env`) and the values it sets; none when missing."""
    if not path.exists():
        return [], {}
    lines = path.read_text(encoding="utf-8").splitlines()
    values = {}
    for line in lines:
        name, sep, value = line.partition("=")
        if sep and not line.lstrip().startswith("#"):
            values[name.strip().removeprefix("export ").strip()] = value.strip().strip("'\"")
    return lines, values


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
    # Where the Bot API lives: Telegram's own by default, a self-hosted Bot API server or the
    # tests' fake server otherwise (python-telegram-bot's base_url / base_file_url).
    telegram_base_url: str = Field(
        "https://api.telegram.org/bot",
        validation_alias=AliasChoices("TELEGRAM_BASE_URL", "NIANJIAN_TELEGRAM_BASE_URL"),
    )
    telegram_base_file_url: str = Field(
        "https://api.telegram.org/file/bot",
        validation_alias=AliasChoices("TELEGRAM_BASE_FILE_URL", "NIANJIAN_TELEGRAM_BASE_FILE_URL"),
    )
    # Webhook mode when set (the public HTTPS URL Telegram calls); long polling otherwise.
    telegram_webhook_url: str | None = Field(
        None, validation_alias=AliasChoices("TELEGRAM_WEBHOOK_URL", "NIANJIAN_TELEGRAM_WEBHOOK_URL")
    )
    telegram_webhook_secret: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices(
            "TELEGRAM_WEBHOOK_SECRET", "NIANJIAN_TELEGRAM_WEBHOOK_SECRET"
        ),
    )
    # The webhook is a route of the web server below (WEB_HOST:WEB_PORT), at this path.
    telegram_webhook_path: str = "telegram"
    telegram_poll_timeout: int = 10
    # Messages per second for the whole bot (Telegram allows about 30), and how many
    # messages one chat may get in a burst before the pace of one a second applies.
    telegram_rate: float = 30.0
    telegram_chat_burst: int = 3
    # Bot API requests in flight at once (and HTTP connections). Telegram takes about 30
    # messages a second; 4 requests at a time carry that while a request takes up to 130 ms
    # (4 / 0.13 s). Raise it for a slower link. More than needed costs CPU: httpx's pool
    # walks every connection and waiting request for each request (bench/README.md).
    telegram_max_in_flight: int = Field(4, ge=1, le=64)
    # For invite links (https://t.me/<username>?start=CODE); asked of the Bot API when unset.
    telegram_bot_username: str | None = None

    # WeChat Official Account (service account): `nianjian run` serves its callback when the
    # app id, app secret and token are set (beside Telegram when both are configured).
    wechat_app_id: str | None = Field(
        None, validation_alias=AliasChoices("WECHAT_APP_ID", "NIANJIAN_WECHAT_APP_ID")
    )
    wechat_app_secret: SecretStr | None = Field(
        None, validation_alias=AliasChoices("WECHAT_APP_SECRET", "NIANJIAN_WECHAT_APP_SECRET")
    )
    wechat_token: SecretStr | None = Field(
        None, validation_alias=AliasChoices("WECHAT_TOKEN", "NIANJIAN_WECHAT_TOKEN")
    )
    # Safe mode (安全模式): messages are AES-encrypted with this 43-character key; unset means
    # plain-text mode, and then encrypted callbacks are refused.
    wechat_encoding_aes_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices(
            "WECHAT_ENCODING_AES_KEY", "NIANJIAN_WECHAT_ENCODING_AES_KEY"
        ),
    )
    # 安全模式 (safe, the default: needs the key above) or 明文模式 (plain): plain mode must
    # be chosen explicitly, since its signature does not cover the message body.
    wechat_mode: Literal["safe", "plain"] = Field(
        "safe", validation_alias=AliasChoices("WECHAT_MODE", "NIANJIAN_WECHAT_MODE")
    )
    # A callback whose timestamp is further than this from our clock is refused (WeChat's
    # retries come within seconds); its nonce is remembered for as long.
    wechat_callback_window_seconds: int = Field(300, ge=30, le=3600)
    # The process's one web server (tornado): the WeChat callback and pages, the Telegram
    # webhook, /health, /metrics and the staff console. WECHAT_HOST / WECHAT_PORT /
    # WECHAT_PUBLIC_URL are the older names.
    web_host: str = Field(
        "0.0.0.0",
        validation_alias=AliasChoices(
            "WEB_HOST", "NIANJIAN_WEB_HOST", "WECHAT_HOST", "NIANJIAN_WECHAT_HOST", "wechat_host"
        ),
    )
    web_port: int = Field(
        8080,
        validation_alias=AliasChoices(
            "WEB_PORT", "NIANJIAN_WEB_PORT", "WECHAT_PORT", "NIANJIAN_WECHAT_PORT", "wechat_port"
        ),
    )
    wechat_path: str = Field(
        "/wechat", validation_alias=AliasChoices("WECHAT_PATH", "NIANJIAN_WECHAT_PATH")
    )
    # WeChat's API (wechatpy's WeChatClient is pointed here: a proxy, or the tests' fake).
    wechat_api_base_url: str = Field(
        "https://api.weixin.qq.com/cgi-bin/",
        validation_alias=AliasChoices("WECHAT_API_BASE_URL", "NIANJIAN_WECHAT_API_BASE_URL"),
    )
    # The public HTTPS address of this server, e.g. https://nianjian.example.org (upload,
    # download and console sign-in links are built on it); http://<host>:<port> when unset,
    # which is only good for trying it out.
    public_url: str | None = Field(
        None,
        validation_alias=AliasChoices(
            "PUBLIC_URL",
            "NIANJIAN_PUBLIC_URL",
            "WECHAT_PUBLIC_URL",
            "NIANJIAN_WECHAT_PUBLIC_URL",
            "wechat_public_url",
        ),
    )
    # The template message for messages outside the 48-hour customer-service window, and
    # which of its fields get what ("field:title|text|time|hint", separated by commas).
    wechat_template_id: str | None = Field(
        None, validation_alias=AliasChoices("WECHAT_TEMPLATE_ID", "NIANJIAN_WECHAT_TEMPLATE_ID")
    )
    wechat_template_fields: str = Field(
        "first:title,keyword1:text,keyword2:time,remark:hint",
        validation_alias=AliasChoices("WECHAT_TEMPLATE_FIELDS", "NIANJIAN_WECHAT_TEMPLATE_FIELDS"),
    )
    wechat_template_text_chars: int = 20
    # Signs upload and download links; derived from the app secret when unset.
    wechat_link_secret: SecretStr | None = Field(
        None, validation_alias=AliasChoices("WECHAT_LINK_SECRET", "NIANJIAN_WECHAT_LINK_SECRET")
    )
    wechat_upload_link_hours: int = 24
    wechat_download_link_days: int = 7
    # WeChat waits 5 s for a callback's answer: a passive reply only when the engine is done
    # within this many seconds, otherwise an empty acknowledgement and customer-service messages.
    wechat_reply_budget: float = 4.0
    # The reviewers' web console (/console/): how long a sign-in link sent in chat (后台) stays
    # valid, and how long a browser stays signed in.
    console_link_minutes: int = Field(10, ge=1, le=60)
    console_session_hours: int = Field(12, ge=1, le=24 * 7)

    def web_origin(self, port: int | None = None) -> str:
        """Where browsers reach the web server: the public URL, or this machine directly."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.web_host in ("", "0.0.0.0", "::") else self.web_host
        return f"http://{host}:{self.web_port if port is None else port}"

    def secret_values(self) -> list[str]:
        """Every configured secret, for the log filter and error texts (bot/privacy.py)."""
        found = (
            self.telegram_token,
            self.telegram_webhook_secret,
            self.wechat_app_secret,
            self.wechat_token,
            self.wechat_encoding_aes_key,
            self.wechat_link_secret,
        )
        return [value.get_secret_value() for value in found if value is not None]

    def wechat_enabled(self) -> bool:
        return bool(self.wechat_app_id and self.wechat_app_secret and self.wechat_token)

    # Reviewers, as "channel:user_id" separated by commas, e.g. "telegram:12345,console:wang".
    # They may promote others in the chat; these stay reviewers whatever happens there.
    reviewers: str = ""
    # Channels where a chat not bound to an enterprise fills a trial filing of its own (the
    # terminal chat, for trying the form out); elsewhere an invite code binds a chat first.
    trial_channels: str = "console"
    # How long an invite code stays valid.
    invite_days: int = 30
    # A CJK TrueType font for the declaration PDF (found on the system when unset).
    pdf_font: Path | None = None

    # The inspection cycle: Y and the dates derived from it (each overridable).
    inspection_year: int = 2025
    results_date: date | None = None
    renewal_deadline: date | None = None
    help_line: str = "0991-2301105"
    timezone: str = "Asia/Shanghai"
    # The reminder schedule (TOML, see reminders/schedule.toml, the shipped default).
    reminders_schedule: Path | None = None
    # The holiday notices entered for years chinese-calendar does not know yet: a TOML file,
    # or a directory of them, one year each (template: reminders/holidays.example.toml).
    holidays: Path = Path("data/holidays")
    # Log lines as plain text or one JSON object per line (for journald/Loki/ELK); personal
    # numbers and tokens are masked either way.
    log_format: Literal["text", "json"] = "text"

    def cycle(self, calendar: WorkCalendar = PACKAGE_ONLY) -> Cycle:
        return Cycle.for_year(
            self.inspection_year,
            results_date=self.results_date,
            renewal_deadline=self.renewal_deadline,
            help_line=self.help_line,
            calendar=calendar,
        )

    def reviewer_ids(self) -> list[tuple[str, str]]:
        found = []
        for item in self.reviewers.split(","):
            channel, sep, user = item.strip().partition(":")
            if sep and channel and user:
                found.append((channel.strip(), user.strip()))
        return found

    def trial_channel_names(self) -> list[str]:
        return [c.strip() for c in self.trial_channels.split(",") if c.strip()]

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024
