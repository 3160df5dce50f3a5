//! What `arazzo mcp` and `arazzo serve` share: checking the flags, loading
//! and compiling the workflows to serve, filling in the operator's inputs, and
//! the listener's settings. The servers are in [`crate::serve`].

use crate::cli::{ListenArgs, ServedArgs};
use crate::compile::{compile, Program};
use crate::document::{self, Loaded};
use crate::engine::inputs::{self, InputSources};
use crate::engine::interrupt::Stop;
use crate::engine::RunOptions;
use crate::http::ClientOptions;
use crate::plan;
use crate::report::printer::Printer;
use crate::report::problem::{exit, Problem};
use crate::serve::listener::Listen;
use crate::serve::mcp_tools::{tool_for, valid_tool_name};
use crate::serve::runner::Served;
use crate::serve::tokens::Tokens;
use crate::serve::Ready;
use rmcp::model::Tool;
use serde_json::{Map, Value};
use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// Loads, compiles and checks what the server will serve. `stdio`: MCP over
/// standard input, which then cannot carry `--inputs -`. `name` is the
/// command, for messages (`arazzo serve`).
pub(super) fn prepare(
    args: &ServedArgs,
    stdio: bool,
    name: &str,
    printer: &Printer,
) -> Result<(Ready, tokio::runtime::Runtime), Problem> {
    // Flags first: nothing is loaded when the command line is wrong.
    super::credentials::apply_env_file(&args.auth, printer)?;
    let flags = check_flags(args, stdio, printer)?;
    let files = document_files(args, name)?;
    let client_opts = ClientOptions {
        timeout: Duration::from_secs_f64(args.timeout),
        max_document_size: args.documents.max_document_size,
        ..ClientOptions::default()
    };
    let client = crate::http::client(&client_opts).map_err(|m| Problem::document(m, None))?;
    let fetcher =
        crate::http::fetch_client(&client_opts).map_err(|m| Problem::document(m, None))?;
    let rt = super::runtime()?;

    // Load and compile every workflow to serve.
    let wanted: BTreeSet<&str> = args.tools.iter().map(|t| t.trim()).collect();
    let found = load_workflows(&files, &wanted, &fetcher, &rt)?;
    check_selection(&wanted, &found, &flags.servers)?;

    let (served, used) = fill_operator_inputs(found.picked, &flags, !args.no_preflight, printer)?;
    let auth = super::credentials::load(
        &args.auth,
        served.iter().map(|s| &*s.loaded),
        &client_opts,
        printer,
    )?;
    let tools: Vec<Tool> = served.iter().map(tool_for).collect();
    announce(name, &tools, &used, printer);
    let opts = RunOptions {
        auth,
        servers: flags.servers,
        max_steps: args.max_steps,
        max_response_bytes: args.max_response_size,
        max_duration: args.max_duration.map(Duration::from_secs_f64),
        max_retry_wait: Duration::from_secs_f64(args.stopping.max_retry_wait),
        stop: flags.stop,
        max_parallel: args.max_parallel,
        message_timeout: Duration::from_secs_f64(args.timeout),
    };
    let ready = Ready {
        tools,
        served,
        client,
        opts,
        preflight: !args.no_preflight,
    };
    Ok((ready, rt))
}

/// The listener's settings from the flags: the token files read (their
/// tokens become secrets), the origins checked, and an address others can
/// reach refused without a token.
pub(super) fn listen(
    addr: &str,
    args: &ListenArgs,
    rest: bool,
    name: &'static str,
    printer: &Printer,
) -> Result<Listen, Problem> {
    let mut tokens: Vec<String> = Vec::new();
    for path in &args.token_files {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Problem::usage(
                format!("cannot read the token file {}: {e}", path.display()),
                Some("--token-file takes a file of bearer tokens, one per line".into()),
            )
        })?;
        let found = Tokens::parse(&text);
        for t in &found {
            printer.redactor.add(t);
        }
        if found.is_empty() {
            return Err(Problem::usage(
                format!("the token file {} holds no token", path.display()),
                Some("write one bearer token per line (lines starting with # are skipped)".into()),
            ));
        }
        tokens.extend(found);
    }
    let tokens = Tokens::new(&tokens);
    for origin in &args.allow_origins {
        check_origin(origin)?;
    }
    crate::serve::listener::check_exposure(addr, &tokens, args.allow_unauthenticated)?;
    Ok(Listen {
        addr: addr.to_string(),
        allow_hosts: args.allow_hosts.clone(),
        tokens,
        allow_origins: args.allow_origins.clone(),
        max_request_size: args.max_request_size,
        max_concurrent_runs: args.max_concurrent_runs,
        rest,
        name,
    })
}

