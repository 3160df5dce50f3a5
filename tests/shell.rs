//! `arazzo man` and `arazzo completions` through the binary: the pages it
//! writes, and what real shells complete with the scripts it prints.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use support::cli::{arazzo, exec};

/// The subcommands that get a page of their own.
const SUBCOMMANDS: [&str; 8] = [
    "run",
    "validate",
    "list",
    "show",
    "mcp",
    "serve",
    "completions",
    "man",
];

/// A roff page's text with its escaped dashes plain (`arazzo\-run` → `arazzo-run`).
fn plain_roff(text: &str) -> String {
    text.replace("\\-", "-")
}

/// The name a page's `.TH` line gives it.
fn th_name(page: &str) -> Option<String> {
    let th = page.lines().find(|l| l.starts_with(".TH "))?;
    th.split_whitespace().nth(1).map(str::to_string)
}

/// Every `arazzo(N)` or `arazzo-xxx(N)` a page names, as a file name `arazzo-xxx.N`.
fn pages_named(page: &str) -> BTreeSet<String> {
    let text = plain_roff(page);
    let mut named = BTreeSet::new();
    for (at, _) in text.match_indices("arazzo") {
        let rest = &text[at..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .unwrap_or(rest.len());
        let (name, after) = rest.split_at(end);
        let Some(section) = after.strip_prefix('(').and_then(|s| s.split_once(')')) else {
            continue;
        };
        if section.0.chars().all(|c| c.is_ascii_digit()) && !section.0.is_empty() {
            named.insert(format!("{name}.{}", section.0));
        }
    }
    named
}

#[test]
fn man_dir_writes_a_page_per_subcommand_and_names_only_those() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("man").join("man1");
    let out = exec(arazzo().args(["man", "--dir"]).arg(&dir));
    out.assert_code(0);
    let mut expected: BTreeSet<String> = SUBCOMMANDS
        .iter()
        .map(|s| format!("arazzo-{s}.1"))
        .collect();
    expected.insert("arazzo.1".into());
    let written: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(written, expected, "{}", out.context());
    for file in &written {
        out.assert_stderr_has(file);
        let page = std::fs::read_to_string(dir.join(file)).unwrap();
        let stem = file.strip_suffix(".1").unwrap();
        assert_eq!(th_name(&page).as_deref(), Some(stem), "{file}:\n{page}");
        for named in pages_named(&page) {
            assert!(
                written.contains(&named),
                "{file} names {named}, which is not written"
            );
        }
    }
    let top = std::fs::read_to_string(dir.join("arazzo.1")).unwrap();
    assert!(top.contains("Exit codes"), "{top}");
    let listed = pages_named(&top);
    for s in SUBCOMMANDS {
        assert!(listed.contains(&format!("arazzo-{s}.1")), "{top}");
    }
    let run = std::fs::read_to_string(dir.join("arazzo-run.1")).unwrap();
    assert!(pages_named(&run).contains("arazzo.1"), "SEE ALSO:\n{run}");
}

#[test]
fn man_prints_the_top_page_or_one_subcommand_page() {
    let top = exec(arazzo().arg("man"));
    top.assert_code(0);
    assert_eq!(th_name(&top.stdout).as_deref(), Some("arazzo"));
    assert!(!plain_roff(&top.stdout).contains("arazzo-help"));
    let run = exec(arazzo().args(["man", "run"]));
    run.assert_code(0);
    assert_eq!(th_name(&run.stdout).as_deref(), Some("arazzo-run"));
    assert!(plain_roff(&run.stdout).contains("--each"), "{}", run.stdout);
}

#[test]
fn man_of_an_unknown_subcommand_is_a_usage_error_naming_the_valid_ones() {
    let out = exec(arazzo().args(["man", "frobnicate"]));
    out.assert_code(2);
    out.assert_stderr_has("frobnicate");
    out.assert_stderr_has("run, validate, list, show, mcp, serve, completions, man");
    assert!(out.stdout.is_empty());
}

/// The directory of the binary under test, for a shell's PATH.
fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_arazzo"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// PATH with the binary under test first.
fn path_env() -> std::ffi::OsString {
    let rest = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(std::iter::once(bin_dir()).chain(std::env::split_paths(&rest))).unwrap()
}

