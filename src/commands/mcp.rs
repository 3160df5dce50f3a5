//! `arazzo mcp`: the workflows as MCP tools, over stdio or, with `--http`, on
//! an HTTP listener at `/mcp` (the same listener as `arazzo serve`, without
//! the REST API).

use crate::cli::McpArgs;
use crate::report::printer::Printer;
use crate::report::problem::Problem;
use crate::serve::Transport;

/// Runs `arazzo mcp` until the client disconnects (stdio) or the process is
/// interrupted (HTTP).
pub(super) fn command(args: McpArgs, printer: &Printer) -> Result<u8, Problem> {
    let transport = match &args.http {
        Some(addr) => Transport::Http(super::serving::listen(
            addr,
            &args.listen,
            false,
            "arazzo mcp",
            printer,
        )?),
        None => {
            refuse_listener_flags(&args)?;
            Transport::Stdio
        }
    };
    let stdio = args.http.is_none();
    let (ready, rt) = super::serving::prepare(&args.served, stdio, "arazzo mcp", printer)?;
    crate::serve::serve(ready, transport, printer, rt)
}

/// The listener's flags mean nothing over stdio: saying so beats ignoring them.
fn refuse_listener_flags(args: &McpArgs) -> Result<(), Problem> {
    let l = &args.listen;
    let given = [
        (!l.allow_hosts.is_empty(), "--allow-host"),
        (!l.token_files.is_empty(), "--token-file"),
        (l.allow_unauthenticated, "--allow-unauthenticated"),
        (!l.allow_origins.is_empty(), "--allow-origin"),
    ];
    match given.iter().find(|(set, _)| *set) {
        Some((_, flag)) => Err(Problem::usage(
            format!("{flag} applies to an HTTP listener, and arazzo mcp serves over stdio here"),
            Some("add --http ADDR, or leave the flag out".into()),
        )),
        None => Ok(()),
    }
}
