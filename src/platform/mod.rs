//! platform (in progress)
