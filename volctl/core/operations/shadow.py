"""Challengers scored in shadow by every consume member (`volctl shadow add|remove`, `model retrain`):
one admin request a member, token-authenticated and audited by the member itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from volctl.clients import built
from volctl.core.operations.rollback import local_actor
from volctl.domain.errors import ConfigError
from volctl.domain.model_admin import ADMIN_PATH, read_admin_token
from volctl.domain.settings import Settings
from volctl.domain.topology import consume_members
from volctl.domain.variants import LEAD, split_target


@dataclass
class ShadowChange:
    action: str  # shadow_add | shadow_remove
    target: str  # VERSION[:VARIANT]
    answers: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)  # member -> (status, body)

    @property
    def failed(self) -> dict[str, dict[str, Any]]:
        return {name: body for name, (status, body) in self.answers.items() if status != 200}

    @property
    def unreachable(self) -> bool:
        """No member answered at all (404 from every failing member means: no admin there)."""
        return bool(self.failed) and all(status in (0, 404) for status, _ in self.answers.values() if status != 200)


def change_shadow(settings: Settings, action: str, target: str, reason: str = "") -> ShadowChange:
    token = read_admin_token(settings)
    if not token:
        raise ConfigError("no admin token", hint="`volctl up` generates one; or set admin_token")
    version, variant = split_target(target)
    request = {"action": action, "version": version, "variant": variant or LEAD, "actor": local_actor(),
               "reason": reason}
    change = ShadowChange(action, target)
    for member in consume_members(settings):  # every member scores the same challengers
        with built.member(member, timeout_s=30) as client:
            answer = client.post(ADMIN_PATH, request, headers={"Authorization": f"Bearer {token}"})
        change.answers[member.name] = (answer.status, answer.body if isinstance(answer.body, dict)
                                       else {"detail": str(answer.body)})
    return change
