"""The terminal chat as a real process, killed with SIGKILL: nothing acknowledged is lost.

The console promises "every line is committed before its reply is printed". This test types
answers into `python -m bot.cli chat` through pipes, kills the process without warning, starts
it again and checks that the same question is pending and that every acknowledged answer is in
the database with its normalised value.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from codecs import getincrementaldecoder
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.channels.console import BANNER, CHANNEL, PROMPT
from dialogs import texts
from dialogs.cycle import Cycle
from dialogs.form import build_form
from dialogs.model import Key, Value
from dialogs.state import ConvState, Mode
from storage.db import Database
from storage.repository import ConversationRepository, FilingRepository

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX only")

ROOT = Path(__file__).resolve().parent.parent
USER = "alice"
TIMEOUT = 20.0
FORM = build_form(Cycle.for_year(2025))

# (typed, field id, stored value); None marks an answer that must be refused.
ANSWERS: list[tuple[str, str, Value | None]] = [
    ("  测试科技有限公司 ", "enterprise.name", "测试科技有限公司"),
    ("91110108551385082A", "enterprise.credit_code", None),  # wrong check digit
    ("9111 0108 5513 8508 2q", "enterprise.credit_code", "91110108551385082Q"),
    ("2", "enterprise.grade", "乙"),
    ("XJSI-2025-0088", "enterprise.cert_number", "XJSI-2025-0088"),
    ("２０２０年", "enterprise.first_year", 2020),
    ("1", "", None),  # confirm the enterprise summary
    ("李娜", "contact.name", "李娜"),
    ("+86 138-0013-8000", "contact.mobile", "13800138000"),
    ("跳过", "contact.landline", ""),
    ("lina@Example.CN", "contact.email", "lina@example.cn"),
    ("1", "", None),  # confirm the contact summary
    ("１２０人", "personnel.employees", 120),
]
# What is asked after the last answer above; the process is killed while it is pending.
PENDING = "personnel.technical"
AFTER_PENDING = "personnel.postgraduate"
# Consistent answers for the rest of the section (the parts never exceed the whole).
PERSONNEL: dict[str, tuple[str, int]] = {
    "personnel.technical": ("45", 45),
    "personnel.postgraduate": ("五", 5),
    "personnel.bachelor": ("20人", 20),
    "personnel.college": ("10", 10),
    "personnel.senior_title": ("8", 8),
    "personnel.intermediate_title": ("12", 12),
}
# Seconds between sending an answer and SIGKILL: before, around and after its commit.
KILL_DELAYS = (0.0, 0.005, 0.01, 0.02, 0.2)


def _env(tmp_path: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("NIANJIAN_") and k not in ("DATABASE_URL", "TELEGRAM_TOKEN")
    }
    env.update(
        PYTHONPATH=str(ROOT),
        DATABASE_URL=f"sqlite:///{tmp_path / 'nj.db'}",
        NIANJIAN_ATTACHMENTS_DIR=str(tmp_path / "files"),
        PYTHONUNBUFFERED="1",
        PYTHONIOENCODING="utf-8",
    )
    return env


def _question(field_id: str) -> str:
    """The line that asks this (scalar, non-choice) field, as the engine words it."""
    spec = FORM.field(field_id)
    return texts.ASK.format(label=spec.label, unit=f"（{spec.unit}）" if spec.unit else "")


def _after(field_id: str) -> str:
    order = list(PERSONNEL)
    return order[order.index(field_id) + 1]


class Console:
    """`bot.cli chat` behind pipes; a reader thread collects stdout so reads can time out."""

    def __init__(self, tmp_path: Path, run: int) -> None:
        self.stderr_path = tmp_path / f"stderr-{run}.txt"
        with self.stderr_path.open("wb") as stderr:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "chat", "--user", USER],
                cwd=tmp_path,
                env=_env(tmp_path),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
            )
        self.chunks: queue.Queue[str | None] = queue.Queue()
        self.buffer = ""
        self.reader = threading.Thread(target=self._pump, daemon=True)
        self.reader.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        decoder = getincrementaldecoder("utf-8")()
        while chunk := os.read(fd, 4096):
            self.chunks.put(decoder.decode(chunk))
        self.chunks.put(None)

    def until_prompt(self) -> str:
        """Everything printed up to the next prompt (the prompt itself is consumed)."""
        deadline = time.monotonic() + TIMEOUT
        while PROMPT not in self.buffer:
            remaining = deadline - time.monotonic()
            try:
                chunk = self.chunks.get(timeout=max(remaining, 0.01))
            except queue.Empty:
                chunk = ""
            if chunk is None or remaining <= 0:
                self.kill()
                pytest.fail(
                    f"no prompt within {TIMEOUT}s (process ended: {chunk is None})\n"
                    f"stdout: {self.buffer[-2000:]}\nstderr: {self.stderr()[-2000:]}"
                )
            self.buffer += chunk
        out, _, self.buffer = self.buffer.partition(PROMPT)
        return out

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode("utf-8") + b"\n")
        self.proc.stdin.flush()

    def ask(self, line: str) -> str:
        self.send(line)
        return self.until_prompt()

    def kill(self) -> int:
        self.proc.kill()
        return self.close()

    def quit(self) -> str:
        """Sends /quit and returns what was printed until the process exited by itself."""
        self.send("/quit")
        code = self.close()
        assert code == 0, self.stderr()
        while (chunk := self.chunks.get(timeout=TIMEOUT)) is not None:
            self.buffer += chunk
        return self.buffer

    def close(self) -> int:
        code = self.proc.wait(timeout=TIMEOUT)
        self.reader.join(timeout=TIMEOUT)  # it has seen EOF: the output is all queued
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()
        return code

    def stderr(self) -> str:
        return self.stderr_path.read_text("utf-8", errors="replace")


def _stored(tmp_path: Path) -> tuple[dict[Key, Value], ConvState]:
    db = Database.from_url(f"sqlite:///{tmp_path / 'nj.db'}")
    try:
        with db.session() as session:
            conversation = ConversationRepository(session).get(CHANNEL, USER)
            assert conversation is not None and conversation.filing_id is not None
            filing = FilingRepository(session).load(conversation.filing_id)
    finally:
        db.dispose()
    values = {key: answer.value for key, answer in filing.answers.items()}
    return values, ConvState.from_dict(conversation.state)


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[[], Console]]:
    """Starts consoles in tmp_path; any still running when the test ends is killed."""
    started: list[Console] = []

    def start() -> Console:
        started.append(Console(tmp_path, len(started) + 1))
        return started[-1]

    yield start
    for console in started:
        if console.proc.poll() is None:
            console.kill()


def _restart(spawn: Callable[[], Console]) -> tuple[Console, str]:
    """Starts the chat again; returns it and the text after the banner."""
    console = spawn()
    out = console.until_prompt()
    banner, _, rest = out.partition("\n")
    assert banner == BANNER, out
    assert rest.startswith(texts.WELCOME_BACK), out
    return console, rest


def test_sigkill_loses_nothing_acknowledged(tmp_path: Path, spawn: Callable[[], Console]) -> None:
    upgrade = subprocess.run(
        [sys.executable, "-m", "bot.cli", "db", "upgrade"],
        cwd=tmp_path,
        env=_env(tmp_path),
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert upgrade.returncode == 0, upgrade.stderr.decode("utf-8", "replace")

    # --- first run: answer, one refusal included, then kill while a question is pending ---
    console = spawn()
    first = console.until_prompt()
    assert first.startswith(BANNER), first
    assert _question("enterprise.name") in first
    expected: dict[Key, Value] = {}
    for typed, field_id, value in ANSWERS:
        out = console.ask(typed)
        if value is not None:
            assert out.startswith("✓"), (typed, out)
            expected[Key(field_id)] = value
        elif field_id:
            assert out.startswith("✗") and "例如" in out, (typed, out)
            assert _question(field_id) in out, "a refused answer is asked again"
        else:
            assert "✗" not in out, (typed, out)
    assert _question(PENDING) in out
    assert console.kill() == -signal.SIGKILL

    values, state = _stored(tmp_path)
    assert values == expected
    assert all(type(values[k]) is type(v) for k, v in expected.items()), values
    assert state.mode is Mode.ASK and state.key == Key(PENDING)

    # --- restart: welcome back, and the very question that was pending ---
    console, rest = _restart(spawn)
    assert _question(PENDING) in rest
    assert _question(AFTER_PENDING) not in rest
    assert _stored(tmp_path)[0] == expected, "a restart alone changes nothing"

    # --- kill right after sending an answer, without waiting for its reply; with a few delays
    # the kill lands before, during or after the commit, and either way the restart and the
    # database agree: the answer is stored if and only if the next question is shown ---
    pending = PENDING
    for delay in KILL_DELAYS:
        typed, value = PERSONNEL[pending]
        console.send(typed)
        time.sleep(delay)
        assert console.kill() == -signal.SIGKILL
        values, state = _stored(tmp_path)
        console, rest = _restart(spawn)
        following = _after(pending)
        if _question(following) in rest:  # committed before the kill
            expected[Key(pending)] = value
            pending = following
        else:
            assert _question(pending) in rest, rest
        assert state.mode is Mode.ASK and state.key == Key(pending), state
        assert values == expected, (delay, pending)

    # The chat goes on normally from there, and ends cleanly.
    typed, value = PERSONNEL[pending]
    out = console.ask(typed)
    assert out.startswith("✓"), out
    expected[Key(pending)] = value
    assert "再见" in console.quit()
    assert _stored(tmp_path)[0] == expected