/// An `--allow-origin` value: `scheme://host[:port]`, or `null`.
fn check_origin(origin: &str) -> Result<(), Problem> {
    let ok = origin == "null"
        || Url::parse(origin).is_ok_and(|u| {
            matches!(u.scheme(), "http" | "https")
                && u.host().is_some()
                && u.path() == "/"
                && u.query().is_none()
                && u.username().is_empty()
        });
    if ok {
        Ok(())
    } else {
        Err(Problem::usage(
            format!("--allow-origin `{origin}` is not an origin"),
            Some("write the scheme, host and port a browser sends, e.g. https://console.example.com or http://localhost:3000".into()),
        ))
    }
}

/// What the command line gives before any document is loaded.
struct Flags {
    /// `-i NAME=VALUE`, in the order given.
    cli_inputs: Vec<(String, String)>,
    /// `--inputs FILE`, read.
    file_inputs: Option<Map<String, Value>>,
    servers: HashMap<String, Url>,
    stop: Stop,
}

/// Checks the flags and reads the inputs file, so that nothing is loaded when
/// the command line is wrong. Starts listening for signals (not yet armed).
fn check_flags(args: &ServedArgs, stdio: bool, printer: &Printer) -> Result<Flags, Problem> {
    let cli_inputs: Vec<(String, String)> =
        super::flags::parse_pairs(&args.inputs, "-i", "NAME=VALUE")?
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    let servers = parse_servers(&args.servers)?;
    super::flags::register_url_secrets(&servers, &printer.redactor);
    check_seconds("--timeout", Some(args.timeout))?;
    check_seconds("--max-duration", args.max_duration)?;
    super::flags::check_stopping(&args.stopping)?;
    let stop = Stop::listen(Duration::from_secs_f64(args.stopping.grace_period));
    if stdio
        && args
            .inputs_file
            .as_deref()
            .is_some_and(crate::read::stdin::is_dash)
    {
        return Err(Problem::usage(
            "--inputs - cannot read standard input: over stdio, standard input carries the MCP messages",
            Some("put the inputs in a file, or serve with --http ADDR".into()),
        ));
    }
    let file_inputs = match &args.inputs_file {
        Some(path) => Some(super::flags::read_inputs_file(
            path,
            args.documents.max_document_size,
        )?),
        None => None,
    };
    Ok(Flags {
        cli_inputs,
        file_inputs,
        servers,
        stop,
    })
}

/// The documents to serve: the paths given (default `./workflows`), with
/// directories expanded.
fn document_files(args: &ServedArgs, name: &str) -> Result<Vec<PathBuf>, Problem> {
    if args.paths.iter().any(|p| crate::read::stdin::is_dash(p)) {
        return Err(Problem::usage(
            format!("{name} does not read documents from standard input"),
            Some("name the files or directories that hold them (default ./workflows)".into()),
        ));
    }
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from("workflows")]
    } else {
        args.paths.clone()
    };
    crate::check::pipeline::expand_paths(&paths, args.documents.max_document_size).map_err(|m| {
        Problem::usage(
            m,
            Some("pass Arazzo documents or directories holding them".into()),
        )
    })
}

/// A workflow picked to serve, compiled, before the operator's inputs are
/// filled in.
struct Candidate {
    program: Program,
    loaded: Arc<Loaded>,
    /// The document it came from, as shown in messages.
    file: String,
}

