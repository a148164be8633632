"""Room hardware: cameras, projectors, SNMP devices and audio mixers, with their simulators."""
