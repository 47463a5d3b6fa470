"""A chat user who is not bound to an enterprise yet: proof first (an invite code from the
association), never a shared password. Pure: the code is redeemed by the service."""

from __future__ import annotations

import re
from dataclasses import dataclass

from dialogs import texts
from dialogs.effects import Effect, RedeemInvite
from dialogs.parsing import normalize
from dialogs.replies import Event, FileIn, Reply, Start, Text, TextIn

# Invite codes: 8 characters without look-alikes (no 0/O, 1/I).
_CODE = re.compile(r"^[A-HJ-NP-Z2-9]{8}$")


@dataclass(frozen=True, slots=True)
class OnboardingOutcome:
    replies: tuple[Reply, ...]
    effects: tuple[Effect, ...] = ()


def as_invite_code(text: str) -> str | None:
    code = normalize(text).replace(" ", "").replace("-", "").upper()
    return code if _CODE.match(code) else None


def onboarding_step(event: Event, help_line: str) -> OnboardingOutcome:
    if isinstance(event, Start) and event.payload:
        code = as_invite_code(event.payload)
        if code is not None:
            return OnboardingOutcome((), (RedeemInvite(code),))
    if isinstance(event, TextIn):
        code = as_invite_code(event.text)
        if code is not None:
            return OnboardingOutcome((), (RedeemInvite(code),))
        if isinstance(event, TextIn) and event.text.strip() and not event.text.startswith("/"):
            return OnboardingOutcome((Text(texts.NOT_A_CODE + "\n\n" + _welcome(help_line)),))
    if isinstance(event, FileIn):
        return OnboardingOutcome((Text(texts.BIND_FIRST + "\n\n" + _welcome(help_line)),))
    return OnboardingOutcome((Text(_welcome(help_line)),))


def _welcome(help_line: str) -> str:
    return texts.ONBOARDING.format(help_line=help_line)
