//! `/etc/outpost/outpost.toml`: the configuration shared by every Outpost daemon (work in progress).
