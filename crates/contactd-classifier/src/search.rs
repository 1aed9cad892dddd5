//! `SearchIndex`: ranked, case-insensitive Ukrainian prefix search over codes and titles, for use while the caller talks.
//!
//! The index keeps every title word once per item in one sorted array, so a query word is a
//! binary search plus a scan of the words that start with it; codes are kept in code order, so
//! `22.5` is a binary search plus a scan of `22.5.*`. No allocation per indexed item at query
//! time.

use std::borrow::Borrow;
use std::cmp::Ordering;

use crate::code::ClassifierCode;
use crate::model::Item;

/// How a hit matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MatchKind {
    /// Only title words matched.
    Title,
    /// The query has a code that is an ancestor of this item's code (`22.5` → `22.5.27`).
    CodePrefix,
    /// The query has exactly this code.
    ExactCode,
}

/// One search result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// Position of the item in the sequence given to [`SearchIndex::build`].
    pub index: usize,
    /// The item's code.
    pub code: ClassifierCode,
    /// The best way it matched.
    pub kind: MatchKind,
    /// How many query words matched the start of a title word.
    pub matched_words: u32,
}

#[derive(Debug, Clone)]
struct Entry {
    code: ClassifierCode,
    index: usize,
    title: String,
}

/// Search index over classifier items. Build it once per revision; queries are read-only.
#[derive(Debug, Clone, Default)]
pub struct SearchIndex {
    /// Sorted by code.
    entries: Vec<Entry>,
    /// (normalized word, entry position), sorted; each word once per entry.
    words: Vec<(Box<str>, u32)>,
}

/// Treat every apostrophe Ukrainians type (`'`, `’`, `ʼ`, …) as `'`.
fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '’' | 'ʼ' | '‘' | '`' | '´' | 'ʹ' | '′')
}

/// Lower-cases and splits text into words of letters, digits and apostrophes.
fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        if is_apostrophe(c) {
            if !current.is_empty() {
                current.push('\'');
            }
        } else if c.is_alphanumeric() {
            current.extend(c.to_lowercase());
        } else {
            flush(&mut current, &mut out);
        }
    }
    flush(&mut current, &mut out);
    out
}

fn flush(current: &mut String, out: &mut Vec<String>) {
    let word = current.trim_end_matches('\'');
    if !word.is_empty() {
        out.push(word.to_owned());
    }
    current.clear();
}

