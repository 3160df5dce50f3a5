//! Command-line definitions (clap). Only shapes here; `commands` does the work.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::batch::shard::{parse_shard, Shard};
use crate::report::terminal::ColorChoice;

/// `arazzo --version`: the release, the commit it was built from (see
/// build.rs) and the Arazzo versions it runs, all a bug report needs.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("ARAZZO_COMMIT"),
    "; Arazzo 1.0.0, 1.0.1, 1.1.0)"
);

#[derive(Debug, Parser)]
#[command(
    name = "arazzo",
    version = VERSION,
    // A flag given twice (an alias and the command line, say): the last wins,
    // as in git and ripgrep.
    args_override_self = true,
    about = "Run Arazzo 1.0 and 1.1 workflows against real APIs",
    long_about = "Run Arazzo 1.0 and 1.1 workflows against real APIs (OpenAPI steps; AsyncAPI message steps are not run yet).\n\nExit codes: 0 the workflow succeeded; 1 it ran and failed; 2 the command line or the inputs are wrong; 3 the document or one of its sources cannot be loaded or is invalid; 4 credentials could not be had (a token endpoint refused them or could not be reached, a client certificate cannot be read); 130 stopped by SIGINT, 143 by SIGTERM (the reports are written; continue with --resume)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// More logs on stderr: -v info, -vv debug, -vvv trace (RUST_LOG also works).
    /// Secrets are masked at every level.
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// No progress and no logs: only the results (outputs, reports, listings)
    /// on stdout and the errors on stderr.
    #[arg(short = 'q', long = "quiet", global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// When to use colour; NO_COLOR in the environment means never for `auto`.
    #[arg(long = "color", value_enum, default_value_t = ColorChoice::Auto, global = true, value_name = "WHEN", overrides_with = "no_color")]
    pub color: ColorChoice,

    /// The same as --color never.
    #[arg(long = "no-color", global = true, overrides_with = "color")]
    pub no_color: bool,
}

