//! YAML text to JSON values, remembering where every value came from so that any error found
//! later — by serde or by validation — can name its line and column.
//!
//! The text comes from outside (any signed-in user may ask the server to validate a file), so
//! the tree it builds is bounded: nesting stops at [`MAX_DEPTH`], and anchors and aliases — which
//! copy a whole subtree per use and so grow exponentially when nested ("billion laughs") — may
//! add at most [`MAX_ALIAS_EXPANSION`] to it. A bomb is refused as soon as it passes the bound,
//! before it has cost more than that.

use std::collections::HashMap;

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Line and column, both 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// Where each path (`project.plan.steps[2].action`) starts in the text. Map entries point at
/// their key, sequence items at the item.
pub(super) type Positions = HashMap<String, Position>;

#[derive(Debug)]
pub(crate) struct SyntaxError {
    pub position: Position,
    pub message: String,
    /// What to do about it.
    pub hint: &'static str,
}

const HINT_SYNTAX: &str = "check indentation and that every `[`, `{` and quote is closed";
const HINT_BOUNDS: &str =
    "a configuration file needs neither deep nesting nor aliases of aliases; \
     write the shared part once and refer to it from fewer places";

enum Frame {
    Seq {
        path: String,
        items: Vec<Value>,
        anchor: usize,
    },
    Map {
        path: String,
        map: Map<String, Value>,
        key: Option<String>,
        anchor: usize,
    },
}

/// How deep mappings and sequences may nest. Real configuration files nest fewer than ten levels;
/// the bound keeps the recursive walks over the tree (serde, drop) far from the stack's end.
pub(crate) const MAX_DEPTH: usize = 64;

/// How much all aliases of a file may copy together, in [`weight`] units (one per node plus the
/// length of every string and key: about a byte each). A file that shares a few step lists
/// stays far below; a nested alias bomb passes it after a few doublings.
pub(crate) const MAX_ALIAS_EXPANSION: usize = 1 << 20;

struct Builder {
    stack: Vec<Frame>,
    /// Each anchored value with its [`weight`], computed once when the anchor closes.
    anchors: HashMap<usize, (Value, usize)>,
    /// The weight every alias so far has copied.
    expanded: usize,
    positions: Positions,
    documents: Vec<Value>,
    error: Option<SyntaxError>,
}

fn position(mark: &Marker) -> Position {
    Position {
        line: mark.line(),
        column: mark.col() + 1,
    }
}

fn child_path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

impl Builder {
    fn fail(&mut self, mark: &Marker, message: String) {
        self.fail_with(mark, message, HINT_SYNTAX);
    }

    /// Refuse a file that passes the loader's bounds: a bomb, not a typo.
    fn fail_bounds(&mut self, mark: &Marker, message: String) {
        self.fail_with(mark, message, HINT_BOUNDS);
    }

    fn fail_with(&mut self, mark: &Marker, message: String, hint: &'static str) {
        if self.error.is_none() {
            self.error = Some(SyntaxError {
                position: position(mark),
                message,
                hint,
            });
        }
    }

    /// The path the next value will have, or `None` when a map is waiting for its key.
    fn next_path(&self) -> Option<String> {
        match self.stack.last() {
            None => Some(String::new()),
            Some(Frame::Seq { path, items, .. }) => Some(format!("{path}[{}]", items.len())),
            Some(Frame::Map {
                path, key: Some(k), ..
            }) => Some(child_path(path, k)),
            Some(Frame::Map { key: None, .. }) => None,
        }
    }

    fn attach(&mut self, value: Value, anchor: usize, mark: &Marker) {
        if anchor > 0 {
            self.anchors.insert(anchor, (value.clone(), weight(&value)));
        }
        match self.stack.last_mut() {
            None => self.documents.push(value),
            Some(Frame::Seq { items, .. }) => items.push(value),
            Some(Frame::Map { map, key, .. }) => {
                let k = key.take().expect("attach is only called once a key is set");
                if map.insert(k.clone(), value).is_some() {
                    self.fail(
                        mark,
                        format!("the key `{k}` appears twice in the same mapping; keep one"),
                    );
                }
            }
        }
    }

