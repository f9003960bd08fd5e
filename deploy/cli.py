"""`python -m deploy plan|apply|smoke|destroy [--file deploy.toml]`.

Exit status: 0 done, 1 Runpod refused or failed a step, 2 the file or the environment is
wrong (nothing was sent). The API key comes from RUNPOD_API_KEY and is never printed.
"""

import argparse
import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from deploy.apply import (
    DeployError,
    apply,
    destroy,
    remove_orchestrator_env,
    write_orchestrator_env,
)
from deploy.checks import check_deployment
from deploy.config import ConfigError, DeployConfig, DeployStage, load_config
from deploy.layouts import deployed_stages
from deploy.plan import describe_plan, ours_of_stage, plan_deployment
from deploy.runpod_api import AuthError, RunpodApi, RunpodApiError, RunpodUrls
from deploy.smoke import Smoker, describe_results, run_smoke

DEFAULT_FILE = "deploy.toml"
ENV_FILE = ".env.orchestrator"
NO_KEY = (
    "RUNPOD_API_KEY is not set. Create a key in the Runpod console (Settings → API Keys, "
    "read/write) and `export RUNPOD_API_KEY=...` in this shell; it is never written to a file."
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m deploy",
        description="Deploy the pipeline's Runpod endpoints from one file.",
    )
    parser.add_argument(
        "command",
        choices=["plan", "apply", "smoke", "destroy"],
        help="plan: show changes; apply: make them; smoke: try the endpoints; "
        "destroy: remove what apply made",
    )
    parser.add_argument("--file", type=Path, default=Path(DEFAULT_FILE), help="deployment file")
    parser.add_argument(
        "--env-out",
        type=Path,
        default=None,
        help=f"where apply writes the orchestrator's settings (default: {ENV_FILE} beside "
        "the deployment file)",
    )
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="smoke: seconds each endpoint may take"
    )
    parser.add_argument("--yes", action="store_true", help="destroy without asking")
    return parser


def _say(line: str) -> None:
    print(line, flush=True)


def _err(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _find_ids(api: RunpodApi, config: DeployConfig) -> dict[DeployStage, str]:
    account = api.account()
    ids: dict[DeployStage, str] = {}
    missing = []
    for stage in deployed_stages(config):
        _, endpoints = ours_of_stage(config, stage, account)
        if endpoints:
            ids[stage] = endpoints[0]["id"]
        else:
            missing.append(config.endpoint_name(stage))
    if missing:
        raise DeployError(f"not deployed: {', '.join(missing)}; run `python -m deploy apply`")
    return ids


def _report_apply(config: DeployConfig, ids: dict[DeployStage, str], urls: RunpodUrls) -> None:
    orchestrator = ids.get(DeployStage.ORCHESTRATOR)
    _say("\nEndpoints:")
    for stage, endpoint_id in ids.items():
        url = (
            urls.load_balancer_url(endpoint_id)
            if stage is DeployStage.ORCHESTRATOR
            else urls.queue_url(endpoint_id)
        )
        _say(f"  {stage.value:<13} {endpoint_id:<16} {url}")
    auth = "-H \"Authorization: Bearer $RUNPOD_API_KEY\" -H 'Content-Type: application/json'"
    if orchestrator is None:
        # The single layout without an orchestrator: its endpoint answers what /classify does.
        single = urls.queue_url(ids[DeployStage.SINGLE])
        _say(f"\nThe pipeline, all three stages in one job: {single}")
        _say(
            f"Try it: curl -s {single}/runsync {auth} "
            '-d \'{"input": {"text": "I love this product"}}\'   or: python -m deploy smoke'
        )
        return
    url = urls.load_balancer_url(orchestrator)
    _say(f"\nOrchestrator: {url}")
    _say(
        f"Try it: curl -s {url}/classify {auth} "
        '-d \'{"text": "I love this product"}\'   or: python -m deploy smoke'
    )


def _confirm(config: DeployConfig) -> bool:
    if not sys.stdin.isatty():
        _err("destroy deletes endpoints: pass --yes to confirm")
        return False
    answer = input(f"Delete deployment '{config.deployment.name}'? Type its name to confirm: ")
    return answer.strip() == config.deployment.name


def _run(
    args: argparse.Namespace,
    config: DeployConfig,
    api: RunpodApi,
    urls: RunpodUrls,
    api_key: str,
    sleep: Callable[[float], None],
) -> int:
    env_file = args.env_out or args.file.parent / ENV_FILE
    if args.command == "plan":
        _say(describe_plan(plan_deployment(config, api.account())))
        return 0
    if args.command == "apply":
        deployed = apply(api, config, _say)
        _report_apply(config, deployed.endpoint_ids, urls)
        if DeployStage.ORCHESTRATOR in deployed.endpoint_ids:
            orchestrator = urls.load_balancer_url(deployed.endpoint_ids[DeployStage.ORCHESTRATOR])
            write_orchestrator_env(env_file, config, deployed, orchestrator)
            _say(f"Wrote {env_file} (the endpoint ids; no secrets).")
        else:
            remove_orchestrator_env(env_file, config, _say)
        return 0
    if args.command == "smoke":
        ids = _find_ids(api, config)
        smoker = Smoker(urls, api_key, timeout_s=args.timeout, sleep=sleep)
        try:
            results = run_smoke(smoker, ids, smart=config.smart)
        finally:
            smoker.close()
        _say(describe_results(results))
        return 0 if all(r.ok for r in results) else 1
    if not args.yes and not _confirm(config):
        return 2
    return 0 if destroy(api, config, env_file, _say) else 1


def main(
    argv: list[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    urls: RunpodUrls | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    args = _parser().parse_args(argv)
    env = os.environ if env is None else env
    try:
        config = load_config(args.file)
    except ConfigError as exc:
        _err(str(exc))
        return 2
    findings = check_deployment(config)
    for warning in findings.warnings:
        _err(f"warning: {warning}")
    if findings.errors:
        _err(str(ConfigError(args.file, findings.errors)))
        return 2
    api_key = (env.get("RUNPOD_API_KEY") or "").strip()
    if not api_key:
        _err(NO_KEY)
        return 2
    urls = urls or RunpodUrls.from_env(env)
    try:
        with RunpodApi(api_key, urls, sleep=sleep) as api:
            return _run(args, config, api, urls, api_key, sleep)
    except AuthError as exc:
        _err(f"error: {exc}")
        return 1
    except (DeployError, RunpodApiError) as exc:
        _err(f"error: {exc}")
        if args.command == "apply":
            _err("What was made stays; `python -m deploy apply` again finishes the job.")
        return 1
