"""The cost model's arithmetic, against cases worked out by hand, and its command.

The layouts here run behind an orchestrator that runs elsewhere (`--orchestrator none`: no
cold start, no bill) and spends no CPU per call, with no queue hop, so that each figure is
the stage endpoints' alone; tests/test_cost_layouts.py counts the orchestrator and the hop."""

import json
import random
import re

import pytest

from contracts import DEFAULT_SMART_MAX_CPU_TOKENS, StagePrices
from cost_model import cpu_inference_times, report, text_lengths
from cost_model.__main__ import main
from cost_model.cpu_inference_times import CpuInferenceTimes
from cost_model.endpoints import ENDPOINTS, EndpointSettings, default_prices, defaults, resolve
from cost_model.layouts import LAYOUT_NAMES, LayoutInputs, SmartRouting, build
from cost_model.simulator import CPU, EndpointConfig, SimResult, simulate
from cost_model.stage_times import SHIPPED, StageSample, StageTimesError, load
from cost_model.sweep import RatePoint, ShareRow, SweepSettings, run_point
from cost_model.text_lengths import DEFAULT_MIX, Bucket, TextLengthMix, TextLengthsError
from cost_model.traffic import DAY_S, PROFILES

CPU_PRICE, GPU_PRICE = 0.0002, 0.0015


COLD_STARTS = {"orchestrator": 1.0, "preprocess": 2.0, "inference": 5.0, "inference_cpu": 3.0}
COLD_STARTS["postprocess"] = 1.5


def endpoint_settings(orchestrator_billed: bool = False, **overrides) -> EndpointSettings:
    """Cold starts 1 s (orchestrator), 2 s (preprocess), 5 s (inference, single), 3 s (CPU
    inference, single_cpu), 1.5 s (postprocess); Runpod's and deploy.toml's defaults else."""
    settings = {
        setting: defaults(setting)
        for setting in (
            "idle_timeout",
            "workers_min",
            "workers_max",
            "concurrency",
            "cpu_lanes",
            "scaler",
            "scaler_value",
            "dispatch",
        )
    }
    return EndpointSettings(
        prices=resolve({}, default_prices()),
        cold_start_s=resolve({}, COLD_STARTS),
        image_pull_s=dict.fromkeys(ENDPOINTS, 0.0),
        idle_timeout_s=settings["idle_timeout"],
        workers_min=settings["workers_min"],
        workers_max=settings["workers_max"],
        concurrency=settings["concurrency"],
        cpu_lanes=settings["cpu_lanes"],
        scaler=settings["scaler"],
        scaler_value=settings["scaler_value"],
        dispatch=settings["dispatch"],
        orchestrator_billed=orchestrator_billed,
        **overrides,
    )


def configs(**overrides) -> dict[str, EndpointConfig]:
    return endpoint_settings(**overrides).configs()


SAMPLE = StageSample(preprocess_s=0.010, inference_s=0.050, postprocess_s=0.020)
# The CPU inference endpoint: 20 ms plus 1 ms a token (30 ms at 10 tokens, 130 ms at 110).
ROUTING = SmartRouting(
    max_cpu_tokens=128, cpu_inference=CpuInferenceTimes([(10, 0.030), (110, 0.130)])
)
SHORT, LONG = 30, 500  # tokens: 50 ms on the CPU endpoint; over the threshold


def layout(name: str, **overrides):
    """`name` behind an orchestrator that runs elsewhere and spends no CPU per call."""
    return build(name, LayoutInputs(configs(**overrides), ROUTING, 0.0, False))


def run_layout(
    name: str, arrivals: list[float], window=None, tokens: list[int] | None = None, **overrides
) -> SimResult:
    chosen = layout(name, **overrides)
    routes = [chosen.route(SAMPLE, n) for n in tokens or [LONG] * len(arrivals)]
    return simulate(chosen.endpoints, arrivals, routes, window=window)


def billed(result: SimResult) -> dict[str, float]:
    """Billed seconds by endpoint, leaving out the ones that bill nothing (the orchestrator
    elsewhere)."""
    return {u.name: round(u.billed_s, 9) for u in result.endpoints if u.price_usd_per_s}


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
    assert [u.workers_started for u in split.endpoints[1:]] == [2, 2, 2]

    # Single: one worker, cold 5 s, then 0.01 + 0.05 + 0.02 s, idle 5 s: 10.08 s -> 11 s,
    # 11 x 0.0015 = $0.0165 a request, answered at 5.08 s.
    single = run_layout("single", [0.0, 3600.0], window=(0.0, 7200.0))
    assert billed(single) == {"single": 22.0}
    assert single.cost_usd == pytest.approx(2 * 0.0165)
    assert single.latencies_s == pytest.approx([5.08, 5.08])


