"""Tested logic of the CLV study, laid out like the pipeline (see the README)."""
