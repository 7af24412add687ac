"""Secrets at rest: the wallet key and the venue API credentials, encrypted with a passphrase."""
