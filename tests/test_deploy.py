"""The deployment of deploy/ brought up on this machine, the way the operator's guide installs
it: PostgreSQL with the role and database of deploy/postgresql.sql (least privilege), nginx
from Debian with deploy/nginx.conf and a self-signed certificate, `nianjian run` started with
exactly the ExecStart, Environment and EnvironmentFile of deploy/nianjian.service (the file
filled in from deploy/.env.example), in Telegram webhook mode behind nginx. The fake Bot API
delivers webhook calls through HTTPS, the fake WeChat posts signed, encrypted callbacks
through the proxy, and the answers land in the database.

nginx and openssl come from Debian (`.ci/run` installs them); without them the test skips on a
laptop and fails when CI=true.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from bot.admin import import_roster, issue_invite
from bot.app import bootstrap
from bot.channels.wechat import texts
from bot.clock import SystemClock
from bot.settings import Settings
from tests.fake_telegram import FakeTelegram
from tests.fake_wechat import AES_KEY, APP_ID, APP_SECRET, TOKEN, FakeWeChat
from tests.fakes import CODE_A, CODE_B, ENTERPRISE_A, ENTERPRISE_B, write_roster

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
UNIT = DEPLOY / "nianjian.service"
SITE = DEPLOY / "nginx.conf"
ENV_EXAMPLE = DEPLOY / ".env.example"
SETUP_SQL = DEPLOY / "postgresql.sql"
# Where deploy/nianjian.service expects the installed program (docs/operator/README.md).
INSTALLED_BIN = "/opt/nianjian/venv/bin/"
BIN = Path(sys.executable).parent
SBIN = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
USER = 5550101
OPENID = "oTopologyWang0000000000000"
TIMEOUT = 30.0


def _tool(name: str) -> str:
    found = shutil.which(name, path=SBIN)
    if found is None:
        message = f"{name} is not installed (apt-get install {name}; .ci/run does it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


# --- the files of deploy/ ------------------------------------------------------------------


def unit_service_section() -> dict[str, list[str]]:
    """The [Service] section of the unit: every key with its values in order."""
    section = ""
    found: dict[str, list[str]] = {}
    for raw in UNIT.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line
            continue
        if section == "[Service]":
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def read_environment_file(text: str) -> dict[str, str]:
    """KEY=VALUE lines as systemd's EnvironmentFile= reads them (comments start with # or ;,
    values may be quoted)."""
    values = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"not KEY=VALUE: {raw!r}"
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def setting_names() -> dict[str, str]:
    """Every setting of bot/settings.py by the environment name the README and guide use:
    the first alias, or NIANJIAN_ + the field name."""
    names = {}
    for field, info in Settings.model_fields.items():
        alias = info.validation_alias
        choices = getattr(alias, "choices", None)
        names[field] = str(choices[0]) if choices else f"NIANJIAN_{field.upper()}"
    return names


def test_env_example_lists_every_setting_with_a_chinese_comment() -> None:
    text = ENV_EXAMPLE.read_text()
    lines = text.splitlines()
    for field, name in setting_names().items():
        at = [i for i, line in enumerate(lines) if re.match(rf"#?\s*{name}=", line)]
        assert at, f"{name} ({field}) is missing from deploy/.env.example"
        # Its meaning: the comment above it (or above the group of settings it belongs to).
        above = at[0] - 1
        while above >= 0 and re.match(r"#?\s*[A-Z][A-Z0-9_]*=", lines[above]):
            above -= 1
        assert above >= 0 and lines[above].startswith("#"), name
        assert re.search(r"[\u4e00-\u9fff]", lines[above]), f"{name}: no Chinese comment"
    # What it sets is valid as it stands (placeholders included), read by pydantic-settings.
    settings = Settings(_env_file=ENV_EXAMPLE)
    assert settings.web_host == "127.0.0.1"
    assert settings.telegram_webhook_path == "telegram"
    assert settings.database_url.startswith("postgresql://")
    assert "#" not in "".join(read_environment_file(text).values())  # no trailing comments


def test_the_unit_is_valid_for_systemd(tmp_path: Path) -> None:
    service = unit_service_section()
    assert service["Restart"] == ["on-failure"]
    assert service["User"] == ["nianjian"] and service["Group"] == ["nianjian"]
    assert service["EnvironmentFile"] == ["/etc/nianjian/nianjian.env"]
    for hardening in ("NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp"):
        assert hardening in service
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    # verify checks that ExecStart exists: point it at this checkout's program.
    unit = tmp_path / "nianjian.service"
    unit.write_text(
        UNIT.read_text()
        .replace(INSTALLED_BIN, f"{BIN}/")
        .replace("/etc/nianjian/nianjian.env", str(ENV_EXAMPLE))
    )
    checked = subprocess.run(
        [analyze, "verify", str(unit)], check=False, capture_output=True, text=True, timeout=60
    )
    problems = [
        line
        for line in (checked.stdout + checked.stderr).splitlines()
        # A container without systemd running cannot look these up; the unit is not at fault.
        if "nianjian.service" in line
    ]
    assert checked.returncode == 0 and problems == [], checked.stdout + checked.stderr


# --- bringing the topology up ----------------------------------------------------------------


def free_ports(count: int) -> list[int]:
    """Ports nothing listens on right now (nginx needs them written into its configuration)."""
    probes = []
    try:
        for _ in range(count):
            probe = socket.socket()
            probe.bind(("127.0.0.1", 0))
            probes.append(probe)
        return [int(p.getsockname()[1]) for p in probes]
    finally:
        for probe in probes:
            probe.close()


@dataclass(frozen=True)
class Ports:
    https: int
    http: int
    web: int


def self_signed(openssl: str, tls: Path) -> Path:
    """The guide's self-signed certificate for trying, for localhost."""
    tls.mkdir()
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(tls / "privkey.pem"),
            "-out",
            str(tls / "fullchain.pem"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return tls / "fullchain.pem"


def render_site(ports: Ports, tls: Path, place: Path) -> str:
    """deploy/nginx.conf on this machine's ports and paths; every value replaced must be in
    the file, so the test follows it."""
    site = SITE.read_text()
    replacements = [
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{ports.https} ssl http2;"),
        ("listen 80;", f"listen 127.0.0.1:{ports.http};"),
        ("listen [::]:443 ssl http2;", ""),
        ("listen [::]:80;", ""),
        ("server 127.0.0.1:8080;", f"server 127.0.0.1:{ports.web};"),
        ("/etc/nianjian/tls/", f"{tls}/"),
        ("/var/log/nginx/", f"{place}/"),
        ("/var/www/letsencrypt", str(place / "acme")),
        ("nianjian.example.org", "localhost"),
    ]
    for old, new in replacements:
        assert old in site, f"deploy/nginx.conf no longer has {old!r}"
        site = site.replace(old, new)
    return site


def nginx_main(place: Path, site: Path) -> Path:
    """The main configuration Debian's /etc/nginx/nginx.conf provides, in a temp directory."""
    conf = place / "nginx.conf"
    conf.write_text(
        f"""
user {getpass.getuser()};
daemon off;
worker_processes 1;
pid {place}/nginx.pid;
error_log {place}/error.log;
events {{ worker_connections 128; }}
http {{
    access_log {place}/access.log;
    client_body_temp_path {place}/body;
    proxy_temp_path {place}/proxy;
    fastcgi_temp_path {place}/fastcgi;
    uwsgi_temp_path {place}/uwsgi;
    scgi_temp_path {place}/scgi;
    include {site};
}}
"""
    )
    return conf


@dataclass
class Database:
    admin_url: str
    name: str
    role: str
    password: str

    @property
    def url(self) -> str:
        """The app's DATABASE_URL: its own role, its own database."""
        admin = make_url(self.admin_url)
        return str(
            admin.set(
                drivername="postgresql",
                username=self.role,
                password=self.password,
                database=self.name,
            ).render_as_string(hide_password=False)
        )


@pytest.fixture
def app_database(pg_admin_url: str) -> Iterator[Database]:
    """deploy/postgresql.sql run by psql as the guide says, with names of this test's own."""
    psql = _tool("psql")
    suffix = secrets.token_hex(4)
    db = Database(pg_admin_url, f"nj_topology_{suffix}", f"nj_app_{suffix}", secrets.token_hex(8))
    setup = subprocess.run(
        [
            psql,
            "-X",
            "-q",
            "-d",
            pg_admin_url,
            "-v",
            f"role={db.role}",
            "-v",
            f"db={db.name}",
            "-v",
            f"password={db.password}",
            "-f",
            str(SETUP_SQL),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    try:
        assert setup.returncode == 0, setup.stderr
        yield db
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db.name))
            )
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(db.role)))