    fn record(&mut self, mark: &Marker) -> Option<String> {
        let path = self.next_path();
        if let Some(p) = &path {
            if !matches!(self.stack.last(), Some(Frame::Map { .. })) {
                self.positions.entry(p.clone()).or_insert(position(mark));
            }
        }
        path
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        match event {
            Event::Scalar(text, style, anchor, _tag) => {
                if let Some(Frame::Map {
                    path,
                    key: key @ None,
                    ..
                }) = self.stack.last_mut()
                {
                    let key_path = child_path(path, &text);
                    *key = Some(text);
                    self.positions.entry(key_path).or_insert(position(&mark));
                    return;
                }
                self.record(&mark);
                self.attach(scalar(text, style), anchor, &mark);
            }
            Event::Alias(id) => {
                if matches!(self.stack.last(), Some(Frame::Map { key: None, .. })) {
                    return self.fail(&mark, "an alias cannot be used as a mapping key".into());
                }
                match self.anchors.get(&id) {
                    Some((_, w)) if self.expanded + w > MAX_ALIAS_EXPANSION => self.fail_bounds(
                        &mark,
                        format!(
                            "the aliases of this file expand to more than {MAX_ALIAS_EXPANSION} \
                             nodes and characters (each alias copies its anchor's whole subtree, \
                             so aliases of aliases grow exponentially)"
                        ),
                    ),
                    Some((v, w)) => {
                        self.expanded += w;
                        let v = v.clone();
                        self.record(&mark);
                        self.attach(v, 0, &mark);
                    }
                    None => self.fail(
                        &mark,
                        "this alias refers to an anchor that is not defined before it".into(),
                    ),
                }
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                let Some(path) = self.record(&mark) else {
                    return self.fail(
                        &mark,
                        "a mapping key must be a plain name, not a list or a mapping".into(),
                    );
                };
                if self.stack.len() >= MAX_DEPTH {
                    return self.fail_bounds(
                        &mark,
                        format!("lists and mappings nest more than {MAX_DEPTH} levels deep here"),
                    );
                }
                if matches!(event, Event::SequenceStart(..)) {
                    self.stack.push(Frame::Seq {
                        path,
                        items: Vec::new(),
                        anchor,
                    });
                } else {
                    self.stack.push(Frame::Map {
                        path,
                        map: Map::new(),
                        key: None,
                        anchor,
                    });
                }
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (value, anchor) = match self.stack.pop() {
                    Some(Frame::Seq { items, anchor, .. }) => (Value::Array(items), anchor),
                    Some(Frame::Map { map, anchor, .. }) => (Value::Object(map), anchor),
                    None => return,
                };
                self.attach(value, anchor, &mark);
            }
            _ => {}
        }
    }
}

/// The size a value adds to the tree: one per node, plus the length of every string and key.
/// Recursion is bounded by [`MAX_DEPTH`].
fn weight(value: &Value) -> usize {
    match value {
        Value::String(s) => 1 + s.len(),
        Value::Array(items) => 1 + items.iter().map(weight).sum::<usize>(),
        Value::Object(map) => 1 + map.iter().map(|(k, v)| k.len() + weight(v)).sum::<usize>(),
        Value::Null | Value::Bool(_) | Value::Number(_) => 1,
    }
}

/// YAML 1.2 core-schema resolution of an unquoted scalar; quoted scalars stay strings.
fn scalar(text: String, style: TScalarStyle) -> Value {
    if style != TScalarStyle::Plain {
        return Value::String(text);
    }
    match text.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let looks_numeric = text
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'))
        && text.bytes().any(|b| b.is_ascii_digit());
    if looks_numeric {
        if let Ok(i) = text.parse::<i64>() {
            return Value::Number(i.into());
        }
        if let Some(n) = text.parse::<f64>().ok().and_then(Number::from_f64) {
            return Value::Number(n);
        }
    }
    Value::String(text)
}

