"""The cost model's layouts (split, inline, single, and their smart variants) behind the
orchestrator's own worker, with Runpod's queue hop, against figures worked out by hand; and
`make cost --recommend` on a hand-checked input."""

import json

import pytest

from cost_model import recommend
from cost_model.__main__ import build_parser, main
from cost_model.cpu_inference_times import CpuInferenceTimes
from cost_model.endpoints import DEFAULT_HOP_MS, HOP_SOURCE
from cost_model.layouts import LayoutInputs, SmartRouting, build
from cost_model.simulator import CALL, EndpointUsage, SimResult, simulate
from cost_model.stage_times import StageSample
from cost_model.sweep import RatePoint, SweepSettings
from tests.unit.test_cost_model import endpoint_settings

SAMPLE = StageSample(preprocess_s=0.010, inference_s=0.050, postprocess_s=0.020)
# CPU inference: 20 ms plus 1 ms a token (50 ms at 30 tokens); short is at most 128 tokens.
ROUTING = SmartRouting(128, CpuInferenceTimes([(10, 0.030), (110, 0.130)]))
SHORT, LONG = 30, 500
HOP_S = 0.1  # Runpod's queue delay per job on a queue-based endpoint
ORCHESTRATOR_HOP_S = 0.005  # the orchestrator's CPU per call it makes


def layout(name: str, orchestrator_billed: bool = True):
    """Cold starts: orchestrator 1 s, preprocess 2 s, inference and single 5 s, CPU inference
    and single_cpu 3 s, postprocess 1.5 s; idle timeouts 5 s; $0.0002/s CPU, $0.0015/s GPU."""
    configs = endpoint_settings(orchestrator_billed=orchestrator_billed).configs()
    inputs = LayoutInputs(configs, ROUTING, ORCHESTRATOR_HOP_S, orchestrator_billed)
    return build(name, inputs)


def one_request(name: str, tokens: int = LONG, orchestrator_billed: bool = True) -> SimResult:
    chosen = layout(name, orchestrator_billed)
    return simulate(chosen.endpoints, [0.0], [chosen.route(SAMPLE, tokens)], hop_s=HOP_S)


def billed(result: SimResult) -> dict[str, float]:
    return {u.name: u.billed_s for u in result.endpoints if u.billed_s}


def queue_jobs(name: str, tokens: int) -> int:
    """The jobs a request sends to queue-based endpoints: the hops that pay the delay."""
    (orchestrator_job,) = layout(name).route(SAMPLE, tokens)
    return sum(1 for lane, _ in orchestrator_job[1] if lane == CALL)


@pytest.mark.parametrize(
    ("name", "short", "long"),
    [
        ("split", 3, 3),
        ("inline", 1, 1),
        ("single", 1, 1),
        ("split-smart", 3, 3),
        ("inline-smart", 0, 1),
        ("single-smart", 1, 1),
    ],
)
def test_each_layout_makes_its_hops(name, short, long):
    assert (queue_jobs(name, SHORT), queue_jobs(name, LONG)) == (short, long)


def test_the_split_pays_the_orchestrator_and_three_hops():
    # One request at t=0, every worker cold. The orchestrator O (a load balancer: no hop) starts
    # at 0, ready 1.0, spends 3 x 5 ms on its calls: 1.015. Each call waits the 0.1 s hop:
    #   preprocess  P: queued 1.115, ready 3.115, done 3.125, stops 8.125: 7.01 s  -> 8 s
    #   inference   I: queued 3.225, ready 8.225, done 8.275, stops 13.275: 10.05 s -> 11 s
    #   postprocess Q: queued 8.375, ready 9.875, done 9.895, stops 14.895: 6.52 s -> 7 s
    #   O holds the request until 9.895, stops 14.895: 14.895 s -> 15 s
    # (15 + 8 + 7) x 0.0002 + 11 x 0.0015 = 0.006 + 0.0165 = $0.0225, answered at 9.895 s.
    split = one_request("split")
    assert billed(split) == {"orchestrator": 15, "preprocess": 8, "inference": 11, "postprocess": 7}
    assert split.cost_usd == pytest.approx(0.0225)
    assert split.latencies_s == pytest.approx([9.895])


