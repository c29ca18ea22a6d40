"""Provisioning modules: the interface (base), the registry, and the built-in modules (manual, postgresql,
powerdns, cpanel). Nothing here imports a model: a module gets plain values and returns typed results."""
