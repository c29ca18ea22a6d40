"""Plumbing every app uses and that holds no business rule. It imports no other app of ours."""
