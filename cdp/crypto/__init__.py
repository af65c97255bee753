"""Envelope encryption (per-person AES-256-GCM data keys wrapped by master keys), blind indexes and keys."""
