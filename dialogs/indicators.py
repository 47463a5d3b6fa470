"""The grade's reference indicators: below the threshold is a warning, not a block."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from dialogs.spec import IndicatorSpec, Reading


@dataclass(frozen=True, slots=True)
class IndicatorResult:
    spec: IndicatorSpec
    value: Decimal | int
    threshold: Decimal | int | None
    met: bool | None  # None: the grade has no requirement or is unknown

    @property
    def text(self) -> str:
        unit = self.spec.unit
        shown = (
            f"{self.value:,.2f} {unit}"
            if isinstance(self.value, Decimal)
            else f"{self.value} {unit}"
        )
        if self.met is None:
            return f"{shown}（该等级无要求）" if self.threshold is None else shown
        need = f"{self.threshold:,} {unit}"
        if self.met:
            return f"{shown}，达到参考指标（≥ {need}）✓"
        return f"{shown}，低于参考指标（≥ {need}）⚠ 仅提示，不影响提交"


def evaluate(view: Reading, spec: IndicatorSpec) -> IndicatorResult:
    value = spec.measure(view)
    grade = view.grade
    if grade is None:
        return IndicatorResult(spec, value, None, None)
    threshold = spec.thresholds.get(grade)
    if threshold is None:
        return IndicatorResult(spec, value, None, None)
    return IndicatorResult(spec, value, threshold, value >= threshold)


def evaluate_all(view: Reading) -> list[IndicatorResult]:
    return [evaluate(view, spec) for spec in view.spec.indicators]
