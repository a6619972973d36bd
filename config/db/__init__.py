"""Database backends of the project (config/db/postgresql: PostgreSQL)."""
