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


def test_every_check_links_the_evidence_the_bundle_holds_and_an_unknown_says_what_to_do(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The quality row's evidence was "-" while quality.html was in the bundle (the link went by the
    check's name): rows link by class now. A row that could not measure says what to do."""
    from volctl.core.gate import NOT_JUDGED, PASS, UNKNOWN, GateCheck, GateReport
    from volctl.reports.gate_html import write_gate_index

    for page in ("load.html", "slo.html", "quality.html", "lag.json"):
        (tmp_path / page).write_text("{}")
    checks = [GateCheck("load: p95 latency", "latency", "3 ms", "<= 800 ms", PASS),
              GateCheck("slo: freshness", "freshness", "2 s", "<= 30 s", PASS),
              GateCheck("realised quality", "quality", "3 spike episodes", "enough labelled ticks", NOT_JUDGED),
              GateCheck("lag status", "lag", "the end of partition 1 could not be read", "OK or WARN", UNKNOWN),
              GateCheck("drift share", "drift", "120 rows", "enough rows", UNKNOWN)]
    report = GateReport("25s", str(tmp_path), "t", checks)
    write_gate_index(report, tmp_path / "index.html")
    html = (tmp_path / "index.html").read_text()
    cells = [cell.split("</td>")[0] for cell in html.split('<td data-label="evidence">')[1:]]
    assert cells == ['<a href="load.html">load.html</a>', '<a href="slo.html">slo.html</a>',
                     '<a href="quality.html">quality.html</a>', '<a href="lag.json">lag.json</a>', "none"]
    assert [bool(c.todo) for c in checks] == [False, False, True, True, True]
    assert "what to do: let the stack run" in html and "volctl lag" in checks[3].todo
    assert html.count(report.answer) == 2  # the title and the one headline, not a second heading
