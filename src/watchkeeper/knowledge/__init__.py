"""The knowledge base: runbooks, generated documents that never go stale, onboarding."""
