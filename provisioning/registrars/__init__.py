"""Registrars: the interface (base), the registry of installed registrars (registry), the built-in ones (manual,
epp). Registrar calls run through the module queue (provisioning.queue)."""
