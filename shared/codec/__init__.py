"""polc.shared.codec: the RDC/POLC learned codec, its entropy coding and its container."""
