"""The incident database: curated DPRK-attributed thefts, statistics and reconciliation."""
