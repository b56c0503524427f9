"""One router per resource; each sets its role check at router level so no route can forget it."""
