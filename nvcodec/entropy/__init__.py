"""Entropy model: what to code (tables, indices, context steps); the native coder codes it."""
