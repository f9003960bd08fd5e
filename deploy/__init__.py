"""One command from images to a running pipeline on Runpod.

`python -m deploy plan|apply|smoke|destroy [--file deploy.toml]` reads one deployment file,
compares it with what the Runpod account holds (found by name), and creates, updates, tries
or removes the endpoints of the layout it names (deploy/layouts.py: split, inline or single,
each with or without smart) through Runpod's GraphQL API, the way Runpod's own deploy
tooling does. It imports nothing of the workers or the orchestrator, and no ML library.
"""
