"""Conference bridge adapters: Janus VideoRoom, WHIP/WHEP, SIP."""
