//! Arazzo documents: loading one with the sources it names (OpenAPI
//! descriptions and other Arazzo documents), its object model and its
//! structure checks.

pub mod model;
pub mod source_map;
pub(crate) mod structure;

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;
use url::Url;

pub use model::*;

use crate::http::Fetcher;
use crate::openapi::OpenApi;
use crate::read::{display_url, fetch, parse_tree, LoadError};

pub use structure::Version;

/// A parsed Arazzo document and where it came from.
#[derive(Debug)]
pub struct ArazzoDoc {
    /// Where the document was read from (its retrieval URL).
    pub url: Url,
    /// Its base URI (Arazzo 1.1, "Establishing the Base URI"): `$self` resolved against
    /// [`Self::url`] when the document has one, else `url`. Relative source URLs resolve
    /// against it, and it is the value of the `$self` runtime expression.
    pub base: Url,
    pub doc: Document,
    /// The document as a JSON tree, for `$ref`s into `components`.
    pub raw: Value,
}

impl ArazzoDoc {
    /// The value of the `$self` runtime expression here: the base URI (its
    /// `$self` made absolute, else the URL it was read from), a password in
    /// it masked.
    pub fn self_uri(&self) -> String {
        let mut shown = self.base.clone();
        if shown.password().is_some() {
            let _ = shown.set_password(Some(crate::redact::MASK));
        }
        shown.to_string()
    }
}

pub use crate::asyncapi::AsyncApi;

/// What a source description name refers to.
#[derive(Debug, Clone)]
pub enum SourceRef {
    OpenApi(Arc<OpenApi>),
    /// Index into [`Loaded::docs`].
    Arazzo(usize),
    /// Arazzo 1.1: an AsyncAPI description (its steps are not run yet).
    AsyncApi(Arc<AsyncApi>),
}

/// An Arazzo document with its sources, in the order the document declares them.
#[derive(Debug)]
pub struct LoadedDoc {
    pub doc: Arc<ArazzoDoc>,
    pub sources: Vec<(String, SourceRef)>,
}

impl LoadedDoc {
    pub fn source(&self, name: &str) -> Option<&SourceRef> {
        self.sources.iter().find(|(n, _)| n == name).map(|(_, s)| s)
    }
}

/// The entry document (`docs[0]`) and every Arazzo document reachable through
/// `arazzo` source descriptions, each loaded once.
#[derive(Debug)]
pub struct Loaded {
    pub docs: Vec<LoadedDoc>,
}

impl Loaded {
    pub fn entry(&self) -> &ArazzoDoc {
        &self.docs[0].doc
    }
}

/// Parses an Arazzo document from text.
pub fn parse_arazzo(url: Url, text: &str) -> Result<ArazzoDoc, LoadError> {
    parse_arazzo_with(url, text, true)
}

