"""SNMP devices: a client (v2c on our codec, v3 on pysnmp), UPS-MIB / IF-MIB / OID-map
drivers and a trap receiver.

Pure: `values` (OIDs, plain values), `ber` (v2c messages), `config` (settings),
`profiles` (readings from values), `notifications` (traps to events). I/O: `v2c` and
`engine` (the two request stacks), `client`, `devices` (the registry's factory) and
`traps` (the receiver the controller owns).
"""
