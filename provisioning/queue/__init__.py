"""The module queue: every call a module makes goes through here, once per idempotency key.

- requests: ask for a call (ModuleCall row in the caller's transaction, its task sent after commit);
- runner: the worker's side (claim, pre-hook, the module, the outcome), safe under redelivery and kill -9;
- effects: what a call's outcome does to its service (Active after a create, the stored account, usage);
- actions: an admin's Retry, "mark resolved", and a to-do marked done;
- sweep: hands out calls whose task was lost or whose retry is due (beat and the automation run).
"""
