"""polc.training: training and evaluation pipelines (teacher, codec stages I/II, adapters)."""
