"""The in-process cluster: N nodes over fake chains and a fake network, under MockClock."""
