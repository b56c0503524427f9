"""The admin HTTP API: FastAPI app built by `create_app(services)` from an explicit services object."""
