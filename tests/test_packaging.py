"""Packaging: every package the code imports is declared (runtime ones as dependencies, the
tests' as the dev extra), and the wheel works outside the source tree: `nianjian doctor`,
migrations, templates and the reminder schedule come from the installed package."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = {"bot", "dialogs", "storage", "reminders", "tests", "bench"}
TIMEOUT = 180
BUILD_NOISE = (".*", "build", "dist", "*.egg-info", "__pycache__", "data", "node_modules")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared(*, dev: bool) -> set[str]:
    found = set()
    for requirement in metadata.requires("nianjian") or []:
        name = re.match(r"[A-Za-z0-9_.-]+", requirement)
        assert name is not None
        if "extra ==" not in requirement or dev:
            found.add(_canonical(name.group(0)))
    return found


def _imports(*folders: str) -> dict[str, Path]:
    """Top-level modules imported by the code in these folders (first file that does)."""
    found: dict[str, Path] = {}
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    found.setdefault(name.split(".")[0], path)
    return {m: p for m, p in found.items() if m not in sys.stdlib_module_names and m not in OURS}


@pytest.mark.parametrize(
    ("folders", "dev"),
    [(("bot", "dialogs", "storage", "reminders"), False), (("tests", "bench"), True)],
)
def test_every_imported_package_is_declared(folders: tuple[str, ...], dev: bool) -> None:
    declared = _declared(dev=dev)
    owners = metadata.packages_distributions()
    missing = {
        module: str(path.relative_to(ROOT))
        for module, path in _imports(*folders).items()
        if not {_canonical(d) for d in owners.get(module, [])} & declared
    }
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"


def test_the_wheel_works_outside_the_source_tree(tmp_path: Path) -> None:
    # Built from a copy: setuptools writes build/ and *.egg-info next to the sources.
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*BUILD_NOISE))
    dist = tmp_path / "dist"
    built = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"),
            *("-w", str(dist), str(source)),
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = dist.glob("nianjian-*.whl")
    venv = tmp_path / "venv"
    # No pip of its own (ensurepip is slow): this environment's pip installs into it.
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=TIMEOUT
    )
    python = venv / "bin" / "python"
    installed = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "--python", str(python), "install", "-q"),
            *("--no-deps", "--no-index", str(wheel)),
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr
    # The dependencies from this environment (no registry in a test), after the wheel's own
    # site-packages; this environment's editable install of the source tree is not seen.
    site = Path(
        subprocess.check_output(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            text=True,
        ).strip()
    )
    (site / "zz_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("NIANJIAN_", "TELEGRAM_", "WECHAT_", "PYTHON")) and k != "DATABASE_URL"
    }
    env["NIANJIAN_REVIEWERS"] = "console:wang"

    def nianjian(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(venv / "bin" / "nianjian"), *args],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )

    where = subprocess.check_output(
        [str(python), "-c", "import bot, storage, reminders; print(bot.__file__)"],
        cwd=work,
        text=True,
    )
    assert where.startswith(str(site)), where
    assert nianjian("--help").returncode == 0
    upgraded = nianjian("db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert (work / "data" / "nianjian.db").is_file()
    doctor = nianjian("doctor", "--min-free-mb", "1")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "✓ 数据库" in doctor.stdout and "✓ 提醒" in doctor.stdout
    templates = site / "bot" / "channels" / "wechat" / "templates" / "upload.html"
    assert templates.is_file() and (site / "reminders" / "schedule.toml").is_file()
    meta = metadata.Distribution.at(next(site.glob("nianjian-*.dist-info")))
    assert meta.metadata["License-Expression"] and meta.metadata["Description-Content-Type"]
    requires = meta.requires or []
    for needed in ("tornado", "requests", "xmltodict"):
        assert any(r.startswith(needed) for r in requires), needed
