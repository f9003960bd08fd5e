"""`python -m benchmarks.gpu`'s logic, run on the CPU with the tiny model: its figures are
not a GPU's and no test reads a time; what is held is that every part is measured and
written, and that a machine without a GPU is told so and not failed."""

import json
from pathlib import Path

import pytest

from benchmarks import gpu


def test_without_a_gpu_it_says_so_and_exits_0(monkeypatch, capsys, tmp_path: Path) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "gpu.json"
    assert gpu.main(["--out", str(out)]) == 0
    assert gpu.NO_GPU in capsys.readouterr().out
    assert not out.exists()
    assert gpu.main(["--device", "cuda", "--out", str(out)]) == 0
    assert not out.exists()


@pytest.fixture(scope="module")
def report(tiny_model_dir: Path) -> gpu.GpuReport:
    return gpu.measure(tiny_model_dir, "cpu", seconds=0.2, texts=4)


def test_every_part_is_measured_on_the_same_windows(report: gpu.GpuReport) -> None:
    assert report.device["device"] == "cpu" and report.device["torch"]
    assert set(report.cold_start_s) == {"imports", "model_load_to_device", "first_pass"}
    assert all(seconds > 0 for seconds in report.cold_start_s.values())
    precision = {p.dtype: p for p in report.precision}
    # float16 is refused on a CPU, as the worker refuses it; bfloat16 is compared.
    assert precision["float16"].skipped and "GPU" in precision["float16"].skipped
    bf16 = precision["bfloat16"]
    assert 0 <= bf16.max_probability_diff < 1 and 0 <= bf16.label_agreement <= 1
    raw, *worker, other_rule = report.throughput
    assert raw.how == "raw batched forward" and raw.windows == bf16.windows
    assert [t.concurrency for t in worker] == list(gpu.CONCURRENCIES)
    # On a CPU the pass is cut by default: the comparison runs it whole.
    assert other_rule.how.endswith("MAX_PADDING_SHARE=1")
    assert other_rule.concurrency == gpu.CONCURRENCIES[-1]
    assert all(t.windows > 0 and t.windows_per_s > 0 for t in report.throughput)


def test_the_report_is_one_json_file_and_a_summary(report: gpu.GpuReport, tmp_path) -> None:
    data = json.loads(json.dumps(report.to_json()))
    assert {"device", "model", "cold_start_s", "precision", "throughput"} <= set(data)
    assert all("windows_per_s" in t for t in data["throughput"])
    text = gpu.describe(report)
    assert "not a GPU" in text
    assert "64 jobs in flight" in text and "x the raw forward" in text
