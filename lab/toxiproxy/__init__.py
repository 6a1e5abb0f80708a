"""A Toxiproxy-compatible server in asyncio, and the lab's client facade over toxiproxy-python.

The real ``toxiproxy-server`` cannot be installed on our machines, so this package serves the
same HTTP API and toxics (Shopify/toxiproxy 2.x). The lab only ever talks to it through
toxiproxy-python (``control.py``), so a real server drops in by setting ``TOXIPROXY_URL``.

- ``server.py`` / ``api.py``: proxies and the HTTP API; ``proxy.py``: listeners;
  ``collection.py`` / ``link.py`` / ``stream.py``: the data path; ``toxics.py``: the toxics.
- ``embedded.py``: run our server in a background thread, or use ``TOXIPROXY_URL``.
- ``control.py``: the lab's typed facade (links, toxics, enable/disable, reset).
- ``cli.py``: ``aspen-lab toxiproxy --host --port``.
"""
