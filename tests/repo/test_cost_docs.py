"""The cost page and the README show what `make cost` prints (it runs the whole model: seconds)."""

from pathlib import Path

from cost_model.__main__ import main

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_the_readme_shows_what_the_command_prints(capsys):
    # The Cost section shows `python -m cost_model`'s own inputs, its cheapest layout by rate
    # and its break-even, as printed: rerun it and paste them back when the model or the
    # shipped measurements change.
    assert main(["--quiet", "--no-plot", "--short-shares", "none"]) == 0
    printed = capsys.readouterr().out.strip().split("\n\n")
    shown = [
        block for block in printed if block.startswith(("Inputs", "| rate | cheapest", "How heavy"))
    ]
    assert len(shown) == 3
    section = (REPO_ROOT / "docs" / "cost.md").read_text()
    missing = [line for block in shown for line in block.splitlines() if line not in section]
    assert not missing, "docs/cost.md differs from the command's output:\n" + "\n".join(missing)
    # The README shows some rows of the cheapest-by-rate table, as printed.
    readme = (REPO_ROOT / "README.md").read_text().splitlines()
    rows = [line for line in readme if line.startswith("| ") and " | $" in line]
    assert rows, "the README shows no row of make cost's table"
    table = next(block for block in shown if block.startswith("| rate | cheapest"))
    assert all(row in table.splitlines() for row in rows), rows
