//! Finding documents: `-f`, `-` (standard input), or the file under
//! ./workflows/ that defines a workflowId; directories expanded.

use std::path::{Path, PathBuf};

use serde_json::Value;
use url::Url;

use crate::document;
use crate::http::ClientOptions;
use crate::report::problem::{exit, Problem};

/// Finds the document: `-f`, or the file under ./workflows/ that defines the id.
pub(super) fn locate(
    file: Option<&str>,
    workflow: Option<String>,
    max_document_size: usize,
) -> Result<(Url, Option<String>), Problem> {
    if let Some(f) = file {
        let f = if f == crate::read::stdin::DASH {
            crate::read::stdin::claim("-f").map_err(|m| Problem::usage(m, None))?;
            crate::read::stdin::NAME
        } else {
            f
        };
        let url = crate::read::location_to_url(f).map_err(|e| Problem::usage(e.message, e.help))?;
        if url.scheme() == "file" && f != crate::read::stdin::NAME {
            if let Ok(p) = url.to_file_path() {
                if !p.exists() {
                    return Err(Problem::usage(
                        format!("the file `{f}` does not exist"),
                        Some("pass the path of an Arazzo document with -f".into()),
                    ));
                }
                if p.is_dir() {
                    return Err(directory_given(f, max_document_size));
                }
            }
        }
        return Ok((url, workflow));
    }
    if let Some(id) = workflow.as_deref().filter(|id| Path::new(id).is_file()) {
        return Err(Problem::usage(
            format!("`{id}` is a file, not a workflowId"),
            Some(format!("pass the document with -f: `arazzo run -f {id}` (add the workflowId when it has several workflows)")),
        ));
    }
    let dir = PathBuf::from("workflows");
    let found = discover(&dir, max_document_size);
    let Some(id) = &workflow else {
        let all: Vec<String> = found.iter().flat_map(|(_, ids)| ids.clone()).collect();
        return Err(Problem::usage(
            "name the workflow to run",
            Some(if all.is_empty() {
                "no Arazzo documents under ./workflows/; pass one with -f FILE".into()
            } else {
                format!("workflows under ./workflows/: {}", all.join(", "))
            }),
        ));
    };
    let matches: Vec<&PathBuf> = found
        .iter()
        .filter(|(_, ids)| ids.contains(id))
        .map(|(p, _)| p)
        .collect();
    match matches.as_slice() {
        [one] => {
            let url = crate::read::location_to_url(&one.to_string_lossy())
                .map_err(|e| Problem::usage(e.message, e.help))?;
            Ok((url, Some(id.clone())))
        }
        [] => {
            let all: Vec<String> = found.iter().flat_map(|(_, ids)| ids.clone()).collect();
            let help = if !dir.is_dir() {
                "there is no ./workflows/ directory here; pass the document with -f FILE"
                    .to_string()
            } else if all.is_empty() {
                "./workflows/ holds no Arazzo documents; pass one with -f FILE".to_string()
            } else {
                let near = crate::compile::suggest(id, all.iter().map(String::as_str))
                    .map(|s| format!("{s} "))
                    .unwrap_or_default();
                format!("{near}workflows under ./workflows/: {}", all.join(", "))
            };
            let broken = unreadable(&dir, &found);
            let help = if broken.is_empty() {
                help
            } else if all.is_empty() {
                format!(
                    "the Arazzo documents under ./workflows/ could not be read: {} (`arazzo validate workflows/` says why)",
                    broken.join(", ")
                )
            } else {
                format!(
                    "{help}\nthese files under ./workflows/ could not be read as Arazzo documents, so their workflows are not listed: {} (`arazzo validate workflows/` says why)",
                    broken.join(", ")
                )
            };
            Err(Problem::usage(
                format!("no workflow `{id}` under ./workflows/"),
                Some(help),
            ))
        }
        many => Err(Problem::usage(
            format!("several documents under ./workflows/ define `{id}`"),
            Some(format!(
                "pick one with -f: {}",
                many.iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        )),
    }
}

/// `-f DIR`: `-f` takes one document; name the ones the directory holds.
fn directory_given(f: &str, max_document_size: usize) -> Problem {
    let docs: Vec<String> = discover(Path::new(f), max_document_size)
        .iter()
        .map(|(p, _)| p.display().to_string())
        .collect();
    let help = if docs.is_empty() {
        "-f takes one Arazzo document; the directory holds none".to_string()
    } else {
        format!(
            "-f takes one Arazzo document, e.g. one of: {}",
            docs.join(", ")
        )
    };
    Problem::usage(format!("`{f}` is a directory, not a document"), Some(help))
}

/// Arazzo documents directly under `dir`, with their workflowIds, sorted by
/// path. A file over the size limit is not read (`-f` names it, and says so).
/// Files under `dir` that look like Arazzo documents (by name, or an
/// `arazzo:` line) but are not among `found`: a syntax error hides their
/// workflows, and the user should hear of it.
fn unreadable(dir: &Path, found: &[(PathBuf, Vec<String>)]) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && !found.iter().any(|(f, _)| f == p))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let yaml_or_json = [".yaml", ".yml", ".json"].iter().any(|x| name.ends_with(x));
            yaml_or_json
                && (name.contains(".arazzo.")
                    || (p.metadata().is_ok_and(|m| m.len() < 64 * 1024 * 1024)
                        && std::fs::read(p).is_ok_and(|b| {
                            String::from_utf8_lossy(&b).lines().any(|l| {
                                let l = l.trim_start_matches(['{', ' ', '"']);
                                l.starts_with("arazzo:") || l.starts_with("arazzo\":")
                            })
                        })))
        })
        .map(|p| p.display().to_string())
        .collect();
    names.sort();
    names
}

