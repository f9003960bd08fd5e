"""Make the account match the file, and take down what was made.

`apply` works stage by stage (the orchestrator last, once the others have ids), planning
each resource against the account as it is at that moment, so a run that stopped half way
is finished by the next one and a second run changes nothing. A create whose answer was
lost is not repeated blindly: the account is read again, and what landed is used. A stage
the file no longer lists is deleted last, once the orchestrator no longer calls it.
`destroy` removes only what carries this deployment's marker (deploy/plan.py).
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy.config import STAGES, DeployConfig, DeployStage, is_secret_reference
from deploy.layouts import deployed_stages, orchestrator_wiring
from deploy.plan import (
    Step,
    base_name,
    describe_step,
    is_ours,
    named,
    plan_deployment,
    plan_endpoint,
    plan_removal,
    plan_template,
)
from deploy.runpod_api import (
    ENDPOINT_INPUT_FIELDS,
    Account,
    AuthError,
    RunpodApi,
    RunpodApiError,
    TransientError,
)
from deploy.spec import GPU_FIELDS

Say = Callable[[str], None]
# Runpod releases a template up to 2 minutes after its endpoint's last use.
TEMPLATE_RELEASE_WAIT_S = 150.0


class DeployError(Exception):
    """A step could not be done; the message says which and what to do."""


@dataclass
class Deployed:
    endpoint_ids: dict[DeployStage, str]


def _create(api: RunpodApi, step: Step) -> dict[str, Any]:
    """Create once: after a transient failure, look for what may have landed before retrying."""
    save = api.save_template if step.kind == "template" else api.save_endpoint
    last: TransientError | None = None
    for attempt in range(api.attempts):
        try:
            return save(step.payload, retry=False)
        except TransientError as exc:
            last = exc
        fresh = api.account()
        records = fresh.templates if step.kind == "template" else fresh.endpoints
        landed = named(records, step.name)
        if landed:
            return landed[0]
        api.backoff(attempt)
    raise DeployError(f"could not create {step.kind} {step.name}: {last}")


def _execute(api: RunpodApi, account: Account, step: Step, say: Say) -> dict[str, Any]:
    if step.action == "unchanged":
        assert step.record is not None
        say(describe_step(step)[0])
        return step.record
    if step.action == "blocked":
        raise DeployError(f"{step.kind} {step.name}: {step.reason}")
    for line in describe_step(step):
        say(line)
    try:
        if step.action == "create":
            record = _create(api, step)
        elif step.kind == "template":
            record = api.save_template(step.payload, retry=True)
        else:
            record = api.save_endpoint(step.payload, retry=True)
    except AuthError:
        raise
    except RunpodApiError as exc:
        raise DeployError(f"could not {step.action} {step.kind} {step.name}: {exc}") from None
    account.put(step.kind, record)
    return record


def apply(api: RunpodApi, config: DeployConfig, say: Say) -> Deployed:
    account = api.account()
    plan = plan_deployment(config, account)
    if plan.blocked:
        reasons = "\n".join(f"  {s.kind} {s.name}: {s.reason}" for s in plan.blocked)
        raise DeployError(f"nothing was changed; resolve these first:\n{reasons}")
    endpoint_ids: dict[DeployStage, str] = {}
    deployed = deployed_stages(config)
    for stage in deployed:
        template = plan_template(config, stage, account, endpoint_ids)
        template_record = _execute(api, account, template, say)
        template.record = template_record
        endpoint = plan_endpoint(config, stage, account, template)
        endpoint_record = _execute(api, account, endpoint, say)
        endpoint_ids[stage] = endpoint_record["id"]
    for stage in STAGES:
        if stage in deployed:
            continue
        for step in plan_removal(config, stage, account):
            for line in describe_step(step):
                say(line)
            assert step.record is not None
            if step.kind == "endpoint":
                _delete_endpoint(api, step.record)
            elif not _delete_template(api, step.name, say):
                raise DeployError(
                    f"template {step.name} is still in use; run apply again in a minute"
                )
    return Deployed(endpoint_ids)


def write_orchestrator_env(
    path: Path, config: DeployConfig, deployed: Deployed, orchestrator_url: str
) -> None:
    """The orchestrator's settings for running it anywhere: the ids, never a secret."""
    settings = config.stage(DeployStage.ORCHESTRATOR)
    lines = [
        f"# Written by `python -m deploy apply` for deployment '{config.deployment.name}'.",
        "# No secrets: give RUNPOD_API_KEY yourself (docker run --env-file F -e RUNPOD_API_KEY).",
        f"# The orchestrator endpoint on Runpod: {orchestrator_url}",
    ]
    wiring = orchestrator_wiring(config, deployed.endpoint_ids)
    lines += [f"{key}={value}" for key, value in wiring.items()]
    lines += [
        f"{key}={value}"
        for key, value in settings.env.items()
        if not is_secret_reference(value) and key not in {"PORT", "PORT_HEALTH", *wiring}
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def remove_orchestrator_env(env_file: Path, config: DeployConfig, say: Say) -> None:
    """The file write_orchestrator_env wrote for this deployment, once nothing runs it."""
    marker = f"deployment '{config.deployment.name}'"
    if env_file.is_file() and marker in env_file.read_text(encoding="utf-8").split("\n", 1)[0]:
        env_file.unlink()
        say(f"- {env_file.name}: removed")


# -- destroy --------------------------------------------------------------------------------


def scaled_to_zero(record: dict[str, Any]) -> dict[str, Any]:
    """The endpoint as the account reports it, with no workers: saveEndpoint replaces an
    endpoint whole, so every field it has is sent back (a CPU endpoint's without GPU fields)."""
    scaled = {
        key: record[key]
        for key in ENDPOINT_INPUT_FIELDS
        if record.get(key) is not None and not (key in GPU_FIELDS and record.get("instanceIds"))
    }
    return scaled | {"name": base_name(record["name"]), "workersMin": 0, "workersMax": 0}


def _delete_endpoint(api: RunpodApi, record: dict) -> None:
    # Runpod deletes only an endpoint whose min and max workers are both 0.
    if record.get("workersMin") != 0 or record.get("workersMax") != 0:
        api.save_endpoint(scaled_to_zero(record), retry=True)
    try:
        api.delete_endpoint(record["id"])
    except RunpodApiError:
        # A retried delete whose first try landed fails; what matters is that it is gone.
        if any(e.get("id") == record["id"] for e in api.account().endpoints):
            raise


def _delete_template(api: RunpodApi, name: str, say: Say) -> bool:
    """True once it is gone; False if Runpod still holds it after the wait."""
    waited = 0.0
    attempt = 0
    while True:
        try:
            api.delete_template(name)
            return True
        except AuthError:
            raise
        except RunpodApiError as exc:
            if not named(api.account().templates, name):
                return True
            if waited >= TEMPLATE_RELEASE_WAIT_S:
                say(f"  template {name} is still in use ({exc})")
                return False
        delay = min(5.0 * 2**attempt, 30.0)
        say(f"  template {name}: Runpod has not released it yet; trying again in {delay:.0f} s")
        api.sleep(delay)
        waited += delay
        attempt += 1


def destroy(api: RunpodApi, config: DeployConfig, env_file: Path, say: Say) -> bool:
    """Remove this deployment's endpoints, then their templates. True when all are gone."""
    account = api.account()
    ours = {
        stage: template
        for stage in STAGES
        for template in named(account.templates, config.template_name(stage))
        if is_ours(config, template)
    }
    removed_all = True
    for stage in reversed(STAGES):
        for record in named(account.endpoints, config.endpoint_name(stage)):
            template = ours.get(stage)
            if template is None or record.get("templateId") != template.get("id"):
                say(
                    f"= endpoint {record.get('name')} ({record.get('id')}): not made by "
                    "deploy; left alone"
                )
                continue
            say(f"- endpoint {config.endpoint_name(stage)} ({record['id']}): delete")
            _delete_endpoint(api, record)
    for stage in STAGES:
        for template in named(account.templates, config.template_name(stage)):
            if not is_ours(config, template):
                say(
                    f"= template {template.get('name')} ({template.get('id')}): not made by "
                    "deploy; left alone"
                )
                continue
            say(f"- template {template['name']} ({template['id']}): delete")
            removed_all &= _delete_template(api, template["name"], say)
    if not removed_all:
        say("Run destroy again in a minute.")
    remove_orchestrator_env(env_file, config, say)
    return removed_all
