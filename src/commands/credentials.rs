//! `--auth-file`, `--env-file` and `ARAZZO_AUTH_…` turned into the
//! credentials of a run, a batch or an MCP server.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::auth::{Auth, Credentials, Known};
use crate::cli::AuthArgs;
use crate::document::{Loaded, SourceRef};
use crate::http::ClientOptions;
use crate::report::printer::Printer;
use crate::report::problem::{exit, Problem};

/// Puts the variables of `--env-file` in the environment where it does not
/// set them already (the environment wins), before anything reads it: the
/// inputs (`ARAZZO_INPUT_…`) and the credentials (`ARAZZO_AUTH_…`). Called
/// first, before any thread starts.
pub(super) fn apply_env_file(args: &AuthArgs, printer: &Printer) -> Result<(), Problem> {
    let Some(path) = &args.env_file else {
        return Ok(());
    };
    let pairs = crate::auth::store::read_env_file(path).map_err(|m| {
        Problem::usage(
            m,
            Some("write one NAME=value per line; `#` starts a comment".into()),
        )
    })?;
    if let Some(mode) = shared_mode(path) {
        printer.err(&format!(
            "warning: --env-file `{}` can be read by other users (mode {mode:03o}); if it holds secrets, run `chmod 600 {}`\n",
            path.display(),
            path.display()
        ));
    }
    // A later line wins over an earlier one, as in a shell.
    let pairs: BTreeMap<String, String> = pairs.into_iter().collect();
    for (name, value) in pairs {
        if std::env::var_os(&name).is_none() {
            std::env::set_var(name, value);
        }
    }
    Ok(())
}

/// The file's mode when the group or others may read it.
#[cfg(unix)]
fn shared_mode(path: &std::path::Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o044 != 0).then_some(mode)
}

#[cfg(not(unix))]
fn shared_mode(_path: &std::path::Path) -> Option<u32> {
    None
}

/// The credentials for the sources of `loaded`: read, their secrets given
/// to the printer's redactor, unknown `ARAZZO_AUTH_…` variables warned about,
/// client certificates loaded.
pub(super) fn load<'l>(
    args: &AuthArgs,
    loaded: impl IntoIterator<Item = &'l Loaded>,
    client_opts: &ClientOptions,
    printer: &Printer,
) -> Result<Arc<Auth>, Problem> {
    let env: BTreeMap<String, String> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    let creds = Credentials::load(&known(loaded), &env, args.auth_file.as_deref())
        .map_err(|m| Problem::usage(m, None))?;
    for s in creds.secrets() {
        printer.redactor.add(s);
    }
    for w in &creds.warnings {
        printer.err(&format!("warning: {w}\n"));
    }
    let auth = Auth::new(creds, client_opts).map_err(|m| Problem {
        exit: exit::CREDENTIALS,
        ..Problem::usage(m, Some(CERT_HELP.into()))
    })?;
    Ok(Arc::new(auth))
}

const CERT_HELP: &str =
    "clientCert and clientKey are paths to PEM files: the certificate (chain) and its private key";

/// Every source description of the documents and the security schemes it
/// declares (a source named alike in two documents has both's schemes).
fn known<'l>(loaded: impl IntoIterator<Item = &'l Loaded>) -> Known {
    let mut by_source: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for doc in loaded.into_iter().flat_map(|l| &l.docs) {
        for (name, source) in &doc.sources {
            let schemes = by_source.entry(name.clone()).or_default();
            match source {
                SourceRef::OpenApi(api) => {
                    if let Ok(s) = api.security_schemes() {
                        schemes.extend(s.keys().cloned());
                    }
                }
                SourceRef::AsyncApi(api) => schemes.extend(api.security_scheme_names()),
                SourceRef::Arazzo(_) => {}
            }
        }
    }
    by_source
        .into_iter()
        .map(|(k, v)| (k, v.into_iter().collect()))
        .collect()
}
