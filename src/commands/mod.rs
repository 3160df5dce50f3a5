//! The subcommands, one file each: they turn flags into library calls, print
//! through the one redacting printer ([`crate::report::printer`]) and map
//! problems to exit codes.

use crate::cli::{Cli, Command};
use crate::redact::Redactor;
use crate::report::printer::Printer;
use crate::report::problem::Problem;

mod credentials;
mod discovery;
mod each;
mod flags;
mod list;
mod mcp;
mod run;
mod serve;
mod serving;
mod shell;
mod show;
mod unknown;
mod validate;

pub use unknown::{unexpected_argument, unknown_command};

/// Runs the parsed command line and returns the exit code.
pub fn main(cli: Cli) -> u8 {
    let redactor = Redactor::new();
    let style = crate::report::terminal::Style::decide(cli.color_choice(), cli.quiet, cli.verbose);
    crate::report::terminal::init_logging(cli.verbose, style.color, &redactor);
    let printer = Printer {
        redactor,
        style,
        live: crate::report::terminal::Live::new(),
    };
    register_url_passwords(&printer.redactor);
    let result = match cli.command {
        Command::Run(args) => run::command(args, &printer),
        Command::Validate(args) => validate::command(args, &printer),
        Command::List(args) => list::command(args, &printer),
        Command::Show(args) => show::command(args, &printer),
        Command::Mcp(args) => mcp::command(args, &printer),
        Command::Serve(args) => serve::command(args, &printer),
        Command::Completions(args) => shell::completions_command(args),
        Command::Man(args) => shell::man_command(args, &printer),
        Command::Complete(args) => shell::complete_command(args),
    };
    match result {
        Ok(code) => code,
        Err(p) => {
            printer.problem(&p);
            p.exit
        }
    }
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Problem> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Problem::document(format!("cannot start the runtime: {e}"), None))
}

/// Registers the password of every URL on the command line (`-f URL`,
/// `validate URL`, `--server URL`) as a secret, so that no message, log or
/// report can show it, whatever path the URL takes through the tool.
fn register_url_passwords(redactor: &Redactor) {
    for arg in std::env::args().skip(1) {
        let value = arg.split_once('=').map_or(arg.as_str(), |(_, v)| v);
        for candidate in [arg.as_str(), value] {
            if let Some(password) = url::Url::parse(candidate)
                .ok()
                .and_then(|u| u.password().map(str::to_string))
            {
                redactor.add(&password);
            }
        }
    }
}
