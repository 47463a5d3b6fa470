"""`nianjian form preview`: writes the form's document and dialog graph (dialogs/preview.py)
to a directory, and renders the graph to SVG with Graphviz's `dot` when it is installed."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from dialogs.preview import dialog_graph, form_document, markdown, to_dot, to_html
from dialogs.spec import FormSpec

MARKDOWN = "form.md"
HTML = "form.html"
DOT = "dialog.dot"
SVG = "dialog.svg"

WROTE = "已生成表单预览：{path}"
RENDERED = "对话流程图：{path}"
NO_DOT = (
    "未找到 Graphviz 的 dot 命令，没有生成 {svg}"
    "（安装 graphviz 后重新运行，或执行 dot -Tsvg {dot} -o {svg}）。"
)
DOT_FAILED = "dot 未能生成 {svg}：{error}"


@dataclass(frozen=True, slots=True)
class Preview:
    files: tuple[Path, ...]
    svg: Path | None
    notes: tuple[str, ...]

    def lines(self) -> list[str]:
        return [*(WROTE.format(path=p) for p in self.files), *self.notes]


def render_svg(dot_source: str, dot_binary: str) -> bytes:
    """Graphviz's SVG of the graph; raises RuntimeError with dot's message when it fails."""
    done = subprocess.run(
        [dot_binary, "-Tsvg"],
        input=dot_source.encode("utf-8"),
        capture_output=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr.decode("utf-8", "replace").strip())
    return done.stdout


def write_preview(form: FormSpec, out: Path, *, dot_binary: str | None = None) -> Preview:
    """Writes form.md, form.html and dialog.dot, and dialog.svg when `dot` is available
    (found on PATH unless given)."""
    out.mkdir(parents=True, exist_ok=True)
    dot_binary = dot_binary or shutil.which("dot")
    source = to_dot(dialog_graph(form))
    (out / DOT).write_text(source, encoding="utf-8")
    svg: Path | None = None
    notes: list[str] = []
    if dot_binary is None:
        notes.append(NO_DOT.format(svg=out / SVG, dot=out / DOT))
    else:
        try:
            (out / SVG).write_bytes(render_svg(source, dot_binary))
            svg = out / SVG
            notes.append(RENDERED.format(path=svg))
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as error:
            notes.append(DOT_FAILED.format(svg=out / SVG, error=error))
    blocks = form_document(form, SVG if svg is not None else None)
    (out / MARKDOWN).write_text(markdown(blocks), encoding="utf-8")
    (out / HTML).write_text(to_html(blocks), encoding="utf-8")
    files = (out / HTML, out / MARKDOWN, out / DOT)
    return Preview(files, svg, tuple(notes))
