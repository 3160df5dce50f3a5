//! What a run shows and writes: the terminal (colours, the live step view,
//! logs) and the files for CI (JUnit, the HTTP trace, JSON Lines). Every view
//! reads the engine's run report and events and masks them through the one
//! redactor ([`crate::redact`]); nothing here changes what a run does.

pub mod credentials;
pub mod files;
pub mod human;
pub mod printer;
pub mod problem;
pub mod terminal;
