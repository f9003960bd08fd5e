"""The cost model's arithmetic, against cases worked out by hand, and its command."""

import json
import math
import random
from pathlib import Path

import pytest

from contracts import StagePrices
from cost_model import report
from cost_model.__main__ import main
from cost_model.layouts import LAYOUTS, EndpointSettings
from cost_model.simulator import CPU, EndpointConfig, EndpointUsage, SimResult, simulate
from cost_model.stage_times import SHIPPED, StageSample, StageTimesError, load
from cost_model.sweep import RatePoint, SweepSettings, crossings, run_point
from cost_model.traffic import DAY_S, PROFILES

CPU_PRICE, GPU_PRICE = 0.0002, 0.0015


def configs(**overrides) -> dict[str, EndpointConfig]:
    """Cold starts 2 s (preprocess), 5 s (inference, GPU-only), 1.5 s (postprocess)."""
    cold = {"preprocess": 2.0, "inference": 5.0, "postprocess": 1.5, "gpu_only": 5.0}
    settings = EndpointSettings(
        prices=StagePrices(),
        cold_start_s=cold,
        image_pull_s=dict.fromkeys(cold, 0.0),
        idle_timeout_s=dict.fromkeys(cold, 5.0),
        workers_min=dict.fromkeys(cold, 0),
        workers_max=dict.fromkeys(cold, 3),
        concurrency=dict.fromkeys(cold, 8),
        cpu_lanes=dict.fromkeys(cold, 1),
        **overrides,
    )
    return settings.configs()


SAMPLE = StageSample(preprocess_s=0.010, inference_s=0.050, postprocess_s=0.020)


def run_layout(name: str, arrivals: list[float], window=None, **overrides) -> SimResult:
    layout = LAYOUTS[name](configs(**overrides))
    routes = [layout.route(SAMPLE) for _ in arrivals]
    return simulate(layout.endpoints, arrivals, routes, window=window)


def billed(result: SimResult) -> dict[str, float]:
    return {usage.name: round(usage.billed_s, 9) for usage in result.endpoints}


def test_one_request_an_hour_costs_cold_start_execution_and_idle_timeout_on_each_endpoint():
    # Each request finds every endpoint cold. Split, one request at t=0:
    #   preprocess  starts 0,     ready 2.00, done 2.010, stops 7.010: 7.01 s  -> 8 s billed
    #   inference   starts 2.010, ready 7.01, done 7.060, stops 12.06: 10.05 s -> 11 s
    #   postprocess starts 7.060, ready 8.56, done 8.580, stops 13.58: 6.52 s  -> 7 s
    #   8 x 0.0002 + 11 x 0.0015 + 7 x 0.0002 = 0.0016 + 0.0165 + 0.0014 = $0.0195
    # The request answers at 8.58 s. A second one an hour later costs the same again.
    split = run_layout("split", [0.0, 3600.0], window=(0.0, 7200.0))
    assert billed(split) == {"preprocess": 16.0, "inference": 22.0, "postprocess": 14.0}
    assert split.cost_usd == pytest.approx(2 * 0.0195)
    assert split.cost_per_1000_usd == pytest.approx(19.5)
    assert split.latencies_s == pytest.approx([8.58, 8.58])
    assert [u.workers_started for u in split.endpoints] == [2, 2, 2]

    # GPU-only: one worker, cold 5 s, then 0.01 + 0.05 + 0.02 s, idle 5 s: 10.08 s -> 11 s,
    # 11 x 0.0015 = $0.0165 a request, answered at 5.08 s.
    gpu_only = run_layout("gpu-only", [0.0, 3600.0], window=(0.0, 7200.0))
    assert billed(gpu_only) == {"gpu_only": 22.0}
    assert gpu_only.cost_usd == pytest.approx(2 * 0.0165)
    assert gpu_only.latencies_s == pytest.approx([5.08, 5.08])


