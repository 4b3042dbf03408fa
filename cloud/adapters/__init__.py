"""POLC compressed-domain adapters: machine tasks straight from the decoded latent ŷ."""
