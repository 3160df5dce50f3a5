//! `arazzo serve`: the workflows as a REST API and as MCP tools on one HTTP
//! listener ([`crate::serve::listener`]).

use crate::cli::ServeArgs;
use crate::report::printer::Printer;
use crate::report::problem::Problem;
use crate::serve::Transport;

/// Serves until SIGINT or SIGTERM, once the runs going on are answered.
pub(super) fn command(args: ServeArgs, printer: &Printer) -> Result<u8, Problem> {
    let name = "arazzo serve";
    let listen = super::serving::listen(&args.http, &args.listen, true, name, printer)?;
    let (ready, rt) = super::serving::prepare(&args.served, false, name, printer)?;
    crate::serve::serve(ready, Transport::Http(listen), printer, rt)
}
