use super::*;

fn edit(pointer: &str, from: &str, to: &str) -> Edit {
    Edit {
        pointer: pointer.into(),
        from: from.into(),
        to: to.into(),
    }
}

/// Applies the edits and expects all of them to be applied.
fn fixed(text: &str, edits: &[Edit]) -> String {
    let out = apply(text, edits);
    assert!(out.skipped.is_empty(), "skipped: {:#?}", out.skipped);
    assert_eq!(out.applied.len(), edits.len());
    out.text
}

/// Applies one edit and expects it to be skipped, with the text untouched; returns the reason.
fn refused(text: &str, e: Edit) -> String {
    let out = apply(text, std::slice::from_ref(&e));
    assert_eq!(out.text, text, "the text changed");
    assert!(out.applied.is_empty());
    assert_eq!(out.skipped.len(), 1);
    assert_eq!(out.skipped[0].0, e);
    out.skipped[0].1.clone()
}

// ---------------------------------------------------------------------------------------------
// Quoting styles

#[test]
fn yaml_plain_stays_plain_when_it_can() {
    let text = "outputs:\n  x: $steps.a.outputs.b.c # keep\n";
    let out = apply(text, &[edit("/outputs/x", "b.c", "b#/c")]);
    assert_eq!(out.text, "outputs:\n  x: $steps.a.outputs.b#/c # keep\n");
    assert_eq!(
        out.applied,
        vec![Applied {
            pointer: "/outputs/x".into(),
            line: 2,
            column: 6,
            before: "$steps.a.outputs.b.c".into(),
            after: "$steps.a.outputs.b#/c".into(),
        }]
    );
}

#[test]
fn yaml_plain_operation_path_gets_single_quotes() {
    let text = "steps:\n  - stepId: a\n    operationPath: api#/paths/~1pets/get\n    x: 1\n";
    let new = fixed(
        text,
        &[edit(
            "/steps/0/operationPath",
            "api#",
            "{$sourceDescriptions.api.url}#",
        )],
    );
    assert_eq!(
        new,
        "steps:\n  - stepId: a\n    operationPath: '{$sourceDescriptions.api.url}#/paths/~1pets/get'\n    x: 1\n"
    );
}

#[test]
fn yaml_plain_is_quoted_when_it_would_read_differently() {
    for (value, from, to, written) in [
        ("maybe", "maybe", "true", "'true'"),
        ("maybe", "maybe", "null", "'null'"),
        ("v1", "v1", "12", "'12'"),
        ("v1", "v1", "0x1F", "'0x1F'"),
        ("a-b", "-", " #", "'a #b'"),
        ("a-b", "-", ": ", "'a: b'"),
        ("ab", "a", "- ", "'- b'"),
        ("ab", "a", "*", "'*b'"),
        ("ab", "a", "&", "'&b'"),
        ("ab", "a", "!", "'!b'"),
        ("ab", "a", "%", "'%b'"),
        ("ab", "a", "@", "'@b'"),
        ("ab", "a", "`", "'`b'"),
        ("ab", "a", "|", "'|b'"),
        ("ab", "a", ">", "'>b'"),
        ("ab", "a", "#", "'#b'"),
        ("ab", "a", "[", "'[b'"),
        ("ab", "a", "{", "'{b'"),
        ("ab", "a", "\"", "'\"b'"),
        ("ab", "a", "'", "'''b'"),
        ("ab", "a", "? ", "'? b'"),
        ("ab", "b", " ", "'a '"),
        ("ab", "a", " ", "' b'"),
        ("ab", "b", "\n", "\"a\\n\""),
        ("ab", "b", "\t\u{1}", "\"a\\t\\x01\""),
        ("ab", "b", "\u{feff}", "\"a\\uFEFF\""),
    ] {
        let text = format!("k: {value}\nnext: 1\n");
        let new = fixed(&text, &[edit("/k", from, to)]);
        assert_eq!(
            new,
            format!("k: {written}\nnext: 1\n"),
            "{value} {from}→{to}"
        );
    }
    // What a plain scalar may hold stays plain.
    for (to, written) in [
        ("a:b", "a:b"),
        ("a#b", "a#b"),
        ("-a", "-a"),
        ("?a", "?a"),
        ("a'b\"c", "a'b\"c"),
        ("a's", "a's"),
        ("é\tü", "é\tü"),
        ("yes", "yes"), // YAML 1.2: a string
    ] {
        let new = fixed("k: x\n", &[edit("/k", "x", to)]);
        assert_eq!(new, format!("k: {written}\n"));
    }
}

