"""The admin HTTP API (/api/v1): routers per area, their schemas, errors and dependencies.
Mounted with the pages by controller/app.py (create_app)."""
