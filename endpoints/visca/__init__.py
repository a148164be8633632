"""Sony VISCA cameras over RS-232/RS-422 daisy chains and over IP (UDP 52381)."""
