//! Structure rules of one revision of the classifier: parents exist, leaves are complete.

use std::collections::BTreeMap;
use std::ops::Bound;

use crate::code::{ClassifierCode, Level};
use crate::model::Item;
use crate::report::{ProblemKind, Report};

/// True if some other code in `items` lies under `code`.
pub(crate) fn has_children<V>(items: &BTreeMap<ClassifierCode, V>, code: ClassifierCode) -> bool {
    items
        .range((Bound::Excluded(code), Bound::Unbounded))
        .next()
        .is_some_and(|(next, _)| code.covers(next))
}

/// The area of `code`: its own, else its nearest ancestor's.
pub(crate) fn area<'a>(
    items: &BTreeMap<ClassifierCode, &'a Item>,
    code: ClassifierCode,
) -> Option<&'a str> {
    area_by(code, |c| items.get(&c).copied())
}

/// The area of `code`, with `item` giving the item of a code: its own, else its nearest
/// ancestor's.
pub(crate) fn area_by<'a>(
    code: ClassifierCode,
    item: impl Fn(ClassifierCode) -> Option<&'a Item>,
) -> Option<&'a str> {
    let mut at = Some(code);
    while let Some(c) = at {
        if let Some(area) = item(c).and_then(|i| i.area.as_deref()) {
            return Some(area);
        }
        at = c.parent();
    }
    None
}

/// Checks a whole revision: every parent present, leaves with terms, executors and an area,
/// groups (sections, items with sub-items) without terms or executors.
pub(crate) fn validate(
    items: &BTreeMap<ClassifierCode, &Item>,
    line_of: &dyn Fn(ClassifierCode) -> Option<usize>,
    report: &mut Report,
) {
    for (code, item) in items {
        let line = line_of(*code);
        if let Some(parent) = code.parent() {
            if !items.contains_key(&parent) {
                report.push(
                    line,
                    ProblemKind::MissingParent {
                        code: *code,
                        parent,
                    },
                );
            }
        }
        let leaf = code.level() != Level::Section && !has_children(items, *code);
        if leaf {
            if item.terms.is_empty() {
                report.push(line, ProblemKind::LeafWithoutTerm { code: *code });
            }
            if item.executors.is_empty() {
                report.push(line, ProblemKind::LeafWithoutExecutor { code: *code });
            }
            if area(items, *code).is_none() {
                report.push(line, ProblemKind::LeafWithoutArea { code: *code });
            }
        } else if !item.terms.is_empty() || !item.executors.is_empty() {
            report.push(line, ProblemKind::GroupWithTerms { code: *code });
        }
    }
}
