"""Values and rules of the branch, pure: no SQLite, no threads, no web. Imports nothing above it."""
