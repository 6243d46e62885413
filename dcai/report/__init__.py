"""report: one self-contained HTML page per run; stages contribute sections."""
