//! Messages that name the real thing, through the binary as a new user meets
//! them: the URL a failed step requested, the credential a 401 or 403 request
//! carried and where it came from, empty files, a workflowId typed without
//! `run`, YAML and JSON syntax errors shown in the file, and other slips of a
//! first session (a directory for `-f`, a document without `-f`, …).

mod support;

use std::path::Path;

use support::cli::*;
use support::echo::*;

const SECRET: &str = "sk_test_Q7wz-never-shown";

/// An OpenAPI description with a header and a query API-key scheme.
const API: &str = r#"openapi: 3.0.3
info: {title: t, version: "1"}
servers: [{url: "http://127.0.0.1:1"}]
components:
  securitySchemes:
    headerKey: {type: apiKey, in: header, name: x-api-key}
    queryKey: {type: apiKey, in: query, name: api_key}
paths:
  /items/{id}:
    get:
      operationId: getItem
      parameters:
        - {name: id, in: path, required: true, schema: {type: string}}
        - {name: q, in: query, schema: {type: string}}
      responses:
        "200": {description: ok}
"#;

/// A folder with `api.yaml` and `flow.yaml`, whose workflow `w` runs `steps`
/// (YAML at the indentation of a step list item).
fn case(steps: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("api.yaml"), API).unwrap();
    let flow = format!(
        "arazzo: 1.0.1
info: {{title: t, version: '1'}}
sourceDescriptions:
- {{name: api, url: ./api.yaml, type: openapi}}
workflows:
- workflowId: w
  inputs:
    type: object
    properties:
      id: {{type: string}}
      apiKey: {{type: string, format: password}}
  steps:
{steps}"
    );
    std::fs::write(dir.path().join("flow.yaml"), flow).unwrap();
    dir
}

/// The step most tests run: GET /items/{id} with the key in `x-api-key`.
const GET_WITH_KEY: &str = "  - stepId: get
    operationId: getItem
    parameters:
    - {name: id, in: path, value: $inputs.id}
    - {name: q, in: query, value: red shoes}
    - {name: x-api-key, in: header, value: $inputs.apiKey}
    successCriteria:
    - condition: $statusCode == 200
";

/// `arazzo run -f flow.yaml --server api=<echo> <extra>` in `dir`.
fn run_in(dir: &Path, echo: &Echo, extra: &[&str]) -> assert_cmd::Command {
    let mut cmd = arazzo();
    cmd.current_dir(dir)
        .args(["run", "-f", "flow.yaml", "--server"])
        .arg(format!("api={}", echo.base_url()))
        .args(extra);
    cmd
}

