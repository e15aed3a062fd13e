API_KEY = "Tr0ub4dor&3-not-really"  # pragma: allowlist secret