pub(super) fn discover(dir: &Path, max_size: usize) -> Vec<(PathBuf, Vec<String>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && matches!(
                    p.extension().and_then(|e| e.to_str()),
                    Some("yaml" | "yml" | "json")
                )
        })
        .collect();
    paths.sort();
    paths
        .into_iter()
        .filter_map(|p| {
            let ids = arazzo_tree(&p, max_size)?
                .get("workflows")?
                .as_array()?
                .iter()
                .filter_map(|w| w.get("workflowId")?.as_str().map(str::to_string))
                .collect();
            Some((p, ids))
        })
        .collect()
}

/// A local file's JSON tree if it is an Arazzo document within the size
/// limit; its sources are not read, so this is quick and never on the network.
pub(super) fn arazzo_tree(path: &Path, max_size: usize) -> Option<Value> {
    let text = crate::read::read_file(path, max_size, "").ok()?;
    let tree = crate::read::parse_tree(&text, "").ok()?;
    tree.get("arazzo")?;
    Some(tree)
}

pub(super) fn default_paths(paths: &[PathBuf]) -> Vec<PathBuf> {
    if paths.is_empty() {
        vec![PathBuf::from("workflows")]
    } else {
        paths.to_vec()
    }
}

/// The paths with `-` (standard input, at most once) as `<stdin>`.
pub(super) fn stdin_in_paths(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Problem> {
    if paths
        .iter()
        .filter(|p| crate::read::stdin::is_dash(p))
        .count()
        > 1
    {
        return Err(Problem::usage(
            "`-` (standard input) is named twice",
            Some("standard input can be read only once".into()),
        ));
    }
    paths
        .iter()
        .map(|p| {
            if !crate::read::stdin::is_dash(p) {
                return Ok(p.clone());
            }
            crate::read::stdin::claim("the document").map_err(|m| Problem::usage(m, None))?;
            Ok(crate::read::stdin::path())
        })
        .collect()
}

/// The fetcher of `validate`, `list` and `show`, with their size limit.
pub(super) fn document_fetcher(max_document_size: usize) -> Result<crate::http::Fetcher, Problem> {
    crate::http::fetch_client(&ClientOptions {
        max_document_size,
        ..ClientOptions::default()
    })
    .map_err(|m| Problem::document(m, None))
}

/// Loads a document for `list`/`show`, mapping failures to exit code 3.
pub(super) fn load_for_listing(
    rt: &tokio::runtime::Runtime,
    fetcher: &crate::http::Fetcher,
    path: &Path,
) -> Result<document::Loaded, Problem> {
    let url = crate::read::location_to_url(&path.to_string_lossy())
        .map_err(|e| Problem::usage(e.message, e.help))?;
    rt.block_on(document::load(url, fetcher))
        .map_err(|e| Problem::load(e, exit::DOCUMENT))
}