/// Parses an Arazzo document; `structure` also applies the schema's structural
/// rules (`validate` checks the whole schema itself, with positions).
fn parse_arazzo_with(url: Url, text: &str, structure: bool) -> Result<ArazzoDoc, LoadError> {
    let shown = display_url(&url);
    let raw = parse_tree(text, &format!("`{shown}`")).map_err(|e| e.in_file(&shown))?;
    if !raw.is_object() {
        return Err(LoadError::new(
            format!("`{shown}` is not an Arazzo document: its top level is not an object"),
            None,
        ));
    }
    read_version(&raw, &shown)?;
    let doc: Document = serde_path_to_error::deserialize(&raw).map_err(|e| {
        let path = e.path().to_string();
        LoadError::new(
            format!(
                "`{shown}` is not a valid Arazzo document: at `{path}`: {}",
                e.inner()
            ),
            Some(format!(
                "see the Arazzo {} specification for the object's fields",
                Version::of(raw["arazzo"].as_str().unwrap_or_default())
                    .map_or("1.1", Version::name)
            )),
        )
    })?;
    if doc.workflows.is_empty() {
        return Err(LoadError::new(
            format!("`{shown}` has no workflows"),
            Some("an Arazzo document lists at least one workflow under `workflows`".into()),
        ));
    }
    if doc.source_descriptions.is_empty() {
        return Err(LoadError::new(
            format!("`{shown}` has no source descriptions"),
            Some("an Arazzo document names at least one source under `sourceDescriptions`".into()),
        ));
    }
    let problems = if structure {
        structure::problems(&raw)
    } else {
        Vec::new()
    };
    if !problems.is_empty() {
        let n = problems.len();
        let shown_list: Vec<&str> = problems.iter().take(5).map(String::as_str).collect();
        let more = if n > 5 {
            format!("; and {} more", n - 5)
        } else {
            String::new()
        };
        let version = doc.arazzo.as_str();
        let newer = problems
            .iter()
            .any(|p| p.ends_with("(set `arazzo: 1.1.0`)"));
        return Err(LoadError::new(
            format!(
                "`{shown}` is not a valid Arazzo {} document ({n} problem{}): {}{more}",
                Version::of(version).map_or("1.x", Version::name),
                if n == 1 { "" } else { "s" },
                shown_list.join("; ")
            ),
            Some(if newer {
                format!("the document uses Arazzo 1.1 but declares `arazzo: {version}`: set `arazzo: 1.1.0`; `arazzo validate {shown}` shows each problem where it is")
            } else {
                format!("`arazzo validate {shown}` shows each problem where it is")
            }),
        ));
    }
    let base = base_uri(&url, doc.self_uri.as_deref(), &shown)?;
    Ok(ArazzoDoc {
        url,
        base,
        doc,
        raw,
    })
}

/// Refuses a document whose `arazzo` version this tool does not read, or that has none.
fn read_version(raw: &Value, shown: &str) -> Result<(), LoadError> {
    match raw.get("arazzo") {
        Some(Value::String(v)) if Version::of(v).is_some() => {}
        Some(v) => {
            let v = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            return Err(LoadError::new(
                format!(
                    "`{shown}` declares `arazzo: {v}`; this tool reads {}",
                    structure::SUPPORTED
                ),
                Some("set `arazzo: 1.1.0` (or `1.0.1`) when the document is written for one of them; a newer version is not read".into()),
            ));
        }
        None => {
            let hint = if raw.get("openapi").is_some() {
                "this looks like an OpenAPI description; pass the Arazzo document that names it"
            } else {
                "an Arazzo document starts with `arazzo: 1.1.0` (or `arazzo: 1.0.1`)"
            };
            return Err(LoadError::new(
                format!("`{shown}` is not an Arazzo document: the `arazzo` field is missing"),
                Some(hint.into()),
            ));
        }
    }
    Ok(())
}

/// The base URI of a document read from `url` (Arazzo 1.1, "Establishing the Base URI"): its
/// `$self` when absolute, `$self` resolved against `url` when relative, else `url`. A `$self`
/// with a fragment is refused (the specification says it MUST NOT have one), and so is one
/// naming a local file in a document fetched over the network.
fn base_uri(url: &Url, self_uri: Option<&str>, shown: &str) -> Result<Url, LoadError> {
    let Some(s) = self_uri else {
        return Ok(url.clone());
    };
    if s.contains('#') {
        return Err(LoadError::new(
            format!("`{shown}`: `$self: {s}` has a fragment (`#…`); `$self` must not have one"),
            Some("remove the `#` and what follows it: `$self` is the document's own URI".into()),
        ));
    }
    let base = url.join(s).map_err(|e| {
        LoadError::new(
            format!("`{shown}`: `$self: {s}` is not a valid URI reference: {e}"),
            Some(
                "`$self` is the document's own URI, absolute or relative to where it is read from"
                    .into(),
            ),
        )
    })?;
    if matches!(url.scheme(), "http" | "https") && base.scheme() == "file" {
        return Err(LoadError::new(
            format!("`{shown}` was fetched over the network and its `$self` names a local file (`{s}`); that is refused"),
            Some("a document served over http(s) may only name documents served over http(s)".into()),
        ));
    }
    Ok(base)
}

/// Loads an Arazzo document and every source description it names, recursively
/// for `arazzo` sources. Each URL is fetched once; cycles are fine.
pub async fn load(url: Url, client: &Fetcher) -> Result<Loaded, LoadError> {
    load_with(url, client, true).await
}

