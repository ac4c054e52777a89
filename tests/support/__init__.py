"""Test support shared by the whole suite: real TLS servers on 127.0.0.1 and a local resolver."""
