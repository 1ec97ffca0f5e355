"""Where the security collectors and checks look up system commands (``dpkg-query``,
``apt-get``, ``nft``, ``iptables``, ``ss``...): the system's directories, sbin included — a
service user's PATH often lacks them — and never the PATH of whoever started Watchkeeper or
its agent."""

from __future__ import annotations

SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
