"""The layouts benchmark's report: ratios to both baselines, the orchestrator's CPU per
request, the stages' share of it, and its own CPU per hop."""

from benchmarks.baselines import Baseline
from benchmarks.layouts import LayoutRun, marginal_hop_ms, report, targets


def run(layout: str, texts_per_s: float, orchestrator_ms: float, stages_ms: float) -> LayoutRun:
    stages = {"preprocess": stages_ms / 2, "postprocess": stages_ms / 2} if stages_ms else {}
    return LayoutRun(
        layout=layout,
        p50_ms_at_1=100.0,
        texts_per_s=texts_per_s,
        requests=100,
        seconds=10.0,
        cpu_ms_per_request={"inference": 50.0, "orchestrator": orchestrator_ms, "client": 1.0},
        in_process_cpu_ms_per_request=stages,
    )


NAIVE = Baseline("naive", texts=10, seconds=1.0)
LIMIT = Baseline("limit", texts=40, seconds=1.0)


def test_the_report_shows_each_layout_against_both_baselines():
    runs = [run("split", 20.0, 3.0, 0.0), run("inline", 30.0, 2.5, 1.6)]
    text = report("2 cores", NAIVE, LIMIT, runs)
    rows = {line.split(" | ")[0]: line.split(" | ") for line in text.splitlines() if "|" in line}
    # layout, p50, texts/s, x limit, x naive, orchestrator ms per request, of which stages,
    # hops, own ms per hop, by process
    assert rows["| split"][3:9] == ["0.50", "2.00", "3.00", "0.00", "3", "1.00"]
    assert rows["| inline"][3:9] == ["0.75", "3.00", "2.50", "1.60", "1", "0.90"]
    assert "machine: 2 cores" in text


def test_the_orchestrators_own_cost_leaves_out_the_stages_it_ran():
    inline = run("inline", 30.0, 2.5, 1.6)
    assert inline.stages_ms_per_request == 1.6
    assert round(inline.own_ms_per_hop, 6) == 0.9
    split = run("split", 20.0, 3.6, 0.0)
    assert round(split.own_ms_per_hop, 6) == 1.2


def test_the_targets_are_issue_15s_inline_ratios_and_every_layouts_own_cost():
    runs = [run("split", 20.0, 3.6, 0.0), run("inline", 30.0, 2.5, 1.6)]
    lines = targets(NAIVE, LIMIT, runs).splitlines()
    verdict = {line.split("  ")[0].strip(): line for line in lines if "target" in line}
    assert verdict["inline, concurrency 16: x limit"].endswith("met")
    assert verdict["inline, concurrency 16: x naive"].endswith("met")
    assert verdict["inline: orchestrator own CPU ms per hop"].endswith("met")
    assert verdict["split: orchestrator own CPU ms per hop"].endswith("missed: 1.20x the target")


def test_one_added_hop_is_priced_from_split_against_inline():
    # Own CPU per request: split 3.6, inline 2.5 - 1.6 = 0.9; two hops more: 1.35 ms each.
    runs = [run("split", 20.0, 3.6, 0.0), run("inline", 30.0, 2.5, 1.6)]
    assert round(marginal_hop_ms(runs), 6) == 1.35
    lines = targets(NAIVE, LIMIT, runs).splitlines()
    [added] = [line for line in lines if line.startswith("orchestrator CPU ms per added hop")]
    assert added.endswith("missed: 1.35x the target")
    assert marginal_hop_ms(runs[:1]) is None
