"""The worker runtime: launcher, manager, processor, fetch, poller, heartbeat, retry, signals."""
