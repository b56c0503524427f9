"""The operating system around the process: logging to the journal, systemd notifications."""
