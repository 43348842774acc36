"""Replaying recorded sessions: loading a file into a game, the playback clock, and the
plain-text view of a replay."""
