"""A cost model of Runpod serverless for this pipeline: `python -m cost_model` (`make cost`).

simulator.py simulates endpoints, workers and queues event by event, and bills them as Runpod
does; traffic.py makes arrivals; layouts.py says which endpoints a request visits; stage_times.py
reads measured stage times; sweep.py runs every layout at every rate; report.py prints and plots;
measure.py measures the stage times and cold starts it ships with.
"""