def test_all_short_traffic_never_starts_a_gpu_worker():
    # Smart, one short request (30 tokens: 20 + 30 ms on the CPU endpoint) at t=0 and t=3600:
    #   preprocess    starts 0,     ready 2.00, done 2.010, stops 7.010: 7.01 s -> 8 s billed
    #   inference_cpu starts 2.010, ready 5.01, done 5.060, stops 10.06: 8.05 s -> 9 s
    #   postprocess   starts 5.060, ready 6.56, done 6.580, stops 11.58: 6.52 s -> 7 s
    #   (8 + 9 + 7) x 0.0002 = $0.0048 a request, answered at 6.58 s; the split's is $0.0195.
    # The GPU endpoint gets no job: no worker starts, nothing is billed, no cold start waited.
    smart = run_layout("split-smart", [0.0, 3600.0], (0.0, 7200.0), tokens=[SHORT, SHORT])
    assert billed(smart) == {
        "preprocess": 16,
        "inference_cpu": 18,
        "inference": 0,
        "postprocess": 14,
    }
    gpu = smart.endpoints[3]
    assert (gpu.name, gpu.workers_started, gpu.peak_workers, gpu.cost_usd) == ("inference", 0, 0, 0)
    assert smart.cost_usd == pytest.approx(2 * 0.0048)
    assert smart.latencies_s == pytest.approx([6.58, 6.58])


def test_a_short_and_a_long_request_counted_by_hand():
    # Smart, no window (whole lifetimes): A, 30 tokens, at t=0; B, 500 tokens, at t=1.
    #   preprocess P starts 0, ready 2.0; runs A 2.000-2.010, then B 2.010-2.020 (one CPU job
    #     at a time); stops 7.020: 7.02 s -> 8 s.
    #   inference_cpu C (A) starts 2.010, ready 5.010, done 5.060, stops 10.060: 8.05 s -> 9 s.
    #   inference G (B) starts 2.020, ready 7.020, done 7.070, stops 12.070: 10.05 s -> 11 s.
    #   postprocess Q starts 5.060 for A, ready 6.560, A done 6.580; B comes at 7.070 to the
    #     warm Q, done 7.090; stops 12.090: 7.03 s -> 8 s.
    # (8 + 9 + 8) x 0.0002 + 11 x 0.0015 = $0.0215. A answers at 6.58 s, B at 7.09 - 1 = 6.09 s.
    smart = run_layout("split-smart", [0.0, 1.0], tokens=[SHORT, LONG])
    assert billed(smart) == {"preprocess": 8, "inference_cpu": 9, "inference": 11, "postprocess": 8}
    assert smart.cost_usd == pytest.approx(0.0215)
    assert smart.latencies_s == pytest.approx([6.09, 6.58])
    # The split sends both to the GPU: G starts 2.010 for A, ready 7.010, runs A and B side by
    # side, done 7.060, stops 12.060 (11 s); Q starts 7.060, ready 8.560, A and B done 8.580
    # and 8.600, stops 13.600 (7 s). (8 + 7) x 0.0002 + 11 x 0.0015 = $0.0195: the smart
    # layout paid the CPU endpoint's cold start and idle timeout on top, and answered sooner.
    split = run_layout("split", [0.0, 1.0], tokens=[SHORT, LONG])
    assert billed(split) == {"preprocess": 8, "inference": 11, "postprocess": 7}
    assert split.cost_usd == pytest.approx(0.0195)
    assert split.latencies_s == pytest.approx([7.6, 8.58])


def all_of(low: int, high: int) -> TextLengthMix:
    return TextLengthMix((Bucket(low, high, 1.0),), f"{low}-{high} tokens")


def test_all_long_traffic_costs_what_the_split_does_and_nothing_on_the_cpu_endpoint():
    # Requests over the threshold take the split's path: same arrivals, same stage times, so
    # the same three endpoints' bills, and the CPU inference endpoint never starts.
    samples = [SAMPLE, StageSample(0.02, 0.2, 0.01)]
    settings = SweepSettings(requests=300, warmup_s=30, text_lengths=all_of(129, 2048))
    layouts = [layout(name) for name in ("split", "split-smart")]
    for rate in (1 / 60, 2.0, 40.0):
        point = run_point(layouts, rate, samples, settings)
        split, smart = point.results["split"], point.results["split-smart"]
        by_name = {usage.name: usage for usage in smart.endpoints}
        cpu = by_name.pop("inference_cpu")
        assert (cpu.billed_s, cpu.workers_started, cpu.cost_usd) == (0, 0, 0)
        assert list(by_name.values()) == split.endpoints
        assert smart.cost_usd == split.cost_usd
        assert smart.latencies_s == split.latencies_s


