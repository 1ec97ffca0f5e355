"""The plan's backups section looked up: a policy by name, the repositories it writes to, and a
repository as the engine sees it. Kept apart from the runner so that a command can find
them without loading the runner's store and sources."""

from __future__ import annotations

from watchkeeper.backups.config import BackupsSection, Policy, Repository, all_repositories
from watchkeeper.backups.engine import RepositoryAccess
from watchkeeper.exceptions import NotFoundError
from watchkeeper.logging_setup import register_secret


def access(repo: Repository) -> RepositoryAccess:
    """The engine's view of a plan repository; its secrets are registered for log masking."""
    register_secret(repo.password)
    for value in repo.env.values():
        register_secret(value)
    return RepositoryAccess(
        name=repo.name,
        url=repo.url,
        password=repo.password,
        env=dict(repo.env),
        limit_upload=repo.limit_upload,
        limit_download=repo.limit_download,
    )


def find_policy(section: BackupsSection, name: str) -> Policy:
    """Return the policy called ``name``; raise NotFoundError naming the known ones."""
    for policy in section.policies:
        if policy.name == name:
            return policy
    known = ", ".join(p.name for p in section.policies) or "none"
    raise NotFoundError(f"no backup policy {name!r} in the plan (policies: {known})")


def policy_repositories(
    section: BackupsSection, policy: Policy, only: str | None = None, *, copies: bool = False
) -> list[Repository]:
    """The plan repositories of ``policy`` (with ``copies``, its copy targets too), or only
    ``only``; raise NotFoundError naming the known ones if ``only`` is not among them."""
    by_name = {r.name: r for r in section.repositories}
    known = all_repositories(policy) if copies else policy.repositories
    names = [n for n in known if only is None or n == only]
    if only is not None and not names:
        raise NotFoundError(
            f"policy {policy.name} does not write to repository {only!r} "
            f"(it writes to {', '.join(known)})"
        )
    missing = [n for n in names if n not in by_name]
    if missing:
        raise NotFoundError(f"policy {policy.name}: unknown repository {missing[0]!r}")
    return [by_name[n] for n in names]
