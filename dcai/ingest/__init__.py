"""ingest: scan a source, decode and validate every image, quarantine the broken ones."""
