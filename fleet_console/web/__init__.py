"""The console's pages: the branch's look (its stylesheet, the same page frame and classes), the
branch's sign-in sessions, CSRF tokens and role checks, on the console's own database. English
only for now: the branch's string catalog has no console words."""
