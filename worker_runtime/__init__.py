"""What every worker runs its stage in, and only the workers: model files, start-up, the job
wrapper with its log line, request ids, workers' errors, shared settings and `serve`.

The orchestrator never imports it; `contracts` holds the data and rules both sides share.
"""
