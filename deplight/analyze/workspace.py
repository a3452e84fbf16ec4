"""A read-only view of a service checkout that remembers everything the rules looked at.

The rules see the file listing (names only, vendored and generated directories left out) and the
contents of the files they open. Both are recorded: their hash is the cache key, so changing,
adding or removing any file the analysis depended on gives a different key.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

from deplight.analyze.report import Evidence

# Directories that hold dependencies, build output, caches or VCS data, never the service's own
# manifests; walking them would make the listing slow and the cache key unstable.
SKIP_DIRS = frozenset({
    ".git", ".hg", ".svn", "node_modules", ".venv", "venv", "env", "__pycache__", ".mypy_cache",
    ".pytest_cache", ".ruff_cache", ".tox", "target", "build", "dist", "out", "bin", "obj",
    "vendor", ".next", ".nuxt", "coverage", "tmp", "log", "logs", ".deplight-cache", ".idea",
    ".vscode", ".gradle", ".terraform", ".bundle", ".pulumi", "storage",
})  # fmt: skip
MAX_DEPTH = 8
MAX_FILES = 20_000
MAX_READ_BYTES = 512 * 1024
"""Larger files are read only up to this size (a source file that large is generated)."""


class Workspace:
    """The checkout at ``root``: its listing, and the files read so far with their SHA-256."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.truncated = False
        self.files: list[str] = sorted(self._walk())
        self._set = frozenset(self.files)
        self.read_hashes: dict[str, str] = {}
        self._text: dict[str, str] = {}

    def _walk(self) -> Iterator[str]:
        count = 0
        stack: list[tuple[str, str, int]] = [(str(self.root), "", 0)]
        while stack:
            path, rel, depth = stack.pop()
            try:
                entries = list(os.scandir(path))
            except OSError:
                continue
            for entry in entries:
                name = entry.name
                if entry.is_dir(follow_symlinks=False):
                    if depth + 1 < MAX_DEPTH and name not in SKIP_DIRS and not name.startswith("."):
                        stack.append((entry.path, f"{rel}{name}/", depth + 1))
                elif entry.is_file(follow_symlinks=False):
                    count += 1
                    if count > MAX_FILES:
                        self.truncated = True
                        return
                    yield f"{rel}{name}"

    # -- listing ---------------------------------------------------------------------------------

    def exists(self, rel: str) -> bool:
        return rel in self._set

    def first(self, *candidates: str) -> str | None:
        """The first of ``candidates`` that exists."""
        return next((c for c in candidates if c in self._set), None)

    def glob(self, pattern: str) -> list[str]:
        """Listed files matching ``pattern`` (``fnmatch``: ``*`` also crosses ``/``)."""
        return [f for f in self.files if fnmatch.fnmatchcase(f, pattern)]

    def sources(self, *suffixes: str, limit: int = 300) -> list[str]:
        """Source files with one of ``suffixes``, shallowest first (entry points live near the
        top), at most ``limit`` of them."""
        hits = [f for f in self.files if f.endswith(suffixes)]
        return sorted(hits, key=lambda f: (f.count("/"), f))[:limit]

    # -- contents --------------------------------------------------------------------------------

    def read(self, rel: str) -> str | None:
        """The text of a listed file (UTF-8, undecodable bytes replaced), or None if not listed."""
        if rel in self._text:
            return self._text[rel]
        if rel not in self._set:
            return None
        try:
            with open(self.root / rel, "rb") as fh:
                data = fh.read(MAX_READ_BYTES)
        except OSError:
            return None
        self.read_hashes[rel] = hashlib.sha256(data).hexdigest()
        text = data.decode("utf-8", errors="replace")
        self._text[rel] = text
        return text

    def lines(self, rel: str) -> list[str]:
        text = self.read(rel)
        return text.splitlines() if text is not None else []

    def search(self, rel: str, pattern: str | re.Pattern[str], flags: int = 0
               ) -> list[tuple[re.Match[str], Evidence]]:  # fmt: skip
        """Every line of ``rel`` matching ``pattern``, with its evidence."""
        rx = re.compile(pattern, flags) if isinstance(pattern, str) else pattern
        out = []
        for no, line in enumerate(self.lines(rel), start=1):
            m = rx.search(line)
            if m:
                out.append((m, evidence(rel, no, line)))
        return out

    def find(self, rel: str, pattern: str | re.Pattern[str], flags: int = 0
             ) -> tuple[re.Match[str], Evidence] | None:  # fmt: skip
        """The first line of ``rel`` matching ``pattern``."""
        hits = self.search(rel, pattern, flags)
        return hits[0] if hits else None

    def find_in(self, files: list[str], pattern: str | re.Pattern[str], flags: int = 0
                ) -> tuple[re.Match[str], Evidence] | None:  # fmt: skip
        """The first match over ``files`` in order."""
        rx = re.compile(pattern, flags) if isinstance(pattern, str) else pattern
        for rel in files:
            text = self.read(rel)
            if text is None or not rx.search(text):
                continue  # one regex pass over the whole file before going line by line
            hit = self.find(rel, rx)
            if hit:
                return hit
        return None

    def search_in(self, files: list[str], pattern: str | re.Pattern[str], flags: int = 0
                  ) -> list[tuple[re.Match[str], Evidence]]:  # fmt: skip
        rx = re.compile(pattern, flags) if isinstance(pattern, str) else pattern
        out = []
        for rel in files:
            text = self.read(rel)
            if text is not None and rx.search(text):
                out.extend(self.search(rel, rx))
        return out


def evidence(rel: str, line: int | None, text: str) -> Evidence:
    text = text.strip()
    return Evidence(rel, line, text if len(text) <= 160 else text[:157] + "...")


def listing_digest(files: list[str]) -> str:
    return hashlib.sha256("\n".join(files).encode()).hexdigest()


def content_digest(hashes: dict[str, str]) -> str:
    """One hash over ``{file: sha256}`` (sorted, so the order of reading does not matter)."""
    h = hashlib.sha256()
    for rel in sorted(hashes):
        h.update(f"{rel}\0{hashes[rel]}\n".encode())
    return h.hexdigest()


def hash_files(root: Path, files: list[str]) -> dict[str, str] | None:
    """``{file: sha256}`` of the first ``MAX_READ_BYTES`` of each file, as :meth:`Workspace.read`
    hashes them; None when one of them is gone."""
    out = {}
    for rel in files:
        try:
            with open(root / rel, "rb") as fh:
                out[rel] = hashlib.sha256(fh.read(MAX_READ_BYTES)).hexdigest()
        except OSError:
            return None
    return out
