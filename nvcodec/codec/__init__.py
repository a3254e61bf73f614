"""Sequence coding: settings, GOP structure, frame coders, the encoder and decoder objects."""