def test_the_database_setup_refuses_to_run_without_a_password(pg_admin_url: str) -> None:
    refused = subprocess.run(
        [_tool("psql"), "-X", "-q", "-d", pg_admin_url, "-f", str(SETUP_SQL)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode != 0 and "缺少口令" in refused.stderr


def test_admin_commands_run_in_the_state_directory_with_the_service_settings(
    tmp_path: Path,
) -> None:
    """deploy/nianjian-admin, started from elsewhere, runs the command in the state directory,
    where `.env` links to the service's environment file (here: as the current user)."""
    state, etc = tmp_path / "state", tmp_path / "etc"
    state.mkdir()
    etc.mkdir()
    (etc / "nianjian.env").write_text(f"DATABASE_URL=sqlite:///{state / 'nianjian.db'}\n")
    (state / ".env").symlink_to(etc / "nianjian.env")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "NIANJIAN_USER": getpass.getuser(),
        "NIANJIAN_STATE_DIR": str(state),
        "NIANJIAN_PROGRAM": str(BIN / "nianjian"),
    }
    admin = [_tool("sh"), str(DEPLOY / "nianjian-admin")]
    done = subprocess.run(
        [*admin, "db", "upgrade"],
        env=env,
        cwd=tmp_path,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(state / "nianjian.db") as migrated:
        (revision,) = migrated.execute("SELECT version_num FROM alembic_version").fetchone()
    assert revision


def environment(values: dict[str, str], place: Path) -> dict[str, str]:
    """What systemd gives the service: a clean environment, the unit's Environment= lines,
    then the EnvironmentFile."""
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(place)}
    for line in unit_service_section().get("Environment", []):
        key, _, value = line.partition("=")
        env[key] = value
    return env | values


def nianjian(env: dict[str, str], cwd: Path, *args: str) -> str:
    done = subprocess.run(
        [str(BIN / "nianjian"), *args],
        env=env,
        cwd=cwd,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"nianjian {' '.join(args)}: {done.stdout}\n{done.stderr}"
    return done.stdout


def wait_healthy(client: httpx.Client, url: str, process: subprocess.Popen[str]) -> Any:
    deadline = time.monotonic() + TIMEOUT
    last = ""
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"nianjian run exited with {process.returncode}")
        try:
            answer = client.get(url)
            if answer.status_code == 200:
                return answer.json()
            last = f"{answer.status_code} {answer.text[:300]}"
        except httpx.HTTPError as error:
            last = repr(error)
        time.sleep(0.2)
    pytest.fail(f"{url} never became healthy: {last}")


def invite_code(output: str) -> str:
    found = re.search(r"start=([A-Z0-9]{8})", output)
    assert found is not None, output
    return found.group(1)


def contact_name(db: Database, credit_code: str) -> tuple[str, str] | None:
    """contact.name of the enterprise's filing, read as the app's role."""
    with psycopg.connect(make_url(db.url).render_as_string(hide_password=False)) as conn:
        row = conn.execute(
            "SELECT a.value_text, a.source FROM answers a JOIN filings f ON f.id = a.filing_id "
            "JOIN enterprises e ON e.id = f.enterprise_id "
            "WHERE e.credit_code = %s AND a.field = 'contact.name'",
            (credit_code,),
        ).fetchone()
    return None if row is None else (str(row[0]), str(row[1]))


def _prepare_nginx(nginx: str, ports: Ports, tmp_path: Path) -> tuple[Path, Path]:
    """The site rendered into a main configuration of its own, checked by `nginx -t`; returns
    it and the self-signed certificate."""
    place = tmp_path / "nginx"
    place.mkdir()
    (place / "acme").mkdir()
    cert = self_signed(_tool("openssl"), tmp_path / "tls")
    site = place / "nianjian.conf"
    site.write_text(render_site(ports, tmp_path / "tls", place))
    conf = nginx_main(place, site)
    checked = subprocess.run(
        [nginx, "-t", "-p", str(place), "-e", str(place / "error.log"), "-c", str(conf)],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert checked.returncode == 0, checked.stderr
    return conf, cert


def test_the_deployment_serves_telegram_and_wechat_through_nginx(
    tmp_path: Path, app_database: Database
) -> None:
    nginx = _tool("nginx")
    ports = Ports(*free_ports(3))
    conf, cert = _prepare_nginx(nginx, ports, tmp_path)
    trust = ssl.create_default_context(cafile=str(cert))
    origin = f"https://localhost:{ports.https}"
    place = conf.parent

    state = tmp_path / "state"  # the unit's WorkingDirectory (StateDirectory)
    state.mkdir()
    service = unit_service_section()
    (exec_start,) = service["ExecStart"]
    assert exec_start == f"{INSTALLED_BIN}nianjian run"
    assert service["WorkingDirectory"] == ["/var/lib/nianjian"]

    with (
        FakeTelegram(webhook_ssl=trust) as telegram,
        FakeWeChat(SystemClock(), encrypted=True, verify=trust) as wechat,
    ):
        # /etc/nianjian/nianjian.env: the example with this machine's values filled in.
        example = read_environment_file(ENV_EXAMPLE.read_text())
        filled = {
            "DATABASE_URL": app_database.url,
            "NIANJIAN_ATTACHMENTS_DIR": str(state / "attachments"),
            "WEB_PORT": str(ports.web),
            "PUBLIC_URL": origin,
            "TELEGRAM_TOKEN": telegram.token,
            "TELEGRAM_WEBHOOK_URL": f"{origin}/telegram",
            "WECHAT_APP_ID": APP_ID,
            "WECHAT_APP_SECRET": APP_SECRET,
            "WECHAT_TOKEN": TOKEN,
            "WECHAT_ENCODING_AES_KEY": AES_KEY,
            "NIANJIAN_REVIEWERS": "console:wang",
        }
        assert set(filled) <= set(example) | {"NIANJIAN_REVIEWERS"}
        # Only the fakes' addresses and the log format are set beyond the example's lines.
        extra = {
            "TELEGRAM_BASE_URL": telegram.base_url,
            "TELEGRAM_BASE_FILE_URL": telegram.base_file_url,
            "WECHAT_API_BASE_URL": wechat.base_url,
            "NIANJIAN_LOG_FORMAT": "json",
        }
        env_file = tmp_path / "nianjian.env"
        env_file.write_text(
            "".join(f"{key}={value}\n" for key, value in (example | filled | extra).items())
        )
        env = environment(read_environment_file(env_file.read_text()), tmp_path)

        # The guide's steps: migrate, start; the roster and invites (while it starts).
        nianjian(env, state, "db", "upgrade")
        proxy = subprocess.Popen(
            [nginx, "-p", str(place), "-e", str(place / "error.log"), "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        logs = (tmp_path / "nianjian.log").open("w")
        bot = subprocess.Popen(
            [str(BIN / "nianjian"), *exec_start.split()[1:]],
            env=env,
            cwd=state,
            stdout=logs,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            telegram_code, wechat_code = _roster_and_invites(env_file, tmp_path)
            with httpx.Client(verify=trust, timeout=10) as client:
                health = wait_healthy(client, f"{origin}/health", bot)
                _through_the_proxy(client, health, ports, origin)
                _telegram_webhook(telegram, app_database, telegram_code)
                _wechat_callback(wechat, app_database, origin, wechat_code)
                _metrics(client, ports)
        finally:
            bot.send_signal(signal.SIGTERM)
            try:
                stopped = bot.wait(timeout=20)
            finally:
                if bot.poll() is None:
                    bot.kill()
                proxy.terminate()
                proxy.wait(timeout=10)
                logs.close()
        assert stopped == 0  # SIGTERM is a clean stop (systemd's `stop`)
    _logs_are_json(tmp_path / "nianjian.log", telegram.token)
    _least_privilege(app_database)


def _roster_and_invites(env_file: Path, tmp_path: Path) -> tuple[str, str]:
    """The association's roster and two invite codes, done here while the bot starts, on the
    settings of the environment file (the CLI's `roster import` and `invite` call these; a
    third and fourth start of the CLI would cost seconds of imports each)."""
    app = bootstrap(Settings(_env_file=env_file))
    try:
        roster = write_roster(tmp_path / "名单.xlsx", [ENTERPRISE_A, ENTERPRISE_B])
        report = import_roster(app, roster)
        assert report.created == 2 and not report.problems
        codes = []
        for credit_code in (CODE_A, CODE_B):
            lines, found = issue_invite(app, credit_code)
            assert found
            codes.append(invite_code("\n".join(lines)))
    finally:
        app.db.dispose()
    return codes[0], codes[1]


def _through_the_proxy(client: httpx.Client, health: Any, ports: Ports, origin: str) -> None:
    assert health["status"] == "ok"
    alive = health["checks"]["loops"]["alive"]
    assert alive["telegram_updater"] and alive["telegram_sender"] and alive["wechat_sender"]
    # /metrics is for the machine itself, never through the proxy.
    assert client.get(f"{origin}/metrics").status_code == 404
    # Plain HTTP is sent to HTTPS.
    plain = client.get(f"http://127.0.0.1:{ports.http}/health", follow_redirects=False)
    assert plain.status_code == 301
    assert plain.headers["location"] == "https://127.0.0.1/health"
    # A 20 MB upload reaches the product (which refuses the forged link), a larger one is
    # stopped by nginx before it.
    upload = f"{origin}/wechat/upload/forged"
    whole = client.post(upload, files={"file": ("营业执照.pdf", b"%PDF" + b"0" * (20 << 20))})
    assert whole.status_code == 403 and texts.LINK_INVALID in whole.text
    too_large = client.post(upload, files={"file": ("大.pdf", b"0" * (22 << 20))})
    assert too_large.status_code == 413 and "nginx" in too_large.text


def _telegram_webhook(telegram: FakeTelegram, db: Database, code: str) -> None:
    webhook = telegram.webhook
    assert webhook is not None and webhook["url"].endswith("/telegram")
    first = telegram.send_text(USER, f"/start {code}")
    bound, question = telegram.wait_for_messages(USER, 2, TIMEOUT)
    assert bound.text is not None and bound.text.startswith("✅ 绑定成功：")
    assert question.text is not None and "请填写：联系人姓名" in question.text
    telegram.send_text(USER, "李娜")
    replies = telegram.wait_for_messages(USER, 3, TIMEOUT)
    assert "请填写：联系人手机" in (replies[2].text or "")
    # Both updates went through nginx to the webhook, and the answer is in the database.
    assert first["update_id"] in telegram.webhook_delivered
    assert contact_name(db, CODE_A) == ("李娜", "user")


def _wechat_callback(wechat: FakeWeChat, db: Database, origin: str, code: str) -> None:
    wechat.callback_url = f"{origin}/wechat"
    bound = wechat.send_text(OPENID, code)
    assert bound.answered
    shown = wechat.wait_for(OPENID, 1, TIMEOUT)
    assert shown[0].text.startswith("✅ 绑定成功：")
    named = wechat.send_text(OPENID, "王芳")
    assert named.answered
    wechat.wait_for(OPENID, len(shown) + 1, TIMEOUT)
    assert contact_name(db, CODE_B) == ("王芳", "user")
    assert wechat.errors == []


def _metrics(client: httpx.Client, ports: Ports) -> None:
    text = client.get(f"http://127.0.0.1:{ports.web}/metrics").text
    handled = {
        channel: float(value)
        for channel, value in re.findall(
            r'^nianjian_updates_handled_total\{channel="(\w+)"\} (\S+)$', text, re.M
        )
    }
    assert handled["telegram"] >= 2 and handled["wechat"] >= 2
    assert re.search(r'^nianjian_filings\{status="draft",year="2025"\} 2\.0$', text, re.M), text


def _logs_are_json(path: Path, token: str) -> None:
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    assert lines
    for line in lines:
        record = json.loads(line)
        assert {"time", "level", "logger", "message"} <= set(record)
    assert token not in path.read_text()


def _least_privilege(db: Database) -> None:
    with psycopg.connect(make_url(db.url).render_as_string(hide_password=False)) as conn:
        row = conn.execute(
            "SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        assert row == (False, False, False)
        schemas = {
            r[0]
            for r in conn.execute(
                "SELECT schemaname FROM pg_tables WHERE tableowner = %s", (db.role,)
            )
        }
        assert schemas == {"nianjian"}
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE TABLE public.intruder (id int)")