/// What the documents define.
struct Found {
    /// Every workflow id, picked or not (for `--tools` messages).
    all_ids: Vec<String>,
    /// The workflows `--tools` picked (all of them without `--tools`).
    picked: Vec<Candidate>,
}

/// Loads every document and compiles the workflows `--tools` picks. Two
/// documents defining the same workflow id is an error, as tool names must be
/// unique.
fn load_workflows(
    files: &[PathBuf],
    wanted: &BTreeSet<&str>,
    fetcher: &crate::http::Fetcher,
    rt: &tokio::runtime::Runtime,
) -> Result<Found, Problem> {
    let mut all_ids: Vec<String> = Vec::new();
    let mut picked: Vec<Candidate> = Vec::new();
    for f in files {
        let url = crate::read::location_to_url(&f.to_string_lossy())
            .map_err(|e| Problem::usage(e.message, e.help))?;
        let loaded = Arc::new(
            rt.block_on(document::load(url, fetcher))
                .map_err(|e| Problem::load(e, exit::DOCUMENT))?,
        );
        for w in &loaded.entry().doc.workflows {
            let id = &w.workflow_id;
            if let Some(other) = picked.iter().find(|c| &c.program.entry().workflow_id == id) {
                return Err(Problem::usage(
                    format!(
                        "two documents define the workflow `{id}`: {} and {}",
                        other.file,
                        f.display()
                    ),
                    Some("serve one of them, or leave one out with --tools".into()),
                ));
            }
            all_ids.push(id.clone());
            if !wanted.is_empty() && !wanted.contains(id.as_str()) {
                continue;
            }
            let program = compile(&loaded, id).map_err(|e| super::flags::compile_problem(&e))?;
            picked.push(Candidate {
                program,
                loaded: Arc::clone(&loaded),
                file: f.display().to_string(),
            });
        }
    }
    Ok(Found { all_ids, picked })
}

/// Checks that `--tools` and `--server` name what the documents define, and
/// that something is left to serve.
fn check_selection(
    wanted: &BTreeSet<&str>,
    found: &Found,
    servers: &HashMap<String, Url>,
) -> Result<(), Problem> {
    for t in wanted {
        if !found.all_ids.iter().any(|id| id == t) {
            return Err(Problem::usage(
                format!("--tools names `{t}`, which no served document defines"),
                Some(if found.all_ids.is_empty() {
                    "no workflows were found".into()
                } else {
                    format!("workflows: {}", found.all_ids.join(", "))
                }),
            ));
        }
    }
    if found.picked.is_empty() {
        return Err(Problem::usage(
            "no workflows to serve",
            Some("pass Arazzo documents or directories holding them (default ./workflows)".into()),
        ));
    }
    for source in servers.keys() {
        if !found
            .picked
            .iter()
            .any(|c| c.program.source_names.iter().any(|s| s == source))
        {
            let mut names: Vec<&str> = found
                .picked
                .iter()
                .flat_map(|c| c.program.source_names.iter().map(String::as_str))
                .collect();
            names.sort();
            names.dedup();
            return Err(Problem::usage(
                format!("--server names the source `{source}`, which no served document describes"),
                Some(format!("source descriptions: {}", names.join(", "))),
            ));
        }
    }
    Ok(())
}

/// The operator's inputs, per workflow: each takes the ones it declares. Also
/// returns the names of the inputs some workflow took; an input none takes is
/// an error (likely a typo).
fn fill_operator_inputs(
    picked: Vec<Candidate>,
    flags: &Flags,
    preflight: bool,
    printer: &Printer,
) -> Result<(Vec<Served>, BTreeSet<String>), Problem> {
    let mut used: BTreeSet<String> = BTreeSet::new();
    let mut served = Vec::new();
    for candidate in picked {
        let one = fill_workflow_inputs(candidate, flags, preflight, printer)?;
        used.extend(one.fixed.keys().cloned());
        served.push(one);
    }
    let given = flags
        .cli_inputs
        .iter()
        .map(|(k, _)| k)
        .chain(flags.file_inputs.iter().flat_map(|m| m.keys()));
    for name in given {
        if !used.contains(name) {
            return Err(Problem::usage(
                format!("the input `{name}` is not taken by any served workflow"),
                Some(describe_served(&served)),
            ));
        }
    }
    Ok((served, used))
}

