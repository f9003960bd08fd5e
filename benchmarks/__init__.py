"""`make benchmark`: the pipeline held against its limits on this machine (see __main__.py)."""
