"""EPP (RFC 5730-5734): transport, commands, responses and the session; docs/EPP.md."""
