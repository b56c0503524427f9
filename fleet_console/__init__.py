"""The fleet console (issue 17): one place for every branch, beside the branches, not inside them.

`openplus-door fleet serve` runs it: its own service with its own SQLite database, subscribed to
the organisation's MQTT broker. It shows each branch's retained state, last heartbeat, open
alerts and today's entries, one log across branches, and sends signed commands (a schedule, the
shared block list) to one, several or all branches, showing which applied them.

Why a package of its own rather than a room in controller/: a branch never runs it, and a branch's
code must never depend on it (import-linter: only controller.cli may import it). It reuses the
branch's lower layers (the schedule model and form, users, passwords, sessions, CSRF, the command
format and signer), and keeps its own small layers: web > service > store > config.
"""
