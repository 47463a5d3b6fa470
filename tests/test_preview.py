"""The form preview: every field id and option of the spec is in the document, the checks and
computed totals are described from running them, and the dialog graph is well-formed DOT
(rendered by Graphviz when `dot` is installed, as it is on CI)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bot import cli
from bot.preview import write_preview
from dialogs import texts_preview
from dialogs.commands import command_of
from dialogs.cycle import Cycle
from dialogs.form import build_form
from dialogs.preview import (
    Figure,
    Grid,
    dialog_graph,
    form_document,
    markdown,
    to_dot,
    to_html,
)
from dialogs.spec import Kind
from dialogs.texts_review import STATUS

FORM = build_form(Cycle.for_year(2025))


def test_every_field_option_and_indicator_is_documented() -> None:
    text = markdown(form_document(FORM))
    for spec in FORM.all_fields():
        assert f"`{spec.id}`" in text, spec.id
        assert spec.label in text
        for option in spec.options:
            assert f"`{option.value}`" in text and option.label in text, option
    for section in FORM.sections:
        assert f"## {section.heading}" in text
        for group in section.groups():
            assert f"`{group.id}`" in text
    for indicator in FORM.indicators:
        assert f"`{indicator.id}`" in text
    # The seed's thresholds, as configured.
    assert "| 技术人员总数 | `technical_staff` | 人 | ≥ 40 | ≥ 30 | ≥ 20 | ≥ 6 |" in text
    assert (
        "| 三年系统集成项目总值 | `three_year_value` | 万元 | ≥ 3,000 | ≥ 1,000 | ≥ 500 | 无要求 |"
        in text
    )


def test_rules_and_totals_are_described_by_running_them() -> None:
    text = markdown(form_document(FORM))
    # Checks: the message the check itself gives, and when it applies.
    assert re.search(r"例：研究生、本科、大专人数合计（\d+）超过了技术人员总数（\d+）", text)
    assert "重复填写了两次" in text
    assert "验收日期必须在 2025 年内" in text
    assert "（只在小结和提交检查中提示）。例：" in text and "合同金额合计为 0" in text
    # The seed: 软件开发费+…+运营服务费 = 软件和信息技术服务费合计; + four more = 合同金额.
    service = re.search(
        r"软件和信息技术服务费合计（自动计算）（依据：([^）]*（[^）]*）[^；]*)", text
    )
    assert service is not None
    fees = re.findall(r"`(project\.[a-z_]+)`", service.group(1))
    assert fees == [
        "project.fee_software",
        "project.fee_consulting",
        "project.fee_integration",
        "project.fee_maintenance",
        "project.fee_data",
        "project.fee_operation",
    ]
    # Conditions and per-year questions, from the spec's own functions.
    assert "条件：「2025 年度是否有已完成的系统集成项目」为 是 时" in text
    assert "「首次获证年份」为 2025 时填 2023、2024、2025" in text
    assert "示例：共 12 个项目时其中 10 个必填" in text
    # Input rules: what the parser really makes of typical input.
    assert "| 金额（`business.total_profit`） | `12345000元` | 1,234.50 万元 |" in text
    assert "✗ 请输入四位数年份。" in text
    assert "| 单选（`holder.certificate`） | `高项` | 信息系统项目管理师 |" in text


def test_the_document_renders_as_html_with_the_figure() -> None:
    blocks = form_document(FORM, "dialog.svg")
    assert any(isinstance(b, Figure) for b in blocks)
    page = to_html(blocks)
    assert page.startswith("<!DOCTYPE html>") and '<img src="dialog.svg"' in page
    assert "<code>project.fee_software</code>" in page
    tables = sum(1 for b in blocks if isinstance(b, Grid))
    assert page.count("<table>") == tables
    assert all(len(row) == len(b.head) for b in blocks if isinstance(b, Grid) for row in b.rows)


_STATEMENT = re.compile(r'^\s*"((?:[^"\\]|\\.)*)"(?: -> "((?:[^"\\]|\\.)*)")? \[.*\];$')


def test_dialog_graph_structure_and_dot_syntax() -> None:
    graph = dialog_graph(FORM)
    ids = [n.id for n in graph.nodes]
    assert len(ids) == len(set(ids))
    assert all(e.tail in ids and e.head in ids for e in graph.edges)
    edges = {(e.tail, e.head): e.label for e in graph.edges}
    # Sections in order, each summary leading on to the next section.
    summaries = [f"{s.id}__summary" for s in FORM.sections]
    assert all(s in ids for s in summaries)
    confirm = texts_preview.EDGE_CONFIRM
    entries = [
        next(e.head for e in graph.edges if e.tail == s and e.label == confirm)
        for s in summaries[:-1]
    ]
    assert [e.split("__")[0] for e in entries] == [s.id for s in FORM.sections[1:]]
    # Record loops, the conditional group with its way around, the edit paths.
    assert ("projects__projects__more", "projects__projects__record") in edges
    assert edges[("projects__ask1", "projects__projects__record")].startswith("若「2025 年度")
    assert edges[("projects__ask1", "projects__ask2")] == texts_preview.EDGE_ELSE
    assert ("holders__summary", "holders__holders__record") in edges
    assert edges[("business__summary", "business__ask1")] == texts_preview.EDGE_EDIT
    # Overview, submit check and the review outcomes.
    assert edges[("attachments__summary", "overview")] == texts_preview.EDGE_ALL_DONE
    assert all(("overview", s) in edges for s in summaries)
    assert ("overview", "submit_check") in edges
    assert ("submit_check", "status_submitted") in edges
    assert ("status_submitted", "status_rejected") in edges
    assert ("status_rejected", "overview") in edges
    assert ("status_submitted", "status_approved") in edges
    assert ("status_approved", "status_complete") in edges
    assert STATUS["complete"] in next(n.label for n in graph.nodes if n.id == "status_complete")
    # The commands the graph names are commands the engine knows.
    assert all(command_of(word) is not None for word in texts_preview.COMMAND_WORDS)

    source = to_dot(graph)
    assert source.startswith("digraph nianjian_dialog {") and source.rstrip().endswith("}")
    assert source.count("{") == source.count("}")
    statements = [line for line in source.splitlines() if "->" in line or "label=" in line]
    nodes, arrows = set(), 0
    for line in statements:
        if line.strip().startswith(("graph ", "node ", "edge ", "label=")):
            continue
        match = _STATEMENT.match(line)
        assert match is not None, line
        if match.group(2) is None:
            nodes.add(match.group(1))
        else:
            arrows += 1
            assert {match.group(1), match.group(2)} <= set(ids)
    assert nodes == set(ids) and arrows == len(graph.edges)


def _dot() -> str:
    found = shutil.which("dot")
    if found is None:
        message = "Graphviz dot is needed to render the graph"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


def test_dot_parses_the_graph() -> None:
    dot = _dot()
    graph = dialog_graph(FORM)
    done = subprocess.run(
        [dot, "-Tjson"], input=to_dot(graph).encode(), capture_output=True, check=True
    )
    data = json.loads(done.stdout)
    names = {o["name"] for o in data["objects"] if not o["name"].startswith("cluster_")}
    assert names == {n.id for n in graph.nodes}
    clusters = {o["label"] for o in data["objects"] if o["name"].startswith("cluster_")}
    assert clusters == set(graph.clusters.values())
    assert len(data["edges"]) == len(graph.edges)


def test_cli_writes_the_preview(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'unused.db'}")
    out = tmp_path / "preview"
    assert cli.main(["form", "preview", "--out", str(out), "--year", "2026"]) == 0
    text = (out / "form.md").read_text(encoding="utf-8")
    assert text.startswith("# 2026 年度") and "2024、2025、2026" in text
    assert (out / "form.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert (out / "dialog.dot").read_text(encoding="utf-8").startswith("digraph")
    if shutil.which("dot") is not None:
        assert (out / "dialog.svg").read_bytes().lstrip().startswith(b"<?xml")
        assert '<img src="dialog.svg"' in (out / "form.html").read_text(encoding="utf-8")


def test_without_dot_the_preview_says_so(tmp_path: Path) -> None:
    result = write_preview(FORM, tmp_path, dot_binary=str(tmp_path / "no-such-dot"))
    assert result.svg is None and not (tmp_path / "dialog.svg").exists()
    assert any("dot" in note for note in result.notes)
    assert "dot -Tsvg dialog.dot" in (tmp_path / "form.md").read_text(encoding="utf-8")


def test_kinds_without_samples_are_only_files() -> None:
    assert set(Kind) - set(texts_preview.KIND_SAMPLES) == {Kind.FILE}
