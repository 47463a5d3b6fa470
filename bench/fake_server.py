"""The fake Bot API server and the simulated users, in a process of their own.

`bench.telegram` starts one of these per bot (`multiprocessing`, spawn) so that neither the
server's CPU nor the users' is counted against the bot, and the two bots do not share one
server's GIL. The parent talks to it through a pipe: it learns the server's URLs, waits for the
bot to poll, places users in the script, and runs load phases; each phase answers with the
latencies, the throughput and the bot process's CPU time over the measured window.

A user always waits for the reply to its last update before sending the next one. In a closed
loop it answers as soon as the reply arrives; in an open loop a pacer sends `rate` updates per
second, each from the next idle user. Latency is from queueing the update on the server to the
server recording the reply (one clock, `time.monotonic`, in this process).
"""

from __future__ import annotations

import os
import queue
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from tests.fake_telegram import FakeTelegram, JSONDict, SentMessage

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Step:
    text: str
    refused: bool = False  # the filing bot must answer "✗ ..." (a scripted mistake)


@dataclass(frozen=True, slots=True)
class Phase:
    closed: bool  # closed loop (answer on every reply) or open loop at `rate`
    users: tuple[int, ...]
    warmup: float
    window: float
    pid: int  # the bot process whose CPU time is read at the window's start and end
    rate: float = 0.0
    drain: float = 15.0  # how long to wait for outstanding replies after the window


@dataclass(slots=True)
class PhaseResult:
    sent: int = 0
    replies_in_window: int = 0  # by reply time: the throughput
    window: float = 0.0
    cpu_seconds: float = 0.0  # the bot's utime + stime over the window
    latencies_ms: list[float] = field(default_factory=list)  # updates sent in the window
    missing: int = 0  # updates still unanswered when the drain ran out
    skipped: int = 0  # open-loop ticks that found no idle user
    problems: list[str] = field(default_factory=list)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/<pid>/stat (Linux)."""
    with open(f"/proc/{pid}/stat", "rb") as stat:
        fields = stat.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class RecordingFake(FakeTelegram):
    """Hands every message the bot sends to a queue as it is recorded (hooked into the fake's
    sendMessage handler: scanning `sent` for new messages would cost O(n) per reply)."""

    def __init__(self, token: str) -> None:
        super().__init__(token, validate_formatting=False)
        self.outgoing: queue.SimpleQueue[SentMessage] = queue.SimpleQueue()

    def _m_send_message(self, params: JSONDict, uploads: list[Any]) -> JSONDict:
        message = super()._m_send_message(params, uploads)
        self.outgoing.put(self._sent[-1])
        return message


class Users:
    """Where each user is in the script and what it waits for."""

    def __init__(self, fake: RecordingFake, steps: list[Step], echo: bool) -> None:
        self.fake = fake
        self.steps = steps
        self.echo = echo
        self.position: dict[int, int] = {}
        self.awaiting: dict[int, tuple[float, Step]] = {}
        self.lock = threading.Lock()

    def send(self, user: int) -> float | None:
        """Sends the user's next step; returns when, or None at the end of the script."""
        with self.lock:
            index = self.position.get(user, 0)
            if index >= len(self.steps):
                return None
            self.position[user] = index + 1
            step = self.steps[index]
            sent_at = time.monotonic()
            self.awaiting[user] = (sent_at, step)
        self.fake.send_text(user, step.text)
        return sent_at

    def receive(self, message: SentMessage, problems: list[str]) -> tuple[int, float] | None:
        """Matches a reply to its update: (user, send time), or None if nothing awaited it."""
        user = int(message.chat_id)
        with self.lock:
            entry = self.awaiting.pop(user, None)
        if entry is None:
            if len(problems) < 20:
                problems.append(f"a message nobody waited for, to {user}: {message.text!r:.60}")
            return None
        sent_at, step = entry
        text = message.text or ""
        wrong = text != step.text if self.echo else text.startswith("✗") != step.refused
        if wrong and len(problems) < 20:
            problems.append(f"user {user}: {step.text!r} got {text[:80]!r}")
        return user, sent_at


