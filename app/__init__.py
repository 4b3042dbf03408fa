"""The application layer: the ``polc`` command line and the end-to-end demo.

It sits on top of every other package (core, edge, cloud, training, bench) and nothing
imports it back.
"""
