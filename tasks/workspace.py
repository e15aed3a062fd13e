"""Where things live in a workspace: reports (cached by CI) and private state (not cached)."""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Workspace:
    root: Path

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def state(self) -> Path:
        """Private, rebuildable state: the upstream mirror, worktrees, demo repositories."""
        return self.root / ".forkwave"

    @property
    def mirror(self) -> Path:
        return self.state / "upstream.git"

    def report(self, name: str) -> Path:
        return self.reports / name

    def rel(self, path: str | os.PathLike[str]) -> str:
        """``path`` relative to the workspace: doit's state must survive a move (CI caches)."""
        return os.path.relpath(path, self.root)


def write_if_changed(path: Path, data: bytes | str) -> bool:
    """Write atomically, and only when the bytes differ (so doit's file_dep stays up to date)."""
    blob = data.encode("utf-8") if isinstance(data, str) else data
    if path.exists() and path.read_bytes() == blob:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), 0o666 & ~_umask())  # mkstemp makes 0600; a report is an ordinary file
            fh.write(blob)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return True


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def dump_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))
