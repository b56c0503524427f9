"""The door screen: a full-screen page for a kiosk browser at the entrance, served by the door
process on loopback and fed by the door's snapshots over Server-Sent Events (see server.py)."""
