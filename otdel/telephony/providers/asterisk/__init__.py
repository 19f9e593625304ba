"""Asterisk: CDR files (cdr_csv, cdr_custom CSV/JSON) and the live AMI stream become CallRecords."""