#[test]
fn yaml_plain_in_a_flow_collection_avoids_flow_indicators() {
    let text = "a: [x, y]\nb: {k: v, l: w}\nc: &c !!seq [p]\n";
    let new = fixed(
        text,
        &[
            edit("/a/0", "x", "x,1"),
            edit("/a/1", "y", "z"),
            edit("/b/k", "v", "{v}"),
            edit("/c/0", "p", "p]"),
        ],
    );
    assert_eq!(
        new,
        "a: ['x,1', z]\nb: {k: '{v}', l: w}\nc: &c !!seq ['p]']\n"
    );
}

#[test]
fn yaml_single_quoted() {
    let text = "a: 'it''s here' # c\n";
    assert_eq!(
        fixed(text, &[edit("/a", "here", "Bob's")]),
        "a: 'it''s Bob''s' # c\n"
    );
    assert_eq!(
        fixed(text, &[edit("/a", "it's", "it is")]),
        "a: 'it is here' # c\n"
    );
    assert_eq!(
        fixed(text, &[edit("/a", "s h", "s  h")]),
        "a: 'it''s  here' # c\n"
    );
    // A line break does not fit in single quotes on one line: double quotes then.
    assert_eq!(
        fixed(text, &[edit("/a", " here", "\nthere")]),
        "a: \"it's\\nthere\" # c\n"
    );
}

#[test]
fn yaml_double_quoted() {
    let text = "a: \"say \\\"hi\\\" \\u00e9\\x41 \\/\" # c\n";
    assert_eq!(
        fixed(text, &[edit("/a", "hi", "bye")]),
        "a: \"say \\\"bye\\\" \\u00e9\\x41 \\/\" # c\n"
    );
    // `from` may take in escapes; the escapes elsewhere stay as written.
    assert_eq!(
        fixed(text, &[edit("/a", "\"hi\"", "'hi'")]),
        "a: \"say 'hi' \\u00e9\\x41 \\/\" # c\n"
    );
    assert_eq!(
        fixed(text, &[edit("/a", "éA", "e\ta\\\n\"\u{7}\u{85}")]),
        "a: \"say \\\"hi\\\" e\\ta\\\\\\n\\\"\\a\\N \\/\" # c\n"
    );
}