def test_a_sweep_of_short_traffic_bills_no_gpu_second():
    settings = SweepSettings(requests=300, warmup_s=30, text_lengths=all_of(8, 128))
    smart = layout("split-smart")
    for rate in (1 / 60, 2.0):
        result = run_point([smart], rate, [SAMPLE], settings).results["split-smart"]
        gpu = next(usage for usage in result.endpoints if usage.name == "inference")
        assert (gpu.billed_s, gpu.workers_started) == (0, 0)


def test_the_cpu_inference_time_is_interpolated_by_tokens():
    times = CpuInferenceTimes([(110, 0.130), (10, 0.030)])  # sorted on the way in
    assert times.seconds(4) == 0.030  # below the smallest size: its time
    assert times.seconds(60) == pytest.approx(0.080)
    assert times.seconds(110) == pytest.approx(0.130)
    assert times.seconds(1010) == pytest.approx(1.030)  # along the last two sizes' line
    assert CpuInferenceTimes([(100, 0.1)]).seconds(300) == pytest.approx(0.3)


def test_the_shipped_cpu_inference_times_load_with_their_machine_and_cold_start():
    times = cpu_inference_times.load()
    assert len(times.points) >= 5
    assert set(times.cold_starts_s) == {"inference_cpu"}
    assert times.header["machine"]["cores"]
    # More tokens never cost less time than the fewest: the fixed cost comes first.
    assert times.seconds(2048) > times.seconds(DEFAULT_SMART_MAX_CPU_TOKENS) > 0


def test_the_default_text_length_mix_is_mostly_short_with_a_long_tail():
    assert DEFAULT_MIX.short_share(64) == pytest.approx(0.60)
    assert DEFAULT_MIX.short_share(128) == pytest.approx(0.80)
    drawn = DEFAULT_MIX.draw(random.Random(1), 10_000)
    assert sum(n <= 128 for n in drawn) == pytest.approx(8000, rel=0.03)
    assert min(drawn) >= 8 and max(drawn) <= 2048 and max(drawn) > 1000


def test_a_short_share_reweights_each_side_of_the_threshold_and_keeps_its_shape():
    # 8-32 35%, 33-64 25%, 65-128 20% | 129-256 10%, 257-512 6%, 513-2048 4%; at 90% short
    # the short side is scaled by 0.9 / 0.8, the long side by 0.1 / 0.2.
    mix = DEFAULT_MIX.with_short_share(0.9, 128)
    assert [b.weight for b in mix.buckets] == pytest.approx(
        [0.35 * 1.125, 0.25 * 1.125, 0.20 * 1.125, 0.05, 0.03, 0.02]
    )
    # A bucket across the threshold is cut at it, in proportion to its token counts:
    # 101-200 at 150 tokens is 50 counts short (101-150), 50 long.
    cut = all_of(101, 200).with_short_share(0.3, 150)
    assert cut.buckets == (Bucket(101, 150, 0.3), Bucket(151, 200, 0.7))
    assert all(n <= 128 for n in DEFAULT_MIX.with_short_share(1, 128).draw(random.Random(), 500))
    with pytest.raises(TextLengthsError, match="no request has more than 128 tokens"):
        all_of(8, 100).with_short_share(0.5, 128)


def test_text_lengths_come_from_counts_or_smart_answers(tmp_path):
    path = tmp_path / "lengths.txt"
    path.write_text(
        "# tokens per request\n"
        "40\n"
        "40, 2  # seen twice more\n"
        '{"route": {"endpoint": "cpu", "tokens": 300}}\n'
        '{"error": "bad input"}\n'
        '{"tokens": 12}\n'
    )
    mix = text_lengths.load(path)
    assert mix.buckets == (Bucket(12, 12, 1), Bucket(40, 40, 3), Bucket(300, 300, 1))
    assert mix.short_share(128) == pytest.approx(0.8)


