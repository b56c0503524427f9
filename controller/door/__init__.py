"""The door: its state machine and thread, the hardware it drives, and what runs beside it
(mode switching, event writing, observers, the door link to the web process)."""