impl Cli {
    /// The colour choice, with `--no-color` spelt out.
    pub fn color_choice(&self) -> ColorChoice {
        if self.no_color {
            ColorChoice::Never
        } else {
            self.color
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a workflow and print its outputs.
    Run(RunArgs),
    /// Check documents without sending anything: the Arazzo schema, the
    /// operations, parameters and references against the OpenAPI descriptions,
    /// literal payloads against the request schemas, and lints.
    Validate(ValidateArgs),
    /// List the workflows of documents: summary, inputs and outputs.
    List(ListArgs),
    /// Show a workflow's steps: operation, method and path, what each reads and produces.
    Show(ShowArgs),
    /// Serve workflows as MCP tools (one per workflow), over stdio or streamable HTTP.
    Mcp(McpArgs),
    /// Serve workflows over HTTP as a REST API and as MCP tools on one listener:
    /// /workflows, /workflows/{id}/runs, /runs/{id}, /openapi.json, /healthz, /mcp.
    Serve(ServeArgs),
    /// Print a shell completion script (bash, zsh or fish) on stdout; it
    /// also completes workflowIds and input names from the documents.
    Completions(CompletionsArgs),
    /// Print a man page (roff) on stdout, or write every page into a directory.
    Man(ManArgs),
    /// The candidates at one position of a command line, one per line: what the
    /// scripts of `completions` call. Silent, and exit 0, when there are none.
    #[command(name = "__complete", hide = true)]
    Complete(CompleteArgs),
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// The subcommand whose page to print (default: the page of `arazzo`).
    #[arg(value_name = "COMMAND", conflicts_with = "dir")]
    pub command: Option<String>,

    /// Write `arazzo.1` and an `arazzo-COMMAND.1` per subcommand into DIR
    /// (created if missing) instead of printing.
    #[arg(long = "dir", value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CompleteArgs {
    /// Which of WORDS is being completed (0 is `arazzo`).
    #[arg(value_name = "INDEX")]
    pub index: usize,

    /// The command line as the shell split it, after `--`.
    #[arg(value_name = "WORDS", last = true, allow_hyphen_values = true)]
    pub words: Vec<String>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiagnosticFormat {
    /// Diagnostics with the offending lines.
    Human,
    /// A JSON array of {file, line, column, code, severity, message, help}.
    Json,
    /// A SARIF 2.1.0 log, for GitHub code scanning and other SARIF viewers.
    Sarif,
    /// GitHub Actions workflow commands (`::error file=…::…`), shown as annotations.
    Github,
}

/// The size limit on documents, for every command that loads them.
#[derive(Debug, Clone, Args)]
pub struct DocumentLimit {
    /// Largest document read, in bytes (suffixes KiB, MiB, GiB, KB, MB, GB
    /// allowed): the Arazzo document, each source description, each file a
    /// `$ref` names, and the --inputs file.
    #[arg(long = "max-document-size", value_name = "SIZE", default_value = "64MiB", value_parser = parse_size)]
    pub max_document_size: usize,
}

impl Default for DocumentLimit {
    fn default() -> Self {
        DocumentLimit {
            max_document_size: crate::http::DEFAULT_MAX_DOCUMENT_SIZE,
        }
    }
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Arazzo documents, or directories holding them (default ./workflows;
    /// `-` reads one from standard input).
    #[arg(value_name = "FILE|DIR")]
    pub paths: Vec<PathBuf>,

    #[command(flatten)]
    pub documents: DocumentLimit,

    /// Output format of the diagnostics (`--format` is the same flag).
    #[arg(short = 'o', long = "output", visible_alias = "format", value_enum, default_value_t = DiagnosticFormat::Human)]
    pub format: DiagnosticFormat,

    /// Apply the fixes that are certain (dot access into an output or a body,
    /// an operationPath without `{$sourceDescriptions.<name>.url}`, a source
    /// path written from a folder above) in place, changing only those values;
    /// then report what is left.
    #[arg(long = "fix")]
    pub fix: bool,

    /// With --fix: print the changes as a unified diff on stdout instead of
    /// writing them.
    #[arg(long = "dry-run", requires = "fix")]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Arazzo documents, or directories holding them (default ./workflows;
    /// `-` reads one from standard input).
    #[arg(value_name = "FILE|DIR")]
    pub paths: Vec<PathBuf>,

    #[command(flatten)]
    pub documents: DocumentLimit,

    /// Output format: `human` (a block per workflow) or `json` (an array).
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Human, hide_possible_values = true)]
    pub output: OutputFormat,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The workflowId to show.
    #[arg(value_name = "WORKFLOW_ID")]
    pub workflow: String,

    /// The Arazzo document (- for standard input; default: found under ./workflows/ by the workflowId).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<String>,

    #[command(flatten)]
    pub documents: DocumentLimit,

    /// Output format: `human` (the steps, one block each) or `json`.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Human, hide_possible_values = true)]
    pub output: OutputFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// A line per step, then the outputs.
    Human,
    /// One JSON object on stdout (the run report).
    Json,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The workflowId to run. Optional when the document has exactly one workflow.
    #[arg(value_name = "WORKFLOW_ID")]
    pub workflow: Option<String>,

    /// The Arazzo document (path, URL, or - for standard input). Without it, the document is found under
    /// ./workflows/ by the workflowId.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<String>,

    #[command(flatten)]
    pub documents: DocumentLimit,

    /// A workflow input, NAME=VALUE. String inputs take the text as written; array,
    /// object, number and boolean inputs take JSON. Repeatable; overrides --inputs.
    #[arg(short = 'i', long = "input", value_name = "NAME=VALUE")]
    pub inputs: Vec<String>,

    /// A JSON or YAML file holding an object of inputs (- for standard input).
    #[arg(long = "inputs", value_name = "FILE")]
    pub inputs_file: Option<PathBuf>,

    /// Send every operation of source description SOURCE to URL instead of the
    /// servers its OpenAPI description lists. Repeatable.
    #[arg(long = "server", value_name = "SOURCE=URL")]
    pub servers: Vec<String>,

    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Human)]
    pub output: OutputFormat,

    /// Largest response body read, in bytes (suffixes KiB, MiB, GiB, KB, MB, GB
    /// allowed); a larger response fails its step.
    #[arg(long = "max-response-size", value_name = "SIZE", default_value = "10MiB", value_parser = parse_size)]
    pub max_response_size: usize,

    /// Longest the whole run may take, in seconds (or 500ms, 10s, 2m, 1h); the
    /// run fails with `kind: timeout` when it is reached.
    #[arg(long = "max-duration", value_name = "SECONDS", value_parser = parse_seconds)]
    pub max_duration: Option<f64>,