def test_inline_runs_the_cpu_stages_in_the_orchestrator_with_one_hop():
    # The orchestrator loads the tokenizer too: its cold start is the slower of its own (1 s)
    # and preprocess's (2 s). O ready 2.0; preprocess and its call 0.010 + 0.005: 2.015;
    #   inference I: queued 2.115, ready 7.115, done 7.165, stops 12.165: 10.05 s -> 11 s
    #   O: postprocess 0.020, done 7.185, stops 12.185: 12.185 s -> 13 s
    # 13 x 0.0002 + 11 x 0.0015 = 0.0026 + 0.0165 = $0.0191, answered at 7.185 s.
    inline = one_request("inline")
    assert inline.endpoints[0].name == "orchestrator"
    assert billed(inline) == {"orchestrator": 13, "inference": 11}
    assert inline.cost_usd == pytest.approx(0.0191)
    assert inline.latencies_s == pytest.approx([7.185])


def test_single_runs_all_three_stages_in_one_gpu_job():
    # O ready 1.0, its call 0.005: 1.005; single S: queued 1.105, ready 6.105, runs 0.010 +
    # 0.050 + 0.020, done 6.185, stops 11.185: 10.08 s -> 11 s; O stops 11.185: 12 s.
    # 12 x 0.0002 + 11 x 0.0015 = 0.0024 + 0.0165 = $0.0189, answered at 6.185 s.
    single = one_request("single")
    assert billed(single) == {"orchestrator": 12, "single": 11}
    assert single.cost_usd == pytest.approx(0.0189)
    assert single.latencies_s == pytest.approx([6.185])


def test_inline_smart_answers_a_short_text_on_the_orchestrator_alone():
    # The orchestrator loads the ONNX model too: cold start max(1, 2, 3) = 3 s. A short text
    # (30 tokens: 50 ms of CPU inference) runs 0.010 + 0.050 + 0.020 s in it: done 3.080,
    # stops 8.080: 9 s x 0.0002 = $0.0018. No hop, and no GPU worker ever starts.
    short = one_request("inline-smart", SHORT)
    assert billed(short) == {"orchestrator": 9}
    assert short.cost_usd == pytest.approx(0.0018)
    assert short.latencies_s == pytest.approx([3.08])
    assert short.endpoints[1].workers_started == 0
    # A long one goes to the GPU as inline's does, 1 s later (the larger cold start):
    # I queued 3.115, ready 8.115, done 8.165, stops 13.165 (11 s); O done 8.185, stops
    # 13.185 (14 s): 14 x 0.0002 + 11 x 0.0015 = $0.0193.
    long = one_request("inline-smart", LONG)
    assert billed(long) == {"orchestrator": 14, "inference": 11}
    assert long.cost_usd == pytest.approx(0.0193)


def test_single_smart_sends_a_short_text_to_the_all_stage_cpu_endpoint():
    # The orchestrator loads the tokenizer too: cold start max(1, 2) = 2 s. It tokenizes to
    # choose (the preprocess time) and calls: 2.0 + 0.015. single_cpu C: queued 2.115, ready
    # 5.115, runs 0.010 + 0.050 + 0.020, done 5.195, stops 10.195: 8.08 s -> 9 s; O stops
    # 10.195: 11 s. (11 + 9) x 0.0002 = $0.0040.
    short = one_request("single-smart", SHORT)
    assert billed(short) == {"orchestrator": 11, "single_cpu": 9}
    assert short.cost_usd == pytest.approx(0.0040)
    assert short.latencies_s == pytest.approx([5.195])


def test_split_smart_sends_a_short_text_to_the_cpu_inference_endpoint():
    # As the split, with inference_cpu C for the middle hop: queued 3.225, ready 6.225, done
    # 6.275, stops 11.275: 8.05 s -> 9 s; Q queued 6.375, ready 7.875, done 7.895, stops
    # 12.895: 7 s; O stops 12.895: 13 s. (13 + 8 + 9 + 7) x 0.0002 = $0.0074, at 7.895 s.
    short = one_request("split-smart", SHORT)
    assert billed(short) == {"orchestrator": 13, "preprocess": 8, "inference_cpu": 9}.__or__(
        {"postprocess": 7}
    )
    assert short.cost_usd == pytest.approx(0.0074)
    assert short.latencies_s == pytest.approx([7.895])


