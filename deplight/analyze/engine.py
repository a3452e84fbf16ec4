"""One analysis: look the checkout up in the cache, else run the rules (and the model, where the
user asked for it and the rules left something undecided) and store the result."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deplight.analyze.cache import Cache
from deplight.analyze.report import Report
from deplight.analyze.rules import run_rules
from deplight.analyze.workspace import Workspace, content_digest, hash_files, listing_digest

RULES_VERSION = "1"
"""Part of every cache key: bump it whenever a rule changes what it reports."""


class ModelError(Exception):
    """The model was asked and could not answer (service error, malformed answer)."""


@dataclass
class Analysis:
    report: Report
    cache_hit: bool = False
    cache_key: str | None = None
    files_read: list[str] = field(default_factory=list)
    model_error: str | None = None
    seconds: float = 0.0


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def analyze(root: Path, *, cache: Cache | None = None, model: Any = None) -> Analysis:
    """Analyses the checkout at ``root`` (an existing directory).

    ``model`` is a :class:`deplight.analyze.model.BedrockAssist` (or anything with ``model_id``
    and ``fill(report, workspace)``); it is asked only about what the rules left undecided.
    """
    started = time.perf_counter()
    ws = Workspace(root)
    salt = f"rules={RULES_VERSION};model={getattr(model, 'model_id', '')}"
    listing = listing_digest(ws.files)
    index_key = "index-" + _digest(salt, listing)

    if cache is not None:
        index = cache.get(index_key)
        files = index.get("files") if index else None
        if isinstance(files, list) and all(isinstance(f, str) for f in files):
            hashes = hash_files(root, files)
            if hashes is not None:
                key = "entry-" + _digest(salt, listing, content_digest(hashes))
                entry = cache.get(key)
                if entry is not None:
                    try:
                        report = Report.from_dict(entry)
                    except (KeyError, TypeError, ValueError):
                        report = None
                    if report is not None:
                        return Analysis(report, True, key, sorted(files),
                                        seconds=time.perf_counter() - started)  # fmt: skip

    report = run_rules(ws)
    model_error = None
    if model is not None and report.undecided:
        try:
            model.fill(report, ws)
        except ModelError as exc:
            model_error = str(exc)
            report.notes.append(f"model assistance failed: {exc}")
    key = "entry-" + _digest(salt, listing, content_digest(ws.read_hashes))
    if cache is not None and model_error is None:
        # A failed model call is not cached: the next run asks again.
        cache.put(key, report.to_dict())
        cache.put(index_key, {"files": sorted(ws.read_hashes)})
    return Analysis(report, False, key, sorted(ws.read_hashes), model_error,
                    time.perf_counter() - started)  # fmt: skip
