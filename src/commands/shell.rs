//! `arazzo man` and `arazzo completions`: a man page per subcommand, and
//! completion scripts that also offer workflowIds and input names, which they
//! ask of the hidden `arazzo __complete`.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use serde_json::Value;

use super::discovery::{arazzo_tree, default_paths, discover, locate};
use crate::cli::{Cli, CompleteArgs, CompletionsArgs, DocumentLimit, ManArgs, Shell};
use crate::report::printer::Printer;
use crate::report::problem::{exit, Problem};

/// `arazzo man`: the top page, one subcommand's page, or every page into a
/// directory.
pub(super) fn man_command(args: ManArgs, printer: &Printer) -> Result<u8, Problem> {
    let cmd = man_tree();
    if let Some(dir) = &args.dir {
        return write_pages(&cmd, dir, printer);
    }
    let page = match &args.command {
        None => render_page(&cmd, false)?,
        Some(name) => render_page(find_paged(&cmd, name)?, true)?,
    };
    std::io::stdout()
        .write_all(&page)
        .map_err(|e| Problem::usage(format!("cannot write the man page: {e}"), None))?;
    Ok(exit::SUCCEEDED)
}

/// The command tree the pages describe. `help` stays a flag: a `help`
/// subcommand would put an `arazzo-help(1)` in the top page's list of
/// subcommands, a page nobody writes. Built, so that each subcommand knows its
/// full name (`arazzo-run`) and carries the global flags.
fn man_tree() -> clap::Command {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    cmd
}

/// The subcommands that get a page: the visible ones, which are exactly those
/// the top page lists.
fn paged(cmd: &clap::Command) -> impl Iterator<Item = &clap::Command> {
    cmd.get_subcommands().filter(|s| !s.is_hide_set())
}

/// The subcommand called `name`, or a usage problem naming the valid ones.
fn find_paged<'a>(cmd: &'a clap::Command, name: &str) -> Result<&'a clap::Command, Problem> {
    paged(cmd).find(|s| s.get_name() == name).ok_or_else(|| {
        let names: Vec<&str> = paged(cmd).map(clap::Command::get_name).collect();
        Problem::usage(
            format!("`{name}` is not an arazzo subcommand"),
            Some(format!("man pages exist for: {}", names.join(", "))),
        )
    })
}

/// One page in roff: clap_mangen's sections, and for a subcommand a SEE ALSO
/// naming the top page (which lists every subcommand's page in turn).
fn render_page(cmd: &clap::Command, sub: bool) -> Result<Vec<u8>, Problem> {
    let man = clap_mangen::Man::new(cmd.clone())
        .source(format!("arazzo {}", env!("CARGO_PKG_VERSION")))
        .manual("Arazzo workflows");
    let mut out = Vec::new();
    man.render(&mut out)
        .map_err(|e| Problem::usage(format!("cannot render the man page: {e}"), None))?;
    if sub {
        use clap_mangen::roff::{roman, Roff};
        let mut see_also = Roff::new();
        see_also
            .control("SH", ["SEE ALSO"])
            .text([roman("arazzo(1)")]);
        out.extend_from_slice(see_also.to_roff().as_bytes());
    }
    Ok(out)
}

