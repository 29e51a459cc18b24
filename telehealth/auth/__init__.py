"""Domain: accounts, roles, passwords, sessions and join links."""
