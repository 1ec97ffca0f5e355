"""Inventories of installed software: what is installed on a host, read without running or
importing any of it.

Pure collectors and parsers, shared by the agent (``agent/software.py``), the server's own
``watchkeeper security inventory`` and the tests:

- ``python_env``: installed distributions of an interpreter, a virtual environment or a
  site-packages directory, from their ``METADATA``/``PKG-INFO`` files;
- ``pylocks``: pinned requirements files, ``poetry.lock``, ``uv.lock``, ``Pipfile.lock`` and
  ``pylock.toml``;
- ``npm``: ``package-lock.json`` / ``npm-shrinkwrap.json`` (lockfileVersion 1, 2 and 3);
- ``debian``: the Debian packages (``dpkg-query``), the distribution release, the available
  OS updates (a simulated ``apt-get dist-upgrade``);
- ``collect``: one host's inventories per an ``InventorySpec``, globs expanded, each location
  bounded by a timeout and failing on its own;
- ``model``, ``spec`` and ``wire``: an inventory, the merged plan specs an agent follows,
  and the body of ``POST /api/v1/agent/packages``.
"""
