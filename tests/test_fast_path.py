"""The fast path of `bench/messages.py` works end to end: the 12-project filing in at most 60
contact messages, nothing refused or left to complete on the way, and one amount corrected
in at most 4 taps from the rejection notice (issue 14, item 2). Counts, not timings."""

from __future__ import annotations

from pathlib import Path

from bench import messages


def test_the_fast_path_files_in_at_most_60_messages_and_corrects_in_4_taps(
    tmp_path: Path,
) -> None:
    result = messages.run(tmp_path)
    assert result.problems == ()
    assert result.messages <= 60
    assert result.taps <= 4
    transcript = "\n".join(result.transcript)
    assert "已识别 27 项，全部齐全" in transcript  # three years of business figures at once
    assert "共 12 行项目：12 行无误" in transcript
    assert "第1个项目：乌鲁木齐市政务云平台，合同金额 381.00 万元 · 软件开发费" in transcript
