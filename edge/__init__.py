"""polc.edge: the edge node (sources, encoder backends, spool, uplink)."""
