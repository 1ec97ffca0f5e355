"""Generated documents that never go stale: the system inventory, the architecture overview
and the disaster-recovery runbooks, built from the store and the applied plan whenever they
are asked for (cached while neither the plan nor the store state they show has changed)."""
