"""The orchestrator's own cost per hop, at concurrency 1.

One round: POST /classify through the orchestrator, then the same three stage jobs sent
straight to the workers' /runsync, built the way the orchestrator builds them. Rounds are
interleaved so drift on a noisy machine hits both sides alike. The cost per hop is the
p50 of /classify minus the p50s of the three direct jobs, over three: what one hop through
the orchestrator (validation, HTTP in and out, JSON) adds to a job.
"""

import time
from dataclasses import dataclass
from typing import Any

import httpx

from benchmarks.load import ms_since, percentile
from benchmarks.pipeline import STAGES
from scripts.local_stack import LocalStack


@dataclass
class Hops:
    rounds: int
    text_chars: int
    classify_p50_ms: float
    stage_p50_ms: dict[str, float]
    per_hop_ms: float
    # The median over rounds of (classify - its three direct jobs) / 3: a check on the
    # figure above, less sensitive to which rounds were slow.
    paired_per_hop_ms: float


async def _job(client: httpx.AsyncClient, url: str, job_input: dict[str, Any]) -> Any:
    response = await client.post(f"{url}/runsync", json={"input": job_input})
    response.raise_for_status()
    body = response.json()
    if body.get("status") != "COMPLETED":
        raise RuntimeError(f"direct job to {url} ended {body.get('status')}: {body.get('error')}")
    return body["output"]


async def _direct_round(
    client: httpx.AsyncClient, urls: dict[str, str], text: str
) -> dict[str, float]:
    times: dict[str, float] = {}
    started = time.perf_counter()
    pre = await _job(client, urls["preprocess"], {"text": text})
    times["preprocess"] = ms_since(started)

    started = time.perf_counter()
    item = {"windows": pre["windows"], "tokenizer_fingerprint": pre["tokenizer"]["fingerprint"]}
    inferred = await _job(client, urls["inference"], {"items": [item]})
    times["inference"] = ms_since(started)

    started = time.perf_counter()
    stats = {key: pre[key] for key in ("word_count", "sentence_count", "char_count")}
    post_input = {
        "items": [{"windows": inferred["results"][0]["windows"], "stats": stats}],
        "model_info": inferred["model_info"],
    }
    await _job(client, urls["postprocess"], post_input)
    times["postprocess"] = ms_since(started)
    return times


async def measure_hops(stack: LocalStack, text: str, rounds: int, max_seconds: float) -> Hops:
    urls = {worker.name: worker.url(stack.host) for worker in stack.workers}
    classify_ms: list[float] = []
    direct: list[dict[str, float]] = []
    async with httpx.AsyncClient(timeout=120) as client:
        for _ in range(3):  # warm-up, and keep-alive connections opened on both paths
            await client.post(f"{stack.url}/classify", json={"text": text})
            await _direct_round(client, urls, text)
        deadline = time.perf_counter() + max_seconds
        while len(classify_ms) < rounds and time.perf_counter() < deadline:
            started = time.perf_counter()
            response = await client.post(f"{stack.url}/classify", json={"text": text})
            classify_ms.append(ms_since(started))
            response.raise_for_status()
            direct.append(await _direct_round(client, urls, text))
    stage_p50 = {stage: percentile([d[stage] for d in direct], 0.5) for stage in STAGES}
    paired = [(c - sum(d.values())) / 3 for c, d in zip(classify_ms, direct, strict=True)]
    classify_p50 = percentile(classify_ms, 0.5)
    return Hops(
        rounds=len(classify_ms),
        text_chars=len(text),
        classify_p50_ms=classify_p50,
        stage_p50_ms=stage_p50,
        per_hop_ms=(classify_p50 - sum(stage_p50.values())) / 3,
        paired_per_hop_ms=percentile(paired, 0.5),
    )
