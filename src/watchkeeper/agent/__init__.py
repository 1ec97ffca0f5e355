"""The host agent: host metrics, log tailing, local jobs, and an on-disk spool to the server.

Not built yet: this package marks the domain's place in the layout.
"""
