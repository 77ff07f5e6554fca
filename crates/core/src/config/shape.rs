//! Reading on past a shape error: the list item that holds it is cut from the value, and the
//! indices of later errors are mapped back to the original text, so that every error of a file
//! is reported at its own line.

use std::collections::BTreeMap;

use serde_json::Value;

/// One step of a path as serde_path_to_error prints it (`project.plan[2].with`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
}

fn segments(path: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            out.push(Segment::Key(key.to_string()));
        }
        while let Some(inner) = rest.strip_prefix('[') {
            let Some(end) = inner.find(']') else { break };
            match inner[..end].parse() {
                Ok(i) => out.push(Segment::Index(i)),
                Err(_) => out.push(Segment::Key(inner[..end].to_string())),
            }
            rest = &inner[end + 1..];
        }
    }
    out
}

fn render(segments: &[Segment]) -> String {
    let mut out = String::new();
    for s in segments {
        match s {
            Segment::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Segment::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// The list items cut so far, by the original path of their list, as original indices.
#[derive(Debug, Default)]
pub(super) struct Cuts {
    removed: BTreeMap<String, Vec<usize>>,
}

impl Cuts {
    /// `current` (a path in the value as cut) as a path in the original text.
    pub(super) fn original(&self, current: &str) -> String {
        render(&self.original_segments(&segments(current)))
    }

    fn original_segments(&self, current: &[Segment]) -> Vec<Segment> {
        let mut out: Vec<Segment> = Vec::new();
        for s in current {
            match s {
                Segment::Index(i) => {
                    let list = render(&out);
                    let mut index = *i;
                    if let Some(removed) = self.removed.get(&list) {
                        // `removed` is sorted: each cut at or before the index shifts it on.
                        for r in removed {
                            if *r <= index {
                                index += 1;
                            }
                        }
                    }
                    out.push(Segment::Index(index));
                }
                key => out.push(key.clone()),
            }
        }
        out
    }

    /// Cut the innermost list item on `current` from `value`; false when the path holds no list
    /// item (the error cannot be stepped over).
    pub(super) fn cut_item(&mut self, value: &mut Value, current: &str) -> bool {
        let path = segments(current);
        let Some(last) = path.iter().rposition(|s| matches!(s, Segment::Index(_))) else {
            return false;
        };
        let (list_path, index) = (&path[..last], &path[last]);
        let Segment::Index(index) = *index else {
            return false;
        };
        let mut target = &mut *value;
        for s in list_path {
            let next = match (s, target) {
                (Segment::Key(k), Value::Object(map)) => map.get_mut(k),
                (Segment::Index(i), Value::Array(items)) => items.get_mut(*i),
                _ => None,
            };
            let Some(next) = next else { return false };
            target = next;
        }
        let Value::Array(items) = target else {
            return false;
        };
        if index >= items.len() {
            return false;
        }
        items.remove(index);
        let original = self.original_segments(&path[..=last]);
        let Some((Segment::Index(original_index), list)) = original.split_last() else {
            return false;
        };
        let removed = self.removed.entry(render(list)).or_default();
        removed.push(*original_index);
        removed.sort_unstable();
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_read_and_print_back() {
        for path in ["project.plan[2].with", "environments[0]", "a[1][2].b", ""] {
            assert_eq!(render(&segments(path)), path);
        }
    }

    #[test]
    fn later_indices_map_back_past_every_cut() {
        let mut value = serde_json::json!({ "l": [0, 1, 2, 3, 4, 5] });
        let mut cuts = Cuts::default();
        assert!(cuts.cut_item(&mut value, "l[1]"));
        // Original 3 is now at 2.
        assert_eq!(cuts.original("l[2]"), "l[3]");
        assert!(cuts.cut_item(&mut value, "l[2]"));
        assert_eq!(value, serde_json::json!({ "l": [0, 2, 4, 5] }));
        assert_eq!(cuts.original("l[0]"), "l[0]");
        assert_eq!(cuts.original("l[1]"), "l[2]");
        assert_eq!(cuts.original("l[2]"), "l[4]");
        assert_eq!(cuts.original("m[2]"), "m[2]");
    }

    #[test]
    fn a_path_without_a_list_item_cannot_be_cut() {
        let mut value = serde_json::json!({ "project": { "name": 3 } });
        assert!(!Cuts::default().cut_item(&mut value, "project.name"));
        assert!(!Cuts::default().cut_item(&mut value, "project.nothing[4]"));
    }
}
