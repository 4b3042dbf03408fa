"""polc.shared.models.codec: the trainable RDC codec module and its transforms.

The bitstream side (entropy coding, wire tables, container, runtime) is ``polc.shared.codec``.
"""