def test_an_orchestrator_elsewhere_bills_nothing_and_starts_at_once():
    # --orchestrator none: no cold start, no bill; its work and the hops still take time.
    # Split: calls 0.015; P queued 0.115, ready 2.115, done 2.125, stops 7.125 (8 s); I queued
    # 2.225, ready 7.225, done 7.275 (11 s); Q queued 7.375, ready 8.875, done 8.895 (7 s):
    # (8 + 7) x 0.0002 + 11 x 0.0015 = $0.0195, answered at 8.895 s.
    split = one_request("split", orchestrator_billed=False)
    orchestrator = split.endpoints[0]
    assert (orchestrator.name, orchestrator.cost_usd) == ("orchestrator", 0)
    assert split.cost_usd == pytest.approx(0.0195)
    assert split.latencies_s == pytest.approx([8.895])
    # Inline, elsewhere: the orchestrator's cold start is 0 whatever it loads; only the GPU
    # bills: I queued 0.115, ready 5.115, done 5.165, stops 10.165: 11 s x 0.0015.
    inline = one_request("inline", orchestrator_billed=False)
    assert inline.cost_usd == pytest.approx(0.0165)
    assert inline.latencies_s == pytest.approx([5.185])


QUICK = ["--requests", "5", "--break-even-rates", "none", "--short-shares", "none", "--quiet"]


def test_the_queue_hop_defaults_to_runpods_reported_delay_with_its_source(capsys):
    assert DEFAULT_HOP_MS == 100
    args = build_parser().parse_args([])
    assert args.hop_ms == 100 and args.orchestrator == "endpoint"
    assert SweepSettings().hop_s == pytest.approx(0.1)
    assert "runpod-workers/worker-infinity-embedding#5" in HOP_SOURCE
    main(["--rates", "1/h", *QUICK, "--layouts", "single", "--no-plot"])
    out = capsys.readouterr().out
    assert f"- queue hop: 100 ms per job on a queue-based endpoint ({HOP_SOURCE})" in out
    assert "- orchestrator: a Runpod load-balancing endpoint on a CPU instance, billed" in out
    assert "- orchestrator: $0.0002/s, cold start" in out
    main(["--rates", "1/h", *QUICK, "--no-plot", "--hop-ms", "30", "--orchestrator", "none"])
    out = capsys.readouterr().out
    assert "- queue hop: 30 ms per job on a queue-based endpoint (set by --hop-ms)" in out
    assert "- orchestrator: elsewhere (--orchestrator none): no cold start, not billed" in out
    assert "- orchestrator: $" not in out


def test_the_shipped_times_are_labelled_as_measured_on_a_cpu(capsys):
    main(["--rates", "1/h", *QUICK, "--layouts", "split", "--no-plot"])
    out = capsys.readouterr().out
    assert "measured on 2 cores" in out and "GPU: none" in out
    assert "measured without a GPU: their inference time is a CPU's, not a GPU's" in out


def costing(usd_per_1000: float, overloaded: bool = False) -> SimResult:
    usage = EndpointUsage("x", 1.0, usd_per_1000, 0.0, 0.0, 1, 1, load=2.0 if overloaded else 0.5)
    return SimResult(endpoints=[usage], requests=1000, latencies_s=[usd_per_1000 / 10])


def test_the_cheapest_layout_leaves_out_the_overloaded_and_says_by_how_much():
    point = RatePoint(
        1.0,
        {"split": costing(3.0), "inline": costing(2.0), "single": costing(2.5)}
        | {"inline-smart": costing(1.0, overloaded=True)},
    )
    found = recommend.recommend(point)
    # inline $2.00 against single $2.50: 20% cheaper; p50 0.2 s, the fastest of those left.
    assert (found.cheapest, found.runner_up, found.overloaded) == (
        "inline",
        "single",
        ("inline-smart",),
    )
    assert found.saving == pytest.approx(0.2)
    assert (found.fastest, found.p50_s) == ("inline", pytest.approx(0.2))


