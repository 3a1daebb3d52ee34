"""Use cases: the only layer that commits. No FastAPI here."""
