"""The WeChat API calls the channel makes, through wechatpy's WeChatClient (synchronous: call
them in threads), with every failure sorted into what the sender should do about it.

The access token lives in the database (`token_store.DatabaseStorage`, wechatpy's session
storage), shared by every `nianjian run` on it and refreshed by one of them at a time; without
a database (tests of the API alone) in wechatpy's memory.
"""

from __future__ import annotations

import logging
from enum import Enum
from typing import Any

import requests
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException

from bot.channels.wechat.token_store import DatabaseStorage, refresh_once
from bot.privacy import redact, register_secret

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.weixin.qq.com/cgi-bin/"
TIMEOUT = 10.0


class Failure(Enum):
    TRANSIENT = "transient"  # network, WeChat busy, quota: try again later
    WINDOW = "window"  # outside the 48-hour customer-service window (or its message quota)
    BLOCKED = "blocked"  # the user unfollowed the account
    REFUSED = "refused"  # refused for good: recorded, never retried


# https://developers.weixin.qq.com/doc/offiaccount/Getting_Started/Global_Return_Code.html
_WINDOW = {45015, 45047}
_BLOCKED = {43004}
_TRANSIENT = {-1, 45009, 45011, 45033}


class ApiError(Exception):
    """A failed call, its text fit for logs and the outbox: libraries put the token URL (with
    `secret=`) and `access_token=` into their errors, and a proxy may echo them back."""

    def __init__(self, failure: Failure, detail: str, errcode: int | None = None) -> None:
        super().__init__(redact(detail))
        self.failure = failure
        self.errcode = errcode


class _Session(requests.Session):
    """Every request with a timeout: wechatpy fetches the access token without one, and a
    hung connection would hold a delivery thread forever."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self._timeout = timeout

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        return super().request(method, url, *args, **kwargs)


class _Client(WeChatClient):  # type: ignore[misc]
    """WeChatClient with the token endpoint on the configured base URL as well (wechatpy
    points every other call at API_BASE_URL, but fetches the token from a fixed address)."""

    def __init__(
        self,
        app_id: str,
        secret: str,
        base_url: str,
        timeout: float,
        storage: DatabaseStorage | None = None,
    ) -> None:
        super().__init__(app_id, secret, timeout=timeout, session=storage)
        self._http = _Session(timeout)
        self._shared = storage
        self.API_BASE_URL = base_url if base_url.endswith("/") else base_url + "/"

    def fetch_access_token(self) -> Any:
        def fetch() -> Any:
            return self._fetch_access_token(
                url=self.API_BASE_URL + "token",
                params={
                    "grant_type": "client_credential",
                    "appid": self.appid,
                    "secret": self.secret,
                },
            )

        if self._shared is None:
            return fetch()
        result = refresh_once(self._shared, self.access_token_key, fetch)
        if "expires_in" not in result:
            # Another process's token: its expiry is the database's business.
            self.expires_at = None
        return result


class WeChatApi:
    def __init__(
        self,
        app_id: str,
        secret: str,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = TIMEOUT,
        storage: DatabaseStorage | None = None,
    ) -> None:
        register_secret(secret)
        self.client = _Client(app_id, secret, base_url, timeout, storage)

    def download_media(self, media_id: str) -> bytes:
        """A temporary media file (an image the user sent), as bytes."""
        response = self._call(lambda: self.client.media.download(media_id))
        if not isinstance(response, requests.Response):
            raise ApiError(Failure.REFUSED, f"media {media_id}: {response!r}")
        return response.content

    def send_text(self, openid: str, text: str) -> None:
        """A customer-service text message (within 48 hours of the user's last message)."""
        self._call(lambda: self.client.message.send_text(openid, text))

    def send_template(
        self, openid: str, template_id: str, data: dict[str, dict[str, str]], url: str
    ) -> None:
        self._call(lambda: self.client.message.send_template(openid, template_id, data, url=url))

    def scene_qr(self, scene: str, expire_seconds: int) -> str:
        """The URL a parametric QR code carries (the web console's invites: scanning it
        follows the account with `scene`, the invite code)."""
        data = {
            "expire_seconds": expire_seconds,
            "action_name": "QR_STR_SCENE",
            "action_info": {"scene": {"scene_str": scene}},
        }
        answer = self._call(lambda: self.client.qrcode.create(data))
        if not isinstance(answer, dict) or not answer.get("url"):
            raise ApiError(Failure.REFUSED, f"qrcode/create: {answer!r}")
        return str(answer["url"])

    def _call(self, make: Any) -> Any:
        try:
            return make()
        except WeChatClientException as error:
            raise _classified(error) from None
        except requests.RequestException as error:
            # requests names the URL, with its query string, in the message.
            raise ApiError(Failure.TRANSIENT, f"network: {error}") from None


def _classified(error: WeChatClientException) -> ApiError:
    code = error.errcode
    detail = f"{code}: {error.errmsg}" if code is not None else f"HTTP error: {error.response}"
    if code is None or code in _TRANSIENT:
        return ApiError(Failure.TRANSIENT, detail, code)
    if code in _WINDOW:
        return ApiError(Failure.WINDOW, detail, code)
    if code in _BLOCKED:
        return ApiError(Failure.BLOCKED, detail, code)
    return ApiError(Failure.REFUSED, detail, code)