def test_an_endpoint_given_more_work_than_its_workers_can_do_is_overloaded():
    # One worker at most, one job at a time, a 1 s job every 0.5 s: twice what it can do.
    endpoint = EndpointConfig("cpu", CPU_PRICE, cold_start_s=0.0, concurrency=1, workers_max=1)
    arrivals = [k * 0.5 for k in range(200)]
    result = simulate([endpoint], arrivals, [[(0, ((CPU, 1.0),))]] * 200, window=(0.0, 100.0))
    assert result.endpoints[0].load == pytest.approx(2.0)
    assert [u.name for u in result.overloaded] == ["cpu"]
    point = RatePoint(2.0, {"split": result})
    assert "split (overloaded: cpu at 2.0x)" in report.table([point], ["split"])
    assert report.OVERLOADED_NOTE in report.table([point], ["split"])
    # Three workers could do 3 s of work a second: a load of 2/3, not overloaded.
    relaxed = EndpointConfig("cpu", CPU_PRICE, 0.0, concurrency=1, workers_max=3)
    routes = [[(0, ((CPU, 1.0),))]] * 200
    assert not simulate([relaxed], arrivals, routes, window=(0.0, 100.0)).overloaded


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
    layouts = [layout(name) for name in LAYOUT_NAMES]
    samples = [SAMPLE, StageSample(0.02, 0.2, 0.01)]
    settings = SweepSettings(requests=300, warmup_s=30, seed=seed)
    return run_point(layouts, 2.0, samples, settings)


def test_the_simulation_is_deterministic_under_a_seed():
    first, again, other = sweep_point(7), sweep_point(7), sweep_point(8)
    for name in LAYOUT_NAMES:
        assert first.results[name] == again.results[name]
        assert first.results[name].latencies_s != other.results[name].latencies_s


def test_where_smart_pays_is_read_off_the_shares():
    # Smart against split: +10% at 25% short, -30% at 50%: even a quarter of the way between,
    # at 31.25% short.
    row = ShareRow(1.0, {0.25: 0.10, 0.5: -0.30, 1.0: -0.6})
    assert row.pays_from() == pytest.approx(0.3125)
    assert ShareRow(1.0, {0.25: -0.1, 0.5: -0.3}).pays_from() == 0  # at every share tried
    assert ShareRow(1.0, {0.25: 0.1, 0.5: 0.2}).pays_from() is None  # at none
    # An overloaded share is left out: its cost is too low to trust.
    overloaded = ShareRow(20.0, {0.5: 0.2, 1.0: -0.5}, overloaded={1.0})
    assert overloaded.pays_from() is None
    table = report.share_table([row], [0.25, 0.5, 1.0], 128, "split-smart", "split").splitlines()
    assert "| 1/s | +10% | -30% | -60% | 31% short |" in table
    lines = report.share_table([overloaded], [0.5, 1.0], 128, "split-smart", "split").splitlines()
    assert "| 20/s | +20% | -50%* | never* |" in lines
    assert any(line.startswith("\\* split-smart overloaded") for line in lines)


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


STAGE_TIMES, CPU_TIMES, LENGTHS = load, cpu_inference_times.load, text_lengths.load


