"""Process-level performance helpers (issue 18)."""
