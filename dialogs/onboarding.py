"""A chat user who is not bound to an enterprise yet: proof first, never a shared password.
Three ways: an invite code from the association; a binding request (full name + credit
code) that a reviewer approves; or, for an enterprise first certified this year, a
registration that a reviewer approves. Pure: the service redeems codes and opens requests."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from dialogs import parsing, texts, texts_input
from dialogs.cycle import Grade
from dialogs.effects import Effect, RedeemInvite, RequestBinding, RequestRegistration
from dialogs.replies import Button, Choice, Event, FileIn, Reply, Start, Text, TextIn

# Invite codes: 8 characters without look-alikes (no 0/O, 1/I).
_CODE = re.compile(r"^[A-HJ-NP-Z2-9]{8}$")

# The questions of each path: (key, prompt, parser).
_BINDING = ("full_name", "credit_code")
_REGISTRATION = ("name", "credit_code", "grade", "cert_number", "full_name", "mobile")
_PROMPTS = {
    "full_name": texts.ASK_FULL_NAME,
    "credit_code": texts.ASK_CREDIT_CODE,
    "name": texts.ASK_ENTERPRISE_NAME,
    "grade": texts.ASK_GRADE,
    "cert_number": texts.ASK_CERT_NUMBER,
    "mobile": texts.ASK_MOBILE,
}


@dataclass(frozen=True, slots=True)
class OnboardingState:
    path: str = ""  # "" (menu) | "binding" | "registration"
    answers: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"onboarding": {"path": self.path, "answers": dict(self.answers)}}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> OnboardingState:
        raw = (data or {}).get("onboarding")
        if not isinstance(raw, dict):
            return cls()
        answers = raw.get("answers")
        return cls(
            str(raw.get("path", "")),
            {str(k): str(v) for k, v in answers.items()} if isinstance(answers, dict) else {},
        )


@dataclass(frozen=True, slots=True)
class OnboardingOutcome:
    state: OnboardingState
    replies: tuple[Reply, ...]
    effects: tuple[Effect, ...] = ()


def as_invite_code(text: str) -> str | None:
    code = parsing.normalize(text).replace(" ", "").replace("-", "").upper()
    return code if _CODE.match(code) else None


def onboarding_step(
    state: OnboardingState, event: Event, help_line: str, year: int
) -> OnboardingOutcome:
    if isinstance(event, Start) and event.payload:
        code = as_invite_code(event.payload)
        if code is not None:
            return OnboardingOutcome(OnboardingState(), (), (RedeemInvite(code),))
    if isinstance(event, FileIn):
        return _menu(help_line, year, texts.BIND_FIRST)
    if not isinstance(event, TextIn):
        return _menu(help_line, year)
    text = parsing.normalize(event.text)
    if text in ("取消", "返回", "/cancel"):
        return _menu(help_line, year)
    code = as_invite_code(text)
    if code is not None and state.path == "":
        return OnboardingOutcome(OnboardingState(), (), (RedeemInvite(code),))
    if state.path == "":
        if text in ("申请绑定", "1"):
            return _ask(OnboardingState("binding"))
        if text in ("注册", "新获证企业注册", "2"):
            return _ask(OnboardingState("registration"))
        return _menu(help_line, year, texts.NOT_A_CODE if text and not _greeting(text) else "")
    return _answer(state, event.text, year)


def _greeting(text: str) -> bool:
    """ "你好", "您好！", "hello~": a greeting, answered with the menu and what to do."""
    word = text.casefold().rstrip("!！~～。.,，?？ ").lstrip("/")
    return word in texts_input.GREETING_WORDS


def _menu(help_line: str, year: int, lead: str = "") -> OnboardingOutcome:
    text = texts.ONBOARDING.format(help_line=help_line, year=year)
    buttons = (
        Button(texts.BTN_REQUEST_BINDING, "申请绑定"),
        Button(texts.BTN_REGISTER.format(year=year), "注册"),
    )
    body = f"{lead}\n\n{text}" if lead else text
    return OnboardingOutcome(OnboardingState(), (Choice(body, buttons),))


def _questions(state: OnboardingState) -> tuple[str, ...]:
    return _BINDING if state.path == "binding" else _REGISTRATION


def _ask(state: OnboardingState, lead: str = "") -> OnboardingOutcome:
    pending = [q for q in _questions(state) if q not in state.answers]
    prompt = _PROMPTS[pending[0]]
    text = f"{lead}\n\n{prompt}" if lead else prompt
    if pending[0] == "grade":
        buttons = tuple(Button(f"{g.value}级", g.value) for g in Grade)
        return OnboardingOutcome(state, (Choice(text, buttons),))
    return OnboardingOutcome(state, (Text(text),))


def _answer(state: OnboardingState, raw: str, year: int) -> OnboardingOutcome:
    pending = [q for q in _questions(state) if q not in state.answers]
    question = pending[0]
    try:
        value = _parse(question, raw)
    except parsing.ParseError as error:
        return _ask(state, texts.ERROR.format(reason=error.reason, example=error.example))
    answers = {**state.answers, question: value}
    done = OnboardingState(state.path, answers)
    if len(pending) > 1:
        return _ask(done)
    if state.path == "binding":
        effect: Effect = RequestBinding(answers["full_name"], answers["credit_code"])
    else:
        effect = RequestRegistration(
            answers["name"],
            answers["credit_code"],
            answers["grade"],
            answers["cert_number"],
            answers["full_name"],
            answers["mobile"],
            year,
        )
    return OnboardingOutcome(OnboardingState(), (), (effect,))


def _parse(question: str, raw: str) -> str:
    if question == "credit_code":
        return parsing.parse_credit_code(raw)
    if question == "mobile":
        return parsing.parse_mobile(raw)
    if question == "grade":
        value = parsing.normalize(raw).removesuffix("级")
        if value not in {g.value for g in Grade}:
            raise parsing.ParseError("资质等级应为甲、乙、丙或丁。", "乙")
        return value
    return parsing.parse_text(raw, max_len=100 if question == "name" else 60)