/// stderr as one line: miette wraps long messages and indents help lines, so
/// assertions read the words, not the layout.
fn flat(text: &str) -> String {
    text.replace(['│', '╰', '╭', '─', '·'], " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn assert_says(out: &Out, text: &str) {
    assert!(
        flat(&out.stderr).contains(text),
        "stderr lacks `{text}`:\n{}",
        out.context()
    );
}

// ---------------------------------------------------------------------------
// 1. A failed step names the URL it requested.
// ---------------------------------------------------------------------------

#[test]
fn a_failed_step_shows_the_url_it_requested() {
    let dir = case(GET_WITH_KEY);
    let echo = Echo::start();
    echo.reply(Reply::json(
        404,
        &serde_json::json!({"error": "no such item"}),
    ));
    let out =
        exec(run_in(dir.path(), &echo, &["-i", "id=srv_123"]).env("ARAZZO_INPUT_API_KEY", SECRET));
    out.assert_code(1);
    assert_says(
        &out,
        &format!(
            "failed at step `get`: successCriteria `$statusCode == 200` not met: GET {}/items/srv_123?q=red%20shoes (operation GET /items/{{id}}) answered 404",
            echo.base_url()
        ),
    );
    out.assert_no(SECRET);
}

#[test]
fn a_secret_in_the_query_is_masked_in_the_url_shown() {
    let dir = case(
        "  - stepId: get
    operationId: getItem
    parameters:
    - {name: id, in: path, value: $inputs.id}
    - {name: api_key, in: query, value: $inputs.apiKey}
",
    );
    let echo = Echo::start();
    for format in ["human", "json"] {
        echo.reply(Reply::new(500));
        let out = exec(
            run_in(dir.path(), &echo, &["-i", "id=7", "-o", format])
                .env("ARAZZO_INPUT_API_KEY", SECRET),
        );
        out.assert_code(1);
        let url = format!("GET {}/items/7?api_key=***", echo.base_url());
        assert!(flat(&out.all()).contains(&url), "{url}:\n{}", out.context());
        out.assert_no(SECRET);
    }
    assert_eq!(
        echo.requests()[0].query.as_deref(),
        Some(format!("api_key={SECRET}").as_str())
    );
}

#[test]
fn a_connection_refused_names_the_url_and_the_flag_to_fix_it() {
    let dir = case(GET_WITH_KEY);
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = exec(
        arazzo()
            .current_dir(dir.path())
            .args(["run", "-f", "flow.yaml", "-i", "id=srv_9", "--server"])
            .arg(format!("api=http://127.0.0.1:{dead}")),
    );
    out.assert_code(1);
    assert_says(
        &out,
        &format!("GET http://127.0.0.1:{dead}/items/srv_9?q=red%20shoes (operation GET /items/{{id}}): could not connect"),
    );
    assert_says(&out, "--server api=URL");
}

// ---------------------------------------------------------------------------
// 2. 401 and 403 name the credential and where it came from.
// ---------------------------------------------------------------------------

fn refused(status: u16, dir: &Path, extra: &[&str], env_key: bool) -> Out {
    let echo = Echo::start();
    echo.reply(Reply::json(status, &serde_json::json!({"error": "denied"})));
    let mut cmd = run_in(dir, &echo, extra);
    if env_key {
        cmd.env("ARAZZO_INPUT_API_KEY", SECRET);
    }
    let out = exec(&mut cmd);
    out.assert_code(1);
    out.assert_no(SECRET);
    out
}

#[test]
fn a_401_names_the_header_the_input_and_its_environment_variable() {
    let dir = case(GET_WITH_KEY);
    let out = refused(401, dir.path(), &["-i", "id=1"], true);
    assert_says(
        &out,
        "help: the request sent header x-api-key from the `apiKey` input, set from ARAZZO_INPUT_API_KEY; check that it is valid for this server (arazzo sends it as written)",
    );
}

#[test]
fn a_401_names_the_flag_or_the_inputs_file_that_set_the_key() {
    let dir = case(GET_WITH_KEY);
    let key = format!("apiKey={SECRET}");
    let out = refused(401, dir.path(), &["-i", "id=1", "-i", &key], false);
    assert_says(
        &out,
        "header x-api-key from the `apiKey` input, set with -i apiKey=…;",
    );

    std::fs::write(
        dir.path().join("inputs.json"),
        format!("{{\"apiKey\": \"{SECRET}\"}}"),
    )
    .unwrap();
    let out = refused(
        401,
        dir.path(),
        &["-i", "id=1", "--inputs", "inputs.json"],
        false,
    );
    assert_says(
        &out,
        "header x-api-key from the `apiKey` input, set in the --inputs file `inputs.json`;",
    );
}

#[test]
fn a_403_says_the_credential_was_known_but_refused() {
    let dir = case(GET_WITH_KEY);
    let out = refused(403, dir.path(), &["-i", "id=1"], true);
    assert_says(&out, "the request sent header x-api-key from the `apiKey` input, set from ARAZZO_INPUT_API_KEY; 403 means the server knows the credential but refuses this request: check that it is allowed to do this");
}

#[test]
fn a_401_without_the_key_says_no_credential_was_sent_and_how_to_give_it() {
    let dir = case(GET_WITH_KEY);
    let out = refused(401, dir.path(), &["-i", "id=1"], false);
    assert_says(&out, "help: the request carried no credential: header x-api-key reads the `apiKey` input, which was not given; pass it with -i apiKey=… or ARAZZO_INPUT_API_KEY");
}

#[test]
fn a_401_of_a_step_without_a_key_parameter_names_the_scheme_to_use() {
    let dir = case(
        "  - stepId: get
    operationId: getItem
    parameters:
    - {name: id, in: path, value: $inputs.id}
",
    );
    let out = refused(401, dir.path(), &["-i", "id=1"], true);
    assert_says(&out, "help: the server answered 401, and the request carried no credential: pass one with a step parameter `{name: x-api-key, in: header, value: $inputs.apiKey}` (source `api` names it in a security scheme) and give `apiKey` with -i apiKey=… or ARAZZO_INPUT_API_KEY");
}

#[test]
fn a_401_names_the_password_of_the_server_url_without_showing_it() {
    let dir = case(GET_WITH_KEY);
    let echo = Echo::start();
    echo.reply(Reply::new(401));
    let server = echo
        .base_url()
        .replace("http://", "http://bob:pw-Secret-99@");
    let out = exec(arazzo().current_dir(dir.path()).args([
        "run",
        "-f",
        "flow.yaml",
        "-i",
        "id=1",
        "--server",
        &format!("api={server}"),
    ]));
    out.assert_code(1);
    assert_says(&out, "help: the request sent HTTP Basic credentials from the user name and password in the server URL (--server); check that it is valid for this server");
    out.assert_no("pw-Secret-99");
}

#[test]
fn a_401_in_a_called_workflow_names_its_input() {
    let dir = case(GET_WITH_KEY);
    let flow = std::fs::read_to_string(dir.path().join("flow.yaml")).unwrap();
    let outer = "- workflowId: outer
  inputs:
    type: object
    properties:
      apiKey: {type: string, format: password}
  steps:
  - stepId: call
    workflowId: w
    parameters:
    - {name: id, value: '1'}
    - {name: apiKey, value: $inputs.apiKey}
";
    let flow = flow.replace("workflows:\n", &format!("workflows:\n{outer}"));
    std::fs::write(dir.path().join("flow.yaml"), flow).unwrap();
    let out = refused(401, dir.path(), &["outer"], true);
    assert_says(
        &out,
        "failed at step `call`: workflow `w` failed at step `get`",
    );
    assert_says(&out, "help: the request sent header x-api-key from the `apiKey` input of workflow `w`; check that it is valid for this server");
}

#[test]
fn a_wrong_key_for_the_shipped_workflow_names_its_variable_never_its_value() {
    let server = support::composio::StandIn::start("sk_the_right_key_123");
    let wrong = "sk_wrong_key_0123456789";
    let out = exec(&mut provision(&server.base_url(), wrong, &[]));
    out.assert_code(1);
    assert_says(&out, "failed at step `createAuthConfig`");
    assert_says(
        &out,
        &format!(
            "POST {}/api/v3/auth_configs answered 401",
            server.base_url()
        ),
    );
    assert_says(
        &out,
        "the request sent header x-api-key from the `apiKey` input, set from ARAZZO_INPUT_API_KEY; check that it is valid for this server",
    );
    out.assert_no(wrong);
}

// ---------------------------------------------------------------------------
// 3. An empty file says it is empty.
// ---------------------------------------------------------------------------

fn folder_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

fn in_dir(dir: &Path, args: &[&str]) -> Out {
    exec(arazzo().current_dir(dir).args(args))
}

#[test]
fn an_empty_document_is_called_empty_by_run_and_validate() {
    let comments = "# TODO: write the workflow\n\n   \n---\n";
    let dir = folder_with(&[("empty.yaml", ""), ("notes.yaml", comments)]);
    let out = in_dir(dir.path(), &["run", "-f", "empty.yaml"]);
    out.assert_code(3);
    assert_says(
        &out,
        "× `empty.yaml` is empty help: check that the file was saved",
    );

    let out = in_dir(dir.path(), &["validate", "empty.yaml"]);
    out.assert_code(3);
    assert_says(&out, "document/empty × `empty.yaml` is empty");

    let out = in_dir(dir.path(), &["run", "-f", "notes.yaml"]);
    out.assert_code(3);
    assert_says(
        &out,
        "`notes.yaml` is empty (it holds only comments and blank lines)",
    );
    let out = in_dir(dir.path(), &["validate", "notes.yaml"]);
    out.assert_code(3);
    assert_says(
        &out,
        "`notes.yaml` is empty (it holds only comments and blank lines)",
    );
}

#[test]
fn an_empty_inputs_file_is_called_empty_with_exit_2() {
    let dir = case(GET_WITH_KEY);
    std::fs::write(dir.path().join("inputs.json"), "").unwrap();
    std::fs::write(dir.path().join("inputs.yaml"), "# nothing yet\n").unwrap();
    let out = in_dir(
        dir.path(),
        &["run", "-f", "flow.yaml", "--inputs", "inputs.json"],
    );
    out.assert_code(2);
    assert_says(&out, "the inputs file `inputs.json` is empty");
    let out = in_dir(
        dir.path(),
        &["run", "-f", "flow.yaml", "--inputs", "inputs.yaml"],
    );
    out.assert_code(2);
    assert_says(
        &out,
        "the inputs file `inputs.yaml` is empty (it holds only comments and blank lines)",
    );
}

#[test]
fn an_empty_source_description_is_called_empty() {
    let dir = case(GET_WITH_KEY);
    std::fs::write(dir.path().join("api.yaml"), "\n\n").unwrap();
    let out = in_dir(dir.path(), &["run", "-f", "flow.yaml", "-i", "id=1"]);
    out.assert_code(3);
    assert_says(&out, "source description `api` (`api.yaml`) is empty");
    let out = in_dir(dir.path(), &["validate", "flow.yaml"]);
    out.assert_code(3);
    assert_says(
        &out,
        "source/load × source description `api` (`api.yaml`) is empty",
    );
}

// ---------------------------------------------------------------------------
// 4. A workflowId typed without `run`.
// ---------------------------------------------------------------------------

#[test]
fn a_workflow_id_without_run_suggests_the_command_with_secrets_masked() {
    let key = format!("apiKey={SECRET}");
    let out = exec(arazzo().args([
        "provision-mcp-server",
        "-i",
        "userId=alice",
        "-i",
        "serverName=Linear Bot",
        "-i",
        &key,
    ]));
    out.assert_code(2);
    assert_says(&out, "`provision-mcp-server` is not an arazzo command; it is a workflow in `workflows/provision-mcp-server.arazzo.yaml`: did you forget `run`?");
    assert_says(
        &out,
        "help: to run it: arazzo run provision-mcp-server -i userId=alice -i 'serverName=Linear Bot' -i apiKey=***",
    );
    out.assert_no(SECRET);
    assert!(out.stdout.is_empty(), "{}", out.context());
}

#[test]
fn an_unknown_word_that_is_no_workflow_keeps_clap_s_message() {
    let out = exec(arazzo().arg("valdate"));
    out.assert_code(2);
    out.assert_stderr_has("unrecognized subcommand 'valdate'");
    out.assert_stderr_has("a similar subcommand exists: 'validate'");
    // Outside a checkout there is no ./workflows to look in.
    let dir = tempfile::tempdir().unwrap();
    let out = in_dir(dir.path(), &["provision-mcp-server"]);
    out.assert_code(2);
    out.assert_stderr_has("unrecognized subcommand 'provision-mcp-server'");
    let version = exec(arazzo().arg("--version"));
    version.assert_code(0);
    assert!(
        version.stdout.starts_with("arazzo "),
        "{}",
        version.context()
    );
}

// ---------------------------------------------------------------------------
// 5. Syntax errors shown in the file.
// ---------------------------------------------------------------------------

const UNCLOSED: &str = "arazzo: 1.0.1
info:
  title: \"unclosed
  version: '1'
workflows: []
";

const BAD_INDENT: &str = "arazzo: 1.0.1
info:
  title: t
   version: '1'
workflows: []
";

const BAD_JSON: &str = "{
  \"arazzo\": \"1.0.1\",
  \"info\": {\"title\": \"t\",}
}
";

