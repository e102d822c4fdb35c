// hygiene integration tests
