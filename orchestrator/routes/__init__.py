"""The orchestrator's routes, one router per purpose:

- pipeline.py: /classify, /classify-smart, /classify-batch (the three stages in a row);
- stages.py: /cpu/preprocess, /gpu/inference, /cpu/inference, /cpu/postprocess (one stage);
- operations.py: /ping, /health, /metrics; docs.py: /docs and /redoc, served offline.
"""
