//! A problem that stops a command (a wrong flag, a document that cannot be
//! loaded), with its help and the exit code it ends with.

use miette::Diagnostic;

/// Exit codes, as documented in the README.
pub mod exit {
    pub const SUCCEEDED: u8 = 0;
    pub const FAILED: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const DOCUMENT: u8 = 3;
    /// Credentials could not be had: a token endpoint refused them or could
    /// not be reached, or a client certificate cannot be read.
    pub const CREDENTIALS: u8 = 4;
}

/// A problem that stops a command before or outside a run.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("{message}")]
pub struct Problem {
    pub message: String,
    #[help]
    pub help: Option<String>,
    pub exit: u8,
    /// A syntax error's place, shown with the file's lines.
    pub at: Option<Box<crate::read::SyntaxAt>>,
}

impl Problem {
    pub fn usage(message: impl Into<String>, help: Option<String>) -> Problem {
        Problem {
            message: message.into(),
            help,
            exit: exit::USAGE,
            at: None,
        }
    }
    pub fn document(message: impl Into<String>, help: Option<String>) -> Problem {
        Problem {
            exit: exit::DOCUMENT,
            ..Problem::usage(message, help)
        }
    }
    /// A document that could not be loaded, keeping the place of a syntax
    /// error so that it is shown in the file's text.
    pub fn load(e: crate::read::LoadError, exit: u8) -> Problem {
        Problem {
            exit,
            at: e.at.filter(|a| !a.file.is_empty()),
            ..Problem::usage(e.message, e.help)
        }
    }
}
