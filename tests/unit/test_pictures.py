"""The documentation's pictures are made by commands from data: each command runs here."""

import json

from benchmarks.throughput_figure import main as throughput_figure
from scripts.draw_architecture import LAYOUTS
from scripts.draw_architecture import main as draw_architecture

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_the_architecture_picture_is_drawn_from_its_description(tmp_path):
    out = tmp_path / "architecture.png"
    assert draw_architecture(["--out", str(out)]) == 0
    assert out.read_bytes().startswith(PNG_SIGNATURE)
    # Every layout connects each step to the next, and names what travels between them.
    for layout in LAYOUTS:
        assert len(layout.carries) == len(layout.steps) - 1, layout.name


def benchmark_results() -> dict:
    """The parts of `make benchmark`'s results.json that the picture reads."""
    return {
        "machine": {"cores": 2, "gpu": None},
        "model": {"name": "random DistilBERT-base-sized model"},
        "naive": {"texts_per_s": 14.0},
        "limit": {"texts_per_s": 16.0},
        "pipeline": [
            {"concurrency": 16, "requests_per_s": 8.2},
            {"concurrency": 1, "requests_per_s": 8.9},
            {"concurrency": 64, "requests_per_s": 7.7},
        ],
    }


def test_the_throughput_picture_is_drawn_from_a_benchmark_results_file(tmp_path):
    results = tmp_path / "results.json"
    results.write_text(json.dumps(benchmark_results()))
    out = tmp_path / "throughput.png"
    assert throughput_figure([str(results), "--out", str(out)]) == 0
    assert out.read_bytes().startswith(PNG_SIGNATURE)


def test_the_throughput_picture_names_what_is_missing(tmp_path, capsys):
    assert throughput_figure([str(tmp_path / "none.json"), "--out", str(tmp_path / "x.png")]) == 2
    assert "run `make benchmark` first" in capsys.readouterr().err
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"pipeline": []}))
    assert throughput_figure([str(broken), "--out", str(tmp_path / "x.png")]) == 2
    assert "no `make benchmark` results file" in capsys.readouterr().err
