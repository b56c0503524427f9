"""The branch's settings (config.toml): one validated model, bounds on every value."""
