"""The release gate's verdict from its checks (the checks themselves run in test_kafka_views)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.unit


def test_the_gate_passes_only_when_every_check_passed_or_was_accepted_by_name() -> None:
    """Issue 38: the gate printed "ship" while its quality row read "not judged" (0 spike episodes).
    An inconclusive check makes the gate inconclusive (exit 3) unless its class is accepted."""
    from volctl.core.operations.gate import ERROR, FAIL, INCONCLUSIVE, PASS, GateCheck, GateReport

    def gate(*verdicts: str, accept: tuple[str, ...] = ()) -> GateReport:
        checks = [GateCheck(f"c{i}", "quality", "m", "t", v) for i, v in enumerate(verdicts)]
        return GateReport("25s", "b", "t", checks, accept_inconclusive=accept)

    assert gate(PASS, PASS).answer == "ship" and gate(PASS, PASS).outcome.exit_code == 0
    calm = gate(PASS, INCONCLUSIVE)
    assert calm.verdict == INCONCLUSIVE and calm.outcome.exit_code == 3
    assert calm.answer.startswith("do not ship: not judged: quality") and "--accept-inconclusive quality" in calm.answer
    accepted = gate(PASS, INCONCLUSIVE, accept=("quality",))
    assert accepted.verdict == PASS and accepted.outcome.exit_code == 0
    assert accepted.answer == "ship (accepted without a judgement: quality)"
    document = accepted.as_document()
    assert document["accepted_inconclusive"] == ["quality"] and document["checks"][1]["accepted"] is True
    assert gate(PASS, INCONCLUSIVE, accept=("drift",)).verdict == INCONCLUSIVE  # another class accepted
    assert gate(FAIL, INCONCLUSIVE, accept=("quality",)).answer == "do not ship"
    assert gate(PASS, ERROR, accept=("quality",)).verdict == ERROR  # an error is never accepted
    assert gate(INCONCLUSIVE).verdict == INCONCLUSIVE  # nothing judged at all is not a pass
    assert gate().verdict == INCONCLUSIVE


def test_every_check_links_the_evidence_the_bundle_holds_and_an_unknown_says_what_to_do(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The quality row's evidence was "-" while quality.html was in the bundle (the link went by the
    check's name): rows link by class now. A row that could not measure says what to do."""
    from volctl.core.operations.gate import ERROR, INCONCLUSIVE, PASS, GateCheck, GateReport
    from volctl.reports.gate_html import write_gate_index

    for page in ("load.html", "slo.html", "quality.html", "lag.json"):
        (tmp_path / page).write_text("{}")
    checks = [GateCheck("load: p95 latency", "latency", "3 ms", "<= 800 ms", PASS),
              GateCheck("slo: freshness", "freshness", "2 s", "<= 30 s", PASS),
              GateCheck("realised quality", "quality", "3 spike episodes", "enough labelled ticks", INCONCLUSIVE),
              GateCheck("lag status", "lag", "the end of partition 1 could not be read", "OK or WARN", ERROR),
              GateCheck("drift share", "drift", "120 rows", "enough rows", INCONCLUSIVE)]
    report = GateReport("25s", str(tmp_path), "t", checks, accept_inconclusive=("quality",))
    write_gate_index(report, tmp_path / "index.html")
    html = (tmp_path / "index.html").read_text()
    cells = [cell.split("</td>")[0] for cell in html.split('<td data-label="evidence">')[1:]]
    assert cells == ['<a href="load.html">load.html</a>', '<a href="slo.html">slo.html</a>',
                     '<a href="quality.html">quality.html</a>', '<a href="lag.json">lag.json</a>', "none"]
    assert [bool(c.todo) for c in checks] == [False, False, True, True, True]
    assert "what to do: let the stack run" in html and "volctl lag" in checks[3].todo
    assert "inconclusive (accepted by the operator)" in html
    assert "accepted by the operator (--accept-inconclusive): quality" in html
    assert html.count(report.answer) == 2  # the title and the one headline, not a second heading
