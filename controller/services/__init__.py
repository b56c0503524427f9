"""Use cases shared by the door, the API, the pages and the CLI; the only callers of the store."""
