"""PJLink class 1 and 2 projectors: sans-IO codec, TCP/UDP transport and the Projector driver."""
