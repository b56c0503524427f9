"""The simulated branch: the real drivers on mock pins and pseudo-terminals, and its console."""