/// A project folder: `workflows/` holding copies of two shipped documents
/// (their OpenAPI description is left out: completion never reads sources).
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::create_dir(dir.path().join("workflows")).unwrap();
    for name in [
        "provision-mcp-server.arazzo.yaml",
        "list-mcp-instances.arazzo.yaml",
    ] {
        std::fs::copy(
            repo.join("workflows").join(name),
            dir.path().join("workflows").join(name),
        )
        .unwrap();
    }
    dir
}

/// A shipped document's absolute path.
fn shipped(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("workflows")
        .join(name)
        .display()
        .to_string()
}

/// Bash completing `words` (the last is the word under the cursor) in `dir`,
/// through the function `complete -p arazzo` names after sourcing the script.
const BASH_DRIVER: &str = r#"
source <(arazzo completions bash) || exit 90
spec=$(complete -p arazzo) || exit 91
fn=${spec#*-F }
fn=${fn%% *}
COMP_WORDS=("$@")
COMP_CWORD=$(( $# - 1 ))
COMP_LINE="$*"
COMP_POINT=${#COMP_LINE}
COMPREPLY=()
"$fn" arazzo "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"
"#;

fn bash_complete(dir: &Path, words: &[&str]) -> Vec<String> {
    let out = std::process::Command::new("bash")
        .args(["--noprofile", "--norc", "-c", BASH_DRIVER, "driver"])
        .args(words)
        .current_dir(dir)
        .env("PATH", path_env())
        .output()
        .expect("run bash");
    assert!(
        out.status.success(),
        "bash failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

const PROVISION_INPUTS: [&str; 6] = [
    "apiKey=",
    "toolkitSlug=",
    "authType=",
    "serverName=",
    "allowedTools=",
    "userId=",
];

#[test]
fn bash_completes_workflow_ids_from_the_workflows_folder() {
    let dir = project();
    let ids = bash_complete(dir.path(), &["arazzo", "run", ""]);
    assert_eq!(ids, ["list-mcp-instances", "provision-mcp-server"]);
    let shown = bash_complete(dir.path(), &["arazzo", "show", "prov"]);
    assert_eq!(shown, ["provision-mcp-server"]);
    let after_flags = bash_complete(
        dir.path(),
        &["arazzo", "--color", "never", "run", "-o", "json", ""],
    );
    assert_eq!(after_flags, ["list-mcp-instances", "provision-mcp-server"]);
}

#[test]
fn bash_completes_input_names_of_the_named_workflow() {
    let dir = project();
    let names = bash_complete(
        dir.path(),
        &["arazzo", "run", "provision-mcp-server", "-i", ""],
    );
    assert_eq!(names, PROVISION_INPUTS);
    let some = bash_complete(
        dir.path(),
        &["arazzo", "run", "provision-mcp-server", "--input", "user"],
    );
    assert_eq!(some, ["userId="]);
    // No workflow named: every input of every workflow found.
    let all = bash_complete(dir.path(), &["arazzo", "run", "-i", ""]);
    for name in PROVISION_INPUTS.iter().chain(&["serverId=", "orderBy="]) {
        assert!(all.contains(&name.to_string()), "{name} in {all:?}");
    }
}

#[test]
fn bash_completes_from_the_file_given_with_f() {
    let empty = tempfile::tempdir().unwrap();
    let file = shipped("list-mcp-instances.arazzo.yaml");
    let ids = bash_complete(empty.path(), &["arazzo", "run", "-f", &file, ""]);
    assert_eq!(ids, ["list-mcp-instances"]);
    // Bash splits `--file=FILE` at the `=`.
    let split = bash_complete(empty.path(), &["arazzo", "show", "--file", "=", &file, ""]);
    assert_eq!(split, ["list-mcp-instances"]);
    let names = bash_complete(empty.path(), &["arazzo", "run", "-f", &file, "-i", "order"]);
    assert_eq!(names, ["orderBy=", "orderDirection="]);
}

#[test]
fn bash_still_completes_subcommands_and_flags() {
    let dir = project();
    assert_eq!(bash_complete(dir.path(), &["arazzo", "ru"]), ["run"]);
    assert_eq!(
        bash_complete(dir.path(), &["arazzo", "run", "--out"]),
        ["--output"]
    );
    assert_eq!(
        bash_complete(dir.path(), &["arazzo", "run", "-o", ""]),
        ["human", "json"]
    );
    let top = bash_complete(dir.path(), &["arazzo", ""]);
    assert!(top.contains(&"validate".to_string()), "{top:?}");
    assert!(!top.iter().any(|w| w.contains("__complete")), "{top:?}");
}

#[test]
fn completion_sends_no_request_for_a_url_document() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/flow.arazzo.yaml", listener.local_addr().unwrap());
    let dir = project();
    let out = exec(arazzo().current_dir(dir.path()).args([
        "__complete",
        "4",
        "--",
        "arazzo",
        "run",
        "-f",
        &url,
        "",
    ]));
    out.assert_code(0);
    assert_eq!(out.stdout, "");
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "completion connected to {url}"
    );
}

#[test]
fn completion_is_silent_on_broken_documents_and_offers_no_unsafe_names() {
    let dir = tempfile::tempdir().unwrap();
    let wf = dir.path().join("workflows");
    std::fs::create_dir(&wf).unwrap();
    std::fs::write(
        wf.join("broken.arazzo.yaml"),
        "arazzo: 1.0.1\nworkflows: [\n",
    )
    .unwrap();
    std::fs::write(
        wf.join("odd.arazzo.yaml"),
        "arazzo: 1.0.1\nworkflows:\n- workflowId: \"$(touch pwned)\"\n  inputs: {properties: {\"a b\": {}, ok: {}}}\n- workflowId: fine\n",
    )
    .unwrap();
    let run = |words: &[&str]| {
        let index = (words.len() - 1).to_string();
        let out = exec(
            arazzo()
                .current_dir(dir.path())
                .args(["__complete", &index, "--"])
                .args(words),
        );
        out.assert_code(0);
        assert_eq!(out.stderr, "", "{}", out.context());
        out.stdout
    };
    assert_eq!(run(&["arazzo", "run", ""]), "fine\n");
    assert_eq!(run(&["arazzo", "run", "-i", ""]), "ok=\n");
    assert_eq!(run(&["arazzo", "run", "missing", "-i", ""]), "");
    assert_eq!(run(&["arazzo", "validate", ""]), "");
    assert_eq!(run(&["arazzo", "nonsense", ""]), "");
    assert!(!dir.path().join("pwned").exists());
}

/// Whether `shell` is installed (on PATH).
fn installed(shell: &str) -> bool {
    std::process::Command::new("which")
        .arg(shell)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// The script for `shell`, written into `dir`.
fn script(shell: &str, dir: &Path) -> PathBuf {
    let out = exec(arazzo().args(["completions", shell]));
    out.assert_code(0);
    let path = dir.join(format!("arazzo.{shell}"));
    std::fs::write(&path, &out.stdout).unwrap();
    path
}

#[test]
fn zsh_and_fish_scripts_ask_arazzo_for_documents() {
    for shell in ["zsh", "fish"] {
        let out = exec(arazzo().args(["completions", shell]));
        out.assert_code(0);
        assert!(out.stdout.contains("arazzo __complete"), "{shell}");
        // The hidden subcommand is not offered.
        assert!(!out.stdout.contains("__complete:"), "{shell}");
        assert!(!out.stdout.contains("-a \"__complete\""), "{shell}");
    }
    let zsh = exec(arazzo().args(["completions", "zsh"])).stdout;
    assert!(zsh.starts_with("#compdef arazzo"));
    assert_eq!(zsh.matches("$funcstack[1]").count(), 1, "one dispatch");
}

/// Zsh, driven through a pseudo-terminal (zsh/zpty) as a user would: the
/// script sourced, then `$2` typed and TAB pressed. A compadd that reports
/// what it adds prints each candidate as `HIT<…>`; exits 0 once `$3` is
/// among them, 1 if it is not within 30 seconds.
const ZSH_DRIVER: &str = r#"
zmodload zsh/zpty || exit 90
zpty z zsh -f -i
zpty -w z "PROMPT='> '; autoload -U compinit; compinit -u -D; source ${(q)1}"
zpty -w z 'compadd () { if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd "$@"; return $?; fi; local -a hits; builtin compadd -A hits "$@"; local h; for h in $hits; do print -n -- "\nHI""T<$h>"; done; builtin compadd "$@"; }'
zpty -w z "print READ''Y"
# Reads what the shell shows until it holds $1, or the time is up.
await() {
    local deadline=$(( SECONDS + 30 )) out
    while (( SECONDS < deadline )); do
        if zpty -r -t z out; then
            seen+=$out
            [[ $seen == *$1* ]] && return 0
        else
            sleep 0.05
        fi
    done
    return 1
}
seen=""
await READY || { print -r -- "$seen"; exit 91; }
seen=""
zpty -w -n z "$2"$'\t'
await "HIT<$3>"
offered=$?
print -r -- "$seen"
zpty -d z
exit $offered
"#;

/// Whether zsh offers `expected` on TAB after `line`, in `dir`.
fn zsh_offers(dir: &Path, script: &Path, line: &str, expected: &str) -> bool {
    let out = std::process::Command::new("zsh")
        .args(["-f", "-c", ZSH_DRIVER, "driver"])
        .arg(script)
        .args([line, expected])
        .current_dir(dir)
        .env("PATH", path_env())
        .output()
        .expect("run zsh");
    if !out.status.success() {
        eprintln!("zsh showed:\n{}", String::from_utf8_lossy(&out.stdout));
    }
    out.status.success()
}

#[test]
fn zsh_completes_workflows_and_inputs_when_installed() {
    if !installed("zsh") {
        eprintln!("zsh is not installed; its script is only checked for the call");
        return;
    }
    let dir = project();
    let script = script("zsh", dir.path());
    let syntax = std::process::Command::new("zsh")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        syntax.status.success(),
        "{}",
        String::from_utf8_lossy(&syntax.stderr)
    );
    assert!(zsh_offers(
        dir.path(),
        &script,
        "arazzo run ",
        "provision-mcp-server"
    ));
    assert!(zsh_offers(
        dir.path(),
        &script,
        "arazzo run provision-mcp-server -i ",
        "apiKey="
    ));
    assert!(zsh_offers(dir.path(), &script, "arazzo ru", "run"));
}

fn fish_complete(dir: &Path, script: &Path, line: &str) -> Vec<String> {
    let out = std::process::Command::new("fish")
        .args(["--no-config", "-c", "source $argv[1]; complete -C $argv[2]"])
        .arg(script)
        .arg(line)
        .current_dir(dir)
        .env("PATH", path_env())
        .output()
        .expect("run fish");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split('\t').next().unwrap_or("").to_string())
        .collect()
}

#[test]
fn fish_completes_workflows_and_inputs_when_installed() {
    if !installed("fish") {
        eprintln!("fish is not installed; its script is only checked for the call");
        return;
    }
    let dir = project();
    let script = script("fish", dir.path());
    let ids = fish_complete(dir.path(), &script, "arazzo run ");
    assert_eq!(ids, ["list-mcp-instances", "provision-mcp-server"]);
    let names = fish_complete(dir.path(), &script, "arazzo run provision-mcp-server -i ");
    assert!(names.contains(&"apiKey=".to_string()), "{names:?}");
    let file = shipped("list-mcp-instances.arazzo.yaml");
    let from_file = fish_complete(dir.path(), &script, &format!("arazzo show -f {file} "));
    assert_eq!(from_file, ["list-mcp-instances"]);
    let sub = fish_complete(dir.path(), &script, "arazzo ru");
    assert_eq!(sub, ["run"]);
}

/// Completing after `-f -` never reads standard input: while completing, it
/// is the user's terminal, and reading it would freeze the shell. The child's
/// stdin is a pipe held open, as a terminal is.
#[test]
fn completion_after_dash_f_dash_does_not_read_standard_input() {
    use std::process::Stdio;
    for words in [
        &["arazzo", "run", "-f", "-", ""][..],
        &["arazzo", "run", "-f", "-", "w", "-i", ""],
        &["arazzo", "show", "--file=-", ""],
    ] {
        let index = (words.len() - 1).to_string();
        let mut child = support::cli::arazzo_std()
            .args(["__complete", &index, "--"])
            .args(words)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let held = child.stdin.take();
        let started = std::time::Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break Some(s);
            }
            if started.elapsed() > std::time::Duration::from_secs(20) {
                let _ = child.kill();
                break None;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        drop(held);
        assert!(
            status.is_some_and(|s| s.success()),
            "{words:?}: blocked on standard input"
        );
    }
}