#[test]
fn json_strings() {
    let text = "{\n  \"a\": \"x\\/y \\u00e9 api#/p\",\n  \"b\": [\"q\\\"r\", 1]\n}\n";
    assert_eq!(
        fixed(
            text,
            &[edit("/a", "api#", "{$sourceDescriptions.api.url}#")]
        ),
        "{\n  \"a\": \"x\\/y \\u00e9 {$sourceDescriptions.api.url}#/p\",\n  \"b\": [\"q\\\"r\", 1]\n}\n"
    );
    // Quotes, backslashes and control characters in `to` are escaped as JSON does.
    assert_eq!(
        fixed(text, &[edit("/b/0", "q", "\"\\\n\t\u{1}/é")]),
        "{\n  \"a\": \"x\\/y \\u00e9 api#/p\",\n  \"b\": [\"\\\"\\\\\\n\\t\\u0001/é\\\"r\", 1]\n}\n"
    );
    // `from` written with escapes in the file.
    assert_eq!(
        fixed(text, &[edit("/a", "/y é", "-")]),
        "{\n  \"a\": \"x- api#/p\",\n  \"b\": [\"q\\\"r\", 1]\n}\n"
    );
    // A surrogate pair is one character.
    let text = r#"{"a": "\ud83d\ude00!"}"#;
    assert_eq!(fixed(text, &[edit("/a", "😀", ":)")]), r#"{"a": ":)!"}"#);
}

#[test]
fn yaml_flow_document_that_is_not_json_uses_yaml_escapes() {
    // Not JSON (a comment, a plain value), so YAML: `\e` is a YAML escape.
    let text = "[\"a\\e\", b] # c\n";
    assert_eq!(
        fixed(text, &[edit("/0", "a", "\u{1b}")]),
        "[\"\\e\\e\", b] # c\n"
    );
}

#[test]
fn tags_and_unused_anchors_stay() {
    let text = "a: !!str 123\nb: &x plain\nc: &y !!str 'q'\n";
    assert_eq!(
        fixed(
            text,
            &[
                edit("/a", "3", "4"),
                edit("/b", "plain", "no"),
                edit("/c", "q", "r")
            ]
        ),
        "a: !!str 124\nb: &x no\nc: &y !!str 'r'\n"
    );
}

// ---------------------------------------------------------------------------------------------
// Layout

const DOC: &str = "\
# Pets, adopted.
arazzo: 1.0.1   # the version
info: {title: Pets, version: '1'}
sourceDescriptions:
    -   name: api       # four-space indent
        url:  ./openapi.yaml
workflows:
- workflowId: adopt
  steps:
  - stepId: find
    operationPath: api#/paths/~1pets/get   # trailing comment
    # a comment between keys
    parameters:
    - {name: limit, in: query, value: \"$inputs.limit\"}
  - stepId: buy
    operationId: \"buy\"
    outputs:
      id: $response.body#/id
  outputs:
    id: $steps.buy.outputs.id.x
";

#[test]
fn comments_and_indentation_stay_byte_for_byte() {
    let edits = [
        edit(
            "/workflows/0/steps/0/operationPath",
            "api#",
            "{$sourceDescriptions.api.url}#",
        ),
        edit("/workflows/0/outputs/id", "id.x", "id#/x"),
        edit(
            "/workflows/0/steps/0/parameters/0/value",
            "$inputs.limit",
            "$inputs.max",
        ),
    ];
    let out = apply(DOC, &edits);
    assert!(out.skipped.is_empty(), "{:?}", out.skipped);
    let expected = DOC
        .replace(
            "operationPath: api#/paths/~1pets/get",
            "operationPath: '{$sourceDescriptions.api.url}#/paths/~1pets/get'",
        )
        .replace(
            "id: $steps.buy.outputs.id.x",
            "id: $steps.buy.outputs.id#/x",
        )
        .replace("\"$inputs.limit\"", "\"$inputs.max\"");
    assert_eq!(out.text, expected);
    let lines: Vec<_> = out.applied.iter().map(|a| (a.line, a.column)).collect();
    assert_eq!(lines, vec![(11, 20), (20, 9), (14, 39)]);
}

#[test]
fn two_edits_in_one_file_and_in_one_value() {
    let text = "a: x.y.z\nb: \"p q\"\n";
    let out = apply(
        text,
        &[
            edit("/a", "x", "1"),
            edit("/b", "q", "r"),
            edit("/a", "z", "3"),
            edit("/a", ".y.", "#/"),
        ],
    );
    assert!(out.skipped.is_empty(), "{:?}", out.skipped);
    assert_eq!(out.text, "a: 1#/3\nb: \"p r\"\n");
    let steps: Vec<_> = out
        .applied
        .iter()
        .map(|a| (a.pointer.as_str(), a.before.as_str(), a.after.as_str()))
        .collect();
    assert_eq!(
        steps,
        vec![
            ("/a", "x.y.z", "1.y.z"),
            ("/b", "p q", "p r"),
            ("/a", "1.y.z", "1.y.3"),
            ("/a", "1.y.3", "1#/3"),
        ]
    );
    // In JSON too, and an edit that needs quoting after one that did not.
    let text = r#"{"a": "x.y", "b": ["u", "v"]}"#;
    assert_eq!(
        fixed(
            text,
            &[
                edit("/b/1", "v", "w\""),
                edit("/a", "y", "z"),
                edit("/b/0", "u", "t")
            ]
        ),
        r#"{"a": "x.z", "b": ["t", "w\""]}"#
    );
    assert_eq!(
        fixed(
            "a: b.c\n",
            &[edit("/a", "b", "x"), edit("/a", "c", "true #")]
        ),
        "a: 'x.true #'\n"
    );
}

#[test]
fn overlapping_and_repeated_edits() {
    let text = "a: abcdef\n";
    let out = apply(
        text,
        &[
            edit("/a", "bc", "XY"),
            edit("/a", "Yd", "z"),
            edit("/a", "bc", "XY"),
            edit("/a", "", "q"),
            edit("/a", "e", "e"),
        ],
    );
    assert_eq!(out.text, "a: aXYdef\n");
    assert_eq!(out.applied.len(), 1);
    let reasons: Vec<_> = out.skipped.iter().map(|(_, why)| why.as_str()).collect();
    assert_eq!(
        reasons,
        vec![
            "the text to replace overlaps an earlier edit of the same value",
            "the same edit is listed twice",
            "nothing to replace: `from` is empty",
            "`from` and `to` are the same",
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Refusals

#[test]
fn aliases_are_not_edited() {
    let text = "base: &b\n  url: api#/x\nuse: *b\nname: &n api#/y\nagain: *n\nown: &o api#/z\n";
    let why = refused(text, edit("/use/url", "api#", "x#"));
    assert!(why.contains("through a YAML alias"), "{why}");
    let why = refused(text, edit("/again", "api#", "x#"));
    assert!(why.contains("through a YAML alias"), "{why}");
    let why = refused(text, edit("/base/url", "api#", "x#"));
    assert!(why.contains("anchor that an alias repeats"), "{why}");
    let why = refused(text, edit("/name", "api#", "x#"));
    assert!(why.contains("anchor that an alias repeats"), "{why}");
    // An anchor nothing uses is only a name.
    assert_eq!(
        fixed(text, &[edit("/own", "api#", "x#")]),
        text.replace("&o api#/z", "&o x#/z")
    );
}

#[test]
fn values_that_are_not_strings() {
    let text = "n: 12\nb: true\nz: null\ne:\no: {a: 1}\nl: [1]\nf: 1.5\ns: 'x'\n";
    for (pointer, kind) in [
        ("/n", "a number"),
        ("/b", "a boolean"),
        ("/z", "null"),
        ("/e", "null"),
        ("/o", "an object"),
        ("/l", "an array"),
        ("/f", "a number"),
    ] {
        let why = refused(text, edit(pointer, "1", "2"));
        assert_eq!(
            why,
            format!("the value at `{pointer}` is {kind}, not a string")
        );
    }
    let json = r#"{"n": 1, "s": "1"}"#;
    assert!(refused(json, edit("/n", "1", "2")).contains("a number"));
    assert_eq!(
        fixed(json, &[edit("/s", "1", "2")]),
        r#"{"n": 1, "s": "2"}"#
    );
}

#[test]
fn missing_values_and_text() {
    let text = "a: b\nl: [x]\n";
    assert_eq!(
        refused(text, edit("/a", "q", "r")),
        "`q` does not occur in the value"
    );
    assert_eq!(
        refused(text, edit("/nope", "b", "c")),
        "there is no value at `/nope`"
    );
    assert_eq!(
        refused(text, edit("/l/1", "b", "c")),
        "there is no value at `/l/1`"
    );
    assert_eq!(
        refused(text, edit("a", "b", "c")),
        "`a` is not a JSON Pointer into this file"
    );
    assert_eq!(
        refused("a: [unclosed\n", edit("/a", "b", "c")),
        "the file does not parse as JSON or YAML"
    );
    assert_eq!(
        refused("{\"a\": \"b\",}", edit("/a", "b", "c")),
        "the file does not parse as JSON or YAML"
    );
}

#[test]
fn applying_again_skips_cleanly() {
    let e = edit(
        "/workflows/0/steps/0/operationPath",
        "api#",
        "{$sourceDescriptions.api.url}#",
    );
    let once = fixed(DOC, std::slice::from_ref(&e));
    let why = refused(&once, e);
    assert_eq!(why, "`api#` does not occur in the value");
}

#[test]
fn a_failed_check_leaves_the_text_untouched() {
    // A parser that reads the edited text with one unrelated value changed, as if the edit had
    // spilled over.
    let text = "a: x\nb: y\nc: 1\n";
    let spill = |t: &str| {
        let (format, mut tree) = parse(t)?;
        if t != text {
            tree["c"] = Value::from(2);
        }
        Some((format, tree))
    };
    let edits = [
        edit("/a", "x", "z"),
        edit("/b", "q", "r"),
        edit("/b", "y", "w"),
    ];
    let out = apply_with(text, &edits, &spill);
    assert_eq!(out.text, text);
    assert!(out.applied.is_empty());
    let reasons: Vec<_> = out
        .skipped
        .iter()
        .map(|(e, why)| (e.pointer.as_str(), why.as_str()))
        .collect();
    assert_eq!(
        reasons,
        vec![
            ("/a", "the edit would change the document's meaning"),
            ("/b", "`q` does not occur in the value"),
            ("/b", "the edit would change the document's meaning"),
        ]
    );
    // With the real parser the same edits go through.
    assert_eq!(apply(text, &edits).text, "a: z\nb: w\nc: 1\n");
}

// ---------------------------------------------------------------------------------------------
// Line endings, byte order marks, tabs, wide characters

#[test]
fn crlf_files() {
    let text = "a: api#/x\r\nb: \"q\"\r\nc: |\r\n  one two\r\n  three\r\n";
    let new = fixed(
        text,
        &[
            edit("/a", "api#", "{$s}#"),
            edit("/b", "q", "r"),
            edit("/c", "two", "2"),
        ],
    );
    assert_eq!(
        new,
        "a: '{$s}#/x'\r\nb: \"r\"\r\nc: |\r\n  one 2\r\n  three\r\n"
    );
    let json = "{\r\n  \"a\": \"x\",\r\n  \"b\": \"y\"\r\n}\r\n";
    assert_eq!(
        fixed(json, &[edit("/b", "y", "z")]),
        "{\r\n  \"a\": \"x\",\r\n  \"b\": \"z\"\r\n}\r\n"
    );
    // A multi-line plain scalar with CRLF: an edit within a line.
    let text = "a: one two\r\n  three\r\nb: 1\r\n";
    assert_eq!(
        fixed(text, &[edit("/a", "three", "3")]),
        "a: one two\r\n  3\r\nb: 1\r\n"
    );
    assert!(refused(text, edit("/a", "two three", "x")).contains("line break"));
}

#[test]
fn byte_order_marks() {
    let text = "\u{feff}a: x#y\n";
    assert_eq!(
        fixed(text, &[edit("/a", "x", "{x}")]),
        "\u{feff}a: '{x}#y'\n"
    );
    let json = "\u{feff}{\"a\": \"x\"}";
    assert_eq!(
        fixed(json, &[edit("/a", "x", "y")]),
        "\u{feff}{\"a\": \"y\"}"
    );
}

#[test]
fn tabs_and_wide_characters() {
    let text = "é: \"日本\tü\"\nü: 日本語のテキスト\t# c\n";
    let out = apply(
        text,
        &[edit("/é", "本\tü", "本 ü"), edit("/ü", "語の", "語 の")],
    );
    assert!(out.skipped.is_empty(), "{:?}", out.skipped);
    assert_eq!(out.text, "é: \"日本 ü\"\nü: 日本語 のテキスト\t# c\n");
    assert_eq!((out.applied[0].line, out.applied[0].column), (1, 4));
    assert_eq!((out.applied[1].line, out.applied[1].column), (2, 4));
    let json = "{\"ü\": \"日本\"}";
    assert_eq!(
        fixed(json, &[edit("/ü", "日", "\t月")]),
        "{\"ü\": \"\\t月本\"}"
    );
}

// ---------------------------------------------------------------------------------------------
// Values over several lines

#[test]
fn block_scalars_edit_within_a_line() {
    let text = "a: |\n  one two\n    three\n\n  four\nb: >-\n  one two\n  three\n\n  four\n     five\n  six\nc: |+ # keep\n  x y\n\n\nd: 1\n";
    let new = fixed(
        text,
        &[
            edit("/a", "two", "2"),
            edit("/a", "four", "4 4"),
            edit("/b", "three", "3"),
            edit("/b", "five", "5"),
            edit("/b", "six", "#6"),
            edit("/c", "y", "'y'"),
        ],
    );
    assert_eq!(
        new,
        "a: |\n  one 2\n    three\n\n  4 4\nb: >-\n  one two\n  3\n\n  four\n     5\n  #6\nc: |+ # keep\n  x 'y'\n\n\nd: 1\n"
    );
    // Across lines, or with a new line break, it is refused.
    assert!(refused(text, edit("/a", "two\n", "x")).contains("line break"));
    assert!(refused(text, edit("/b", "two three", "x")).contains("line break"));
    assert!(refused(text, edit("/a", "two", "2\n")).contains("line break"));
    assert!(refused(text, edit("/a", "two", "\u{1}")).contains("double-quoted"));
    // A leading space on the first line would change the indentation.
    assert!(refused(text, edit("/a", "one", " one")).contains("read back"));
    // The header is not part of the value.
    assert!(refused(text, edit("/c", "keep", "x")).contains("does not occur"));
}

#[test]
fn block_scalar_with_an_indentation_indicator_is_left_alone() {
    let text = "a: |2\n    indented\n  text\n";
    assert_eq!(
        refused(text, edit("/a", "text", "x")),
        "the value's text could not be matched with its value"
    );
}

#[test]
fn multi_line_flow_scalars() {
    let text =
        "a: one two\n  three  \n\n  four\nb: \"one\n  two \\\n  three\"\nc: 'it''s\n  here '\n";
    let new = fixed(
        text,
        &[
            edit("/a", "four", "4"),
            edit("/b", "two", "\"2\""),
            edit("/c", "here", "there"),
        ],
    );
    assert_eq!(
        new,
        "a: one two\n  three  \n\n  4\nb: \"one\n  \\\"2\\\" \\\n  three\"\nc: 'it''s\n  there '\n"
    );
    assert!(refused(text, edit("/a", "three\nfour", "x")).contains("line break"));
    assert!(refused(text, edit("/b", "one two", "x")).contains("line break"));
    assert!(refused(text, edit("/c", "s", "s\n")).contains("line break"));
    // Not writable plain, and a value over several lines is not re-quoted.
    assert!(refused(text, edit("/a", "four", "4: 4")).contains("not re-quoted"));
    // A space at the end of a line would be folded away.
    assert!(refused(text, edit("/c", "it's", "it is ")).contains("read back"));
}

// ---------------------------------------------------------------------------------------------
// Every string value, odd replacements

const JSON_DOC: &str = r#"{
  "arazzo": "1.0.1",
  "info": {"title": "Pets \u00e9\/\"q\"", "version": "1"},
  "workflows": [
    {"workflowId": "w", "steps": [
      {"stepId": "a", "operationPath": "api#/paths/~1pets/get", "x": "\ud83d\ude00 tab\there"},
      {"stepId": "b", "workflowId": "w2", "parameters": [], "n": 1.5, "t": true}
    ]}
  ]
}
"#;

/// A YAML document with CRLF line ends, a byte order mark and every scalar style.
fn yaml_doc() -> String {
    let lines = [
        "\u{feff}# top",
        "arazzo: 1.0.1",
        "info:",
        "  title: 'Pets ''n'' more'   # c",
        "  description: \"tab\\there \\\"q\\\" \\u00e9\"",
        "  summary: |",
        "    first line",
        "      indented",
        "",
        "    last",
        "  folded: >",
        "    one two",
        "    three",
        "list: [a b, 'c', \"d\", {k: v w}]",
        "plain: some words",
        "  over lines",
        "tagged: !!str 42",
        "anchor: &a x",
        "wide: 日本語 é",
        "",
    ];
    lines.join("\r\n")
}

/// Every string value in `text`, by pointer.
fn strings(tree: &Value, pointer: String, out: &mut Vec<(String, String)>) {
    match tree {
        Value::String(s) => out.push((pointer, s.clone())),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                strings(item, format!("{pointer}/{i}"), out);
            }
        }
        Value::Object(members) => {
            for (k, v) in members {
                let token = k.replace('~', "~0").replace('/', "~1");
                strings(v, format!("{pointer}/{token}"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn every_string_with_odd_replacements() {
    let tos = [
        "x",
        "",
        " ",
        "'",
        "\"",
        "\\",
        "\n",
        "\t",
        "#",
        " #",
        ": ",
        "- ",
        "{",
        "}",
        ",",
        "[",
        "]",
        "true",
        "null",
        "12",
        "&a",
        "*a",
        "!t",
        "|",
        ">",
        "%",
        "@",
        "`",
        "é",
        "日本",
        "😀",
        "\u{1}",
        "\u{7f}",
        "\u{85}",
        "\u{2028}",
        "\u{feff}",
        "\r",
        "a'b\"c\\d",
    ];
    let yaml = yaml_doc();
    for text in [JSON_DOC, yaml.as_str()] {
        let (format, tree) = parse(text).expect("the sample parses");
        let map = SourceMap::parse(text);
        let mut values = Vec::new();
        strings(&tree, String::new(), &mut values);
        assert!(values.len() > 8);
        let mut applied = 0;
        for (pointer, value) in &values {
            // A few `from`s: the first character, the whole value, the middle, the last word.
            let mut froms: Vec<String> = Vec::new();
            if let Some(c) = value.chars().next() {
                froms.push(c.to_string());
            }
            froms.push(value.clone());
            let chars: Vec<char> = value.chars().collect();
            if chars.len() > 2 {
                froms.push(chars[1..chars.len() - 1].iter().collect());
            }
            if let Some(last) = value.split(' ').next_back() {
                froms.push(last.to_owned());
            }
            for from in froms.iter().filter(|f| !f.is_empty()) {
                for to in tos {
                    let e = edit(pointer, from, to);
                    let out = apply(text, std::slice::from_ref(&e));
                    if out.applied.is_empty() {
                        assert_eq!(out.text, text);
                        assert_eq!(out.skipped.len(), 1);
                        continue;
                    }
                    applied += 1;
                    // The value reads as intended and nothing else changed.
                    let intended = value.replacen(from.as_str(), to, 1);
                    let (f, new_tree) = parse(&out.text).expect("the result parses");
                    assert_eq!(f, format);
                    let mut expected = tree.clone();
                    *expected.pointer_mut(pointer).unwrap() = Value::String(intended.clone());
                    assert_eq!(new_tree, expected, "{pointer}: {from:?} → {to:?}");
                    assert_eq!(out.applied[0].before, *value);
                    assert_eq!(out.applied[0].after, intended);
                    // Outside the value's text, every byte is the same.
                    let span = map.locate(pointer).unwrap();
                    let suffix = text.len() - span.range().end;
                    assert_eq!(&out.text[..span.offset], &text[..span.offset]);
                    assert_eq!(
                        &out.text[out.text.len() - suffix..],
                        &text[span.range().end..]
                    );
                }
            }
        }
        assert!(applied > 500, "only {applied} edits applied");
    }
}

/// Truncated and garbled documents, odd pointers and edits: never a panic, and never a change
/// that is not verified.
#[test]
fn odd_inputs_never_panic() {
    let edits = [
        edit("/info/title", "P", "{p}"),
        edit("/info/summary", "line", "l: #"),
        edit("/list/0", "a", ","),
        edit("/plain", "words", "w'\""),
        edit("/workflows/0/steps/0/operationPath", "api#", "{$x}#"),
        edit("", "a", "b"),
        edit("/", "a", "b"),
        edit("/~", "a", "b"),
        edit("/a~2", "a", "b"),
    ];
    let yaml = yaml_doc();
    for text in [JSON_DOC, yaml.as_str(), DOC] {
        let cuts = (0..text.len()).filter(|&i| text.is_char_boundary(i));
        for (n, cut) in cuts.enumerate() {
            let out = apply(&text[..cut], &edits);
            assert_eq!(out.applied.len() + out.skipped.len(), edits.len());
            if n % 7 == 0 {
                for garbage in [
                    "\"", "'", "\\", "\r", "\t", "&a ", "*a ", "|", "#", "\u{feff}",
                ] {
                    let garbled = format!("{}{garbage}{}", &text[..cut], &text[cut..]);
                    let out = apply(&garbled, &edits);
                    if out.text != garbled {
                        assert!(parse(&out.text).is_some());
                    }
                }
            }
        }
    }
    for text in [
        "", "x", "\"x\"", "'", "[", "{}", "[\"a\"]", "- a\n- b", "\u{feff}", "\r\n",
    ] {
        let out = apply(text, &[edit("", "x", "y"), edit("/0", "a", "b")]);
        assert_eq!(out.applied.len() + out.skipped.len(), 2);
    }
    // The whole document as a string.
    assert_eq!(fixed("x y\n", &[edit("", "x", "z")]), "z y\n");
    assert_eq!(fixed("\"x\"", &[edit("", "x", "z")]), "\"z\"");
}

// ---------------------------------------------------------------------------------------------
// Diff

#[test]
fn diff_of_a_small_change() {
    let old = "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\nl\nm\nn\no\np\n";
    let new = old
        .replace("b\n", "B\n")
        .replace("h\n", "H\n")
        .replace("p\n", "P\n");
    assert_eq!(
        diff("docs/x.yaml", old, &new),
        "--- a/docs/x.yaml\n+++ b/docs/x.yaml\n\
         @@ -1,11 +1,11 @@\n a\n-b\n+B\n c\n d\n e\n f\n g\n-h\n+H\n i\n j\n k\n\
         @@ -13,4 +13,4 @@\n m\n n\n o\n-p\n+P\n"
    );
    assert_eq!(diff("x", old, old), "");
    // Changed lines next to each other are one block; a missing final newline is marked.
    assert_eq!(
        diff("x", "1\n2\n3", "1\n2'\n3'"),
        "--- a/x\n+++ b/x\n@@ -1,3 +1,3 @@\n 1\n-2\n-3\n\\ No newline at end of file\n+2'\n+3'\n\\ No newline at end of file\n"
    );
    assert_eq!(
        diff("x", "only", "other"),
        "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-only\n\\ No newline at end of file\n+other\n\\ No newline at end of file\n"
    );
    // Line counts that differ: one hunk over the changed region.
    assert_eq!(
        diff(
            "x",
            "1\n2\n3\n4\n5\n6\n7\n8\n9\n",
            "1\n2\n3\n4\nnew\n5\n6\n7\n8\n9\n"
        ),
        "--- a/x\n+++ b/x\n@@ -2,6 +2,7 @@\n 2\n 3\n 4\n+new\n 5\n 6\n 7\n"
    );
    assert_eq!(
        diff("x", "", "a\n"),
        "--- a/x\n+++ b/x\n@@ -0,0 +1 @@\n+a\n"
    );
}

/// Runs `git apply` in a temporary directory holding `old` at `path`: the patch must pass
/// `--check` and, applied, give `new`.
fn git_applies(path: &str, old: &str, new: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(path);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, old).unwrap();
    let patch = dir.path().join("fix.patch");
    std::fs::write(&patch, diff(path, old, new)).unwrap();
    // `patch` as well, where it is installed.
    if let Ok(run) = std::process::Command::new("patch")
        .args(["-p1", "--dry-run", "-i", "fix.patch"])
        .current_dir(dir.path())
        .output()
    {
        assert!(
            run.status.success(),
            "patch: {}",
            String::from_utf8_lossy(&run.stdout)
        );
    }
    for args in [
        &["apply", "--check", "fix.patch"][..],
        &["apply", "fix.patch"],
    ] {
        let run = std::process::Command::new("git")
            .args(args)
            .current_dir(dir.path())
            .output()
            .expect("git runs");
        assert!(
            run.status.success(),
            "git {args:?}: {}\n{}",
            String::from_utf8_lossy(&run.stderr),
            diff(path, old, new)
        );
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), new);
}

#[test]
fn diff_is_accepted_by_git_apply() {
    let edits = [
        edit(
            "/workflows/0/steps/0/operationPath",
            "api#",
            "{$sourceDescriptions.api.url}#",
        ),
        edit("/workflows/0/outputs/id", "id.x", "id#/x"),
        edit("/arazzo", "1.0.1", "1.0.2"),
    ];
    let new = fixed(DOC, &edits);
    git_applies("workflows/pets.arazzo.yaml", DOC, &new);
    // CRLF, a byte order mark, no final newline.
    let old =
        "\u{feff}a: x\r\nb: 1\r\nc: 2\r\nd: 3\r\ne: 4\r\nf: 5\r\ng: 6\r\nh: 7\r\ni: 8\r\nz: y";
    let new = fixed(old, &[edit("/a", "x", "X"), edit("/z", "y", "Y")]);
    git_applies("crlf.yaml", old, &new);
    // Line counts that differ (not from `apply`, but `diff` takes any texts).
    git_applies("more.txt", "1\n2\n3\n4\n", "1\n2\nnew\n3\n4");
}
