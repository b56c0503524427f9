"""The `openplus-door` command: one module per group of subcommands."""
