"""The testnet harness: run directories, process supervision, cluster start-up, progress."""
