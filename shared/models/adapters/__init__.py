"""polc.shared.models.adapters: compressed-domain adapters, machine tasks straight from ŷ."""
