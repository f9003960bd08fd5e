"""A stand-in for Runpod's management API (GraphQL) and the endpoints it creates, for
`python -m deploy`'s offline tests: a Runpod account cannot be had here.

- POST /graphql with `Authorization: Bearer <key>` and {"query", "variables"}. Each request
  is parsed and validated by graphql-core against tests/runpod_graphql_schema.graphql (the
  schema as Runpod's own tools use it), so an unknown field, a wrong type or a wrong
  variable type is refused as a GraphQL server refuses it (HTTP 400 with `errors`).
- On top of the schema, the rules Runpod's tools and docs state: template names are unique
  and a serverless template has `volumeInGb: 0`; a CPU endpoint is made by `instanceIds`
  and carries no GPU field (gpuIds, gpuCount, allowedCudaVersions, minCudaVersion); a GPU
  endpoint takes pool ids; an endpoint is deleted only with min and max workers at 0; a
  template in use cannot be deleted. A FlashBoot endpoint's name comes back with " -fb".
- It records what exists, every operation it accepted (`calls`), and can fail on request
  (`fail`): an HTTP status, a GraphQL error, or an answer lost after the change was made.
- The endpoints answer too: POST /v2/<id>/runsync (and GET /status) for queue endpoints,
  with delayTime and executionTime (the first job of an endpoint is a cold start), and
  /lb/<id>/<path> for load balancers, whose first request answers 503 while "a worker
  starts", then the orchestrator's answer (with its `route` on /classify-smart).
"""

import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from graphql import build_schema, graphql_sync, parse
from graphql.language import FieldNode, OperationDefinitionNode

from deploy.catalog import CPU_INSTANCES, GPU_POOLS
from tests.fake_runpod import serve_in_thread

API_KEY = "rpa_TESTKEY0123456789abcdef"
SCHEMA = build_schema((Path(__file__).parent / "runpod_graphql_schema.graphql").read_text())
GPU_FIELDS = ("gpuIds", "gpuCount", "allowedCudaVersions", "minCudaVersion")
COLD_START_MS = 9000
WARM_QUEUE_MS = 150
EXECUTION_MS = 40


@dataclass
class Failure:
    operation: str  # the top-level field: saveEndpoint, saveTemplate, myself, ...
    status: int = 500  # the HTTP status answered; 200 means a GraphQL error in the body
    message: str = "Internal server error"
    times: int = 1
    after_commit: bool = False  # make the change, then answer the failure (a lost answer)
    when: Callable[[dict[str, Any]], bool] | None = None  # only for matching variables


@dataclass
class FakeAccount:
    templates: dict[str, dict[str, Any]] = field(default_factory=dict)
    endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Runpod releases a template a while after its endpoint is gone: this many refusals.
    release_after: dict[str, int] = field(default_factory=dict)


class RunpodRules(Exception):
    pass


def _top_field(query: str) -> str:
    document = parse(query)
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    first = operation.selection_set.selections[0]
    assert isinstance(first, FieldNode)
    return first.name.value


