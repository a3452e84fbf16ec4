"""Runs every language's rules over a checkout and keeps the stack that has a web framework."""

from __future__ import annotations

from deplight.analyze import lang_dotnet, lang_go, lang_java, lang_node, lang_python, lang_ruby
from deplight.analyze.report import FIELDS, Report, unknown
from deplight.analyze.workspace import MAX_FILES, Workspace

ANALYZERS = (lang_python, lang_node, lang_go, lang_java, lang_ruby, lang_dotnet)
MANIFESTS_HELP = (
    "requirements.txt, pyproject.toml, Pipfile, setup.py or manage.py (Python), package.json "
    "(Node.js), go.mod (Go), pom.xml or build.gradle(.kts) (Java), Gemfile (Ruby), *.csproj (.NET)"
)


def run_rules(ws: Workspace) -> Report:
    """The report of the stack found in ``ws``; every field undecided when none is."""
    reports = [r for r in (a.analyze(ws) for a in ANALYZERS) if r is not None]
    if not reports:
        report = Report(findings={name: unknown("the language is unknown") for name in FIELDS})
        report.findings["language"] = unknown(
            f"no manifest of a supported stack in the checkout (looked for {MANIFESTS_HELP})"
        )
        chosen = report
    else:
        web = [r for r in reports if r["framework"].decided]
        chosen = (web or reports)[0]
        for other in reports:
            if other is chosen:
                continue
            fw = other.value("framework")
            chosen.notes.append(
                f"also found {other.value('language')} ({fw or 'no web framework'}, "
                f"{other['language'].evidence[0].where()}); the report is about "
                f"{chosen.value('language')}"
                + (" because it has a web framework" if web and not fw else "")  # fmt: skip
            )
        for name in FIELDS:
            chosen.findings.setdefault(name, unknown("not analysed"))
    if ws.truncated:
        chosen.notes.append(f"the checkout has more than {MAX_FILES} files: only the first "
                            f"{MAX_FILES} were listed")  # fmt: skip
    return chosen