@pytest.mark.parametrize(
    ("read", "content", "message"),
    [
        (STAGE_TIMES, '{"timings": {"total_ms": 1}}\nnot json\n', "line 2: not JSON"),
        (STAGE_TIMES, "[1, 2]\n", "line 1: expected a JSON object"),
        (
            STAGE_TIMES,
            '{"timings": {"preprocess": {"round_trip_ms": "fast"}, "total_ms": 1}}',
            "line 1",
        ),
        (
            STAGE_TIMES,
            '{"timings": {"total_ms": 1}}\n',
            "no record with timings for all three stages",
        ),
        (
            CPU_TIMES,
            '{"tokens": 0, "round_trip_ms": 3}\n',
            "line 1: tokens must be an integer >= 1",
        ),
        (CPU_TIMES, '{"tokens": 16}\n', "line 1: round_trip_ms (or execution_ms) must be a number"),
        (CPU_TIMES, '{"machine": {}}\n', "no record with tokens and round_trip_ms"),
        (LENGTHS, "12\nmany\n", "line 2: expected a token count (37)"),
        (LENGTHS, "12\n{oops\n", "line 2: not JSON"),
        (LENGTHS, "0\n", "line 1: tokens must be >= 1"),
        (LENGTHS, "# nothing\n", "no request's token count in it"),
    ],
)
def test_bad_input_files_are_named_with_the_line(tmp_path, read, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises((StageTimesError, TextLengthsError), match=re.escape(message)):
        read(path)


def test_the_shipped_measurements_load_with_their_machine_and_cold_starts():
    measured = load(SHIPPED)
    assert len(measured.samples) >= 100
    assert measured.header["machine"]["cores"]
    assert set(measured.cold_starts_s) == {"preprocess", "inference", "postprocess", "orchestrator"}
    # Measured on a CPU without a GPU, with the tiny model: never to be read as a GPU's.
    assert not measured.measured_on_gpu
    assert "GPU: none" in measured.describe_machine() and "tiny" in measured.header["model"]


def test_prices_default_to_the_patterns_and_single_follows_the_gpu_price():
    prices = StagePrices()
    assert (prices.preprocess, prices.inference, prices.postprocess) == (0.0002, 0.0015, 0.0002)
    resolved = resolve({}, default_prices())
    assert resolved["orchestrator"] == resolved["inference_cpu"] == resolved["single_cpu"] == 0.0002
    assert resolved["single"] == 0.0015
    assert resolve({"inference": 0.0004}, default_prices())["single"] == 0.0004
    assert resolve({"inference": 0.0004, "single": 0.0009}, default_prices())["single"] == 0.0009
    assert resolve({"inference_cpu": 0.0001}, default_prices())["single_cpu"] == 0.0001


def test_the_command_prints_the_table_and_writes_the_plot(tmp_path, capsys):
    plot = tmp_path / "cost.png"
    args = ["--rates", "1/h,2/s", "--requests", "40", "--warmup-s", "10", "--quiet"]
    args += ["--share-rates", "1/h,1/s", "--short-shares", "0.5,1"]
    assert main([*args, "--plot", str(plot), "--idle-timeout", "inference=30"]) == 0
    out = capsys.readouterr().out
    assert "| rate | layout | USD per 1,000 requests | p50 latency | p95 latency |" in out
    assert "| 1/h | split |" in out and "| 2/s | split |" in out
    assert all(f"|  | {name} |" in out for name in LAYOUT_NAMES[1:])
    assert "inference: $0.0015/s, cold start" in out and "idle timeout 30 s" in out
    assert "inference_cpu: $0.0002/s" in out
    threshold = DEFAULT_SMART_MAX_CPU_TOKENS
    assert f"- smart: requests of at most {threshold} tokens go to CPU inference" in out
    assert f"of requests at most {threshold} tokens" in out
    assert "| rate | cheapest | USD per 1,000 requests | saves on the next cheapest |" in out
    assert "inline-smart against inline, by the share of short requests" in out
    assert "| rate | 50% short | 100% short | smart pays from |" in out
    assert "| 1/h |" in out.split("smart pays from")[1] and "| 1/s |" in out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_threshold_and_the_short_share_are_flags(capsys):
    args = ["--rates", "1/h", "--requests", "20", "--quiet", "--no-plot", "--layouts"]
    args += ["split-smart"]
    assert main([*args, "--max-cpu-tokens", "64", "--short-share", "90%"]) == 0
    out = capsys.readouterr().out
    assert "requests of at most 64 tokens go to CPU inference" in out
    assert "default mix, 90% short" in out and "90% of requests at most 64 tokens" in out
    assert "smart pays from" not in out  # no base layout to compare with


def test_text_lengths_without_long_requests_cannot_make_a_share_of_them(tmp_path, capsys):
    path = tmp_path / "short.txt"
    path.write_text("40\n60\n")
    with pytest.raises(SystemExit):
        args = ["--short-shares", "0.5", "--break-even-rates", "none", "--quiet", "--no-plot"]
        main(["--text-lengths", str(path), *args])
    message = f"short.txt: no request has more than {DEFAULT_SMART_MAX_CPU_TOKENS} tokens"
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rates", "fast"], "bad rate 'fast'"),
        (["--rates", "0/s"], "must be above 0"),
        (["--idle-timeout", "gpu=3"], "unknown endpoint 'gpu'"),
        (["--workers-max", "inference=two"], "'two' is not a whole number"),
        (["--workers-max", "0"], "workers_max >= 1"),
        (["--price", "inference=-1"], "--price: '-1' is not a number >= 0"),
        (["--scaler", "orchestrator=fast"], "'fast' is not a scaler: queue-delay or request"),
        (["--recommend"], "--recommend and --rate go together"),
        (["--rates", "none"], "--rates: give at least one rate"),
        (["--orchestrator", "pod"], "invalid choice: 'pod'"),
        (["--layouts", "magic"], "unknown ['magic']"),
        (["--stage-times", "missing.jsonl"], "cannot read stage times from missing.jsonl"),
        (["--cpu-inference-times", "none.jsonl"], "cannot read CPU inference times from none"),
        (["--text-lengths", "none.txt"], "cannot read text lengths from none.txt"),
        (["--short-share", "2"], "bad share '2': a number from 0 to 1"),
        (["--short-shares", "0.5,half"], "bad share 'half'"),
        (["--max-cpu-tokens", "-1"], "bad token count '-1'"),
    ],
)
def test_bad_options_get_a_clear_error(args, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--quiet", "--no-plot"])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


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
