"""GithubOidc: trust policies evaluated against real claims, scoped permissions, outputs."""

from __future__ import annotations

import fnmatch
import json
from typing import Any

import pytest

from components.github_oidc import (
    AUDIENCE,
    GITHUB_OIDC_HOST,
    KMS_READS,
    MANAGED_POLICY_LIMIT,
    deploy_permissions,
    policy_size,
    preview_permissions,
    split_policy,
    trust_policy,
)
from components.iam import CODEDEPLOY, CODEDEPLOY_FOR_ECS, ECS, ECS_TASKS, FLOW_LOGS
from deplight.harness import read_stack_config, run_program
from tests.conftest import COMMITTED_STACKS, program_run
from tests.snapshots import assert_snapshot

PROVIDER = f"arn:aws:iam::123456789012:oidc-provider/{GITHUB_OIDC_HOST}"
REPO = "example-org/example-service"


def can_assume(doc: dict[str, Any], *, sub: str, aud: str = AUDIENCE,
               provider: str = PROVIDER) -> bool:  # fmt: skip
    """A small evaluator of the IAM trust conditions these documents use."""
    for st in doc["Statement"]:
        if st["Effect"] != "Allow" or st["Action"] != "sts:AssumeRoleWithWebIdentity":
            continue
        if st["Principal"].get("Federated") != provider:
            continue
        claims = {f"{GITHUB_OIDC_HOST}:sub": sub, f"{GITHUB_OIDC_HOST}:aud": aud}
        ok = True
        for operator, conditions in st["Condition"].items():
            assert operator in ("StringEquals", "StringLike"), operator
            for key, wanted in conditions.items():
                values = [wanted] if isinstance(wanted, str) else wanted
                if operator == "StringEquals":
                    ok &= claims[key] in values
                else:
                    ok &= any(fnmatch.fnmatchcase(claims[key], v) for v in values)
        if ok:
            return True
    return False


def test_deploy_trust_allows_only_this_repository_and_its_subjects() -> None:
    doc = trust_policy(PROVIDER, REPO,
                       ["environment:prod", "ref:refs/heads/main", "ref:refs/tags/v*"])  # fmt: skip
    assert_snapshot("oidc_trust_prod", doc)
    assert can_assume(doc, sub=f"repo:{REPO}:environment:prod")
    assert can_assume(doc, sub=f"repo:{REPO}:ref:refs/heads/main")
    assert can_assume(doc, sub=f"repo:{REPO}:ref:refs/tags/v1.2.3")
    assert not can_assume(doc, sub=f"repo:{REPO}:pull_request"), "a PR must not deploy"
    assert not can_assume(doc, sub=f"repo:{REPO}:environment:dev")
    assert not can_assume(doc, sub=f"repo:{REPO}:ref:refs/heads/feature/x")
    assert not can_assume(doc, sub="repo:attacker/example-service:environment:prod")
    assert not can_assume(doc, sub="repo:example-org/other:ref:refs/heads/main")
    assert not can_assume(doc, sub=f"repo:{REPO}:environment:prod", aud="other-audience")
    assert not can_assume(doc, sub=f"repo:{REPO}:environment:prod",
                          provider="arn:aws:iam::123456789012:oidc-provider/other.example")  # fmt: skip
    text = json.dumps(doc)
    assert "ForAllValues" not in text and "ForAnyValue" not in text
    for st in doc["Statement"]:
        assert st["Condition"]["StringEquals"][f"{GITHUB_OIDC_HOST}:aud"] == AUDIENCE
        subs = [v for c in st["Condition"].values() for k, v in c.items() if k.endswith(":sub")]
        for sub in (s for v in subs for s in ([v] if isinstance(v, str) else v)):
            assert sub.startswith(f"repo:{REPO}:"), sub


def test_exact_subjects_never_use_string_like() -> None:
    doc = trust_policy(PROVIDER, REPO, ["environment:dev"])
    (st,) = doc["Statement"]
    assert set(st["Condition"]) == {"StringEquals"}


