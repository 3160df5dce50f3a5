use std::process::ExitCode;

use clap::error::{ContextKind, ErrorKind};
use clap::Parser;

fn main() -> ExitCode {
    let cli = match arazzo::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // A workflowId typed without `run` gets a message that says so.
            if e.kind() == ErrorKind::InvalidSubcommand {
                if let Some(word) = e.get(ContextKind::InvalidSubcommand) {
                    let args: Vec<String> = std::env::args_os()
                        .skip(1)
                        .map(|a| a.to_string_lossy().into_owned())
                        .collect();
                    if let Some(code) = arazzo::commands::unknown_command(&word.to_string(), &args)
                    {
                        return ExitCode::from(code);
                    }
                }
            }
            // A bare word clap does not expect may be a secret: not echoed.
            if e.kind() == ErrorKind::UnknownArgument {
                if let Some(arg) = e.get(ContextKind::InvalidArg) {
                    if let Some(code) = arazzo::commands::unexpected_argument(&arg.to_string()) {
                        return ExitCode::from(code);
                    }
                }
            }
            e.exit()
        }
    };
    ExitCode::from(arazzo::commands::main(cli))
}