class FakeRunpodApi:
    def __init__(self) -> None:
        self.reset()
        self._ids = itertools.count(1)
        self.url = ""
        self.app = self._build()

    def reset(self) -> None:
        """An empty account and no history: one server serves many tests."""
        self.account = FakeAccount()
        self.requests = 0  # every request to /graphql, accepted or not
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.refused: list[str] = []
        self.failures: list[Failure] = []
        self.jobs: dict[str, dict[str, Any]] = {}
        # endpoint id -> "failed" | "queued" | "stuck" (never leaves the queue) | "expired"
        # (accepted, then deleted: its TTL ran out) | "lost" (accepted, but the answer to
        # /runsync is an HTTP 502)
        self.job_behaviour: dict[str, str] = {}
        self.policies: dict[str, Any] = {}  # job id -> the policy its submission carried
        self.cancelled: list[str] = []
        # What a cold load balancer answers before its worker is ready, one per request.
        self.lb_cold_answers: list[tuple[int, dict[str, Any]]] = [
            (503, {"error": "no workers available"})
        ]
        self.template_release_refusals = 0
        self.lb_requests: list[str] = []
        self.lb_error: tuple[int, dict[str, Any]] | None = None  # the orchestrator's own error
        # /classify-smart's route: a short text on the CPU endpoint, unless a test says otherwise.
        self.lb_route: dict[str, Any] = {
            "endpoint": "cpu",
            "reason": "short_text",
            "detail": "11 tokens, at most 128 go to the CPU endpoint",
            "tokens": 11,
            "max_cpu_tokens": 128,
        }
        self._warm: set[str] = set()
        self._cold_answered: dict[str, int] = {}

    # -- test helpers ---------------------------------------------------------------------

    def fail(self, operation: str, **kwargs: Any) -> Failure:
        failure = Failure(operation, **kwargs)
        self.failures.append(failure)
        return failure

    def mutations(self, operation: str) -> list[dict[str, Any]]:
        return [variables for name, variables in self.calls if name == operation]

    def endpoint_named(self, name: str) -> dict[str, Any]:
        """The endpoint of this name, FlashBoot's " -fb" aside."""
        (found,) = [
            e for e in self.account.endpoints.values() if e["name"].removesuffix(" -fb") == name
        ]
        return found

    def template_named(self, name: str) -> dict[str, Any]:
        (found,) = [t for t in self.account.templates.values() if t["name"] == name]
        return found

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):010d}"

    # -- the GraphQL operations (resolvers) -------------------------------------------------

    def myself(self, info: Any) -> dict[str, Any]:
        return {
            "id": "user-1",
            "endpoints": [dict(e) for e in self.account.endpoints.values()],
            "podTemplates": [dict(t) for t in self.account.templates.values()],
        }

    def saveTemplate(self, info: Any, input: dict[str, Any] | None = None) -> dict[str, Any]:
        assert input is not None
        templates = self.account.templates
        if input.get("volumeInGb") != 0 and input.get("isServerless"):
            raise RunpodRules("volumeInGb must be 0 for a serverless template")
        if input.get("id"):
            if input["id"] not in templates:
                raise RunpodRules(f"Template {input['id']} not found")
            record = templates[input["id"]]
        else:
            if any(t["name"] == input["name"] for t in templates.values()):
                raise RunpodRules("Template name must be unique")
            record = {"id": self.new_id("tpl"), "isServerless": False, "isPublic": False}
        record.update({k: v for k, v in input.items() if k != "id"})
        templates[record["id"]] = record
        return dict(record)

    def saveEndpoint(self, info: Any, input: dict[str, Any]) -> dict[str, Any]:
        endpoints = self.account.endpoints
        if len(input["name"].strip()) < 3:
            raise RunpodRules("name must be at least 3 characters")
        template = self.account.templates.get(input.get("templateId") or "")
        if template is None:
            raise RunpodRules(f"Template {input.get('templateId')} not found")
        if not template.get("isServerless"):
            raise RunpodRules("Template is not a serverless template")
        if input.get("type", "QB") not in ("QB", "LB"):
            raise RunpodRules(f"invalid endpoint type {input['type']}")
        if input.get("instanceIds"):
            unknown = [i for i in input["instanceIds"] if i not in CPU_INSTANCES]
            if unknown:
                raise RunpodRules(f"invalid instance id {unknown[0]}")
            present = [f for f in GPU_FIELDS if f in input]
            if present:
                raise RunpodRules(f"a CPU endpoint cannot take {', '.join(present)}")
        else:
            pools = [p.strip() for p in (input.get("gpuIds") or "").split(",") if p.strip()]
            if not pools:
                raise RunpodRules("gpuIds is required for a GPU endpoint")
            unknown = [p for p in pools if p.lstrip("-") not in GPU_POOLS]
            if unknown:
                raise RunpodRules(f"gpuIds takes GPU pool ids, not {unknown[0]}")
        if not 1 <= input.get("idleTimeout", 5) <= 3600:
            raise RunpodRules("idleTimeout must be between 1 and 3600")
        if input.get("scalerValue", 4) < 1:
            raise RunpodRules("scalerValue must be at least 1")
        if input.get("scalerType", "QUEUE_DELAY") not in ("QUEUE_DELAY", "REQUEST_COUNT"):
            raise RunpodRules(f"invalid scalerType {input['scalerType']}")
        if input.get("type") == "LB" and input.get("scalerType") == "QUEUE_DELAY":
            raise RunpodRules("a load-balancing endpoint scales by REQUEST_COUNT")
        workers_min, workers_max = input.get("workersMin", 0), input.get("workersMax", 3)
        if workers_min < 0 or workers_min > workers_max:
            raise RunpodRules("workersMin must be between 0 and workersMax")
        if input.get("id") and input["id"] not in endpoints:
            raise RunpodRules(f"Endpoint {input['id']} not found")
        endpoint_id = input.get("id") or self.new_id("ep")
        # saveEndpoint replaces the endpoint whole: what is not sent takes its default.
        record = {
            "id": endpoint_id,
            "type": "QB",
            "gpuIds": None,
            "gpuCount": None,
            "instanceIds": [],
            "allowedCudaVersions": None,
            "minCudaVersion": None,
            "workersMin": 0,
            "workersMax": 3,
            "idleTimeout": 5,
            "scalerType": "QUEUE_DELAY",
            "scalerValue": 4,
            "executionTimeoutMs": 600000,
            "flashBootType": "OFF",
            "networkVolumeId": None,
            "locations": None,
            **{k: v for k, v in input.items() if k != "id"},
        }
        record["computeType"] = "CPU" if record["instanceIds"] else "GPU"
        if record["flashBootType"] == "FLASHBOOT":
            record["name"] = f"{input['name'].strip()} -fb"
        endpoints[endpoint_id] = record
        return dict(record)

    def deleteEndpoint(self, info: Any, id: str) -> None:
        record = self.account.endpoints.get(id)
        if record is None:
            raise RunpodRules(f"Endpoint {id} not found")
        if record["workersMin"] != 0 or record["workersMax"] != 0:
            raise RunpodRules("set workersMin and workersMax to 0 before deleting an endpoint")
        del self.account.endpoints[id]
        self.account.release_after[record["templateId"]] = self.template_release_refusals

    def deleteTemplate(self, info: Any, templateName: str) -> None:
        found = [t for t in self.account.templates.values() if t["name"] == templateName]
        if not found:
            raise RunpodRules(f"Template {templateName} not found")
        template = found[0]
        if any(e["templateId"] == template["id"] for e in self.account.endpoints.values()):
            raise RunpodRules("Template is in use by an endpoint")
        if self.account.release_after.get(template["id"], 0) > 0:
            self.account.release_after[template["id"]] -= 1
            raise RunpodRules("Template is in use")
        del self.account.templates[template["id"]]

    # -- HTTP -------------------------------------------------------------------------------

    def _failure_for(self, operation: str, variables: dict[str, Any]) -> Failure | None:
        for failure in self.failures:
            if failure.operation != operation or failure.times <= 0:
                continue
            if failure.when is None or failure.when(variables):
                failure.times -= 1
                return failure
        return None

    def _authorized(self, request: Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {API_KEY}"

    def _graphql(self, body: Any) -> JSONResponse:
        if not isinstance(body, dict) or not set(body) <= {"query", "variables", "operationName"}:
            return JSONResponse({"errors": [{"message": "expected {query, variables}"}]}, 400)
        query, variables = body.get("query"), body.get("variables") or {}
        try:
            operation = _top_field(query)
        except Exception as exc:
            self.refused.append(str(exc))
            return JSONResponse({"errors": [{"message": f"Syntax Error: {exc}"}]}, 400)
        failure = self._failure_for(operation, variables)
        if failure and not failure.after_commit:
            return self._failure_response(failure)
        result = graphql_sync(SCHEMA, query, root_value=self, variable_values=variables)
        if result.errors:
            self.refused += [e.message for e in result.errors]
        if result.data is None:  # the request itself is invalid: nothing ran
            errors = [{"message": e.message} for e in result.errors or []]
            return JSONResponse({"errors": errors}, 400)
        if not result.errors:
            self.calls.append((operation, variables))
        if failure:
            return self._failure_response(failure)
        answer: dict[str, Any] = {"data": result.data}
        if result.errors:
            answer["errors"] = [{"message": e.message, "path": e.path} for e in result.errors]
        return JSONResponse(answer)

    @staticmethod
    def _failure_response(failure: Failure) -> JSONResponse:
        body = {"errors": [{"message": failure.message}]}
        if failure.status == 200:
            return JSONResponse({"data": None, **body})
        return JSONResponse(body, failure.status)

    def _job(self, endpoint_id: str, job_input: Any) -> dict[str, Any]:
        job_id = self.new_id("job")
        cold = endpoint_id not in self._warm
        self._warm.add(endpoint_id)
        behaviour = self.job_behaviour.get(endpoint_id)
        job: dict[str, Any] = {
            "id": job_id,
            "delayTime": COLD_START_MS if cold else WARM_QUEUE_MS,
            "executionTime": EXECUTION_MS,
        }
        if behaviour == "failed":
            job |= {
                "status": "FAILED",
                "error": '{"error_type": "KeyError", '
                '"error_message": "boom", "error_traceback": "Traceback: secret-detail"}',
            }
        elif behaviour == "stuck":
            job |= {"status": "IN_QUEUE"}
        else:
            job |= {"status": "COMPLETED", "output": self._output(endpoint_id, job_input)}
        self.jobs[job_id] = job
        if behaviour == "expired":
            del self.jobs[job_id]
        if behaviour in ("queued", "expired"):
            return {"id": job_id, "status": "IN_QUEUE"}
        return job

    def _output(self, endpoint_id: str, job_input: Any) -> Any:
        """An all-stage endpoint (the single layout's) answers a text as /classify does; the
        others echo their input."""
        name = self.account.endpoints[endpoint_id]["name"].removesuffix(" -fb")
        if name.endswith(("-single", "-single-cpu")) and "text" in job_input:
            return {"classification": {"label": "POSITIVE", "confidence": 0.998}}
        return {"echo": job_input}

    def _build(self) -> FastAPI:
        app = FastAPI()

        @app.post("/graphql")
        async def graphql_endpoint(request: Request):
            self.requests += 1
            if not self._authorized(request):
                self.refused.append("unauthorized")
                return JSONResponse({"errors": [{"message": "Unauthorized"}]}, 401)
            if request.headers.get("content-type", "").split(";")[0] != "application/json":
                return JSONResponse({"errors": [{"message": "expected JSON"}]}, 415)
            return self._graphql(await request.json())

        def queue_endpoint(endpoint_id: str) -> dict[str, Any] | None:
            record = self.account.endpoints.get(endpoint_id)
            return record if record and record["type"] == "QB" else None

        @app.post("/v2/{endpoint_id}/runsync")
        async def runsync(endpoint_id: str, request: Request):
            if not self._authorized(request):
                return JSONResponse({"error": "Unauthorized"}, 401)
            if queue_endpoint(endpoint_id) is None:
                return JSONResponse({"error": "endpoint not found"}, 404)
            body = await request.json()
            if not isinstance(body, dict) or not isinstance(body.get("input"), dict):
                return JSONResponse({"error": "input must be an object"}, 400)
            job = self._job(endpoint_id, body["input"])
            self.policies[job["id"]] = body.get("policy")
            if self.job_behaviour.get(endpoint_id) == "lost":
                return JSONResponse({"error": "bad gateway"}, 502)
            return job

        @app.post("/v2/{endpoint_id}/cancel/{job_id}")
        async def cancel(endpoint_id: str, job_id: str, request: Request):
            if not self._authorized(request):
                return JSONResponse({"error": "Unauthorized"}, 401)
            self.cancelled.append(job_id)
            return {"id": job_id, "status": "CANCELLED"}

        @app.get("/v2/{endpoint_id}/status/{job_id}")
        async def status(endpoint_id: str, job_id: str, request: Request):
            if not self._authorized(request):
                return JSONResponse({"error": "Unauthorized"}, 401)
            job = self.jobs.get(job_id)
            return job if job else JSONResponse({"error": "job not found"}, 404)

        @app.post("/lb/{endpoint_id}/{path:path}")
        async def load_balancer(endpoint_id: str, path: str, request: Request):
            record = self.account.endpoints.get(endpoint_id)
            if record is None or record["type"] != "LB":
                return JSONResponse({"error": "not found"}, 404)
            if not self._authorized(request):
                return JSONResponse({"error": "Unauthorized"}, 401)
            self.lb_requests.append(path)
            if endpoint_id not in self._warm:
                cold = self._cold_answered.get(endpoint_id, 0)
                if cold < len(self.lb_cold_answers):
                    self._cold_answered[endpoint_id] = cold + 1
                    status, answer = self.lb_cold_answers[cold]
                    return JSONResponse(answer, status)
                self._warm.add(endpoint_id)
            if self.lb_error:
                return JSONResponse(self.lb_error[1], self.lb_error[0])
            timing = {"round_trip_ms": 55.0, "queue_ms": 12, "execution_ms": 9, "jobs": 1}
            answer = {
                "classification": {"label": "POSITIVE", "confidence": 0.998},
                "timings": {s: timing for s in ("preprocess", "inference", "postprocess")},
            }
            if path == "classify-smart":
                answer["route"] = self.lb_route
            return answer

        return app


@contextmanager
def serve_fake_runpod_api(port: int) -> Iterator[FakeRunpodApi]:
    fake = FakeRunpodApi()
    with serve_in_thread(fake.app, port) as url:
        fake.url = url
        yield fake