@pytest.mark.parametrize("stack", ["dev", "prod", "staging"])
def test_program_roles(stack: str) -> None:
    run = program_run(stack)
    gh = run.settings.github
    if gh.creates_oidc_provider:
        provider = run.one("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
        assert provider.inputs["url"] == f"https://{GITHUB_OIDC_HOST}"
        assert provider.inputs["clientIdLists"] == [AUDIENCE]
        assert not provider.inputs.get("thumbprintLists")
        assert provider.retain_on_delete, "the account's provider outlives the stack"
        arn = provider.outputs["arn"]
    else:
        assert not run.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
        arn = gh.oidc_provider
    deploy = run.one("aws:iam/role:Role", f"{run.settings.prefix}-github-deploy")
    preview = run.one("aws:iam/role:Role", f"{run.settings.prefix}-github-preview")
    deploy_trust = json.loads(deploy.inputs["assumeRolePolicy"])
    preview_trust = json.loads(preview.inputs["assumeRolePolicy"])
    for subject in run.settings.deploy_subjects:
        assert can_assume(deploy_trust, sub=f"repo:{gh.repository}:{subject}", provider=arn)
    assert not can_assume(deploy_trust, sub=f"repo:{gh.repository}:pull_request", provider=arn)
    assert can_assume(preview_trust, sub=f"repo:{gh.repository}:pull_request", provider=arn)
    assert not can_assume(preview_trust, sub=f"repo:{gh.repository}:ref:refs/heads/main",
                          provider=arn)  # fmt: skip
    assert int(deploy.inputs["maxSessionDuration"]) == gh.session_duration_seconds
    outs = run.outputs
    assert (outs["oidc_provider_arn"], outs["deploy_role_arn"], outs["preview_role_arn"]) == (
        arn, deploy.outputs["arn"], preview.outputs["arn"],
    )  # fmt: skip


def statements_of(role: Any, run: Any = None) -> list[dict[str, Any]]:
    """The role's inline statements and, given the run, those of its attached policies."""
    docs = [json.loads(p["policy"]) for p in role.inputs.get("inlinePolicies") or []]
    if run is not None:
        arns = {a.inputs["policyArn"]
                for a in run.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
                if a.inputs["role"] == role.outputs["name"]}  # fmt: skip
        docs += [json.loads(p.inputs["policy"]) for p in run.of_type("aws:iam/policy:Policy")
                 if p.outputs["arn"] in arns]  # fmt: skip
    return [st for doc in docs for st in doc["Statement"]]


def as_list(v: Any) -> list[str]:
    return [v] if isinstance(v, str) else list(v)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_no_wildcard_action_and_passrole_is_scoped(stack: str) -> None:
    run = program_run(stack)
    prefix = run.settings.prefix
    for role_name in (f"{prefix}-github-deploy", f"{prefix}-github-preview"):
        for st in statements_of(run.one("aws:iam/role:Role", role_name), run):
            for action in as_list(st["Action"]):
                assert action != "*" and not action.endswith(":*"), (role_name, st["Sid"])
    deploy = statements_of(run.one("aws:iam/role:Role", f"{prefix}-github-deploy"), run)
    passrole = [st for st in deploy if "iam:PassRole" in as_list(st["Action"])
                and st["Effect"] == "Allow"]  # fmt: skip
    assert len(passrole) == 1
    assert passrole[0]["Resource"] == f"arn:aws:iam::123456789012:role/{prefix}-*"
    assert "iam:PassedToService" in passrole[0]["Condition"]["StringEquals"]
    ecr = next(st for st in deploy if "ecr:PutImage" in as_list(st["Action"]))
    # exactly the stack's repository (a `<prefix>*` pattern would also match web-prod2)
    assert ecr["Resource"] == f"arn:aws:ecr:us-east-1:123456789012:repository/{prefix}"
    deny = next(st for st in deploy if st["Sid"] == "NeverEditTheCiRolesThemselves")
    assert deny["Effect"] == "Deny"
    assert f"arn:aws:iam::123456789012:role/{prefix}-github-deploy" in deny["Resource"]
    attach = [st for st in deploy if "iam:AttachRolePolicy" in as_list(st["Action"])
              and st["Effect"] == "Allow"]  # fmt: skip
    if run.settings.deploy.strategy.value == "codedeploy":
        (attach_st,) = attach
        (policy_arn,) = attach_st["Condition"]["ArnEquals"]["iam:PolicyARN"]
        assert policy_arn.endswith("AWSCodeDeployRoleForECS")
    else:
        assert not attach, "rolling attaches no managed policy, so CI may attach none"


def test_preview_role_cannot_write_or_read_secrets() -> None:
    doc = preview_permissions(state_bucket="state-bucket")
    actions = [a for st in doc["Statement"] for a in as_list(st["Action"])]
    writes = ("Create", "Delete", "Put", "Update", "Modify", "Attach", "Pass", "Register")
    for a in actions:
        verb = a.split(":", 1)[1]
        if verb.startswith(writes):
            assert a in ("s3:PutObject", "s3:DeleteObject"), a
    lock = next(st for st in doc["Statement"] if st["Sid"] == "TakeThePulumiLock")
    assert lock["Resource"] == "arn:aws:s3:::state-bucket/.pulumi/locks/*"
    assert not any(a.startswith(("secretsmanager:", "ssm:")) for a in actions)
    # KMS: the stack key's metadata for a refresh, never a decryption or a data key
    assert {a for a in actions if a.startswith("kms:")} == set(KMS_READS)
    assert not any(a.startswith(("kms:Decrypt", "kms:GenerateDataKey", "kms:ReEncrypt"))
                   for a in actions)  # fmt: skip


def test_deploy_policy_fits_the_managed_policy_limits() -> None:
    doc = deploy_permissions(prefix="a-twenty-char-name-x-staging", region="ap-southeast-2",
                             account="123456789012", state_bucket="a" * 63,
                             own_role_arns=["x" * 80, "y" * 80],
                             boundary_arn="arn:aws:iam::123456789012:policy/" + "b" * 60,
                             pass_to_services=[ECS_TASKS, CODEDEPLOY, ECS, FLOW_LOGS],
                             attachable_policies=[CODEDEPLOY_FOR_ECS])  # fmt: skip
    parts = split_policy(doc)
    # IAM: 6,144 characters per managed policy, 10 managed policies per role by default
    assert all(policy_size(p) <= MANAGED_POLICY_LIMIT for p in parts)
    assert 1 < len(parts) <= 10
    # every statement lands in exactly one part
    assert sorted(json.dumps(st) for p in parts for st in p["Statement"]) == sorted(
        json.dumps(st) for st in doc["Statement"]
    )


def test_split_policy_refuses_a_statement_larger_than_the_limit() -> None:
    big = {"Version": "2012-10-17", "Statement": [
        {"Sid": "Big", "Effect": "Allow", "Action": ["s3:GetObject"] * 50, "Resource": "*"}]}  # fmt: skip
    with pytest.raises(ValueError, match="Big"):
        split_policy(big, limit=200)


def test_existing_provider_is_reused_not_created() -> None:
    config = read_stack_config("prod")
    existing = f"arn:aws:iam::123456789012:oidc-provider/{GITHUB_OIDC_HOST}"
    config["deplight:github"] = {**config["deplight:github"], "oidc_provider": existing,
                                 "preview_role": False}  # fmt: skip
    run = run_program("prod", config)
    assert not run.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    deploy = run.one("aws:iam/role:Role", "web-prod-github-deploy")
    trust = json.loads(deploy.inputs["assumeRolePolicy"])
    assert all(st["Principal"]["Federated"] == existing for st in trust["Statement"])
    assert not [r for r in run.of_type("aws:iam/role:Role") if r.name.endswith("github-preview")]
    assert run.outputs["preview_role_arn"] is None


HOSTILE_SUBJECTS = [
    "repo:attacker/example-service:environment:{env}",  # another owner
    "repo:example-org/example-service-evil:environment:{env}",  # look-alike repository
    "repo:example-org-evil/example-service:environment:{env}",  # look-alike owner
    "repo:example-org/example-servic:environment:{env}",  # prefix of the name
    "repo:forker/example-service:ref:refs/heads/main",  # a fork's own workflows
    "repo:example-org/example-service:pull_request",  # a pull request, also from a fork
    "repo:example-org/example-service:ref:refs/heads/feature/x",  # a feature branch
    "repo:example-org/example-service:ref:refs/heads/main",  # main without the environment
    "repo:example-org/example-service:ref:refs/tags/v1.2.3",  # a tag without the environment
    "repo:example-org/example-service:environment:{env}-evil",  # look-alike environment
    "repo:example-org/example-service:environment:{env}*",
    "repo:EXAMPLE-ORG/example-service:environment:{env}",  # claims compare case-sensitively
]


@pytest.mark.parametrize("stack", COMMITTED_STACKS)
def test_hostile_subjects_are_refused_by_every_role_that_can_write(stack: str) -> None:
    from tests.iam_eval import trust_allows

    run = program_run(stack)
    env, gh = run.settings.stack, run.settings.github
    provider = gh.oidc_provider if not gh.creates_oidc_provider else run.one(
        "aws:iam/openIdConnectProvider:OpenIdConnectProvider").outputs["arn"]  # fmt: skip
    writers = [r for r in run.of_type("aws:iam/role:Role")
               if "Federated" in r.inputs["assumeRolePolicy"]
               and not r.name.endswith("-github-preview")]  # fmt: skip
    assert [r.name for r in writers] == [f"{run.settings.prefix}-github-deploy"]

    def assume(role: Any, sub: str, aud: str = AUDIENCE, federated: str = provider) -> bool:
        return trust_allows(
            json.loads(role.inputs["assumeRolePolicy"]), federated=federated,
            action="sts:AssumeRoleWithWebIdentity",
            context={f"{GITHUB_OIDC_HOST}:sub": sub, f"{GITHUB_OIDC_HOST}:aud": aud},
        )  # fmt: skip

    for role in writers:
        good = f"repo:{gh.repository}:environment:{env}"
        assert assume(role, good), "the environment itself must be able to deploy"
        assert assume(role, f"repo:{gh.repository}:environment:{env}-rollback")
        for template in HOSTILE_SUBJECTS:
            sub = template.format(env=env)
            assert not assume(role, sub), f"{role.name} trusts {sub}"
        assert not assume(role, good, aud="https://github.com/example-org"), "wrong audience"
        assert not assume(role, good, federated="arn:aws:iam::999999999999:oidc-provider/"
                          "token.actions.githubusercontent.com"), "another account's provider"  # fmt: skip
        subjects = [s for st in json.loads(role.inputs["assumeRolePolicy"])["Statement"]
                    for c in st["Condition"].values() for k, v in c.items() if k.endswith(":sub")
                    for s in ([v] if isinstance(v, str) else v)]  # fmt: skip
        if run.settings.tier.value == "production":
            assert all(":environment:" in s and "*" not in s for s in subjects), subjects