/// As [`load`]; `validate` passes `structure: false` for the entry document,
/// whose whole JSON Schema it checks itself.
pub async fn load_with(url: Url, client: &Fetcher, structure: bool) -> Result<Loaded, LoadError> {
    let text = fetch(&url, client).await?;
    let entry = Arc::new(parse_arazzo_with(url.clone(), &text, structure)?);
    // The entry document by where it was read from and by its identity (`$self`).
    let by_url = HashMap::from([(url, 0), (entry.base.clone(), 0)]);
    let mut loading = Loading {
        client,
        docs: vec![LoadedDoc {
            doc: entry,
            sources: Vec::new(),
        }],
        by_url,
        apis: HashMap::new(),
        asyncs: HashMap::new(),
    };
    // Arazzo sources are added to `docs` as they are met, and loaded in turn.
    let mut next = 0;
    while next < loading.docs.len() {
        let doc = Arc::clone(&loading.docs[next].doc);
        let list = &doc.doc.source_descriptions;
        for (i, sd) in list.iter().enumerate() {
            if list[..i].iter().any(|o| o.name == sd.name) {
                return Err(LoadError::new(
                    format!(
                        "`{}` has two source descriptions named `{}`",
                        display_url(&doc.url),
                        sd.name
                    ),
                    Some("source description names must be unique".into()),
                ));
            }
        }
        // Relative URLs first: a document one of them loads may be the one an absolute URL
        // names by its `$self` (identity-based referencing), which then is not fetched.
        let mut order: Vec<usize> = (0..list.len()).collect();
        order.sort_by_key(|&i| Url::parse(&list[i].url).is_ok());
        let mut found: Vec<Option<SourceRef>> = vec![None; list.len()];
        for i in order {
            found[i] = Some(loading.source(&doc, &list[i]).await?);
        }
        loading.docs[next].sources = list
            .iter()
            .zip(found)
            .filter_map(|(sd, s)| Some((sd.name.clone(), s?)))
            .collect();
        next += 1;
    }
    Ok(Loaded { docs: loading.docs })
}

/// The documents loaded so far, each fetched once by its URL.
struct Loading<'c> {
    client: &'c Fetcher,
    /// The entry document first, then each Arazzo source in the order met.
    docs: Vec<LoadedDoc>,
    /// Arazzo documents: URL → index into `docs`, by the URL each was read from and by its
    /// `$self` (identity-based referencing: a source naming a document's `$self` is that
    /// document, not fetched again).
    by_url: HashMap<Url, usize>,
    /// OpenAPI descriptions, by URL.
    apis: HashMap<Url, Arc<OpenApi>>,
    /// AsyncAPI descriptions, by URL.
    asyncs: HashMap<Url, Arc<AsyncApi>>,
}

impl Loading<'_> {
    /// Loads the source description `sd` of `doc`, unless its URL was loaded
    /// already. An Arazzo source is added to `docs`, its own sources still to
    /// load.
    async fn source(
        &mut self,
        doc: &ArazzoDoc,
        sd: &SourceDescription,
    ) -> Result<SourceRef, LoadError> {
        let src_url = source_url(doc, sd)?;
        if let Some(&i) = self.by_url.get(&src_url) {
            return Ok(SourceRef::Arazzo(i));
        }
        if let Some(api) = self.apis.get(&src_url) {
            return Ok(SourceRef::OpenApi(Arc::clone(api)));
        }
        if let Some(api) = self.asyncs.get(&src_url) {
            return Ok(SourceRef::AsyncApi(Arc::clone(api)));
        }
        let text = fetch(&src_url, self.client).await.map_err(|e| LoadError {
            message: format!("source description `{}`: {}", sd.name, e.message),
            ..e
        })?;
        let source = SourceLoad::new(sd, src_url);
        let api = match source.parse(text)? {
            Parsed::Api(api) => *api,
            Parsed::Tree(mut tree) => {
                if crate::openapi::bundle::external_ref_in(&tree) {
                    tree = crate::openapi::bundle::bundle(
                        tree,
                        &source.url,
                        self.client,
                        &source.what,
                    )
                    .await?;
                }
                OpenApi::from_value(source.url.clone(), tree).map_err(|e| source.api_error(e))?
            }
            Parsed::Arazzo(text) => {
                let child = Arc::new(parse_arazzo(source.url.clone(), &text)?);
                // Fetched by location, it may say it is a document already loaded.
                if let Some(&i) = self.by_url.get(&child.base) {
                    self.by_url.insert(source.url, i);
                    return Ok(SourceRef::Arazzo(i));
                }
                let i = self.docs.len();
                self.by_url.insert(child.base.clone(), i);
                self.docs.push(LoadedDoc {
                    doc: child,
                    sources: Vec::new(),
                });
                self.by_url.insert(source.url, i);
                return Ok(SourceRef::Arazzo(i));
            }
            Parsed::AsyncApi(mut tree) => {
                if crate::openapi::bundle::external_ref_in(&tree) {
                    tree = crate::openapi::bundle::bundle(
                        tree,
                        &source.url,
                        self.client,
                        &source.what,
                    )
                    .await?;
                }
                let api = Arc::new(AsyncApi::new(source.url.clone(), tree));
                self.asyncs.insert(source.url, Arc::clone(&api));
                return Ok(SourceRef::AsyncApi(api));
            }
        };
        let api = Arc::new(api);
        self.apis.insert(source.url, Arc::clone(&api));
        Ok(SourceRef::OpenApi(api))
    }
}

