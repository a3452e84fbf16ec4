"""Text (terminal) and Markdown (pull-request comment) views of an analysis."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from deplight.analyze.report import FIELDS, Finding

if TYPE_CHECKING:
    from deplight.analyze.command import Outcome

PASTE_HINT = ("paste under `config:` in Pulumi.<env>.yaml; where the stack already has a "
              "deplight:service block, merge these keys into it")  # fmt: skip


def show_value(name: str, value: Any) -> str:
    if value is None:
        return "-"
    if name == "start":
        return " ".join(value)
    if name == "dependencies":
        lock = value.get("lock_file")
        return f"{value['manager']} ({lock})" if lock else f"{value['manager']} (no lock file)"
    if name == "resources":
        return f"cpu {value['cpu']} / memory {value['memory']} MiB"
    return str(value)


def _shown(name: str, finding: Finding) -> str:
    if not finding.decided:
        return "cannot tell"
    if finding.value is None:
        return "none"
    return show_value(name, finding.value)


def _where(finding: Finding) -> str:
    return ", ".join(e.where() for e in finding.evidence)


def render_text(out: Outcome) -> str:
    report = out.report
    assert report is not None
    state = "cache hit" if out.cache.get("hit") else "analysed"
    lines = [f"Service at {out.path} ({state} in {out.seconds * 1000:.1f} ms)"]
    for name in FIELDS:
        f = report[name]
        by = "" if f.source in (None, "rules") else f" [{f.source}]"
        lines.append(f"  {name:<18} {_shown(name, f)}{by}")
        lines.append(f"  {'':<18}   {f.reason}" + (f" ({_where(f)})" if f.evidence else ""))
    if report.undecided:
        lines.append("Could not tell: " + ", ".join(report.undecided))
    if report.notes:
        lines.append("Notes:")
        lines += [f"  - {n}" for n in report.notes]
    if out.block:
        lines.append(f"Settings ({PASTE_HINT}):")
        lines.append(out.block.rstrip("\n"))
    for stack, items in out.comparisons.items():
        if not items:
            lines.append(agreement(out, stack))
            continue
        lines.append(f"Pulumi.{stack}.yaml differs from the analysis:")
        for m in items:
            committed, suggested = (show_value(m["key"], m[k]) for k in ("committed", "suggested"))
            lines.append(f"  [{m['severity']}] {m['key']}: committed {committed}, suggested "
                         f"{suggested}: {m['why']}")  # fmt: skip
    if out.written:
        lines.append("Wrote " + ", ".join(out.written) + f" in {out.path}")
    return "\n".join(lines)


def agreement(out: Outcome, stack: str) -> str:
    """The line for a stack with no mismatch: which keys agree, or that none could be compared."""
    from deplight.analyze.stack import suggested_service

    keys = list(suggested_service(out.report)) if out.report else []
    if not keys:
        return f"Pulumi.{stack}.yaml: nothing to compare, the analysis decided none of its keys."
    return f"Pulumi.{stack}.yaml agrees with the analysis on {', '.join(keys)}."


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(out: Outcome) -> str:
    from deplight.analyze.command import MARKER

    report = out.report
    assert report is not None
    lines = [MARKER, "### deplight analyze", "",
             "| | found | why | evidence |", "|---|---|---|---|"]  # fmt: skip
    for name in FIELDS:
        f = report[name]
        value = _shown(name, f) + ("" if f.source in (None, "rules") else f" ({f.source})")
        evidence = ", ".join(f"`{e.where()}`" for e in f.evidence)
        lines.append(f"| {name} | {_cell(value)} | {_cell(f.reason)} | {evidence} |")
    if report.undecided:
        lines += ["", "**Could not tell:** " + ", ".join(report.undecided)]
    if report.notes:
        lines += ["", "**Notes**", ""] + [f"- {_cell(n)}" for n in report.notes]
    for stack, items in out.comparisons.items():
        lines.append("")
        if not items:
            lines.append(agreement(out, stack))
            continue
        lines += [f"**`Pulumi.{stack}.yaml` differs from the analysis**", "",
                  "| | key | committed | suggested | why |", "|---|---|---|---|---|"]  # fmt: skip
        for m in items:
            committed, suggested = (show_value(m["key"], m[k]) for k in ("committed", "suggested"))
            lines.append(f"| {m['severity']} | `{m['key']}` | {_cell(committed)} | "
                         f"{_cell(suggested)} | {_cell(m['why'])} |")  # fmt: skip
    if out.block:
        lines += ["", f"**Suggested settings** ({PASTE_HINT}):", "", "```yaml",
                  out.block.rstrip("\n"), "```"]  # fmt: skip
    if out.error:
        lines += ["", f"**Error:** {_cell(out.error)}"]
    return "\n".join(lines)
