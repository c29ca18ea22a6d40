"""A test module that can list its accounts: the scripted module (tests/module_package) with list_accounts, the
accounts it reports set by the test (ACCOUNTS), or an error (FAIL) as a server that refuses the connection."""

from __future__ import annotations

from provisioning.modules.base import AccountList, Action, ModuleContext, RemoteAccount, TransientModuleError
from provisioning.modules.registry import register
from tests.module_package import ScriptedModule

ACCOUNTS: list[RemoteAccount] = []
FAIL: list[str] = []


@register
class ListingModule(ScriptedModule):
    name = "scripted_listing"
    label = "Scripted with account lists (tests)"
    optional_actions = frozenset({Action.USAGE, Action.LIST_ACCOUNTS})

    def list_accounts(self, context: ModuleContext) -> AccountList:
        if FAIL:
            raise TransientModuleError(FAIL[0])
        return AccountList(tuple(ACCOUNTS))
