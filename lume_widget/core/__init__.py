"""The sans-I/O heart of the client: wire decoding, events, the session state machine.

Nothing in this package opens a socket, reads a clock, sleeps or awaits: inputs are
method calls carrying the time, outputs are lists the driver drains.
"""
