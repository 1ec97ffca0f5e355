"""Syslog receivers: RFC 5424 and RFC 3164 over UDP, TCP and TCP+TLS."""