class PhaseRun:
    """One phase: sends, matches replies, samples the bot's CPU at the window's edges."""

    def __init__(self, users: Users, phase: Phase) -> None:
        self.users = users
        self.phase = phase
        self.result = PhaseResult(window=phase.window)
        self.start = time.monotonic()
        self.w0 = self.start + phase.warmup
        self.w1 = self.w0 + phase.window
        self.idle: deque[int] = deque()  # open loop: users free to send, longest idle first
        self.cpu: list[float] = []

    def run(self) -> PhaseResult:
        phase, result = self.phase, self.result
        sampler = threading.Thread(target=self._sample, daemon=True)
        sampler.start()
        pacer = None
        if phase.closed:
            for user in phase.users:
                self._send(user)
        else:
            self.idle.extend(phase.users)
            pacer = threading.Thread(target=self._pace, daemon=True)
            pacer.start()
        outstanding = set(phase.users)
        while True:
            now = time.monotonic()
            if now >= self.w1 and (pacer is None or not pacer.is_alive()):
                outstanding = {u for u in phase.users if u in self.users.awaiting}
                if not outstanding or now >= self.w1 + phase.drain:
                    break
            try:
                message = self.users.fake.outgoing.get(timeout=0.05)
            except queue.Empty:
                continue
            self._received(message)
        sampler.join(timeout=phase.drain)
        result.missing = len(outstanding)
        result.cpu_seconds = self.cpu[1] - self.cpu[0] if len(self.cpu) == 2 else float("nan")
        result.latencies_ms.sort()
        return result

    def _received(self, message: SentMessage) -> None:
        matched = self.users.receive(message, self.result.problems)
        if matched is None:
            return
        user, sent_at = matched
        if self.w0 <= message.timestamp < self.w1:
            self.result.replies_in_window += 1
        if self.w0 <= sent_at < self.w1:
            self.result.latencies_ms.append((message.timestamp - sent_at) * 1000)
        if not self.phase.closed:
            self.idle.append(user)
        elif time.monotonic() < self.w1:
            self._send(user)

    def _send(self, user: int) -> None:
        if self.users.send(user) is not None:
            self.result.sent += 1

    def _sample(self) -> None:
        for at in (self.w0, self.w1):
            time.sleep(max(0.0, at - time.monotonic()))
            self.cpu.append(cpu_seconds(self.phase.pid))

    def _pace(self) -> None:
        """Open loop: one update every 1/rate seconds, from the user idle the longest."""
        tick = 0
        while (at := self.start + tick / self.phase.rate) < self.w1:
            time.sleep(max(0.0, at - time.monotonic()))
            tick += 1
            try:
                user = self.idle.popleft()
            except IndexError:
                self.result.skipped += 1
                continue
            self._send(user)


def serve(conn: Connection, token: str, steps: list[Step], echo: bool) -> None:
    """The process's main: answers the parent's requests until it says "stop"."""
    fake = RecordingFake(token)
    fake.start()
    users = Users(fake, steps, echo)
    conn.send((fake.base_url, fake.base_file_url))
    try:
        while True:
            command, argument = conn.recv()
            if command == "stop":
                return
            try:
                conn.send(("ok", _answer(fake, users, command, argument)))
            except Exception:
                conn.send(("error", traceback.format_exc()))
    finally:
        fake.stop()


def _answer(fake: RecordingFake, users: Users, command: str, argument: Any) -> Any:
    if command == "polling":  # wait until the bot's first long poll
        fake.wait_for(lambda: fake.requests["getUpdates"] >= 1, float(argument), "a first poll")
        return True
    if command == "place":  # users already that far in the script (seeded in the database)
        users.position.update(argument)
        return True
    if command == "run":
        return PhaseRun(users, argument).run()
    raise ValueError(f"unknown command {command!r}")
