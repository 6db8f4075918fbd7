"""Channel adapters. The core hands them outbox rows; each knows one messenger's API."""
