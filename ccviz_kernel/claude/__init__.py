"""Claude Code's own formats: hook event and tool names, settings files, transcripts,
hook logs and timestamps. Everything here is about what Claude Code writes, not about the game."""
