"""One router per page group; each page states the role it needs through its dependencies."""
