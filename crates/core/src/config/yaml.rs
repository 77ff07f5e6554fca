//! YAML text to JSON values, remembering where every value came from so that any error found
//! later — by serde or by validation — can name its line and column.

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
pub type Positions = HashMap<String, Position>;

#[derive(Debug)]
pub struct SyntaxError {
    pub position: Position,
    pub message: String,
}

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

struct Builder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, Value>,
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
        if self.error.is_none() {
            self.error = Some(SyntaxError {
                position: position(mark),
                message,
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
            self.anchors.insert(anchor, value.clone());
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
                match self.anchors.get(&id).cloned() {
                    Some(v) => {
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
pub fn parse(text: &str) -> Result<(Value, Positions), SyntaxError> {
    let mut builder = Builder {
        stack: Vec::new(),
        anchors: HashMap::new(),
        positions: HashMap::new(),
        documents: Vec::new(),
        error: None,
    };
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut builder, true) {
        return Err(SyntaxError {
            position: position(e.marker()),
            message: format!("this is not valid YAML: {}", e.info()),
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

    #[test]
    fn versions_that_look_like_numbers_stay_what_they_are() {
        let (v, _) = parse("a: 1.0.0\nb: 1.10\nc: '1.10'\n").unwrap();
        assert_eq!(v["a"], "1.0.0");
        assert!(v["b"].is_f64());
        assert_eq!(v["c"], "1.10");
    }
}
