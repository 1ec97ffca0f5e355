"""The generated documents, built from fixture rows: the inventory lists hosts, services,
checks, databases, backups and who is on call; the architecture overview draws the services
with their cycle; the DR document holds every policy's runbook; each says when and from
which plan it was built, and a plan change is seen at once."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from tests.knowledge.generated_fixtures import NOW, PLAN, apply_text, seed
from watchkeeper.exceptions import NotFoundError
from watchkeeper.knowledge.generated.documents import DocumentCache, get_document
from watchkeeper.knowledge.generated.markdown import Links, demote, text
from watchkeeper.knowledge.generated.version import plan_version

PAGE, BUNDLE = Links("page"), Links("bundle")


@pytest.fixture
def seeded(db: Session) -> Session:
    seed(db, runbooks=False)
    return db


def section(markdown: str, title: str) -> str:
    """The lines of the ``## title...`` section."""
    start = markdown.index(f"\n## {title}")
    end = markdown.find("\n## ", start + 1)
    return markdown[start : end if end > 0 else None]


def row(markdown: str, first_cell: str) -> str:
    found = [ln for ln in markdown.splitlines() if ln.startswith(f"| {first_cell}")]
    assert len(found) == 1, (first_cell, markdown)
    return found[0]


def test_inventory_lists_hosts_checks_backups_and_on_call(seeded: Session) -> None:
    doc = get_document(seeded, "inventory", BUNDLE, now=NOW, cache=None)
    md = doc.markdown
    hosts = section(md, "Hosts (2)")
    db1 = row(hosts, "**db-1**")
    for fact in (
        "Debian GNU/Linux 12 (bookworm)",
        "`6.1.0-18-amd64`",
        "4 (2 cores)",
        "16.0 GB",
        "`/var/lib/postgresql` 500.0 GB",
        "`192.0.2.10`",
        "812 (dpkg)",
        "| now |",
    ):
        assert fact in db1, fact
    assert "127.0.0.1" not in db1
    assert "(**silent**)" in row(hosts, "**web-2**")
    checks = section(md, "Checks (3")
    assert "1 down, 1 pending, 1 up" in checks
    assert "**down**" in row(checks, "**orders-api**") and "12 min" in row(checks, "**orders-api**")
    assert "connection refused" in row(checks, "**orders-api**")
    backups = section(md, "Backups (1)")
    policy = row(backups, "**[orders-db](<dr/orders-db.md>)**")
    assert "2026-12-02 07:04 UTC (local)" in policy  # last good backup, to which repository
    assert "**failed** 2026-12-01 10:09 UTC" in policy  # last restore drill
    assert "app-db" in section(md, "Databases (1)")
    services = section(md, "Services (4)")
    assert "down" in row(services, "**orders-api**")  # its check is down
    assert "up" in row(services, "**web**")  # its check (tagged service:web) is up
    oncall = section(md, "On call now")
    assert "**Alice Moreau**" in row(oncall, "**primary**")
    assert "alice@example.com" in row(oncall, "**primary**")
    assert "**Carol Ng**" in row(oncall, "**secondary**")


def test_links_follow_the_reader(seeded: Session) -> None:
    page = get_document(seeded, "inventory", PAGE, now=NOW, cache=None).markdown
    assert "[db-1](</hosts/db-1>)" in page and "[orders-db](</backups/orders-db>)" in page
    bundle = get_document(seeded, "inventory", BUNDLE, now=NOW, cache=None).markdown
    assert "/hosts/" not in bundle and "(<architecture.md>)" in bundle


def test_each_document_says_when_and_from_which_plan(seeded: Session) -> None:
    number = plan_version(seeded).number
    assert number > 0
    for name in ("inventory", "architecture", "dr"):
        doc = get_document(seeded, name, PAGE, now=NOW, cache=None)
        assert doc.markdown.splitlines()[2].startswith(
            f"_Generated at 2026-12-02 10:00 UTC from plan version {number} (applied "
        )
        assert doc.body and not doc.body.lstrip().startswith("_Generated")


def test_architecture_draws_services_with_their_cycle(seeded: Session) -> None:
    doc = get_document(seeded, "architecture", Links("api"), now=NOW, cache=None)
    assert "Dependency cycle: orders-api → worker → orders-api" in doc.markdown
    assert "![Services and their dependencies](/api/v1/knowledge/documents/architecture" in (
        doc.markdown
    )
    assert row(doc.markdown, "**orders-db**").endswith(
        "[orders-db-failover](</runbooks/orders-db-failover>) |"
    )
    assert 'class="edge cycle"' in doc.svg_inline and "<style>" not in doc.svg_inline
    assert "<style>" in doc.svg_file
    for name in ("web", "orders-api", "worker", "orders-db"):
        assert f'data-service="{name}"' in doc.svg_inline
    page = get_document(seeded, "architecture", PAGE, now=NOW, cache=None)
    assert "![" not in page.markdown  # the page draws the diagram itself


def test_dr_document_holds_every_policys_runbook(seeded: Session) -> None:
    doc = get_document(seeded, "dr", BUNDLE, now=NOW, cache=None)
    assert [p.policy for p in doc.parts] == ["orders-db"]
    assert doc.parts[0].markdown.startswith("# Disaster recovery runbook: orders-db")
    assert "\n## Disaster recovery runbook: orders-db" in doc.markdown  # one level down
    assert "s3cret-repo-passphrase" not in doc.markdown  # secrets never in a document


def test_no_plan_gives_documents_that_say_so(db: Session) -> None:
    inventory = get_document(db, "inventory", PAGE, now=NOW, cache=None)
    assert "from no applied plan file" in inventory.markdown
    assert "No host has reported yet" in inventory.markdown
    assert "No services are declared" in get_document(db, "architecture", PAGE, cache=None).body
    assert "No backup policies are declared" in get_document(db, "dr", PAGE, cache=None).body


def test_a_plan_change_is_seen_at_once(seeded: Session) -> None:
    cache = DocumentCache()
    first = get_document(seeded, "architecture", PAGE, now=NOW, cache=cache)
    again = get_document(seeded, "architecture", PAGE, now=NOW, cache=cache)
    assert again is first  # nothing changed: served from the cache
    service = "    - {name: orders-db, team: data"
    apply_text(seeded, PLAN.replace(service, "    - {name: search, team: shop}\n" + service))
    changed = get_document(seeded, "architecture", PAGE, now=NOW, cache=cache)
    assert changed is not first
    assert "**search**" in changed.markdown and changed.plan.number > first.plan.number
    assert f"plan version {changed.plan.number}" in changed.provenance


def test_unknown_document_is_not_found(db: Session) -> None:
    with pytest.raises(NotFoundError, match='no generated document "nope"'):
        get_document(db, "nope", PAGE)


def test_markdown_helpers_escape_and_demote() -> None:
    assert text("a|b *c* <d>\nnext") == "a\\|b \\*c\\* \\<d\\> next"
    source = "# Title\n\n```sh\n# a shell comment\n```\n## Part"
    assert demote(source) == "## Title\n\n```sh\n# a shell comment\n```\n### Part"
