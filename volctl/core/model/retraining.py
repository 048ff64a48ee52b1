"""`volctl model retrain`: what a version trained from the stream is compared with, and on which ticks."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from volctl.clients import built
from volctl.domain.errors import VolctlError
from volctl.domain.registry import Registry
from volctl.domain.settings import Settings
from volctl.domain.variants import LEAD


@dataclass
class ShadowPlan:
    target: str  # VERSION:VARIANT added in shadow
    served: str  # "variant version" served now ("unknown" when consume does not answer)
    judged_from: str  # the new version's training data ends here: quality compares on later ticks only
    quality: str  # the command that compares them
    promote: str  # the command that would serve it, once the evidence says so

    def as_document(self) -> dict[str, Any]:
        return asdict(self)


def shadow_plan(settings: Settings, version: str) -> ShadowPlan:
    """The new version's recommended variant in shadow beside what is served now."""
    manifest = Registry(settings.registry_path).manifest(version)
    variant = manifest.get("recommended_variant", LEAD)
    served = "unknown"
    try:
        with built.consume(settings, timeout_s=5) as client:
            answer = client.get("/version").body
        if isinstance(answer, dict):
            served = f"{answer.get('model')} {answer.get('version')}"
    except VolctlError:
        pass
    target = f"{version}:{variant}"
    return ShadowPlan(target, served, manifest["data"]["range"]["end"],
                      f"volctl quality --window {settings.slo.quality_window}",
                      f'volctl rollback --to {target} --reason "retrained: better in shadow"')
