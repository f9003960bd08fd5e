"""A cost model of Runpod serverless for this pipeline: `python -m cost_model` (`make cost`).

simulator.py simulates endpoints, workers and queues event by event, and bills them as Runpod
does; traffic.py makes arrivals; text_lengths.py gives each request its tokens; endpoints.py
names the endpoints a layout may deploy and their settings; layouts.py says which endpoints a
request visits in each layout (split, inline, single, and their smart variants);
stage_times.py reads measured stage times, cpu_inference_times.py the CPU inference time by
tokens; sweep.py runs every layout at every rate, and a smart layout at each share of short
requests; recommend.py picks the cheapest layout and searches the split's break-even;
report.py prints and plots; measure.py and measure_cpu_inference.py measure the times and
cold starts it ships with.
"""
