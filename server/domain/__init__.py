"""Pure rules: no FastAPI, no SQL. Imports only the standard library."""
