"""Signaling: the call protocol, rooms, the socket.io server and the pre-call test peer."""
