"""API keys and the role -> permission rules of policies/access.yaml."""
