"""One command from images to a running pipeline on Runpod.

`python -m deploy plan|apply|smoke|destroy [--file deploy.toml]` reads one deployment file,
compares it with what the Runpod account holds (found by name), and creates, updates, tries
or removes the pipeline's endpoints (preprocess, inference, an optional CPU inference one,
postprocess, the orchestrator) through Runpod's GraphQL API, the way Runpod's own deploy
tooling does. It imports nothing of the workers or the orchestrator, and no ML library.
"""
