use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = arazzo::cli::Cli::parse();
    ExitCode::from(arazzo::app::main(cli))
}
