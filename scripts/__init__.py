"""Development scripts: the tiny test model, the local pipeline, benchmarks."""
