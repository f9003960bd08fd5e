"""`deploy smoke` against the real local pipeline: the smoke test's inputs are ones the
workers accept. The deployment is made by `deploy apply` against the stand-in of Runpod's API
(tests/unit/test_deploy.py has the rest)."""

import pytest

from deploy.config import DeployStage
from tests.fake_runpod_api import API_KEY
from tests.unit.test_deploy import STAGES, deploy, deploy_file, fake, server  # noqa: F401


@pytest.mark.slow
def test_smoke_against_the_real_local_pipeline(fake, deploy, local_stack):  # noqa: F811
    """Each worker's real test_input.json through Runpod's local API server (the CPU
    inference endpoint's is the inference endpoint's), and /classify and /classify-smart
    through the real orchestrator: the smoke test's inputs are ones the workers accept."""
    assert deploy("apply")[0] == 0
    # The local stack's worker for each deployed stage.
    worker_of = {DeployStage.INFERENCE_CPU: "cpu_inference"}
    urls = {w.name: w.url(local_stack.host) for w in local_stack.workers}
    ids = {stage: fake.endpoint_named(f"sentiment-{stage.resource_name}")["id"] for stage in STAGES}
    local = {
        ids[stage]: urls[worker_of.get(stage, stage.value)]
        for stage in STAGES
        if stage is not DeployStage.ORCHESTRATOR
    }
    orchestrator_id = ids[DeployStage.ORCHESTRATOR]

    class LocalUrls:
        @staticmethod
        def queue_url(endpoint_id: str) -> str:
            return local[endpoint_id]

        @staticmethod
        def load_balancer_url(endpoint_id: str) -> str:
            assert endpoint_id == orchestrator_id
            return local_stack.url

    from deploy.smoke import Smoker, run_smoke

    smoker = Smoker(LocalUrls(), API_KEY, timeout_s=60, poll_s=0.05)  # type: ignore[arg-type]
    try:
        results = run_smoke(smoker, ids)
    finally:
        smoker.close()
    assert all(r.ok for r in results), [(r.tried, r.status, r.detail) for r in results]
    assert [r.tried for r in results] == [
        "preprocess",
        "inference",
        "inference_cpu",
        "postprocess",
        "/classify",
        "/classify-smart",
    ]
    assert results[-1].detail.split()[0] in {"POSITIVE", "NEGATIVE"}
