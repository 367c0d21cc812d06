"""What the `hub` command runs: implementations of its subcommands."""
