"""telehealth: self-hosted video visits for psychiatric medication management."""
