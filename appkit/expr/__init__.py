"""Ranking expressions: the IR (frozen dataclasses), parsing, printing, type inference and evaluation."""