/// Both commands show the code, the file with line and column, the lines
/// around it and a marker.
fn assert_snippet(file: &str, text: &str, code: &str, place: &str, line: &str) {
    let dir = folder_with(&[(file, text)]);
    for args in [vec!["run", "-f", file], vec!["validate", file]] {
        let out = in_dir(dir.path(), &args);
        out.assert_code(3);
        out.assert_stderr_has(code);
        out.assert_stderr_has(&format!("╭─[{file}:{place}]"));
        out.assert_stderr_has(line);
        out.assert_stderr_has("╰── here");
    }
}

#[test]
fn a_yaml_syntax_error_is_shown_in_the_file_by_run_and_validate() {
    assert_snippet(
        "unclosed.yaml",
        UNCLOSED,
        "syntax/yaml",
        "3:10",
        "3 │   title: \"unclosed",
    );
    assert_snippet(
        "indent.yaml",
        BAD_INDENT,
        "syntax/yaml",
        "4:11",
        "4 │    version: '1'",
    );
}

#[test]
fn a_json_syntax_error_is_shown_in_the_file_by_run_and_validate() {
    assert_snippet(
        "flow.json",
        BAD_JSON,
        "syntax/json",
        "3:25",
        "3 │   \"info\": {\"title\": \"t\",}",
    );
}