def test_a_steady_load_that_keeps_one_worker_busy_costs_one_workers_uptime():
    # One job every 0.5 s for an hour, each taking 0.5 s, one job at a time: one worker,
    # started at 0 (no cold start), busy until 3600, idle 5 s: 3605 s, x $0.0015 = $5.4075.
    # No job ever waits, so the scaler never starts a second one.
    endpoint = EndpointConfig("gpu", GPU_PRICE, cold_start_s=0.0, concurrency=1, workers_max=3)
    arrivals = [k * 0.5 for k in range(7200)]
    routes = [[(0, ((CPU, 0.5),))]] * len(arrivals)
    result = simulate([endpoint], arrivals, routes)
    (usage,) = result.endpoints
    assert usage.workers_started == 1 and usage.peak_workers == 1
    assert usage.billed_s == 3605
    assert result.cost_usd == pytest.approx(3605 * GPU_PRICE)
    assert set(result.latencies_s) == {0.5}


def test_min_workers_bill_around_the_clock():
    # One active worker for a day: 86,400 s x $0.0015 = $129.60, requests or not;
    # with Runpod's 30 % active discount, $90.72. It is always warm: no cold start.
    endpoint = EndpointConfig("gpu", GPU_PRICE, cold_start_s=5.0, workers_min=1)
    idle = simulate([endpoint], [], [], window=(0.0, 86_400.0))
    assert idle.cost_usd == pytest.approx(129.60)

    one_request = simulate([endpoint], [3600.0], [[(0, ((CPU, 0.2),))]], window=(0.0, 86_400.0))
    assert one_request.cost_usd == pytest.approx(129.60)
    assert one_request.latencies_s == pytest.approx([0.2])
    assert one_request.endpoints[0].workers_started == 0

    discounted = EndpointConfig("gpu", GPU_PRICE, 5.0, workers_min=1, active_discount=0.3)
    assert simulate([discounted], [], [], window=(0.0, 86_400.0)).cost_usd == pytest.approx(90.72)


def test_a_burst_beyond_workers_max_queues():
    # Ten 1 s jobs at t=0, one job per worker, no cold start, at most two workers.
    # Worker A starts at once and runs jobs 0, 1, 2, 3 (done at 1, 2, 3, 4). At t=4 the jobs
    # still queued have waited Runpod's 4 s queue delay: B starts; A and B then run 4 and 5
    # (done at 5), 6 and 7 (at 6), 8 and 9 (at 7). A third worker is never allowed.
    # Billed: A 0 -> 7 + 5 s idle = 12 s, B 4 -> 12 = 8 s: 20 worker-seconds.
    endpoint = EndpointConfig("cpu", CPU_PRICE, cold_start_s=0.0, concurrency=1, workers_max=2)
    routes = [[(0, ((CPU, 1.0),))]] * 10
    result = simulate([endpoint], [0.0] * 10, routes)
    assert result.latencies_s == [1, 2, 3, 4, 5, 5, 6, 6, 7, 7]
    (usage,) = result.endpoints
    assert (usage.workers_started, usage.peak_workers) == (2, 2)
    assert usage.billed_s == 20

    # One worker at most: the burst drains one job a second, the last after 10 s.
    single = EndpointConfig("cpu", CPU_PRICE, cold_start_s=0.0, concurrency=1, workers_max=1)
    assert simulate([single], [0.0] * 10, routes).latencies_s == list(range(1, 11))


def test_the_request_count_scaler_keeps_one_worker_per_n_requests():
    # Ten jobs at once, scaler value 4: ceil(10 / 4) = 3 workers; eight jobs: 2.
    endpoint = EndpointConfig(
        "cpu", CPU_PRICE, 1.0, concurrency=1, workers_max=5, scaler="request_count"
    )
    for jobs, workers in ((10, 3), (8, 2)):
        result = simulate([endpoint], [0.0] * jobs, [[(0, ((CPU, 1.0),))]] * jobs)
        assert result.endpoints[0].workers_started == workers


