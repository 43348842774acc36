"""Limits shared by the hook command (standard library only) and the server."""

#: Payloads larger than this are refused (the hook command shrinks big ones first).
MAX_PAYLOAD_BYTES = 1_048_576