def test_the_break_even_search_finds_where_the_split_becomes_cheaper(monkeypatch):
    # Stand-in costs, linear in the scale k of the CPU stages: split 200 + 0.1 k, inline
    # 150 + 0.5 k. They cross at k = 50 / 0.4 = 125. Doubling brackets it in (64, 128], four
    # bisections narrow that to within a factor 2^(1/16) above 125.
    def fake_run_point(layouts, rate, samples, settings):
        k = samples[0].preprocess_s / SAMPLE.preprocess_s
        return RatePoint(rate, {"split": costing(200 + 0.1 * k), "inline": costing(150 + 0.5 * k)})

    monkeypatch.setattr(recommend, "run_point", fake_run_point)
    split, inline = layout("split"), layout("inline")
    found = recommend.break_even(split, inline, 1.0, [SAMPLE], SweepSettings())
    assert 125 <= found.scale <= 125 * 2 ** (1 / 16)
    assert found.tried[:8] == [1, 2, 4, 8, 16, 32, 64, 128]
    # Preprocess + postprocess: 30 ms a request at k = 1.
    assert found.cpu_ms == pytest.approx(30 * found.scale)
    # Never cheaper: None; already cheaper at the given times: 1.
    monkeypatch.setattr(
        recommend,
        "run_point",
        lambda *a: RatePoint(1.0, {"split": costing(2), "inline": costing(1)}),
    )
    assert recommend.break_even(split, inline, 1.0, [SAMPLE], SweepSettings()).scale is None
    monkeypatch.setattr(
        recommend,
        "run_point",
        lambda *a: RatePoint(1.0, {"split": costing(1), "inline": costing(2)}),
    )
    assert recommend.break_even(split, inline, 1.0, [SAMPLE], SweepSettings()).scale == 1


def write_inputs(tmp_path) -> list[str]:
    """The hand-worked inputs above as files: every request 10/50/20 ms and 30 tokens."""
    timings = {
        stage: {"round_trip_ms": ms, "queue_ms": None, "execution_ms": None, "jobs": 1}
        for stage, ms in (("preprocess", 10), ("inference", 50), ("postprocess", 20))
    }
    header = {
        "machine": {"cores": 2, "cpu_model": "test", "gpu": None},
        "model": "hand-worked",
        "cold_start_s": {"orchestrator": 1, "preprocess": 2, "inference": 5, "postprocess": 1.5},
    }
    stage_times = tmp_path / "stage_times.jsonl"
    record = {"timings": {**timings, "total_ms": 80}}
    stage_times.write_text("\n".join(json.dumps(r) for r in (header, record)))
    cpu_header = {"machine": {"cores": 2, "gpu": None}, "cold_start_s": {"inference_cpu": 3}}
    cpu_times = tmp_path / "cpu_times.jsonl"
    cpu_times.write_text(
        "\n".join(
            json.dumps(r)
            for r in (
                cpu_header,
                {"tokens": 10, "round_trip_ms": 30},
                {"tokens": 110, "round_trip_ms": 130},
            )
        )
    )
    lengths = tmp_path / "lengths.txt"
    lengths.write_text("30\n")
    return [
        *("--stage-times", str(stage_times), "--cpu-inference-times", str(cpu_times)),
        *("--text-lengths", str(lengths), "--max-cpu-tokens", "128"),
        *("--orchestrator-hop-ms", "5", "--hop-ms", "100", "--warmup-s", "0"),
    ]


def test_recommend_prints_the_deploy_line_for_a_hand_checked_input(tmp_path, capsys):
    # One request an hour, every one a short text: each meets cold workers, so each costs
    # what one request costs above: inline-smart $0.0018, single-smart $0.0040, split-smart
    # $0.0074 (all short), single $0.0189, inline $0.0191, split $0.0225. Per 1,000:
    # inline-smart $1.80, then single-smart $4.00: 1 - 1.8 / 4.0 = 55% cheaper, at a p50 of
    # 3.080 s, the fastest too. (Poisson arrivals now and then come within a worker's
    # lifetime of each other, and share it: figures within 2%.)
    args = write_inputs(tmp_path)
    assert main([*args, "--recommend", "--rate", "1/h", "--requests", "300", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "Inputs (every figure below holds for these only):" in out
    row = next(line for line in out.splitlines() if line.startswith("| 1/h | inline-smart |"))
    cells = [cell.strip() for cell in row.split("|")[1:-1]]
    assert float(cells[2].removeprefix("$")) == pytest.approx(1.80, rel=0.02)
    assert cells[3] == "55% on single-smart"
    assert cells[4] == "3.080 s" and cells[5] == "inline-smart (3.080 s)"
    # The split never pays against inline here (the same CPU work on the same CPU price, and
    # three hops); against single it does once the CPU stages take seconds.
    assert "against inline: never, up to 1024 times (30,720 ms)" in out
    assert out.rstrip().endswith('[deployment] table:\n\nlayout = "inline"\nsmart = true')
    assert "Plot:" not in out
