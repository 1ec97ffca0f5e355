"""The offline vulnerability database: OSV records read (``records``) and matched
(``match``), dumps fetched (``fetch``) and imported incrementally (``importer``, one
``osv_imports`` row each: ``imports``), the scheduled imports (``service``) and what the
API and CLI show of it (``views``)."""
