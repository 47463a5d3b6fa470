"""The terminal chat: the same engine and database, typed at a prompt.

Options are shown numbered (typing the number picks one), files are attached with
`/file PATH`. Every line is committed before its reply is printed.
"""

from __future__ import annotations

import getpass
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO, TypeGuard

from bot.service import ChatService
from dialogs.replies import Button, Choice, Document, FileRequest, Reply, Start, Text, TextIn

CHANNEL = "console"
PROMPT = "你> "
_QUIT = {"/quit", "/exit", "退出"}

BANNER = "年检助手 · 终端对话（输入 /quit 退出；附件用 /file 路径 发送，例如 /file ./营业执照.pdf）"
NO_SUCH_FILE = "找不到文件：{path}。请检查路径，例如：/file ./营业执照.pdf"
FILE_HINT = "（在终端中发送文件：/file 文件路径）"
SAME_OPTIONS = "（选项同上，输入编号或名称）"
SHORTCUTS = "（也可以发送：{words}）"
SAVED_DOCUMENT = "📄 {caption}\n已保存到：{path}"
BYE = "再见！已填写的内容都已保存，下次运行会从这里继续。"


def default_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "local"


def render(replies: Sequence[Reply], outbox: Path, *, on_screen: Sequence[Button] = ()) -> str:
    """The replies as terminal text. `on_screen`: the options listed last; a question asked
    again with the same options (`Choice.again`) points to them instead of listing them."""
    blocks = []
    for reply in replies:
        if isinstance(reply, Text):
            blocks.append(reply.text)
        elif _listed_above(reply, on_screen):
            blocks.append(f"{reply.text}\n{SAME_OPTIONS}")
        elif isinstance(reply, Choice) and reply.free_text and _words_say_it(reply):
            # A word the text already asks for ("没有请发送“跳过”") is not listed again.
            words = [b.value for b in reply.options if f"“{b.value}”" not in reply.text]
            shortcuts = SHORTCUTS.format(words=" / ".join(words)) if words else ""
            blocks.append(f"{reply.text}\n{shortcuts}".rstrip("\n"))
        elif isinstance(reply, Choice | FileRequest):
            lines = [reply.text]
            if isinstance(reply, FileRequest):
                lines.append(FILE_HINT)
            lines.extend(f"  [{i}] {b.label}" for i, b in enumerate(reply.options, 1))
            blocks.append("\n".join(lines))
        elif isinstance(reply, Document):
            outbox.mkdir(parents=True, exist_ok=True)
            target = outbox / reply.filename
            target.write_bytes(reply.content)
            blocks.append(SAVED_DOCUMENT.format(caption=reply.caption, path=target))
    return "\n\n".join(blocks)


def _listed_above(reply: Reply, on_screen: Sequence[Button]) -> TypeGuard[Choice]:
    """A question asked again whose numbered options are the ones printed last."""
    return (
        isinstance(reply, Choice)
        and reply.again
        and not reply.free_text
        and reply.options == tuple(on_screen)
    )


def _words_say_it(reply: Choice) -> bool:
    """A typed answer's shortcuts (跳过, 保留) are listed as words; buttons whose labels say
    more than their words (the two readings of a doubtful amount) are listed numbered."""
    return all(b.value in b.label for b in reply.options)


class ConsoleChat:
    def __init__(
        self, service: ChatService, user: str, stdin: TextIO, stdout: TextIO, outbox: Path
    ) -> None:
        self.service = service
        self.chat_id = user
        self.stdin = stdin
        self.stdout = stdout
        self.outbox = outbox
        self.on_screen: tuple[Button, ...] = ()  # the options listed last

    def say(self, text: str) -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def run(self) -> None:
        self.say(BANNER)
        self.show(self.service.handle(CHANNEL, self.chat_id, Start()).replies)
        while True:
            self.stdout.write(PROMPT)
            self.stdout.flush()
            line = self.stdin.readline()
            if not line:
                self.say("")
                self.say(BYE)
                return
            text = line.strip()
            if not text:
                continue
            if text.lower() in _QUIT:
                self.say(BYE)
                return
            self.show(self.step(text))

    def step(self, text: str) -> Sequence[Reply]:
        if text.lower().startswith("/file"):
            raw = text[len("/file") :].strip().strip("'\"")
            path = Path(raw).expanduser()
            if not raw or not path.is_file():
                return (Text(NO_SUCH_FILE.format(path=raw or "（未提供）")),)
            data = path.read_bytes()
            return self.service.receive_file(CHANNEL, self.chat_id, data, path.name).replies
        if text.lower() in ("/start", "/restart"):
            return self.service.handle(CHANNEL, self.chat_id, Start()).replies
        return self.service.handle(CHANNEL, self.chat_id, TextIn(text)).replies

    def show(self, replies: Sequence[Reply]) -> None:
        self.say(render(replies, self.outbox, on_screen=self.on_screen))
        for reply in replies:
            if isinstance(reply, Choice | FileRequest):
                self.on_screen = reply.options