/// Gathers the operator's inputs one workflow declares (registering them as
/// secrets) and, unless `--no-preflight`, refuses a workflow whose own literal
/// values break its operations' schemas.
fn fill_workflow_inputs(
    candidate: Candidate,
    flags: &Flags,
    preflight: bool,
    printer: &Printer,
) -> Result<Served, Problem> {
    let Candidate {
        program, loaded, ..
    } = candidate;
    let env = |name: &str| std::env::var(name).ok();
    let wf = program.entry();
    let declared = wf.declared_inputs();
    let cli: Vec<(String, String)> = flags
        .cli_inputs
        .iter()
        .filter(|(k, _)| declared.contains(&k.as_str()))
        .cloned()
        .collect();
    let file = flags.file_inputs.as_ref().map(|m| {
        m.iter()
            .filter(|(k, _)| declared.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<Map<String, Value>>()
    });
    let fixed = inputs::gather(
        &wf.workflow_id,
        wf.inputs_schema.as_ref(),
        InputSources {
            cli: &cli,
            file,
            env: &env,
        },
    );
    super::flags::register_secrets(&program, &cli, fixed.as_ref().ok(), &printer.redactor);
    let fixed = fixed.map_err(|e| {
        Problem::usage(
            format!("workflow `{}`: {}", wf.workflow_id, e.message),
            Some(e.help),
        )
    })?;
    if preflight {
        let literal = plan::check_literals(&program);
        if !literal.is_empty() {
            return Err(Problem::document(
                format!(
                    "workflow `{}`: the document's own values break the operation's schema",
                    wf.workflow_id
                ),
                Some(format!(
                    "{}\nfix the document, or leave the workflow out with --tools",
                    crate::plan::list_problems(&literal)
                )),
            ));
        }
    }
    Ok(Served {
        program,
        loaded,
        fixed,
    })
}

/// Warns about tool names clients may refuse and, unless quiet, says which
/// tools are served and which inputs the server fills in.
fn announce(name: &str, tools: &[Tool], used: &BTreeSet<String>, printer: &Printer) {
    for t in tools {
        if !valid_tool_name(&t.name) {
            printer.err(&format!(
                "warning: the tool name `{}` has characters MCP clients may refuse (use A-Z, a-z, 0-9, `_`, `-`, `.`)\n",
                t.name
            ));
        }
    }
    if !printer.style.quiet {
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        let mut line = format!(
            "{name}: {} {}{}: {}",
            tools.len(),
            if name == "arazzo mcp" {
                "tool"
            } else {
                "workflow"
            },
            if tools.len() == 1 { "" } else { "s" },
            names.join(", ")
        );
        if !used.is_empty() {
            line.push_str(&format!(
                "; filled in by the server: {}",
                used.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        printer.err(&format!("{line}\n"));
    }
}

fn parse_servers(items: &[String]) -> Result<HashMap<String, Url>, Problem> {
    let mut servers = HashMap::new();
    for (source, url) in super::flags::parse_pairs(items, "--server", "SOURCE=URL")? {
        servers.insert(
            source.to_string(),
            super::flags::parse_server_url(source, url)?,
        );
    }
    Ok(servers)
}

fn check_seconds(flag: &str, value: Option<f64>) -> Result<(), Problem> {
    match value {
        Some(d) if !(d.is_finite() && d > 0.0 && d <= 1.0e9) => Err(Problem::usage(
            format!("{flag} must be a positive number of seconds (at most 1e9)"),
            None,
        )),
        _ => Ok(()),
    }
}

/// What the served workflows take, for a misnamed operator input.
fn describe_served(served: &[Served]) -> String {
    served
        .iter()
        .map(|s| {
            let wf = s.program.entry();
            let names = wf.declared_inputs();
            if names.is_empty() {
                format!("{} takes no inputs", wf.workflow_id)
            } else {
                format!("{} takes: {}", wf.workflow_id, names.join(", "))
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}
