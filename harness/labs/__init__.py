"""Labs: spec (lab.toml), discovery, workspace, sandboxed runner, progress."""
