"""Every write of the automation app. Import from here: `from automation.services import automation_settings_update`."""

from automation.services.settings import (
    automation_settings_update,
    automation_settings_validate,
    automation_settings_values,
)

__all__ = ["automation_settings_update", "automation_settings_validate", "automation_settings_values"]
