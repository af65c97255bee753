"""The one FastAPI app: thin routes over the domain, one problem+json mapping, one set of roles."""