    /// Timeout of each HTTP request, in seconds (or 500ms, 10s, 2m, 1h).
    #[arg(long = "timeout", value_name = "SECONDS", default_value = "30", value_parser = parse_seconds)]
    pub timeout: f64,

    /// Most step executions (retries and called workflows' steps included) one run
    /// may make; guards against endless goto loops.
    #[arg(long = "max-steps", value_name = "N", default_value_t = 1000, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_steps: usize,

    /// Most steps of one workflow that run at once when its steps run as a
    /// graph (Arazzo 1.1 `dependsOn`); 1 runs them one after another.
    #[arg(long = "max-parallel", value_name = "N", default_value_t = crate::engine::DEFAULT_MAX_PARALLEL, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1024))]
    pub max_parallel: usize,

    /// Run the workflow once per line of FILE: JSON Lines (one object of inputs
    /// per line) or CSV with a header row. Inputs shared by every line come from
    /// -i, --inputs and the environment; a line's own values win. `-` reads
    /// the lines from standard input as they arrive.
    #[arg(long = "each", value_name = "FILE")]
    pub each: Option<PathBuf>,

    /// With --each: how many runs at once.
    #[arg(long = "concurrency", value_name = "N", default_value_t = 4, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1024))]
    pub concurrency: usize,

    /// With --each: start no new run after the first failure.
    #[arg(long = "fail-fast")]
    pub fail_fast: bool,

    /// Write a JUnit XML report of the run to FILE (a testcase per step).
    #[arg(long = "junit", value_name = "FILE")]
    pub junit: Option<PathBuf>,

    /// Write every HTTP request and response of the run (method, URL, headers,
    /// body, status, timings) to FILE as JSON, secrets masked.
    #[arg(long = "trace", value_name = "FILE")]
    pub trace: Option<PathBuf>,

    /// Build and check every request without sending anything: values known from
    /// the inputs are filled in, values from earlier responses are shown as
    /// `{$expression}`. Exit 0 when every request is valid, 2 when one is not.
    #[arg(long = "dry-run")]
    pub dry_run: bool,

    /// Skip the preflight check that runs before the first request (every
    /// request built from the inputs and checked against its operation's schemas).
    #[arg(long = "no-preflight")]
    pub no_preflight: bool,

    /// Continue an earlier failed or interrupted run from its JSON report (-o
    /// json or --report): no request is sent again for a step that finished.
    /// With --each, continue the batch from its journal (--journal, or REPORT).
    #[arg(long = "resume", value_name = "REPORT", num_args = 0..=1)]
    pub resume: Option<Option<PathBuf>>,

    /// With --resume: send again a POST or PATCH whose request was in flight
    /// when the earlier run was interrupted (the server may have acted on it).
    #[arg(long = "resend-uncertain", requires = "resume")]
    pub resend_uncertain: bool,

    /// Also write the JSON run report to FILE, whatever -o says (with --each:
    /// one report per line), so that a failed run can be continued with --resume.
    #[arg(long = "report", value_name = "FILE")]
    pub report: Option<PathBuf>,

    /// With --each: the journal, where each line's report is appended as soon
    /// as the line finishes (default: FILE.journal beside the --each FILE; for
    /// --each -, a temporary file removed when every line succeeded).
    #[arg(long = "journal", value_name = "PATH", requires = "each")]
    pub journal: Option<PathBuf>,

    /// With --each: run only shard K of N, the lines whose index (counting
    /// records from 0) modulo N is K-1.
    #[arg(long = "shard", value_name = "K/N", requires = "each", value_parser = parse_shard)]
    pub shard: Option<Shard>,

    #[command(flatten)]
    pub stopping: StopArgs,

    #[command(flatten)]
    pub auth: AuthArgs,
}

/// Where credentials come from besides ARAZZO_AUTH_<SOURCE>_<SCHEME>_<FIELD>
/// environment variables.
#[derive(Debug, Clone, Default, Args)]
pub struct AuthArgs {
    /// Credentials by source and security scheme, YAML or JSON:
    /// `{source: {scheme: {field: value}}}` (fields apiKey, username, password,
    /// token, clientId, clientSecret, scopes, accessToken, refreshToken,
    /// clientCert, clientKey). Wins over the environment, field by field. A
    /// file other users can read is refused (chmod 600).
    #[arg(long = "auth-file", value_name = "FILE")]
    pub auth_file: Option<PathBuf>,