/// The URL of the source description `sd`, resolved against its document's base URI
/// (`$self`, else where the document was read from). A document fetched over the network
/// may not name a local file.
fn source_url(doc: &ArazzoDoc, sd: &SourceDescription) -> Result<Url, LoadError> {
    let src_url = doc.base.join(&sd.url).map_err(|e| {
        LoadError::new(
            format!(
                "source description `{}`: `{}` is not a valid URL reference: {e}",
                sd.name, sd.url
            ),
            None,
        )
    })?;
    if matches!(doc.url.scheme(), "http" | "https") && src_url.scheme() == "file" {
        return Err(LoadError::new(
            format!(
                "source description `{}`: `{}` was fetched over the network and names a local file (`{}`); that is refused",
                sd.name,
                display_url(&doc.url),
                sd.url
            ),
            Some("a document served over http(s) may only name documents served over http(s)".into()),
        ));
    }
    Ok(src_url)
}

/// A source description's text, read as what it is. A JSON description is
/// read lazily; anything else is parsed whole, and so is a description that
/// `$ref`s other files (they are pulled in).
enum Parsed {
    Api(Box<OpenApi>),
    Tree(Value),
    Arazzo(String),
    AsyncApi(Value),
}

/// One source description being loaded, with how messages name it.
struct SourceLoad<'s> {
    sd: &'s SourceDescription,
    url: Url,
    /// The URL as shown to people.
    shown: String,
    /// "source description `name` (`url`)".
    what: String,
}