/// Parse one YAML document. An empty text is an empty mapping.
pub(crate) fn parse(text: &str) -> Result<(Value, Positions), SyntaxError> {
    let mut builder = Builder {
        stack: Vec::new(),
        anchors: HashMap::new(),
        expanded: 0,
        positions: HashMap::new(),
        documents: Vec::new(),
        error: None,
    };
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut builder, true) {
        return Err(SyntaxError {
            position: position(e.marker()),
            message: format!("this is not valid YAML: {}", e.info()),
            hint: HINT_SYNTAX,
        });
    }
    if let Some(e) = builder.error {
        return Err(e);
    }
    match builder.documents.len() {
        0 => Ok((Value::Object(Map::new()), builder.positions)),
        1 => Ok((builder.documents.remove(0), builder.positions)),
        _ => Err(SyntaxError {
            position: Position { line: 1, column: 1 },
            message:
                "this file holds several YAML documents (`---`); put each project in its own file"
                    .into(),
            hint: "keep one document per file",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_positions() {
        let (v, pos) = parse("a: 1\nb:\n  - x: true\n    y: '2'\n  - 3.5\nc: ~\n").unwrap();
        assert_eq!(
            v,
            serde_json::json!({"a": 1, "b": [{"x": true, "y": "2"}, 3.5], "c": null})
        );
        assert_eq!(pos["a"], Position { line: 1, column: 1 });
        assert_eq!(pos["b[0].y"], Position { line: 4, column: 5 });
        assert_eq!(pos["b[1]"].line, 5);
    }

    #[test]
    fn duplicate_keys_are_refused_with_their_line() {
        let err = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert!(err.message.contains("`a` appears twice"));
        assert_eq!(err.position.line, 3);
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.position.line >= 1);
        assert!(err.message.contains("not valid YAML"));
    }

    #[test]
    fn anchors_and_aliases_expand() {
        let (v, _) = parse("base: &b {x: 1}\ncopy: *b\n").unwrap();
        assert_eq!(v["copy"], serde_json::json!({"x": 1}));
    }

    /// The "billion laughs" of YAML: each level holds nine aliases of the one before.
    fn alias_bomb(levels: usize) -> String {
        let mut text = String::from("a0: &a0 [\"lol\"]\n");
        for i in 1..=levels {
            let refs = vec![format!("*a{}", i - 1); 9].join(",");
            text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        text
    }

    #[test]
    fn a_nested_alias_bomb_is_refused_with_its_line() {
        let text = alias_bomb(9);
        assert!(text.len() < 600, "the bomb fits in {} bytes", text.len());
        let err = parse(&text).unwrap_err();
        assert!(
            err.message.contains("aliases of this file expand"),
            "{}",
            err.message
        );
        assert!(err.position.line > 1 && err.position.line <= 10);
    }

    #[test]
    fn many_small_aliases_are_bounded_too() {
        let mut text = String::from("s: &s \"0123456789012345678901234567890123456789\"\nl:\n");
        text.push_str(&"  - *s\n".repeat(40_000));
        let err = parse(&text).unwrap_err();
        assert!(err.message.contains("aliases of this file expand"));
    }

    #[test]
    fn shared_step_lists_stay_well_within_the_bound() {
        let mut text = String::from("common: &c\n");
        for i in 0..50 {
            text.push_str(&format!(
                "  - {{name: step{i}, action: shell.exec, with: {{cmd: run}}}}\n"
            ));
        }
        for i in 0..100 {
            text.push_str(&format!("copy{i}: *c\n"));
        }
        let (v, _) = parse(&text).unwrap();
        assert_eq!(v["copy99"].as_array().map(Vec::len), Some(50));
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        for (open, close) in [("[", "]"), ("{a: ", "}")] {
            let text = format!("{}1{}", open.repeat(100_000), close.repeat(100_000));
            let err = parse(&text).unwrap_err();
            assert!(
                err.message.contains("nest more than") || err.message.contains("not valid YAML"),
                "{}",
                err.message
            );
        }
        let mut block = String::new();
        for depth in 0..200 {
            block.push_str(&format!("{}k{depth}:\n", " ".repeat(depth)));
        }
        let err = parse(&block).unwrap_err();
        assert!(err.message.contains("nest more than"), "{}", err.message);
    }

    #[test]
    fn a_huge_line_parses_in_one_piece() {
        let text = format!("a: {}\n", "x".repeat(8 << 20));
        let (v, _) = parse(&text).unwrap();
        assert_eq!(v["a"].as_str().map(str::len), Some(8 << 20));
    }

    #[test]
    fn versions_that_look_like_numbers_stay_what_they_are() {
        let (v, _) = parse("a: 1.0.0\nb: 1.10\nc: '1.10'\n").unwrap();
        assert_eq!(v["a"], "1.0.0");
        assert!(v["b"].is_f64());
        assert_eq!(v["c"], "1.10");
    }
}
