"""The ``watchkeeper security`` and ``watchkeeper compliance`` command groups. Each part of
the security domain adds its commands from its own module (``cli_vulns``, ``cli_inventory``,
``cli_patches``, ``cli_hardening``, ``cli_compliance``) through a ``register`` function, so
that this file only lists them."""

from __future__ import annotations

import typer

from watchkeeper.cli_compliance import register as register_compliance
from watchkeeper.cli_hardening import register as register_hardening
from watchkeeper.cli_inventory import register as register_inventory
from watchkeeper.cli_patches import register as register_patches
from watchkeeper.cli_plan_status import register as register_plan_status
from watchkeeper.cli_vulns import register as register_vulns

security_app = typer.Typer(
    help="Vulnerability database, inventories, findings, patch plan and hardening audits.",
    no_args_is_help=True,
)
compliance_app = typer.Typer(
    help="Compliance controls, plan compliance and signed compliance reports.",
    no_args_is_help=True,
)
# register(security_app) / register(compliance_app) calls of each part follow.
register_inventory(security_app)
register_patches(security_app)
register_vulns(security_app)
register_hardening(security_app)
register_compliance(compliance_app)
register_plan_status(compliance_app)