#[test]
fn a_syntax_error_in_a_source_description_is_shown_in_that_file() {
    let dir = case(GET_WITH_KEY);
    std::fs::write(
        dir.path().join("api.yaml"),
        API.replace("title: t,", "title: \"t,"),
    )
    .unwrap();
    let out = in_dir(dir.path(), &["run", "-f", "flow.yaml", "-i", "id=1"]);
    out.assert_code(3);
    out.assert_stderr_has("syntax/yaml");
    out.assert_stderr_has("source description `api` (`api.yaml`) is not valid YAML");
    out.assert_stderr_has("╭─[api.yaml:");
}

// ---------------------------------------------------------------------------
// Other slips of a first session.
// ---------------------------------------------------------------------------

#[test]
fn a_directory_for_f_names_the_documents_inside() {
    let dir = case(GET_WITH_KEY);
    let out = in_dir(dir.path(), &["run", "-f", "."]);
    out.assert_code(2);
    assert_says(&out, "`.` is a directory, not a document");
    assert_says(
        &out,
        "-f takes one Arazzo document, e.g. one of: ./flow.yaml",
    );
}

#[test]
fn a_document_given_without_f_says_to_use_f() {
    let dir = case(GET_WITH_KEY);
    let out = in_dir(dir.path(), &["run", "flow.yaml"]);
    out.assert_code(2);
    assert_says(&out, "`flow.yaml` is a file, not a workflowId");
    assert_says(&out, "`arazzo run -f flow.yaml`");
}

