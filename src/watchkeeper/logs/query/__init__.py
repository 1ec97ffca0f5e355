"""The log query language (a LogQL dialect): parser and engine."""
