//! spandb facade.