#[test]
fn a_missing_or_directory_inputs_file_says_which() {
    let dir = case(GET_WITH_KEY);
    let out = in_dir(
        dir.path(),
        &["run", "-f", "flow.yaml", "--inputs", "inptus.json"],
    );
    out.assert_code(2);
    assert_says(&out, "the inputs file `inptus.json` does not exist help: check the path: it is read from the current directory");
    std::fs::create_dir(dir.path().join("inputs")).unwrap();
    let out = in_dir(
        dir.path(),
        &["run", "-f", "flow.yaml", "--inputs", "inputs"],
    );
    out.assert_code(2);
    assert_says(
        &out,
        "the inputs file `inputs`: it is a directory, not a file",
    );
}

#[test]
fn a_server_url_without_a_scheme_says_so_without_echoing_it() {
    let dir = case(GET_WITH_KEY);
    let out = in_dir(
        dir.path(),
        &[
            "run",
            "-f",
            "flow.yaml",
            "--server",
            "api=me:pw-Xq9@localhost:8080",
        ],
    );
    out.assert_code(2);
    assert_says(&out, "--server api=…: the URL has no http:// or https://");
    assert_says(&out, "write e.g. --server api=http://127.0.0.1:8080");
    out.assert_no("pw-Xq9");
}

#[test]
fn list_of_a_folder_without_documents_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let out = in_dir(dir.path(), &["list", "."]);
    out.assert_code(2);
    assert_says(&out, "no Arazzo documents to list");
}