/// Writes `arazzo.1` and `arazzo-<sub>.1` for every page into `dir`, and says
/// on stderr which files it wrote (unless --quiet).
fn write_pages(cmd: &clap::Command, dir: &Path, printer: &Printer) -> Result<u8, Problem> {
    let cannot = |what: &Path, e: std::io::Error| {
        Problem::usage(format!("cannot write `{}`: {e}", what.display()), None)
    };
    if dir.exists() && !dir.is_dir() {
        return Err(Problem::usage(
            format!("`{}` is not a directory", dir.display()),
            Some(
                "give --dir a directory (it is created when missing), e.g. ~/.local/share/man/man1"
                    .into(),
            ),
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| cannot(dir, e))?;
    let pages = std::iter::once((cmd, false)).chain(paged(cmd).map(|s| (s, true)));
    for (page, sub) in pages {
        let name = page.get_display_name().unwrap_or(page.get_name());
        let path = dir.join(format!("{name}.1"));
        std::fs::write(&path, render_page(page, sub)?).map_err(|e| cannot(&path, e))?;
        if !printer.style.quiet {
            printer.err(&format!("wrote {}\n", path.display()));
        }
    }
    Ok(exit::SUCCEEDED)
}

/// `arazzo completions SHELL`: clap_complete's script for the flags and
/// subcommands, wrapped so that workflowIds and input names come from
/// `arazzo __complete`.
pub(super) fn completions_command(args: CompletionsArgs) -> Result<u8, Problem> {
    let shell = match args.shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    let mut generated = Vec::new();
    clap_complete::generate(shell, &mut visible_tree(), "arazzo", &mut generated);
    let generated = String::from_utf8_lossy(&generated);
    let script = match args.shell {
        Shell::Bash => format!("{generated}{BASH_WRAPPER}"),
        Shell::Zsh => format!("{}{ZSH_WRAPPER}", without_zsh_dispatch(&generated)),
        Shell::Fish => format!("{generated}{FISH_WRAPPER}"),
    };
    std::io::stdout()
        .write_all(script.as_bytes())
        .map_err(|e| Problem::usage(format!("cannot write the script: {e}"), None))?;
    Ok(exit::SUCCEEDED)
}

/// The command tree without its hidden subcommands, which clap_complete 4.6
/// would offer (`arazzo __complete` on `arazzo <TAB>`).
fn visible_tree() -> clap::Command {
    let full = Cli::command();
    let args: Vec<clap::Arg> = full.get_arguments().cloned().collect();
    let subcommands: Vec<clap::Command> = full
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .cloned()
        .collect();
    clap::Command::new("arazzo")
        .version(env!("CARGO_PKG_VERSION"))
        .about(full.get_about().cloned().unwrap_or_default())
        .long_about(full.get_long_about().cloned().unwrap_or_default())
        .args(args)
        .subcommands(subcommands)
}

/// Bash: the wrapper asks `arazzo __complete` first and falls back to
/// clap's `_arazzo`; it takes over the registration clap made, keeping its
/// options (`complete -p` prints it as a command).
const BASH_WRAPPER: &str = r#"
# Workflow ids and input names come from the documents, through
# `arazzo __complete`; everything else from _arazzo above.
_arazzo_with_documents() {
    local found
    found=$(arazzo __complete "$COMP_CWORD" -- "${COMP_WORDS[@]}" 2>/dev/null)
    if [[ -z $found ]]; then
        _arazzo "$@"
        return
    fi
    local IFS=$'\n'
    COMPREPLY=($found)
    if [[ $found == *= ]]; then
        compopt -o nospace 2>/dev/null
    fi
    return 0
}
if _arazzo_spec=$(complete -p arazzo 2>/dev/null); then
    eval "${_arazzo_spec/-F _arazzo /-F _arazzo_with_documents }"
fi
unset _arazzo_spec
"#;

/// The line that starts clap's closing dispatch in its zsh script, which
/// binds `arazzo` to `_arazzo`; the zsh wrapper brings its own.
const ZSH_DISPATCH: &str = "if [ \"$funcstack[1]\" = \"_arazzo\" ]; then";

/// Clap's zsh script without its closing dispatch: autoloaded from `$fpath`,
/// the file runs once as `_arazzo` and would otherwise complete with clap's
/// function alone, then and on every later TAB.
fn without_zsh_dispatch(generated: &str) -> &str {
    generated
        .rfind(ZSH_DISPATCH)
        .map_or(generated, |at| &generated[..at])
}

/// Zsh: names (`apiKey=`) take no space after them; ids do.
const ZSH_WRAPPER: &str = r#"# Workflow ids and input names come from the documents, through
# `arazzo __complete`; everything else from _arazzo above.
_arazzo_with_documents() {
    local -a found names ids
    found=(${(f)"$(arazzo __complete $((CURRENT - 1)) -- "${words[@]}" 2>/dev/null)"})
    if (( ${#found} == 0 )); then
        _arazzo "$@"
        return
    fi
    names=(${(M)found:#*=})
    ids=(${found:#*=})
    (( ${#names} )) && compadd -S '' -- "${names[@]}"
    (( ${#ids} )) && compadd -- "${ids[@]}"
    return 0
}

if [ "$funcstack[1]" = "_arazzo" ]; then
    compdef _arazzo_with_documents arazzo
    _arazzo_with_documents "$@"
else
    compdef _arazzo_with_documents arazzo
fi
"#;

/// Fish: one more completion, used wherever `arazzo __complete` has
/// candidates; the `-i`/`--input` line adds them to that option's value.
const FISH_WRAPPER: &str = r#"
# Workflow ids and input names come from the documents, through
# `arazzo __complete`.
function __arazzo_with_documents
    set -l before (commandline -opc)
    set -l current (commandline -ct)
    arazzo __complete (count $before) -- $before "$current" 2>/dev/null
end
complete -c arazzo -f -n '__arazzo_with_documents | string length -q' -a '(__arazzo_with_documents)'
complete -c arazzo -f -n '__fish_arazzo_using_subcommand run mcp; and __arazzo_with_documents | string length -q' -s i -l input -r -a '(__arazzo_with_documents)'
"#;

/// `arazzo __complete INDEX -- WORDS…`: the candidates for `WORDS[INDEX]`,
/// one per line. Prints nothing, and exits 0, wherever it has nothing to
/// offer or anything fails: the script then completes as clap would.
pub(super) fn complete_command(args: CompleteArgs) -> Result<u8, Problem> {
    let mut cmd = Cli::command();
    cmd.build();
    let (words, index) = join_equals(&args.words, args.index);
    let current = words.get(index).map_or("", String::as_str);
    let found = candidates(&cmd, &words[..index.min(words.len())]);
    let mut out = String::new();
    for c in found.iter().filter(|c| c.starts_with(current)) {
        out.push_str(c);
        out.push('\n');
    }
    let _ = std::io::stdout().write_all(out.as_bytes());
    Ok(exit::SUCCEEDED)
}

/// Bash splits `--file=x` into `--file`, `=`, `x` (`=` is in COMP_WORDBREAKS);
/// glues them back, and moves `index` along.
fn join_equals(words: &[String], index: usize) -> (Vec<String>, usize) {
    let mut out: Vec<String> = Vec::new();
    let mut glue = false;
    let mut at = index;
    for (i, w) in words.iter().enumerate() {
        let joins = match out.last_mut() {
            Some(last) if w == "=" || glue => {
                last.push_str(w);
                glue = w == "=";
                true
            }
            _ => false,
        };
        if !joins {
            out.push(w.clone());
        }
        if i == index {
            at = out.len() - 1;
        }
    }
    if index >= words.len() {
        at = out.len() + index - words.len();
    }
    (out, at)
}

/// What the command line says before the word being completed.
#[derive(Default)]
struct Line<'a> {
    /// The subcommand, once named.
    sub: Option<&'a clap::Command>,
    /// Its positional arguments.
    positionals: Vec<&'a str>,
    /// Option values by the argument's id (`file`, `inputs`, …).
    values: Vec<(String, &'a str)>,
    /// The option whose value the word being completed is.
    pending: Option<String>,
}

impl<'a> Line<'a> {
    fn value(&self, id: &str) -> Option<&'a str> {
        self.values
            .iter()
            .rev()
            .find(|(i, _)| i == id)
            .map(|(_, v)| *v)
    }
}

/// Reads `before` (the words before the one completed, `arazzo` first) the way
/// clap would: which options take a value comes from the command itself.
fn read_line<'a>(cmd: &'a clap::Command, before: &'a [String]) -> Line<'a> {
    let mut line = Line::default();
    let mut options_done = false;
    for word in before.iter().skip(1) {
        if let Some(id) = line.pending.take() {
            line.values.push((id, word));
        } else if !options_done && word == "--" {
            options_done = true;
        } else if !options_done && word.starts_with('-') && word != "-" {
            line.pending = read_option(line.sub.unwrap_or(cmd), word, &mut line.values);
        } else if line.sub.is_none() {
            line.sub = cmd.find_subcommand(word);
            if line.sub.is_none() {
                return Line::default();
            }
        } else {
            line.positionals.push(word);
        }
    }
    line
}

/// Records the value of `--long=value`, `-xVALUE` or a short cluster; returns
/// the id of an option whose value is the next word.
fn read_option<'a>(
    scope: &clap::Command,
    word: &'a str,
    values: &mut Vec<(String, &'a str)>,
) -> Option<String> {
    let takes = |a: &clap::Arg| a.get_action().takes_values();
    if let Some(long) = word.strip_prefix("--") {
        let (name, value) = match long.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (long, None),
        };
        let arg = scope.get_arguments().find(|a| a.get_long() == Some(name))?;
        let id = arg.get_id().to_string();
        return match value {
            Some(v) => {
                values.push((id, v));
                None
            }
            None => takes(arg).then_some(id),
        };
    }
    for (at, c) in word.char_indices().skip(1) {
        let arg = scope.get_arguments().find(|a| a.get_short() == Some(c))?;
        if takes(arg) {
            let rest = &word[at + c.len_utf8()..];
            let id = arg.get_id().to_string();
            if rest.is_empty() {
                return Some(id);
            }
            values.push((id, rest.trim_start_matches('=')));
            return None;
        }
    }
    None
}

/// The candidates for the word after `before`: workflowIds for the first
/// positional of `run` and `show`, `name=` for the value of `-i`.
fn candidates(cmd: &clap::Command, before: &[String]) -> Vec<String> {
    let line = read_line(cmd, before);
    let Some(sub) = line.sub else {
        return Vec::new();
    };
    let limit = line
        .value("max_document_size")
        .and_then(|s| crate::cli::parse_size(s).ok())
        .unwrap_or(DocumentLimit::default().max_document_size);
    let file = line.value("file").map(unquote);
    let found = match (sub.get_name(), line.pending.as_deref()) {
        ("run" | "show", None) if line.positionals.is_empty() => workflow_ids(file, limit),
        ("run", Some("inputs")) => {
            let named = line.positionals.first().map(|w| unquote(w));
            let paths = documents(file, named.as_deref(), limit);
            input_names(&paths, named.as_deref(), limit)
        }
        ("mcp", Some("inputs")) => {
            let paths: Vec<PathBuf> = line.positionals.iter().map(|p| unquote(p).into()).collect();
            let files = crate::check::pipeline::expand_paths(&default_paths(&paths), limit);
            input_names(&files.unwrap_or_default(), None, limit)
        }
        _ => Vec::new(),
    };
    found.into_iter().filter(|c| plain(c)).collect()
}

/// Offered only when made of letters, digits, `-`, `_` and `.`: the shell
/// puts a candidate on the command line as it is, and a name from a document
/// must not bring quotes, `$` or control characters there.
fn plain(candidate: &str) -> bool {
    let name = candidate.strip_suffix('=').unwrap_or(candidate);
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A word as the shell would pass it: one pair of enclosing quotes dropped and
/// a leading `~/` expanded (bash and zsh hand over the words as typed).
fn unquote(word: &str) -> String {
    let bare = ['"', '\'']
        .iter()
        .find_map(|q| word.strip_prefix(*q)?.strip_suffix(*q))
        .unwrap_or(word);
    match (bare.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => Path::new(&home).join(rest).to_string_lossy().into_owned(),
        _ => bare.to_string(),
    }
}

/// The documents to read: `-f`'s if it names a local file (a URL is never
/// fetched), else the one under ./workflows/ defining `workflow`, else every
/// one there.
fn documents(file: Option<String>, workflow: Option<&str>, limit: usize) -> Vec<PathBuf> {
    // `-f -`: standard input is the user's terminal while completing; reading
    // it would freeze the shell.
    if file.as_deref() == Some(crate::read::stdin::DASH) {
        return Vec::new();
    }
    if file.is_none() && workflow.is_none() {
        let found = discover(Path::new("workflows"), limit);
        return found.into_iter().map(|(p, _)| p).collect();
    }
    let Ok((url, _)) = locate(file.as_deref(), workflow.map(str::to_string), limit) else {
        return Vec::new();
    };
    match url.scheme() {
        "file" => url.to_file_path().into_iter().collect(),
        _ => Vec::new(),
    }
}

/// The workflowIds of `-f`'s document, or of every document under ./workflows/.
fn workflow_ids(file: Option<String>, limit: usize) -> Vec<String> {
    let trees = documents(file, None, limit)
        .into_iter()
        .filter_map(|p| arazzo_tree(&p, limit));
    let mut ids = Vec::new();
    for tree in trees {
        for w in workflows(&tree) {
            if let Some(id) = w.get("workflowId").and_then(Value::as_str) {
                ids.push(id.to_string());
            }
        }
    }
    dedup(ids)
}

/// `name=` for each input of `workflow` (of every workflow when none is named)
/// in `paths`, `$ref`s into the document's components followed.
fn input_names(paths: &[PathBuf], workflow: Option<&str>, limit: usize) -> Vec<String> {
    let mut names = Vec::new();
    for tree in paths.iter().filter_map(|p| arazzo_tree(p, limit)) {
        for w in workflows(&tree) {
            let id = w.get("workflowId").and_then(Value::as_str);
            if workflow.is_some() && id != workflow {
                continue;
            }
            let Some(schema) = w
                .get("inputs")
                .and_then(|s| crate::compile::inputs_schema(&tree, s).ok())
            else {
                continue;
            };
            let props = schema.get("properties").and_then(Value::as_object);
            names.extend(props.into_iter().flatten().map(|(k, _)| format!("{k}=")));
        }
    }
    dedup(names)
}

/// A document's workflow objects, as written.
fn workflows(tree: &Value) -> impl Iterator<Item = &Value> {
    tree.get("workflows")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// Drops repeats, keeping the first of each in place.
fn dedup(items: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    items
        .into_iter()
        .filter(|i| seen.insert(i.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split(' ').map(str::to_string).collect()
    }

    fn tree() -> clap::Command {
        let mut cmd = Cli::command();
        cmd.build();
        cmd
    }

    #[test]
    fn bash_equals_are_glued_back() {
        let (w, i) = join_equals(&words("arazzo run --file = a.yaml x"), 5);
        assert_eq!(w, words("arazzo run --file=a.yaml x"));
        assert_eq!(i, 3);
        let (w, i) = join_equals(&words("arazzo run --file ="), 3);
        assert_eq!(w, words("arazzo run --file="));
        assert_eq!(i, 2);
        let (w, i) = join_equals(&words("arazzo run"), 2);
        assert_eq!((w.len(), i), (2, 2));
    }

    #[test]
    fn the_line_is_read_as_clap_reads_it() {
        let cmd = tree();
        let before = words("arazzo --color never run -qf doc.yaml --timeout=3 wf -o json -i");
        let line = read_line(&cmd, &before);
        assert_eq!(line.sub.map(clap::Command::get_name), Some("run"));
        assert_eq!(line.positionals, ["wf"]);
        assert_eq!(line.value("file"), Some("doc.yaml"));
        assert_eq!(line.value("timeout"), Some("3"));
        assert_eq!(line.value("output"), Some("json"));
        assert_eq!(line.pending.as_deref(), Some("inputs"));
        let unknown = words("arazzo frobnicate x");
        assert!(read_line(&cmd, &unknown).sub.is_none());
    }

    #[test]
    fn only_plain_names_are_offered() {
        assert!(plain("provision-mcp-server") && plain("apiKey=") && plain("a.b_c"));
        assert!(!plain("a b") && !plain("$(x)") && !plain("=") && !plain("a\u{1b}[31m"));
    }

    #[test]
    fn quotes_are_dropped() {
        assert_eq!(unquote("\"a b.yaml\""), "a b.yaml");
        assert_eq!(unquote("'x'"), "x");
        assert_eq!(unquote("\"x"), "\"x");
    }
}