def test_cpu_work_of_held_jobs_takes_turns_and_gpu_work_is_batched():
    # Four jobs held by one warm worker at once: CPU phases run one after another
    # (0.1, 0.2, 0.3, 0.4 s), GPU phases side by side (all done at 0.1 s).
    warm = {"cold_start_s": 0.0, "workers_min": 1, "workers_max": 1, "concurrency": 4}
    for lane, expected in ((CPU, [0.1, 0.2, 0.3, 0.4]), (1, [0.1] * 4)):
        endpoint = EndpointConfig("w", GPU_PRICE, **warm)
        result = simulate([endpoint], [0.0] * 4, [[(0, ((lane, 0.1),))]] * 4, window=(0, 10))
        assert result.latencies_s == pytest.approx(expected)


def test_a_lifetime_crossing_the_window_edge_is_billed_for_its_part_inside():
    # A worker up from 0 to 10.5 s bills 11 s; a window (0, 5.25) holds half of it: 5.5 s.
    endpoint = EndpointConfig("cpu", CPU_PRICE, cold_start_s=0.0, idle_timeout_s=5.0)
    result = simulate([endpoint], [0.0], [[(0, ((CPU, 5.5),))]], window=(0.0, 5.25))
    assert result.endpoints[0].billed_s == pytest.approx(5.5)


def sweep_point(seed: int) -> RatePoint:
    layouts = [make(configs()) for make in LAYOUTS.values()]
    samples = [SAMPLE, StageSample(0.02, 0.2, 0.01)]
    settings = SweepSettings(requests=300, warmup_s=30, seed=seed)
    return run_point(layouts, 2.0, samples, settings)


def test_the_simulation_is_deterministic_under_a_seed():
    first, again, other = sweep_point(7), sweep_point(7), sweep_point(8)
    for name in LAYOUTS:
        assert first.results[name] == again.results[name]
        assert first.results[name].latencies_s != other.results[name].latencies_s


def result_costing(usd_per_1000: float) -> SimResult:
    usage_s = usd_per_1000 / GPU_PRICE
    usage = EndpointUsage("gpu_only", GPU_PRICE, usage_s, 0.0, 0.0, 1, 1)
    return SimResult(endpoints=[usage], requests=1000, latencies_s=[0.1])


def test_the_break_even_sentence():
    # USD per 1,000 requests: split 2.0 vs GPU-only 1.0 at 1/s, 1.5 vs 1.0 at 10/s, 0.5 vs
    # 1.0 at 100/s.
    points = [
        RatePoint(rate, {"split": result_costing(split), "gpu-only": result_costing(1.0)})
        for rate, split in ((1.0, 2.0), (10.0, 1.5), (100.0, 0.5))
    ]
    (crossing,) = crossings(points, "split", "gpu-only")
    # Relative difference +0.5 at 10/s, -0.5 at 100/s: halfway in log(rate), 31.6/s.
    assert crossing.rate == pytest.approx(math.sqrt(10 * 100))
    assert crossing.cheaper_above == "split"
    assert report.verdict(points, [crossing]) == (
        "Below 32 requests per second (31.6/s) the GPU-only layout is cheaper; "
        "above it the split saves up to 50% (at 100/s)."
    )


def write_jsonl(path, records) -> None:
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")


def stage(ms: float, execution_ms: float | None = None) -> dict:
    return {"round_trip_ms": ms, "queue_ms": None, "execution_ms": execution_ms, "jobs": 1}