impl<'s> SourceLoad<'s> {
    fn new(sd: &'s SourceDescription, url: Url) -> SourceLoad<'s> {
        let shown = display_url(&url);
        let what = format!("source description `{}` (`{shown}`)", sd.name);
        SourceLoad {
            sd,
            url,
            shown,
            what,
        }
    }

    /// An OpenAPI description that cannot be read, named.
    fn api_error(&self, e: crate::openapi::OpenApiError) -> LoadError {
        LoadError::new(
            format!(
                "source description `{}` (`{}`): {e}",
                self.sd.name, self.shown
            ),
            None,
        )
    }

    /// The type the source declares, else `arazzo` or `asyncapi` when its text has that
    /// field at the top, else `openapi`.
    fn kind(&self, has: impl Fn(&str) -> bool) -> SourceKind {
        self.sd.kind.unwrap_or(if has("arazzo") {
            SourceKind::Arazzo
        } else if has("asyncapi") {
            SourceKind::Asyncapi
        } else {
            SourceKind::Openapi
        })
    }

    /// Reads the fetched `text` as an OpenAPI description (lazily when it can),
    /// a tree still to bundle, or an Arazzo document.
    fn parse(&self, text: String) -> Result<Parsed, LoadError> {
        let (what, shown) = (&self.what, &self.shown);
        Ok(match crate::openapi::Lazy::parse(text) {
            Ok(lazy) => match self.kind(|k| lazy.has(k)) {
                SourceKind::Openapi
                    if crate::openapi::bundle::external_ref_in_text(lazy.text()) =>
                {
                    Parsed::Tree(parse_tree(lazy.text(), what).map_err(|e| e.in_file(shown))?)
                }
                SourceKind::Openapi => Parsed::Api(Box::new(
                    OpenApi::from_lazy(self.url.clone(), lazy).map_err(|e| self.api_error(e))?,
                )),
                SourceKind::Arazzo => Parsed::Arazzo(lazy.into_text()),
                SourceKind::Asyncapi => {
                    Parsed::AsyncApi(parse_tree(lazy.text(), what).map_err(|e| e.in_file(shown))?)
                }
            },
            Err(text) => {
                let tree = parse_tree(&text, what).map_err(|e| e.in_file(shown))?;
                match self.kind(|k| tree.get(k).is_some()) {
                    SourceKind::Openapi => Parsed::Tree(tree),
                    SourceKind::Arazzo => Parsed::Arazzo(text),
                    SourceKind::Asyncapi => Parsed::AsyncApi(tree),
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_and_json_errors_have_positions() {
        let e = parse_tree("{\"a\": }", "`x`").unwrap_err();
        assert!(e.message.contains("line 1"), "{}", e.message);
        let e = parse_tree("a: [1, 2\nb: c", "`x`").unwrap_err();
        assert!(e.message.contains("not valid YAML"), "{}", e.message);
    }

    #[test]
    fn the_base_uri_is_self_resolved_against_the_retrieval_url() {
        let at = Url::parse("https://api.example.com/v2/api-description.yaml").unwrap();
        let base = |s: Option<&str>| base_uri(&at, s, "x").map(|u| u.to_string());
        assert_eq!(base(None).unwrap(), at.as_str());
        assert_eq!(
            base(Some("workflows/purchase.arazzo.yaml")).unwrap(),
            "https://api.example.com/v2/workflows/purchase.arazzo.yaml"
        );
        assert_eq!(
            base(Some("https://w.example.com/a.yaml")).unwrap(),
            "https://w.example.com/a.yaml"
        );
        assert!(base(Some("a.yaml#/x"))
            .unwrap_err()
            .message
            .contains("fragment"));
        assert!(base(Some("file:///etc/a.yaml"))
            .unwrap_err()
            .message
            .contains("local file"));
        // A local document may say it lives on the network.
        let local = Url::parse("file:///flows/a.yaml").unwrap();
        assert_eq!(
            base_uri(&local, Some("https://w.example.com/a.yaml"), "x")
                .unwrap()
                .as_str(),
            "https://w.example.com/a.yaml"
        );
    }

    #[test]
    fn versions_other_than_1_0_and_1_1_are_refused() {
        let url = Url::parse("file:///tmp/x.yaml").unwrap();
        let doc = |v: &str| {
            format!("arazzo: {v}\ninfo: {{title: t, version: '1'}}\nsourceDescriptions: [{{name: a, url: a.yaml}}]\nworkflows:\n- workflowId: w\n  steps:\n  - {{stepId: s, operationId: x}}\n")
        };
        for v in ["1.0.0", "1.0.1", "1.1.0"] {
            assert!(parse_arazzo(url.clone(), &doc(v)).is_ok(), "{v}");
        }
        for v in ["1.2.0", "2.0.0", "'0.9'"] {
            let e = parse_arazzo(url.clone(), &doc(v)).unwrap_err();
            assert!(
                e.message.contains("1.0.0, 1.0.1 and 1.1.0"),
                "{}",
                e.message
            );
        }
    }

    #[test]
    fn arazzo_model_errors_name_the_path() {
        let url = Url::parse("file:///tmp/x.yaml").unwrap();
        let e = parse_arazzo(
            url,
            "arazzo: 1.0.1\ninfo: {title: t, version: '1'}\nsourceDescriptions: []\nworkflows:\n- workflowId: w\n  steps:\n  - operationId: x\n",
        )
        .unwrap_err();
        assert!(e.message.contains("workflows[0].steps[0]"), "{}", e.message);
        assert!(e.message.contains("stepId"), "{}", e.message);
    }
}
