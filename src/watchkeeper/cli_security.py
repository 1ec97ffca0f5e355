"""The ``watchkeeper security`` and ``watchkeeper compliance`` command groups. Each part of
the security domain adds its commands from its own module (``cli_vulns``, ``cli_inventory``,
``cli_patches``, ``cli_hardening``, ``cli_compliance``) through a ``register`` function, so
that this file only lists them."""

from __future__ import annotations

import typer

security_app = typer.Typer(
    help="Vulnerability database, inventories, findings, patch plan and hardening audits.",
    no_args_is_help=True,
)
compliance_app = typer.Typer(
    help="Compliance controls, plan compliance and signed compliance reports.",
    no_args_is_help=True,
)
# register(security_app) / register(compliance_app) calls of each part follow.
