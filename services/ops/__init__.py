"""Unattended operation: notifications, Prometheus metrics, backups and retention (issue 17)."""