    /// A dotenv file (NAME=value lines) whose variables are used where the
    /// environment does not set them: ARAZZO_AUTH_… credentials and
    /// ARAZZO_INPUT_… inputs.
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Option<PathBuf>,
}

/// How a run stops: on a signal, and when a server asks it to wait.
#[derive(Debug, Clone, Args)]
pub struct StopArgs {
    /// On SIGINT or SIGTERM: how long a request in flight may take to finish
    /// before the run stops and writes its reports (seconds, or 500ms, 10s).
    #[arg(long = "grace-period", value_name = "SECONDS", default_value = "5", value_parser = parse_seconds)]
    pub grace_period: f64,

    /// Longest wait before a retry (a server's Retry-After, or retryAfter); a
    /// longer one fails the step instead of waiting.
    #[arg(long = "max-retry-wait", value_name = "SECONDS", default_value = "60", value_parser = parse_seconds)]
    pub max_retry_wait: f64,
}

impl Default for StopArgs {
    fn default() -> Self {
        StopArgs {
            grace_period: 5.0,
            max_retry_wait: 60.0,
        }
    }
}

#[derive(Debug, Args)]
pub struct McpArgs {
    #[command(flatten)]
    pub served: ServedArgs,

    /// Serve over streamable HTTP on ADDR (e.g. 127.0.0.1:9090; endpoint /mcp)
    /// instead of stdio.
    #[arg(long = "http", value_name = "ADDR")]
    pub http: Option<String>,

    #[command(flatten)]
    pub listen: ListenArgs,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub served: ServedArgs,

    /// The address and port to listen on (port 0: any free port). A non-loopback
    /// address needs --token-file, or --allow-unauthenticated.
    #[arg(long = "http", value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub http: String,

    #[command(flatten)]
    pub listen: ListenArgs,
}

/// The workflows a server offers and how their runs go: shared by `mcp` and
/// `serve`.
#[derive(Debug, Args)]
pub struct ServedArgs {
    /// Arazzo documents, or directories holding them (default ./workflows).
    #[arg(value_name = "FILE|DIR")]
    pub paths: Vec<PathBuf>,

    #[command(flatten)]
    pub documents: DocumentLimit,

    /// An input the server fills in, NAME=VALUE (typed as for `run -i`), for every
    /// served workflow that declares it. It is removed from the tools' input
    /// schemas and masked in every result. Repeatable; overrides --inputs.
    #[arg(short = 'i', long = "input", value_name = "NAME=VALUE")]
    pub inputs: Vec<String>,

    /// A JSON or YAML file holding an object of inputs the server fills in.
    #[arg(long = "inputs", value_name = "FILE")]
    pub inputs_file: Option<PathBuf>,

    /// Send every operation of source description SOURCE to URL instead of the
    /// servers its OpenAPI description lists. Repeatable.
    #[arg(long = "server", value_name = "SOURCE=URL")]
    pub servers: Vec<String>,

    /// Serve only these workflows (comma-separated workflowIds).
    #[arg(long = "tools", value_name = "ID,...", value_delimiter = ',')]
    pub tools: Vec<String>,

    /// Largest response body read, in bytes (suffixes KiB, MiB, GiB, KB, MB, GB
    /// allowed); a larger response fails its step.
    #[arg(long = "max-response-size", value_name = "SIZE", default_value = "10MiB", value_parser = parse_size)]
    pub max_response_size: usize,

    /// Longest one tool call's run may take, in seconds (or 500ms, 10s, 2m, 1h).
    #[arg(long = "max-duration", value_name = "SECONDS", value_parser = parse_seconds)]
    pub max_duration: Option<f64>,

    /// Timeout of each HTTP request, in seconds (or 500ms, 10s, 2m, 1h).
    #[arg(long = "timeout", value_name = "SECONDS", default_value = "30", value_parser = parse_seconds)]
    pub timeout: f64,

    /// Most step executions one tool call's run may make.
    #[arg(long = "max-steps", value_name = "N", default_value_t = 1000, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_steps: usize,

    /// Most steps of one workflow that run at once when its steps run as a
    /// graph (Arazzo 1.1 `dependsOn`); 1 runs them one after another.
    #[arg(long = "max-parallel", value_name = "N", default_value_t = crate::engine::DEFAULT_MAX_PARALLEL, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1024))]
    pub max_parallel: usize,

    /// Skip the preflight check before each run.
    #[arg(long = "no-preflight")]
    pub no_preflight: bool,

