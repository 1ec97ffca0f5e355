"""FastAPI routers: thin layers that validate, call the domain and serialise."""
