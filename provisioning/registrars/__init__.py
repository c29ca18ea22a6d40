"""Domain registrars (issue 18). The EPP protocol layer is in epp/."""
