"""A fake WeChat for tests that drive the real WeChat channel (wechatpy, tornado, the service).

`FakeWeChat` plays both of WeChat's roles:

- **The API** the bot calls through wechatpy, on 127.0.0.1 (OS-assigned port) under
  `/cgi-bin/`: `token` (client credentials), `media/get` (images users sent),
  `message/custom/send` (customer-service messages) and `message/template/send`. Every call but
  `token` needs the current access token (40001 otherwise, which wechatpy answers by fetching a
  new one).
- **The users' side**: `send_text`, `tap`, `send_image`, `send_event` post a callback to the
  bot's server the way WeChat does: signed (`signature` over token, timestamp, nonce), in safe
  mode encrypted with the EncodingAESKey (`msg_signature` over the ciphertext), wait 5 seconds
  for the answer and, without one, post the same message again, three tries in all. A passive
  reply is decrypted, its signature checked, and shown to the user like any other message.

Where the real WeChat behaves in a way tests should notice, so does this one: customer-service
messages are refused (45015) more than 48 hours after the user's last message and for users who
unfollowed (43004), texts over 2,048 bytes are refused (45002), an unknown template id is refused
(40037), media ids are valid only for images users sent. The clock is the test's (FrozenClock),
so the 48-hour window closes when the test says. Faults: `fail_next(api, errcode)`.
"""

from __future__ import annotations

import itertools
import json
import secrets
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import xmltodict
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import WeChatSigner

from bot.clock import Clock

T = TypeVar("T")

APP_ID = "wx5d3a1c9e7b2f4a60"
APP_SECRET = "8f14e45fceea167a5a36dedd4bea2543"
TOKEN = "nianjian2025"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters
ACCOUNT = "gh_4c2b9e0a7d31"  # the Official Account's original id (ToUserName)
TEMPLATE_ID = "NOTICE-tmpl-Xb3kq9"
WINDOW = timedelta(hours=48)
MAX_TEXT_BYTES = 2048
CALLBACK_TIMEOUT = 5.0
CALLBACK_TRIES = 3


@dataclass(frozen=True, slots=True)
class Shown:
    """A message the user sees: a passive reply, a customer-service text, a template."""

    openid: str
    kind: str  # "passive" | "custom" | "template"
    text: str = ""
    template_id: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    url: str = ""


@dataclass(frozen=True, slots=True)
class Attempt:
    """One post of a callback: how long the bot took and what it answered."""

    status: int | None  # None: no answer within the timeout
    seconds: float
    body: str


@dataclass
class Delivery:
    """A message as WeChat delivered it to the bot, with every try."""

    openid: str
    xml: str
    attempts: list[Attempt] = field(default_factory=list)
    passive: str | None = None  # the passive reply shown, if any

    @property
    def answered(self) -> bool:
        return any(a.status == HTTPStatus.OK for a in self.attempts)