/// A query token that looks like a code: digits and dots, starting with a digit.
fn as_code(token: &str) -> Option<ClassifierCode> {
    let t = token.trim_end_matches('.');
    if t.starts_with(|c: char| c.is_ascii_digit())
        && t.chars().all(|c| c.is_ascii_digit() || c == '.')
    {
        ClassifierCode::parse(t).ok()
    } else {
        None
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Score {
    code: Option<MatchKind>,
    words: u32,
    exact_words: u32,
    stamp: u32,
}

impl SearchIndex {
    /// Indexes items (e.g. `classifier.items(revision)` or `&vec_of_items`).
    pub fn build<I>(items: I) -> Self
    where
        I: IntoIterator,
        I::Item: Borrow<Item>,
    {
        let mut entries: Vec<Entry> = items
            .into_iter()
            .enumerate()
            .map(|(index, item)| {
                let item = item.borrow();
                Entry {
                    code: item.code,
                    index,
                    title: item.title.clone(),
                }
            })
            .collect();
        entries.sort_by_key(|e| (e.code, e.index));
        let mut words = Vec::new();
        for (pos, entry) in entries.iter().enumerate() {
            let mut ws = self::words(&entry.title);
            ws.sort();
            ws.dedup();
            let pos = u32::try_from(pos).unwrap_or(u32::MAX);
            words.extend(ws.into_iter().map(|w| (w.into_boxed_str(), pos)));
        }
        words.sort();
        Self { entries, words }
    }

    /// Number of indexed items.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The title of the item a hit points to.
    pub fn title(&self, hit: &Hit) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| e.index == hit.index)
            .map(|e| e.title.as_str())
    }

    /// The best `limit` hits for `query`, best first.
    ///
    /// Ranking: exact code, then code prefix, then title matches; among equals, more query words
    /// matching the start of a title word, then more whole-word matches, then code order.
    pub fn search(&self, query: &str, limit: usize) -> Vec<Hit> {
        if limit == 0 {
            return Vec::new();
        }
        let mut scores = vec![Score::default(); self.entries.len()];
        let mut touched: Vec<u32> = Vec::new();
        let mut stamp = 0u32;
        for token in query.split_whitespace() {
            if let Some(code) = as_code(token) {
                let start = self.entries.partition_point(|e| e.code < code);
                for (pos, entry) in self.entries.iter().enumerate().skip(start) {
                    if !code.covers(&entry.code) {
                        break;
                    }
                    let kind = if entry.code == code {
                        MatchKind::ExactCode
                    } else {
                        MatchKind::CodePrefix
                    };
                    let score = &mut scores[pos];
                    if score.code.is_none() && score.words == 0 {
                        touched.push(u32::try_from(pos).unwrap_or(u32::MAX));
                    }
                    score.code = score.code.max(Some(kind));
                }
                continue;
            }
            for word in words(token) {
                stamp += 1;
                let start = self
                    .words
                    .partition_point(|(w, _)| w.as_ref() < word.as_str());
                for (w, pos) in &self.words[start..] {
                    if !w.starts_with(word.as_str()) {
                        break;
                    }
                    let Some(score) = scores.get_mut(*pos as usize) else {
                        continue;
                    };
                    if score.code.is_none() && score.words == 0 {
                        touched.push(*pos);
                    }
                    if score.stamp != stamp {
                        score.stamp = stamp;
                        score.words += 1;
                    }
                    if w.len() == word.len() {
                        score.exact_words += 1;
                    }
                }
            }
        }
        let rank = |pos: &u32| -> (Option<MatchKind>, u32, u32) {
            let s = scores[*pos as usize];
            (s.code, s.words, s.exact_words)
        };
        let cmp = |a: &u32, b: &u32| -> Ordering { rank(b).cmp(&rank(a)).then(a.cmp(b)) };
        if touched.len() > limit {
            touched.select_nth_unstable_by(limit, cmp);
            touched.truncate(limit);
        }
        touched.sort_unstable_by(cmp);
        touched
            .into_iter()
            .filter_map(|pos| {
                let entry = self.entries.get(pos as usize)?;
                let s = scores[pos as usize];
                Some(Hit {
                    index: entry.index,
                    code: entry.code,
                    kind: s.code.unwrap_or(MatchKind::Title),
                    matched_words: s.words,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Terms;

    fn item(code: &str, title: &str) -> Item {
        Item {
            code: ClassifierCode::parse(code).unwrap(),
            title: title.into(),
            executors: Vec::new(),
            area: None,
            terms: Terms::default(),
        }
    }

    fn index() -> (Vec<Item>, SearchIndex) {
        let items = vec![
            item("22", "Житлово-комунальне господарство"),
            item("22.5", "Водопостачання та водовідведення"),
            item("22.5.1", "Відсутність холодного водопостачання"),
            item("22.5.27", "Порив водопроводу на вулиці"),
            item("22.50", "Інше"),
            item("13.1", "Ремонт доріг і тротуарів"),
            item("13.2", "Ремонт освітлення на дорогах"),
            item("6.6", "Робота м’ясних кіосків та під’їзних шляхів"),
        ];
        let index = SearchIndex::build(&items);
        (items, index)
    }

    fn codes(hits: &[Hit]) -> Vec<String> {
        hits.iter().map(|h| h.code.to_string()).collect()
    }

    #[test]
    fn word_prefix_case_insensitive() {
        let (_, index) = index();
        assert_eq!(
            codes(&index.search("вод", 10)),
            ["22.5", "22.5.1", "22.5.27"]
        );
        assert_eq!(codes(&index.search("ВОДОПОСТ", 10)), ["22.5", "22.5.1"]);
    }

    #[test]
    fn code_prefix_and_exact_code_rank_first() {
        let (_, index) = index();
        let hits = index.search("22.5", 10);
        assert_eq!(
            codes(&hits),
            ["22.5", "22.5.1", "22.5.27"],
            "22.50 is not under 22.5"
        );
        assert_eq!(hits[0].kind, MatchKind::ExactCode);
        assert_eq!(hits[1].kind, MatchKind::CodePrefix);
        let hits = index.search("22.5 порив", 10);
        assert_eq!(codes(&hits), ["22.5", "22.5.27", "22.5.1"]);
    }

    #[test]
    fn more_matched_words_rank_higher() {
        let (_, index) = index();
        let hits = index.search("ремонт дор", 10);
        assert_eq!(codes(&hits), ["13.1", "13.2"]);
        assert_eq!(hits[0].matched_words, 2);
        let hits = index.search("ремонт освітл", 10);
        assert_eq!(codes(&hits), ["13.2", "13.1"]);
    }

    #[test]
    fn apostrophes_alike() {
        let (items, index) = index();
        for q in ["м'ясних", "м’ясн", "мʼяс", "під`їзних"] {
            let hits = index.search(q, 10);
            assert_eq!(codes(&hits), ["6.6"], "{q}");
            assert_eq!(index.title(&hits[0]), Some(items[7].title.as_str()));
        }
    }

    #[test]
    fn limit_and_empty() {
        let (_, index) = index();
        assert_eq!(index.search("вод", 2).len(), 2);
        assert!(index.search("", 10).is_empty());
        assert!(index.search("вод", 0).is_empty());
        assert!(index.search("жирафа", 10).is_empty());
    }
}
