//! What the user sees: the [`problem`] that stops a command and its exit code,
//! the [`printer`] every byte goes through, the [`terminal`] (colours, the live
//! step view, logs), the [`human`] view of a run (with the [`credentials`] help
//! after a 401 or 403), and the [`files`] for CI (JUnit, the HTTP trace, JSON
//! Lines). Every view reads the engine's run report and events and masks them
//! through the one redactor ([`crate::redact`]); nothing here changes what a
//! run does.

pub mod credentials;
pub mod files;
pub mod human;
pub mod printer;
pub mod problem;
pub mod terminal;
