"""Scale-out: 1, 2 and 4 `nianjian run` webhook workers on one PostgreSQL database, behind
nginx (Debian's, started here with `bench/nginx-scaleout.conf` on a free port; without nginx
the load generator spreads the calls over the workers itself, and says so).

Each round gets a fresh database with `--contacts` enterprises, each with a bound contact
(`/start CODE` through the workers), and the fake Bot API of `tests/fake_telegram.py`. The
load generator plays Telegram's side of the webhook: every contact types the scripted filing
(`tests/filing_script.py`, typed steps from section 2 on, refusals included) in a closed loop,
each answer as soon as the reply to the last one arrived. Over the measuring window:

- updates/s: updates answered per second;
- p50 / p99: from posting the update to its first reply reaching the Bot API;
- CPU per update: the workers' user + system CPU over the window (from /proc) per update;
  the proxy, PostgreSQL and the load generator are not counted.

The fake Bot API does not rate-limit and the workers' own pace is lifted (the figure is the
bot's capacity, not Telegram's 30 messages a second).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from bench.report import Figure, percentile, table
from storage.db import Database
from storage.migrate import upgrade
from tests.fake_telegram import FakeTelegram
from tests.filing_script import Bad, filing_script
from tests.test_telegram_durability import register

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "4343:scale-out-bench"
SECRET = hashlib.sha256(b"webhook:" + TOKEN.encode()).hexdigest()[:48]
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
NGINX_CONF = ROOT / "bench" / "nginx-scaleout.conf"


def typed_steps() -> list[str]:
    script = filing_script()
    steps = script[script.index("确认") + 1 :]
    return [s.text if isinstance(s, Bad) else s for s in steps if isinstance(s, str | Bad)]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Round:
    workers: int
    proxy: str
    updates: int = 0
    seconds: float = 0.0
    cpu: float = 0.0
    latencies: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.updates / self.seconds if self.seconds else 0.0

    def figures(self) -> list[Figure]:
        ordered = sorted(self.latencies) or [0.0]
        name = f"scale-out, {self.workers} webhook worker{'s' if self.workers > 1 else ''}"
        cpu_ms = self.cpu / self.updates * 1000 if self.updates else 0.0
        return [
            Figure(f"{name}: updates/s", f"{self.rate:.0f}"),
            Figure(
                f"{name}: p50 / p99 (ms)",
                f"{percentile(ordered, 50):.0f} / {percentile(ordered, 99):.0f}",
            ),
            Figure(f"{name}: CPU ms/update", f"{cpu_ms:.2f}"),
        ]


class ScratchDatabase:
    """A throw-away PostgreSQL database for one round."""

    def __init__(self, admin_url: str) -> None:
        self.admin = admin_url
        self.name = f"nj_bench_{secrets.token_hex(5)}"

    def __enter__(self) -> str:
        with psycopg.connect(self.admin, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name)))
        return make_url(self.admin).set(database=self.name).render_as_string(hide_password=False)

    def __exit__(self, *_: object) -> None:
        with psycopg.connect(self.admin, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name))
            )


def start_workers(
    count: int, url: str, fake: FakeTelegram, tmp: Path
) -> list[tuple[subprocess.Popen[bytes], int]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NIANJIAN_", "TELEGRAM_"))}
    env.update(
        PYTHONPATH=str(ROOT),
        DATABASE_URL=url,
        NIANJIAN_ATTACHMENTS_DIR=str(tmp / "files"),
        TELEGRAM_TOKEN=TOKEN,
        TELEGRAM_BASE_URL=fake.base_url,
        TELEGRAM_BASE_FILE_URL=fake.base_file_url,
        TELEGRAM_WEBHOOK_URL="https://bot.example.invalid/telegram",
        NIANJIAN_TELEGRAM_WEBHOOK_LISTEN="127.0.0.1",
        NIANJIAN_TELEGRAM_RATE="100000",
        NIANJIAN_TELEGRAM_CHAT_BURST="100000",
    )
    workers = []
    for index in range(count):
        port = free_port()
        log = (tmp / f"worker-{index}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run"],
            cwd=tmp,
            env={**env, "NIANJIAN_WEB_HOST": "127.0.0.1", "NIANJIAN_WEB_PORT": str(port)},
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
        )
        workers.append((proc, port))
    deadline = time.monotonic() + 60
    for proc, port in workers:
        while True:
            assert proc.poll() is None, (tmp / "worker-0.log").read_text()
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline, "a worker never listened"
            time.sleep(0.1)
    return workers


def start_nginx(ports: Sequence[int], tmp: Path) -> tuple[subprocess.Popen[bytes] | None, int]:
    """nginx in front of the workers, or None when it is not installed."""
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if nginx is None:
        return None, 0
    port = free_port()
    upstream = "\n".join(f"        server 127.0.0.1:{p};" for p in ports)
    conf = NGINX_CONF.read_text().replace("@UPSTREAM@", upstream)
    conf = conf.replace("@PORT@", str(port)).replace("@PREFIX@", str(tmp))
    (tmp / "nginx.conf").write_text(conf)
    proc = subprocess.Popen(
        [nginx, "-p", str(tmp), "-c", str(tmp / "nginx.conf"), "-e", str(tmp / "nginx-error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return None, 0
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return proc, port
        time.sleep(0.05)
    proc.kill()
    return None, 0


class Load:
    """Telegram's side: closed-loop contacts posting updates, timing their first replies."""

    def __init__(self, fake: FakeTelegram, urls: list[str], codes: dict[int, str]) -> None:
        self.fake = fake
        self.urls = urls
        self.codes = codes
        self.ids = itertools.count(1)
        self.steps = typed_steps()
        self.counts: dict[int, int] = {}
        self.seen = 0
        self.measuring = False
        self.answered = 0
        self.latencies: list[float] = []

    def update(self, user: int, text: str) -> dict[str, Any]:
        update_id = next(self.ids)
        entities = (
            [{"type": "bot_command", "offset": 0, "length": len(text.split(maxsplit=1)[0])}]
            if text.startswith("/")
            else []
        )
        chat = {"id": user, "type": "private", "first_name": "联系人"}
        message = {
            "message_id": update_id,
            "date": int(time.time()),
            "from": {"id": user, "is_bot": False, "first_name": "联系人"},
            "chat": chat,
            "text": text,
            "entities": entities,
        }
        return {"update_id": update_id, "message": message}

    async def read(self) -> None:
        while True:
            sent = self.fake.sent
            for message in sent[self.seen :]:
                chat = int(message.chat_id)
                self.counts[chat] = self.counts.get(chat, 0) + 1
            self.seen = len(sent)
            await asyncio.sleep(0.005)

    async def contact(self, client: httpx.AsyncClient, user: int, stop: float) -> None:
        texts = itertools.chain([f"/start {self.codes[user]}"], itertools.cycle(self.steps))
        for text in texts:
            if time.monotonic() > stop:
                return
            before = self.counts.get(user, 0)
            update = self.update(user, text)
            url = self.urls[update["update_id"] % len(self.urls)]
            posted = time.monotonic()
            await client.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
            while self.counts.get(user, 0) <= before:
                if time.monotonic() > stop + 30:
                    return
                await asyncio.sleep(0.005)
            if self.measuring:
                self.answered += 1
                self.latencies.append((time.monotonic() - posted) * 1000)
            # The rest of a reply of several messages arrives before the next answer.
            await asyncio.sleep(0.05)


