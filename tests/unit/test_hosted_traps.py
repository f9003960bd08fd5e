"""The hosted API's traps, against the stand-ins for it (tests/fake_runpod_api.py: the
endpoint API and the GraphQL API, over real HTTP): a job's TTL is its own setting of
minutes; a 404 from /status on an accepted job says it expired and names the TTL; `deploy
smoke` waits out a cold load balancer's documented 400 answers, sends its jobs with a policy
and never sends one twice; `deploy plan` refuses a CPU stage in a data center without CPU
serverless, and an execution timeout below Runpod's minimum."""

import asyncio

import httpx
import pytest

from contracts import STAGE_ENDPOINTS, Stage
from deploy.catalog import CPU_DATA_CENTERS
from orchestrator.errors import StageUnavailableError
from orchestrator.job_ttl import DEFAULT_JOB_TTL_S
from orchestrator.runpod_client import StageEndpoint
from orchestrator.settings import OrchestratorSettings
from tests.fake_runpod_api import API_KEY
from tests.unit import test_deploy
from tests.unit.test_deploy import result_rows

# The stand-in server and `deploy`, shared with tests/test_deploy.py (`fake` is this file's).
server = test_deploy.server
deploy_file = test_deploy.deploy_file
deploy = test_deploy.deploy

ENDPOINT_ID = "ep-traps"


@pytest.fixture
def fake(server):
    server.reset()
    server.account.endpoints[ENDPOINT_ID] = {"id": ENDPOINT_ID, "name": "traps", "type": "QB"}
    return server


def run_job(fake, timeout_s: float = 5.0, **settings) -> tuple:
    async def go():
        async with httpx.AsyncClient() as client:
            endpoint = StageEndpoint(
                Stage.PREPROCESS,
                f"{fake.url}/v2/{ENDPOINT_ID}",
                client,
                timeout_s,
                poll_interval_s=0.05,
                api_key=API_KEY,
                hosted=True,
                **settings,
            )
            try:
                return await endpoint.run({"text": "hi"})
            finally:
                await endpoint.drain_cancellations()

    return asyncio.run(go())


def test_the_job_ttl_is_minutes_by_default_not_the_stage_timeout(fake):
    settings = OrchestratorSettings()
    assert settings.job_ttl_s == DEFAULT_JOB_TTL_S >= 300
    assert settings.job_ttl_s > max(settings.endpoint(e).timeout_s for e in STAGE_ENDPOINTS)
    run_job(fake, timeout_s=30.0)
    (policy,) = fake.policies.values()
    assert policy == {"executionTimeout": 30_000, "ttl": int(DEFAULT_JOB_TTL_S * 1000)}
    fake.policies.clear()
    run_job(fake, timeout_s=30.0, ttl_s=120.0)
    assert next(iter(fake.policies.values()))["ttl"] == 120_000


def test_the_ttl_never_ends_a_job_before_the_stage_stops_waiting(fake):
    run_job(fake, timeout_s=300.0, ttl_s=60.0)
    assert next(iter(fake.policies.values()))["ttl"] == 300_000


def test_a_404_on_an_accepted_job_says_it_expired_and_names_the_ttl(fake):
    fake.job_behaviour[ENDPOINT_ID] = "expired"
    with pytest.raises(StageUnavailableError) as caught:
        run_job(fake, ttl_s=90.0)
    message = caught.value.message
    assert "expired" in message and "TTL of 90 s" in message and "JOB_TTL_S" in message
    assert "no such endpoint" not in message


def test_a_404_before_any_job_still_means_no_such_endpoint(fake):
    fake.account.endpoints.pop(ENDPOINT_ID)
    with pytest.raises(StageUnavailableError) as caught:
        run_job(fake)
    assert "no such endpoint" in caught.value.message


def test_smoke_waits_out_a_cold_load_balancers_400_answers(fake, deploy):
    assert deploy("apply")[0] == 0
    fake.lb_cold_answers = [
        (400, {"error": "no workers available"}),
        (400, {"error": "timed out waiting for worker"}),
    ]
    code, out, _ = deploy("smoke")
    assert code == 0, out
    assert "HTTP 200" in result_rows(out)["/classify"]
    assert "HTTP 400 while a worker started; retried (x2)" in out


def test_smoke_gives_up_on_a_load_balancer_cold_past_its_timeout(fake, deploy):
    assert deploy("apply")[0] == 0
    fake.lb_cold_answers = [(400, {"error": "no workers available"})] * 10_000
    code, out, _ = deploy("smoke", "--timeout", "0.5")
    assert code == 1
    assert "no worker answered within 0 s" in result_rows(out)["/classify"]


def test_smoke_reports_any_other_400_at_once(fake, deploy):
    assert deploy("apply")[0] == 0
    fake.lb_cold_answers = [(400, {"error": "Text cannot be empty", "error_type": "invalid"})]
    code, out, _ = deploy("smoke")
    assert code == 1
    assert "HTTP 400" in result_rows(out)["/classify"] and "retried" not in out


def preprocess_jobs_are(fake, deploy, behaviour: str) -> None:
    """A deployment whose preprocess endpoint treats every job so (see FakeRunpodApi)."""
    assert deploy("apply")[0] == 0
    fake.job_behaviour[fake.endpoint_named("sentiment-preprocess")["id"]] = behaviour


def test_smoke_jobs_carry_a_policy_and_are_never_sent_twice(fake, deploy):
    preprocess_jobs_are(fake, deploy, "lost")
    code, out, _ = deploy("smoke", "--timeout", "60")
    assert code == 1
    row = result_rows(out)["preprocess"]
    assert "HTTP 502" in row and "not sent again" in row
    # Accepted once, its answer lost, never resubmitted.
    echoed = [job["output"]["echo"] for job in fake.jobs.values()]
    assert len([e for e in echoed if "text" in e]) == 1
    policy = {"executionTimeout": 60_000, "ttl": 60_000}
    assert list(fake.policies.values()) == [policy] * len(fake.policies)


def test_smoke_cancels_a_job_it_stops_waiting_for(fake, deploy):
    preprocess_jobs_are(fake, deploy, "stuck")
    code, out, _ = deploy("smoke", "--timeout", "0.5")
    assert code == 1
    assert "not finished within" in result_rows(out)["preprocess"]
    stuck = [job_id for job_id, job in fake.jobs.items() if job["status"] == "IN_QUEUE"]
    assert fake.cancelled == stuck and len(stuck) == 1


def test_plan_refuses_a_cpu_stage_in_a_data_center_without_cpu_serverless(fake, deploy):
    assert {"EU-RO-1"} == CPU_DATA_CENTERS
    deploy.edit("container_disk_gb = 20 ", 'data_centers = ["US-IL-1"]\ncontainer_disk_gb = 20 ')
    code, _, err = deploy("plan")
    assert code == 2
    assert "stages.preprocess.data_centers" in err
    assert "only in EU-RO-1, not in US-IL-1" in err
    assert fake.requests == 0


def test_plan_accepts_a_cpu_stage_in_a_cpu_data_center(fake, deploy):
    deploy.edit("container_disk_gb = 20 ", 'data_centers = ["EU-RO-1"]\ncontainer_disk_gb = 20 ')
    code, _, err = deploy("plan")
    assert code == 0, err


def test_an_execution_timeout_below_runpods_minimum_is_refused(fake, deploy):
    deploy.edit("execution_timeout_s = 60", "execution_timeout_s = 4")
    code, _, err = deploy("plan")
    assert code == 2 and "execution_timeout_s" in err and "5" in err
    assert fake.requests == 0
