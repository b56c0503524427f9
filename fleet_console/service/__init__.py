"""The console's use cases: taking in what the branches publish, sending signed commands."""