async def drive(load: Load, pids: list[int], warmup: float, window: float) -> Round:
    limits = httpx.Limits(max_connections=400, max_keepalive_connections=400)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        reader = asyncio.create_task(load.read())
        stop = time.monotonic() + warmup + window
        tasks = [asyncio.create_task(load.contact(client, u, stop)) for u in load.codes]
        await asyncio.sleep(warmup)
        cpu0 = sum(cpu_seconds(p) for p in pids)
        load.measuring, started = True, time.monotonic()
        await asyncio.sleep(window)
        load.measuring, elapsed = False, time.monotonic() - started
        cpu = sum(cpu_seconds(p) for p in pids) - cpu0
        result = Round(len(pids), "", load.answered, elapsed, cpu, load.latencies)
        await asyncio.gather(*tasks)
        reader.cancel()
        return result


def one_round(workers: int, contacts: int, admin_url: str, warmup: float, window: float) -> Round:
    with ScratchDatabase(admin_url) as url, tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        upgrade(url)
        db = Database.from_url(url)
        try:
            codes = register(db, range(100_001, 100_001 + contacts))
        finally:
            db.dispose()
        with FakeTelegram(token=TOKEN, validate_formatting=False) as fake:
            procs = start_workers(workers, url, fake, tmp)
            nginx, port = start_nginx([p for _, p in procs], tmp)
            try:
                if nginx is not None:
                    urls, proxy = [f"http://127.0.0.1:{port}/telegram"], "nginx"
                else:
                    urls = [f"http://127.0.0.1:{p}/telegram" for _, p in procs]
                    proxy = "round robin by the load generator"
                load = Load(fake, urls, codes)
                result = asyncio.run(drive(load, [p.pid for p, _ in procs], warmup, window))
                result.proxy = proxy
                return result
            finally:
                if nginx is not None:
                    nginx.terminate()
                    nginx.wait(10)
                for proc, _ in procs:
                    proc.terminate()
                for proc, _ in procs:
                    try:
                        proc.wait(15)
                    except subprocess.TimeoutExpired:
                        proc.kill()


def run(
    *, quick: bool = False, workers: Sequence[int] = (1, 2, 4), contacts: int = 200
) -> list[Round]:
    admin = os.environ.get("NIANJIAN_BENCH_PG_URL", DEFAULT_PG)
    warmup, window = (3.0, 8.0) if quick else (5.0, 20.0)
    return [one_round(n, contacts, admin, warmup, window) for n in workers]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scaleout", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short windows")
    parser.add_argument("--workers", default="1,2,4", help="worker counts (1,2,4)")
    parser.add_argument("--contacts", type=int, default=200, help="closed-loop contacts (200)")
    args = parser.parse_args(argv)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{os.cpu_count()} CPUs, load average {load}")
    counts = [int(n) for n in args.workers.split(",")]
    rounds = run(quick=args.quick, workers=counts, contacts=args.contacts)
    print(table([f for r in rounds for f in r.figures()]))
    print(f"proxy: {rounds[0].proxy}" if rounds else "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
