"""Chain adapters: trio-native JSON-RPC client, finality-aware watcher, exactly-once submitter."""
