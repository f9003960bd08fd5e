"""Development scripts: the random test models, the local pipeline, model preparation."""