def test_stage_times_come_from_any_jsonl_of_pipeline_timings(tmp_path):
    timings = {"preprocess": stage(4), "inference": stage(20, 12), "postprocess": stage(6)}
    path = tmp_path / "answers.jsonl"
    write_jsonl(
        path,
        [
            {"machine": {"cores": 2, "gpu": None}, "cold_start_s": {"inference": 4.5}},
            {"classification": {}, "timings": {**timings, "total_ms": 30}},  # a whole answer
            {**timings, "total_ms": 30},  # the timings object alone
            {"timings": {"preprocess": stage(3), "total_ms": 3}},  # one stage only: skipped
        ],
    )
    measured = load(path)
    # execution_ms when the endpoint reported it, else the round trip.
    assert measured.samples == [StageSample(0.004, 0.012, 0.006)] * 2
    assert measured.skipped == 1
    assert measured.fields_used == {"execution_ms", "round_trip_ms"}
    assert measured.cold_starts_s == {"inference": 4.5}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"timings": {"total_ms": 1}}\nnot json\n', "line 2: not JSON"),
        ("[1, 2]\n", "line 1: expected a JSON object"),
        ('{"timings": {"preprocess": {"round_trip_ms": "fast"}, "total_ms": 1}}\n', "line 1"),
        ('{"timings": {"total_ms": 1}}\n', "no record with timings for all three stages"),
    ],
)
def test_bad_stage_times_files_are_named_with_the_line(tmp_path, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(StageTimesError, match=message):
        load(path)


def test_the_shipped_measurements_load_with_their_machine_and_cold_starts():
    measured = load(SHIPPED)
    assert len(measured.samples) >= 100
    assert measured.header["machine"]["cores"]
    assert set(measured.cold_starts_s) == {"preprocess", "inference", "postprocess"}


def test_prices_default_to_the_patterns_and_gpu_only_follows_the_gpu_price():
    prices = StagePrices()
    assert (prices.preprocess, prices.inference, prices.postprocess) == (0.0002, 0.0015, 0.0002)
    assert prices.gpu_only == 0.0015
    assert StagePrices(inference=0.0004).gpu_only == 0.0004
    assert StagePrices(inference=0.0004, gpu_only=0.0009).for_stage("gpu_only") == 0.0009
    with pytest.raises(ValueError, match="no price for 'orchestrator'"):
        prices.for_stage("orchestrator")


def test_the_command_prints_the_table_and_writes_the_plot(tmp_path, capsys):
    plot = tmp_path / "cost.png"
    args = ["--rates", "1/h,2/s", "--requests", "40", "--warmup-s", "10", "--quiet"]
    assert main([*args, "--plot", str(plot), "--idle-timeout", "inference=30"]) == 0
    out = capsys.readouterr().out
    assert "| rate | layout | USD per 1,000 requests | p50 latency | p95 latency |" in out
    assert "| 1/h | split |" in out and "| 2/s | split |" in out
    assert "inference: $0.0015/s, cold start" in out and "idle timeout 30 s" in out
    assert "GPU-only layout" in out or "split" in out.splitlines()[-2]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rates", "fast"], "bad rate 'fast'"),
        (["--rates", "0/s"], "must be above 0"),
        (["--idle-timeout", "gpu=3"], "unknown endpoint 'gpu'"),
        (["--workers-max", "inference=two"], "'two' is not a number"),
        (["--workers-max", "0"], "workers_max >= 1"),
        (["--price", "inference=-1"], "--price: inference: Input should be greater than"),
        (["--layouts", "smart"], "unknown ['smart']"),
        (["--stage-times", "missing.jsonl"], "cannot read stage times from missing.jsonl"),
    ],
)
def test_bad_options_get_a_clear_error(args, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--quiet", "--no-plot"])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_the_readme_shows_what_the_command_prints(capsys):
    # The README's "Cost" section is `python -m cost_model`'s own output: rerun it and
    # paste it back when the model or the shipped measurements change.
    assert main(["--quiet", "--no-plot"]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme[readme.index("## Cost") :]
    missing = [line for line in printed if line not in section]
    assert not missing, "README's Cost section differs from the command's output:\n" + "\n".join(
        missing
    )


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_every_traffic_profile_keeps_the_mean_rate(profile):
    # Two whole days at 0.1 requests/s: 17,280 expected; a seeded draw lands within 3 %.
    arrivals = PROFILES[profile](0.1, 2 * DAY_S, random.Random(1))
    assert arrivals == sorted(arrivals)
    assert len(arrivals) == pytest.approx(17_280, rel=0.03)


def test_the_day_profile_has_a_quiet_night():
    arrivals = PROFILES["day"](0.1, DAY_S, random.Random(1))
    night = sum(1 for t in arrivals if t < 8 * 3600)
    # 8 h at 0.2 x 0.1/s = 576 expected at night, 16 h at 1.4 x 0.1/s = 8,064 by day.
    assert night == pytest.approx(576, rel=0.1)
    assert len(arrivals) - night == pytest.approx(8064, rel=0.05)
