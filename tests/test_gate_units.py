"""The release gate's verdict from its checks (the checks themselves run in test_kafka_views)."""

from __future__ import annotations


def test_a_gate_with_too_few_spike_episodes_to_judge_quality_still_answers() -> None:
    """A calm hour holds too few spike episodes to judge realised quality: shown as "not judged",
    as `slo check` does, never blocking; no outcomes at all is a quality the gate could not measure."""
    from volctl.core.gate import FAIL, NOT_JUDGED, PASS, UNKNOWN, GateCheck, GateReport

    def gate(*verdicts: str) -> GateReport:
        return GateReport("25s", "b", "t", [GateCheck(f"c{i}", "quality", "m", "t", v) for i, v in enumerate(verdicts)])

    assert gate(PASS, NOT_JUDGED).answer == "ship"
    assert gate(FAIL, NOT_JUDGED).answer == "do not ship"
    assert gate(PASS, UNKNOWN).verdict == UNKNOWN
    assert gate(NOT_JUDGED).verdict == UNKNOWN  # nothing judged at all is not a pass
