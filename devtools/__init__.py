"""Development and test infrastructure (local PostgreSQL, tansu, moto); never imported by the service."""
