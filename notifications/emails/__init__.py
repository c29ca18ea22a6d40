"""Emails: the templates (catalog, rendering, the governed edits), sending them (claim, SMTP, retries, the
sweep), attachments by reference, the client's history and the trigger map's email reactions."""