    #[command(flatten)]
    pub stopping: StopArgs,

    /// Credentials are the operator's: from the environment and these files,
    /// never from the agent.
    #[command(flatten)]
    pub auth: AuthArgs,
}

/// Who may reach an HTTP listener (`serve`, `mcp --http`) and how much each
/// request may ask of it.
#[derive(Debug, Args)]
pub struct ListenArgs {
    /// A further host name accepted in the Host header (besides localhost,
    /// 127.0.0.1, ::1 and the address listened on). Repeatable.
    #[arg(long = "allow-host", value_name = "HOST")]
    pub allow_hosts: Vec<String>,

    /// A file of bearer tokens, one per line (blank lines and lines starting
    /// with `#` are skipped): every request but /healthz must carry one in
    /// `Authorization: Bearer TOKEN`. Repeatable.
    #[arg(long = "token-file", value_name = "FILE")]
    pub token_files: Vec<PathBuf>,

    /// Listen on a non-loopback address without --token-file: anyone who can
    /// reach the address can run the workflows.
    #[arg(long = "allow-unauthenticated")]
    pub allow_unauthenticated: bool,

    /// A browser origin accepted in the Origin header (e.g.
    /// https://console.example.com), besides loopback origins. Repeatable.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    pub allow_origins: Vec<String>,

    /// Largest request body accepted (bytes, or with KiB, MiB, ...); a larger
    /// one is answered 413.
    #[arg(long = "max-request-size", value_name = "SIZE", default_value = "1MiB", value_parser = parse_size)]
    pub max_request_size: usize,

    /// Most runs (REST runs and MCP tool calls together) at once; one more is
    /// answered 429 with Retry-After.
    #[arg(long = "max-concurrent-runs", value_name = "N", default_value_t = 16, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=10000))]
    pub max_concurrent_runs: usize,
}

/// Parses a duration in seconds: `30`, `2.5`, or with a unit, `500ms`, `10s`,
/// `2m`, `1h`.
pub fn parse_seconds(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let secs = match t.parse::<f64>() {
        Ok(n) => n,
        Err(_) => {
            let split = t
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(t.len());
            let (num, unit) = t.split_at(split);
            let n: f64 = num.parse().map_err(|_| {
                format!("`{text}` is not a duration (write seconds, e.g. 30 or 2.5, or 500ms, 10s, 2m, 1h)")
            })?;
            let mult = match unit.trim() {
                "s" => 1.0,
                "ms" => 0.001,
                "m" | "min" => 60.0,
                "h" => 3600.0,
                other => {
                    return Err(format!(
                        "`{other}` is not a duration unit (use ms, s, m or h)"
                    ))
                }
            };
            n * mult
        }
    };
    if secs > 0.0 && secs < 0.001 {
        return Err(format!("`{text}` is shorter than a millisecond"));
    }
    Ok(secs)
}

/// Parses `1024`, `512KiB`, `10MiB`, `1GB`, ….
pub fn parse_size(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: usize = num
        .parse()
        .map_err(|_| format!("`{text}` is not a size (write e.g. 1048576, 512KiB or 10MiB)"))?;
    let mult: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        other => {
            return Err(format!(
                "`{other}` is not a size unit (use KiB, MiB, GiB, KB, MB or GB)"
            ))
        }
    };
    n.checked_mul(mult)
        .filter(|v| *v > 0)
        .ok_or_else(|| format!("`{text}` is not a usable size"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_seconds_or_with_a_unit() {
        assert_eq!(parse_seconds("30"), Ok(30.0));
        assert_eq!(parse_seconds("2.5"), Ok(2.5));
        assert_eq!(parse_seconds("500ms"), Ok(0.5));
        assert_eq!(parse_seconds("10s"), Ok(10.0));
        assert_eq!(parse_seconds("2m"), Ok(120.0));
        assert_eq!(parse_seconds("1h"), Ok(3600.0));
        assert!(parse_seconds("ten").unwrap_err().contains("not a duration"));
        assert!(parse_seconds("3d")
            .unwrap_err()
            .contains("`d` is not a duration unit"));
        assert!(parse_seconds("").is_err());
        assert_eq!(parse_seconds("1e3"), Ok(1000.0));
        assert!(parse_seconds("0.0000001")
            .unwrap_err()
            .contains("millisecond"));
    }
}
