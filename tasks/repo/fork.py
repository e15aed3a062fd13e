"""The fork's branch head, with a clear error when the fork or the branch is missing (light: git only)."""
from __future__ import annotations

from tasks.config import Config
from tasks.errors import ForkwaveError
from tasks.repo import git


def fork_head(cfg: Config) -> str:
    """The commit of ``fork.branch``; a clear error if the fork or branch is missing."""
    path = cfg.fork.path
    if not path.exists():
        raise ForkwaveError(f"{cfg.file}: fork.path: {path} does not exist; clone your fork there or fix the path")
    if not git.is_repo(path):
        raise ForkwaveError(f"{cfg.file}: fork.path: {path} is not a git repository")
    sha = git.rev_parse(path, f"refs/heads/{cfg.fork.branch}^{{commit}}")
    if sha is None:
        raise ForkwaveError(f"{cfg.file}: fork.branch: no branch {cfg.fork.branch!r} in {path}; "
                            "name an existing branch of the fork")
    return sha