class FakeWeChat:
    def __init__(
        self,
        clock: Clock,
        *,
        encrypted: bool = True,
        callback_timeout: float = CALLBACK_TIMEOUT,
        templates: tuple[str, ...] = (TEMPLATE_ID,),
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.clock = clock
        # How callbacks to an HTTPS server check its certificate (a test's own CA).
        self.verify = verify
        self.encrypted = encrypted
        self.callback_timeout = callback_timeout
        self.templates = templates
        self.crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)
        self.callback_url = ""
        self._cond = threading.Condition(threading.RLock())
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._access_token = ""
        self.token_fetches = 0
        self._media: dict[str, bytes] = {}
        # Parametric QR codes created: the URL each carries -> its scene.
        self.qr_scenes: dict[str, str] = {}
        self._last_message: dict[str, datetime] = {}
        self._unfollowed: set[str] = set()
        self._faults: dict[str, deque[int]] = {}
        self._echoes: dict[str, deque[int]] = {}
        # Credentials that crossed the wire, for tests that look for them where they must not be.
        self.signatures: list[str] = []
        self.access_tokens: list[str] = []
        self._msg_ids = itertools.count(24_000_000_000_000_001)
        self._times = itertools.count(int(time.time()))
        self.shown: list[Shown] = []
        self.deliveries: list[Delivery] = []
        self.refused: list[tuple[str, int, dict[str, Any]]] = []  # (api, errcode, body)
        self.errors: list[str] = []

    # --- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> FakeWeChat:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/cgi-bin/"

    # --- the users' side -----------------------------------------------------------------------

    def send_text(self, openid: str, text: str, *, menu_id: str = "", tries: int = 1) -> Delivery:
        fields = {"MsgType": "text", "Content": text, "MsgId": str(next(self._msg_ids))}
        if menu_id:
            fields["bizmsgmenuid"] = menu_id
        return self.deliver(openid, fields, tries=tries)

    def send_image(self, openid: str, data: bytes) -> Delivery:
        media_id = secrets.token_urlsafe(24)
        with self._cond:
            self._media[media_id] = data
        fields = {
            "MsgType": "image",
            "PicUrl": f"http://mmbiz.qpic.cn/fake/{media_id}/0",
            "MediaId": media_id,
            "MsgId": str(next(self._msg_ids)),
        }
        return self.deliver(openid, fields)

    def send_event(self, openid: str, event: str, key: str = "") -> Delivery:
        fields = {"MsgType": "event", "Event": event}
        if key:
            fields["EventKey"] = key
        if event == "unsubscribe":
            with self._cond:
                self._unfollowed.add(openid)
        elif event == "subscribe":
            with self._cond:
                self._unfollowed.discard(openid)
        return self.deliver(openid, fields)

    def deliver(self, openid: str, fields: dict[str, str], *, tries: int = 1) -> Delivery:
        """Posts the message as WeChat does: up to three tries, five seconds each. `tries` > 1
        posts that many copies at once, as when WeChat redelivers a message whose answer got
        lost on the way: the answer of the last copy is the one the user sees."""
        xml = _xml({"ToUserName": ACCOUNT, "FromUserName": openid, **fields} | self._created())
        delivery = Delivery(openid, xml)
        with self._cond:
            self._last_message[openid] = self.clock.now()
            self.deliveries.append(delivery)
        if tries > 1:
            attempts: list[Attempt | None] = [None] * tries

            def post(index: int) -> None:
                attempts[index] = self._post(xml)

            threads = [threading.Thread(target=post, args=(i,)) for i in range(tries)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            delivery.attempts.extend(a for a in attempts if a is not None)
        else:
            for _ in range(CALLBACK_TRIES):
                attempt = self._post(xml)
                delivery.attempts.append(attempt)
                if attempt.status == HTTPStatus.OK:
                    break
        accepted = next((a for a in reversed(delivery.attempts) if a.status == 200), None)
        if accepted is not None and accepted.body not in ("", "success"):
            delivery.passive = self._passive(openid, accepted.body)
        return delivery

    def redeliver(self, delivery: Delivery) -> Attempt:
        """WeChat posts a message again (its earlier answer was lost on the way)."""
        attempt = self._post(delivery.xml)
        delivery.attempts.append(attempt)
        return attempt

    def _created(self) -> dict[str, str]:
        # Distinct CreateTime per message: events are told apart by sender and time.
        return {"CreateTime": str(next(self._times))}

    def _post(self, xml: str) -> Attempt:
        timestamp, nonce = str(int(time.time())), secrets.token_hex(5)
        params = {"signature": sign(TOKEN, timestamp, nonce), "timestamp": timestamp}
        params["nonce"] = nonce
        body = xml
        if self.encrypted:
            envelope = xmltodict.parse(self.crypto.encrypt_message(xml, nonce, timestamp))["xml"]
            params |= {"encrypt_type": "aes", "msg_signature": envelope["MsgSignature"]}
            body = _xml({"ToUserName": ACCOUNT, "Encrypt": envelope["Encrypt"]})
        with self._cond:
            self.signatures.extend(v for k, v in params.items() if k.endswith("signature"))
        started = time.monotonic()
        try:
            response = httpx.post(
                self.callback_url,
                params=params,
                content=body.encode(),
                timeout=self.callback_timeout,
                verify=self.verify,
            )
        except httpx.TimeoutException:
            return Attempt(None, time.monotonic() - started, "")
        seconds = time.monotonic() - started
        if response.status_code != HTTPStatus.OK:
            return Attempt(response.status_code, seconds, response.text)
        text = response.text
        if self.encrypted and text not in ("", "success"):
            envelope = xmltodict.parse(text)["xml"]
            text = str(
                self.crypto.decrypt_message(
                    text, envelope["MsgSignature"], envelope["TimeStamp"], envelope["Nonce"]
                )
            )
        return Attempt(response.status_code, seconds, text)

    def _passive(self, openid: str, xml: str) -> str:
        reply = xmltodict.parse(xml)["xml"]
        problems = []
        if reply.get("ToUserName") != openid or reply.get("FromUserName") != ACCOUNT:
            problems.append(f"passive reply addressed wrongly: {reply}")
        if reply.get("MsgType") != "text":
            problems.append(f"passive reply of type {reply.get('MsgType')}")
        content = str(reply.get("Content") or "")
        if len(content.encode()) > MAX_TEXT_BYTES:
            problems.append(f"passive reply of {len(content.encode())} bytes")
        with self._cond:
            self.errors.extend(problems)
            self.shown.append(Shown(openid, "passive", content))
            self._cond.notify_all()
        return content

    # --- what users saw ------------------------------------------------------------------------

    def shown_to(self, openid: str) -> list[Shown]:
        with self._cond:
            return [s for s in self.shown if s.openid == openid]

    def wait_for(self, openid: str, count: int, timeout: float = 15.0) -> list[Shown]:
        """Blocks until `openid` has been shown at least `count` messages."""
        return self._wait(lambda: _enough(self.shown_to(openid), count), timeout)

    def _wait(self, ready: Callable[[], T | None], timeout: float) -> T:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = ready()
                if found is not None:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("fake WeChat: condition not met in time")
                self._cond.wait(min(left, 0.1))

    # --- faults --------------------------------------------------------------------------------

    def expire_token(self) -> None:
        """The current access token stops working (40001 until the next `token` call)."""
        with self._cond:
            self._access_token = secrets.token_urlsafe(32)

    def fail_next(self, api: str, errcode: int, times: int = 1) -> None:
        """The next `times` calls of `api` ("custom", "template", "media") fail with errcode."""
        with self._cond:
            self._faults.setdefault(api, deque()).extend([errcode] * times)

    # --- the API -------------------------------------------------------------------------------

    def api(
        self, method: str, path: str, query: dict[str, str], body: bytes
    ) -> tuple[int, str, bytes]:
        """(status, content type, body) of one API call."""
        name = path.removeprefix("/cgi-bin/")
        echo = self._echo(name, method, path, query, body)
        if echo is not None:
            return echo
        if name == "token":
            return self._token(query)
        if query.get("access_token") != self._access_token or not self._access_token:
            return _json(
                {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid"}
            )
        if name == "media/get" and method == "GET":
            return self._media_get(query)
        if name == "message/custom/send" and method == "POST":
            return self._custom(json.loads(body or b"{}"))
        if name == "message/template/send" and method == "POST":
            return self._template(json.loads(body or b"{}"))
        if name == "qrcode/create" and method == "POST":
            return self._qrcode(json.loads(body or b"{}"))
        return _json({"errcode": 40066, "errmsg": f"invalid url {path}"})

    def _qrcode(self, data: dict[str, Any]) -> tuple[int, str, bytes]:
        """A parametric QR code: WeChat answers with the URL the code must carry; scanning it
        (`scene_of`) follows the account with the scene."""
        scene = ((data.get("action_info") or {}).get("scene") or {}).get("scene_str")
        if data.get("action_name") not in ("QR_STR_SCENE", "QR_LIMIT_STR_SCENE") or not scene:
            return _json({"errcode": 40053, "errmsg": "invalid action info"})
        ticket = secrets.token_urlsafe(12)
        with self._cond:
            self.qr_scenes[f"http://weixin.qq.com/q/{ticket}"] = str(scene)
        answer = {"ticket": ticket, "expire_seconds": data.get("expire_seconds", 0)}
        return _json(answer | {"url": f"http://weixin.qq.com/q/{ticket}"})

    def _token(self, query: dict[str, str]) -> tuple[int, str, bytes]:
        if query.get("appid") != APP_ID or query.get("secret") != APP_SECRET:
            return _json({"errcode": 40125, "errmsg": "invalid appsecret"})
        with self._cond:
            self._access_token = secrets.token_urlsafe(32)
            self.access_tokens.append(self._access_token)
            self.token_fetches += 1
            return _json({"access_token": self._access_token, "expires_in": 7200})

    def echo_next(self, api: str, status: int, times: int = 1) -> None:
        """The next `times` calls of `api` ("token", "custom", "template", "media") fail and
        echo the whole request (URL with its query string, and body) back: with a 5xx status
        as text, as a careless proxy does; with 200 as WeChat's JSON error (errcode -1)."""
        with self._cond:
            self._echoes.setdefault(api, deque()).extend([status] * times)

    def _echo(
        self, name: str, method: str, path: str, query: dict[str, str], body: bytes
    ) -> tuple[int, str, bytes] | None:
        api = _API_NAMES.get(name, name)
        with self._cond:
            queue = self._echoes.get(api)
            status = queue.popleft() if queue else None
        if status is None:
            return None
        echoed = f"{method} {self.base_url.rstrip('/')}{path.removeprefix('/cgi-bin')}?"
        echoed += urlencode(query) + " " + body.decode("utf-8", "replace")
        if status == HTTPStatus.OK:
            return _json({"errcode": -1, "errmsg": f"system error: {echoed}"})
        return status, "text/plain", echoed.encode()

    def echoes_pending(self) -> int:
        with self._cond:
            return sum(len(queue) for queue in self._echoes.values())

    def _fault(self, api: str) -> int | None:
        with self._cond:
            queue = self._faults.get(api)
            return queue.popleft() if queue else None

    def _media_get(self, query: dict[str, str]) -> tuple[int, str, bytes]:
        fault = self._fault("media")
        if fault is not None:
            return _json({"errcode": fault, "errmsg": "injected"})
        with self._cond:
            data = self._media.get(query.get("media_id", ""))
        if data is None:
            return _json({"errcode": 40007, "errmsg": "invalid media_id"})
        return HTTPStatus.OK, "image/jpeg", data

    def _custom(self, body: dict[str, Any]) -> tuple[int, str, bytes]:
        openid = str(body.get("touser", ""))
        refused = self._refuse("custom", openid, body)
        if refused is not None:
            return refused
        now = self.clock.now()
        with self._cond:
            last = self._last_message.get(openid)
        if last is None or now - last > WINDOW:
            return self._refused("custom", 45015, body, "response out of time limit")
        if body.get("msgtype") != "text":
            return self._refused("custom", 40008, body, "invalid message type")
        content = str((body.get("text") or {}).get("content", ""))
        if len(content.encode()) > MAX_TEXT_BYTES:
            return self._refused("custom", 45002, body, "content size out of limit")
        with self._cond:
            self.shown.append(Shown(openid, "custom", content))
            self._cond.notify_all()
        return _json({"errcode": 0, "errmsg": "ok"})

    def _template(self, body: dict[str, Any]) -> tuple[int, str, bytes]:
        openid = str(body.get("touser", ""))
        refused = self._refuse("template", openid, body)
        if refused is not None:
            return refused
        if body.get("template_id") not in self.templates:
            return self._refused("template", 40037, body, "invalid template_id")
        data = body.get("data") or {}
        text = "\n".join(str(v.get("value", "")) for v in data.values())
        shown = Shown(openid, "template", text, str(body["template_id"]), data, body.get("url", ""))
        with self._cond:
            self.shown.append(shown)
            self._cond.notify_all()
        return _json({"errcode": 0, "errmsg": "ok", "msgid": next(self._msg_ids)})

    def _refuse(self, api: str, openid: str, body: dict[str, Any]) -> tuple[int, str, bytes] | None:
        fault = self._fault(api)
        if fault is not None:
            return self._refused(api, fault, body, "injected")
        with self._cond:
            unfollowed = openid in self._unfollowed
        if unfollowed:
            return self._refused(api, 43004, body, "require subscribe")
        return None

    def _refused(
        self, api: str, errcode: int, body: dict[str, Any], message: str
    ) -> tuple[int, str, bytes]:
        with self._cond:
            self.refused.append((api, errcode, body))
        return _json({"errcode": errcode, "errmsg": message})


_API_NAMES = {"message/custom/send": "custom", "message/template/send": "template"}
_API_NAMES["media/get"] = "media"


def _enough(items: list[Shown], count: int) -> list[Shown] | None:
    return items if len(items) >= count else None


def sign(*values: str) -> str:
    signer = WeChatSigner()
    signer.add_data(*values)
    return str(signer.signature)


def _xml(fields: dict[str, str]) -> str:
    return str(xmltodict.unparse({"xml": fields}, full_document=False))


def _json(data: dict[str, Any]) -> tuple[int, str, bytes]:
    return HTTPStatus.OK, "application/json", json.dumps(data, ensure_ascii=False).encode()


def _handler(fake: FakeWeChat) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def _serve(self, method: str) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            try:
                status, kind, data = fake.api(method, url.path, dict(parse_qsl(url.query)), body)
            except Exception as error:  # a fake that breaks must fail the test, not hang it
                fake.errors.append(f"{method} {url.path}: {error!r}")
                status, kind, data = 500, "text/plain", repr(error).encode()
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return Handler
