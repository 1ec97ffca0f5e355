"""Users, passwords, sessions, roles and the first-admin setup flow."""
