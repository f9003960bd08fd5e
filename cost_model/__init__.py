"""A cost model of Runpod serverless for this pipeline: `python -m cost_model` (`make cost`).

simulator.py simulates endpoints, workers and queues event by event, and bills them as Runpod
does; traffic.py makes arrivals; text_lengths.py gives each request its tokens; layouts.py
says which endpoints a request visits (split, GPU-only, smart); stage_times.py reads measured
stage times, cpu_inference_times.py the CPU inference endpoint's time by tokens; sweep.py runs
every layout at every rate, and the smart layout at each share of short requests; report.py
prints and plots; measure.py and measure_cpu_inference.py measure the times and cold starts
it ships with.
"""
