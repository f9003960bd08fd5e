"""The layouts benchmark's report: ratios to both baselines, the orchestrator's CPU per hop."""

from benchmarks.baselines import Baseline
from benchmarks.layouts import LayoutRun, report


def run(layout: str, texts_per_s: float, orchestrator_ms: float) -> LayoutRun:
    return LayoutRun(
        layout=layout,
        p50_ms_at_1=100.0,
        texts_per_s=texts_per_s,
        requests=100,
        seconds=10.0,
        cpu_ms_per_request={"inference": 50.0, "orchestrator": orchestrator_ms, "client": 1.0},
    )


def test_the_report_shows_each_layout_against_both_baselines():
    naive = Baseline("naive", texts=10, seconds=1.0)
    limit = Baseline("limit", texts=40, seconds=1.0)
    text = report("2 cores", naive, limit, [run("split", 20.0, 3.0), run("inline", 30.0, 2.0)])
    rows = {line.split(" | ")[0]: line.split(" | ") for line in text.splitlines() if "|" in line}
    # layout, p50, texts/s, x limit, x naive, orchestrator ms per hop, by process
    assert rows["| split"][3:6] == ["0.50", "2.00", "1.00"]
    assert rows["| inline"][3:6] == ["0.75", "3.00", "2.00"]
    assert "machine: 2 cores" in text
