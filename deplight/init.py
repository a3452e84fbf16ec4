"""``deplight init [DIR]``: scaffold a team's Deplight project inside its application repository.

Writes ``DIR`` (default ``infra/``): ``Pulumi.yaml``, a three-line ``__main__.py`` that calls
:func:`deplight.program.run`, ``requirements.txt`` (Deplight), stack files for ``dev`` and
``prod``, the policy pack wiring (``policies/`` runs the installed pack with this package's
per-stack config) and a short README; and the GitHub workflows, with the project's working
directory, the Dockerfile and the build context filled in, under the application root's
``.github/workflows/``. The repository and the region come from flags, asked for only on a TTY.
Nothing is overwritten unless ``--force``.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import policies
from components.settings import (
    ACM_ARN_RE,
    DOMAIN_RE,
    HOSTED_ZONE_RE,
    NAME_RE,
    REPOSITORY_RE,
    ServiceSettings,
    known_regions,
)

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).resolve().parent / "templates"
PACK_CONFIG = Path(policies.__file__).resolve().parent / "config"
STACKS = ("dev", "prod")


class InitError(ValueError):
    """Bad arguments or a target that would be overwritten: exit 2, nothing written."""


@dataclass(frozen=True)
class Answers:
    """Everything the templates need, validated."""

    project_dir: Path
    app_root: Path
    repository: str
    region: str
    service: str
    project: str
    port: int
    health_check_path: str
    dockerfile: str
    context: str
    requirement: str
    certificate_arn: str | None = None
    domain: str | None = None
    hosted_zone_id: str | None = None

    @property
    def infra_dir(self) -> str:
        """The project directory relative to the application root (the workflows' cwd)."""
        rel = os.path.relpath(self.project_dir, self.app_root)
        return "." if rel == "." else Path(rel).as_posix()

    @property
    def workflows_dir(self) -> Path:
        return self.app_root / ".github" / "workflows"


def service_name_from(repository: str) -> str:
    """``example-org/Billing_API`` -> ``billing-api`` (what ``service.name`` accepts)."""
    name = re.sub(r"[^a-z0-9-]+", "-", repository.rsplit("/", 1)[-1].lower()).strip("-")
    name = re.sub(r"^[^a-z]+", "", name)[:20].rstrip("-")
    return name or "web"


def deplight_requirement() -> str:
    try:
        return f"deplight=={metadata.version('deplight')}"
    except metadata.PackageNotFoundError:
        return "deplight"


def _ask(prompt: str, value: str | None, flag: str, *, interactive: bool,
         read: Callable[[str], str]) -> str:  # fmt: skip
    if value:
        return value
    if not interactive:
        raise InitError(f"{flag} is required (there is no terminal to ask on)")
    answer = read(f"{prompt}: ").strip()
    if not answer:
        raise InitError(f"{flag}: no answer given")
    return answer


def collect(args: argparse.Namespace, *, interactive: bool | None = None,
            read: Callable[[str], str] = input) -> Answers:  # fmt: skip
    """Validates the flags (asking for the repository and region on a TTY); raises
    :class:`InitError` with every problem."""
    if interactive is None:
        interactive = sys.stdin.isatty()
    missing = [flag for flag, v in (("--repository", args.repository), ("--region", args.region))
               if not v]  # fmt: skip
    if missing and not interactive:
        raise InitError(f"{' and '.join(missing)} required (there is no terminal to ask on), e.g. "
                        "deplight init infra --repository my-org/my-service --region eu-west-1")  # fmt: skip
    repository = _ask("GitHub repository that deploys this service (owner/name)",
                      args.repository, "--repository", interactive=interactive, read=read)  # fmt: skip
    region = _ask("AWS region (e.g. us-east-1)", args.region, "--region",
                  interactive=interactive, read=read)  # fmt: skip
    project_dir = Path(args.dir).resolve()
    app_root = Path(args.app_root).resolve() if args.app_root else project_dir.parent
    service = args.service_name or service_name_from(repository)
    problems = []
    if not REPOSITORY_RE.fullmatch(repository):
        problems.append(
            f"--repository: expected owner/name of a GitHub repository, found {repository!r}"
        )
    if region not in known_regions():
        problems.append(f"--region: expected an AWS region where ECS runs, found {region!r}")
    if not NAME_RE.fullmatch(service):
        problems.append(f"--service-name: expected a lowercase name of 1-20 letters, digits and "
                        f"dashes, found {service!r}")  # fmt: skip
    if not 1 <= args.port <= 65535:
        problems.append(f"--port: expected a port in 1-65535, found {args.port}")
    if not args.health_check_path.startswith("/") or " " in args.health_check_path:
        problems.append(f"--health-check-path: expected an HTTP path starting with '/', found "
                        f"{args.health_check_path!r}")  # fmt: skip
    if args.certificate_arn and not ACM_ARN_RE.fullmatch(args.certificate_arn):
        problems.append(f"--certificate-arn: expected an ACM certificate ARN, found "
                        f"{args.certificate_arn!r}")  # fmt: skip
    if bool(args.domain) != bool(args.hosted_zone_id):
        problems.append("--domain and --hosted-zone-id: expected both or neither")
    if args.domain and not DOMAIN_RE.fullmatch(args.domain):
        problems.append(
            f"--domain: expected a DNS name such as api.example.com, found {args.domain!r}"
        )
    if args.hosted_zone_id and not HOSTED_ZONE_RE.fullmatch(args.hosted_zone_id):
        problems.append(f"--hosted-zone-id: expected a Route 53 hosted zone id (Z...), found "
                        f"{args.hosted_zone_id!r}")  # fmt: skip
    if project_dir != app_root and app_root not in project_dir.parents:
        problems.append(f"--app-root {app_root}: expected a directory that contains {project_dir}")
    if problems:
        raise InitError("; ".join(problems))
    return Answers(
        project_dir=project_dir, app_root=app_root, repository=repository, region=region,
        service=service, project=args.project_name or service, port=args.port,
        health_check_path=args.health_check_path, dockerfile=args.dockerfile,
        context=args.context, requirement=args.requirement or deplight_requirement(),
        certificate_arn=args.certificate_arn, domain=args.domain,
        hosted_zone_id=args.hosted_zone_id,
    )  # fmt: skip


def _prod_ingress(a: Answers) -> tuple[str, str]:
    """The prod stack file's ingress block and the README's note about HTTPS."""
    if a.domain:
        block = (f"  deplight:ingress:\n    domain: {a.domain}\n"
                 f"    hosted_zone_id: {a.hosted_zone_id}\n")  # fmt: skip
        return block, ""
    if a.certificate_arn:
        return f"  deplight:ingress:\n    certificate_arn: {a.certificate_arn}\n", ""
    block = ("  # HTTPS is required in production (policy listener-https-only): set\n"
             "  # deplight:ingress.certificate_arn, or ingress.domain + ingress.hosted_zone_id for\n"
             "  # a certificate Deplight creates and validates in Route 53.\n")  # fmt: skip
    note = ("\n`deplight check --stack prod` fails until prod has HTTPS: set "
            "`deplight:ingress.certificate_arn`, or `ingress.domain` and `ingress.hosted_zone_id`, "
            "in `Pulumi.prod.yaml`.\n")  # fmt: skip
    return block, note


def _service_settings(a: Answers) -> str:
    """The stack files' ``deplight:service`` block: only the answers that differ from the settings'
    defaults (a stack file holds only what differs from its tier), or nothing."""
    defaults = ServiceSettings()
    given = {"name": a.service, "container_port": a.port, "health_check_path": a.health_check_path}
    lines = [f"    {key}: {value}\n" for key, value in given.items()
             if value != getattr(defaults, key)]  # fmt: skip
    return "  deplight:service:\n" + "".join(lines) if lines else ""


def render(template: Path, a: Answers) -> str:
    ingress, note = _prod_ingress(a)
    values = {
        "__PROJECT__": a.project, "__SERVICE__": a.service, "__REPOSITORY__": a.repository,
        "__REGION__": a.region, "__PORT__": str(a.port), "__HEALTH_PATH__": a.health_check_path,
        "__DOCKERFILE__": a.dockerfile, "__CONTEXT__": a.context,
        "__DEPLIGHT_REQUIREMENT__": a.requirement, "__INFRA_DIR__": a.infra_dir,
        "__WORKFLOWS_DIR__": Path(os.path.relpath(a.workflows_dir, a.project_dir)).as_posix(),
        "__PROD_INGRESS__": ingress, "__PROD_NOTE__": note,
        "__SERVICE_SETTINGS__": _service_settings(a),
    }  # fmt: skip
    text = template.read_text()
    for key, value in values.items():
        text = text.replace(key, value)
    leftover = re.findall(r"__[A-Z_]+__", text)
    if leftover:
        raise RuntimeError(f"template {template.name}: unfilled {sorted(set(leftover))}")
    return text


def plan_files(a: Answers) -> dict[Path, str | Path]:
    """Target path -> rendered text (or a file to copy as is)."""
    out: dict[Path, str | Path] = {}
    project = TEMPLATES / "project"
    for template in sorted(project.rglob("*.tmpl")):
        rel = template.relative_to(project).as_posix().removesuffix(".tmpl")
        rel = ".gitignore" if rel == "gitignore" else rel
        out[a.project_dir / rel] = render(template, a)
    for stack in STACKS:
        out[a.project_dir / "policies" / "config" / f"{stack}.json"] = PACK_CONFIG / f"{stack}.json"
    for template in sorted((TEMPLATES / "workflows").glob("*.tmpl")):
        out[a.workflows_dir / template.name.removesuffix(".tmpl")] = render(template, a)
    return out


def write(a: Answers, *, force: bool) -> list[Path]:
    files = plan_files(a)
    existing = [p for p in files if p.exists()]
    if existing and not force:
        shown = ", ".join(os.path.relpath(p) for p in existing[:5])
        more = f" and {len(existing) - 5} more" if len(existing) > 5 else ""
        raise InitError(f"would overwrite {shown}{more}; pass --force to replace them")
    for path, content in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            shutil.copyfile(content, path)
        else:
            path.write_text(content)
        log.debug("wrote %s", path)
    return list(files)


def _init(args: argparse.Namespace) -> int:
    from components.contract import EXIT_BAD_INPUT, EXIT_OK

    try:
        answers = collect(args)
        written = write(answers, force=args.force)
    except InitError as exc:
        print(f"deplight init: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"deplight init: wrote {len(written)} files: the Pulumi project in "
          f"{os.path.relpath(answers.project_dir)}/ and workflows in "
          f"{os.path.relpath(answers.workflows_dir)}/")  # fmt: skip
    if not (answers.app_root / answers.dockerfile).is_file():
        print(f"note: {answers.dockerfile} does not exist yet in {answers.app_root}; the deploy "
              "workflow builds the image from it")  # fmt: skip
    print(f"next: cd {os.path.relpath(answers.project_dir)} && deplight plan --stack dev && "
          "deplight check --stack dev")  # fmt: skip
    return EXIT_OK


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "init",
        help="scaffold a Deplight project (Pulumi.yaml, stacks, policies, workflows) in DIR",
        description="Writes a Pulumi project whose program is Deplight's into DIR (default "
        "infra/), with stack files for dev and prod, the policy pack wiring and a README, and "
        "the GitHub workflows into the application root's .github/workflows/ with the right "
        "working directory, Dockerfile and build context. Refuses to overwrite files unless "
        "--force. Exit 0 ok, 2 bad input.",
    )
    p.add_argument("dir", nargs="?", default="infra", metavar="DIR",
                   help="where the Pulumi project goes (default: infra)")  # fmt: skip
    p.add_argument("--repository", metavar="OWNER/NAME",
                   help="the GitHub repository whose workflows deploy (asked on a TTY)")  # fmt: skip
    p.add_argument("--region", help="AWS region of the stacks (asked on a TTY)")
    p.add_argument("--service-name", help="service.name (default: from the repository name)")
    p.add_argument("--project-name", help="Pulumi project name (default: the service name)")
    service = ServiceSettings()  # the settings' defaults, so that init never restates them
    p.add_argument("--port", type=int, default=service.container_port,
                   help=f"container port (default {service.container_port})")  # fmt: skip
    p.add_argument("--health-check-path", default=service.health_check_path,
                   help=f"health endpoint (default {service.health_check_path})")  # fmt: skip
    p.add_argument("--dockerfile", default="Dockerfile",
                   help="Dockerfile path from the application root (default Dockerfile)")  # fmt: skip
    p.add_argument("--context", default=".",
                   help="docker build context from the application root (default .)")  # fmt: skip
    p.add_argument("--app-root", metavar="DIR",
                   help="the application repository's root, where .github/workflows/ goes "
                   "(default: DIR's parent)")  # fmt: skip
    p.add_argument("--certificate-arn", help="prod's ACM certificate (HTTPS)")
    p.add_argument("--domain", help="prod's DNS name; Deplight creates the certificate")
    p.add_argument("--hosted-zone-id", help="the Route 53 zone of --domain")
    p.add_argument("--requirement", metavar="SPEC",
                   help="how requirements.txt names Deplight (default: deplight==<this version>)")  # fmt: skip
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    p.set_defaults(func=_init, stack=None)
