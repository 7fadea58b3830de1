//! After the batch: verify, health, rollback and connections.
