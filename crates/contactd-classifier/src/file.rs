//! Classifier files: the CSV and TOML formats, read into a [`ClassifierFile`] or a [`Report`].
//!
//! Both formats carry the same rows; see the crate README for the full description.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use chrono::NaiveDate;

use crate::code::{ClassifierCode, Level};
use crate::model::{ExecutorCode, ExecutorUnit, Item, RequestType, Revision, Term, Terms};
use crate::report::{ProblemKind, Report};
use crate::tree;

/// File format of a classifier file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// UTF-8 CSV with a header; see the README.
    Csv,
    /// TOML with `[[executor]]` and `[[item]]` tables; see the README.
    Toml,
}

impl Format {
    /// The format named by a file's extension (`.csv` or `.toml`, any case).
    pub fn from_path(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(Format::Csv),
            "toml" => Some(Format::Toml),
            _ => None,
        }
    }
}

/// Whether a file is a whole classifier or one decision's changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A whole classifier: every row is added.
    Base,
    /// Changes made by one decision: rows are added, reworded or retired.
    Amendment,
}

/// A value and the 1-based line it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located<T> {
    /// 1-based line in the file.
    pub line: usize,
    /// The value.
    pub value: T,
}

/// One row of a classifier file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A new row (every row of a base file).
    Add(Item),
    /// A new wording of an existing row: it replaces title, executors, area and terms.
    Reword(Item),
    /// The row is retired: no new requests are filed under it; old requests keep it.
    Retire(ClassifierCode),
}

impl Change {
    /// The code the change is about.
    pub fn code(&self) -> ClassifierCode {
        match self {
            Change::Add(item) | Change::Reword(item) => item.code,
            Change::Retire(code) => *code,
        }
    }

    /// The new wording, unless the row is retired.
    pub fn item(&self) -> Option<&Item> {
        match self {
            Change::Add(item) | Change::Reword(item) => Some(item),
            Change::Retire(_) => None,
        }
    }
}

/// A classifier file that passed [`check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassifierFile {
    /// Base or amendment.
    pub kind: FileKind,
    /// The decision the file states (TOML `decision_no`/`decision_date`/`effective_date`), if any.
    pub declared: Option<Revision>,
    /// Executor units the file declares.
    pub executors: Vec<Located<ExecutorUnit>>,
    /// The rows, in file order.
    pub rows: Vec<Located<Change>>,
}

/// Parses a classifier file; every problem is reported, each with its line.
pub fn parse(contents: &str, format: Format) -> Result<ClassifierFile, Report> {
    let mut report = Report::default();
    let contents = contents.strip_prefix('\u{feff}').unwrap_or(contents);
    let raw = match format {
        Format::Csv => read_csv(contents, &mut report),
        Format::Toml => read_toml(contents, &mut report),
    };
    let file = match raw {
        Some(raw) => build(raw, &mut report),
        None => None,
    };
    match file {
        Some(file) => report.into_result(file),
        None => {
            report.sort();
            Err(report)
        }
    }
}

/// Checks a classifier file on its own (no database, no configuration) and returns every problem.
pub fn check(contents: &str, format: Format) -> Report {
    match parse(contents, format) {
        Ok(_) => Report::default(),
        Err(report) => report,
    }
}

/// Reads and parses a file; the format comes from its extension.
pub fn load_file(path: &Path) -> Result<ClassifierFile, Report> {
    let with_path = |mut report: Report| {
        report.path = Some(path.to_path_buf());
        report
    };
    let Some(format) = Format::from_path(path) else {
        let mut report = Report::default();
        report.push(None, ProblemKind::UnknownFormat);
        return Err(with_path(report));
    };
    let contents = std::fs::read_to_string(path).map_err(|e| {
        let mut report = Report::default();
        report.push(None, ProblemKind::Io(e.to_string()));
        with_path(report)
    })?;
    parse(&contents, format).map_err(with_path)
}

/// [`load_file`] for `contactd classifier check FILE`: an empty report means the file is fine.
pub fn check_file(path: &Path) -> Report {
    match load_file(path) {
        Ok(_) => Report {
            path: Some(path.to_path_buf()),
            problems: Vec::new(),
        },
        Err(report) => report,
    }
}

// ---------------------------------------------------------------------------------------------
// The format-neutral raw rows both readers produce.

#[derive(Debug, Clone)]
struct Cell {
    text: String,
    line: usize,
}

#[derive(Debug, Default)]
struct RawRow {
    line: usize,
    action: Option<Cell>,
    code: Option<Cell>,
    title: Option<Cell>,
    executors: Vec<Cell>,
    area: Option<Cell>,
    terms: Vec<(RequestType, Cell)>,
    /// Fields present but of the wrong type (already reported; not "missing").
    bad: Vec<&'static str>,
}

#[derive(Debug)]
struct RawExecutor {
    line: usize,
    code: Option<Cell>,
    name: Option<Cell>,
}

#[derive(Debug)]
struct RawFile {
    kind: FileKind,
    declared: Option<Revision>,
    executors: Vec<RawExecutor>,
    rows: Vec<RawRow>,
}

fn cell(text: &str, line: usize) -> Option<Cell> {
    let text = text.trim();
    (!text.is_empty()).then(|| Cell {
        text: text.to_owned(),
        line,
    })
}

// ---------------------------------------------------------------------------------------------
// CSV

const CSV_COLUMNS: [&str; 10] = [
    "record",
    "action",
    "code",
    "title",
    "executors",
    "area",
    "emergency",
    "ordinary",
    "medium",
    "long",
];

fn read_csv(contents: &str, report: &mut Report) -> Option<RawFile> {
    let header_line = contents
        .lines()
        .position(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map_or(1, |i| i + 1);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .from_reader(contents.as_bytes());
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            report.push(Some(header_line), ProblemKind::Csv(e.to_string()));
            return None;
        }
    };
    let mut column: BTreeMap<&'static str, usize> = BTreeMap::new();
    for (i, name) in headers.iter().enumerate() {
        let lower = name.to_ascii_lowercase();
        match CSV_COLUMNS.iter().find(|c| **c == lower) {
            Some(known) => {
                if column.insert(known, i).is_some() {
                    report.push(Some(header_line), ProblemKind::DuplicateColumn(lower));
                }
            }
            None => report.push(
                Some(header_line),
                ProblemKind::UnknownColumn(name.to_owned()),
            ),
        }
    }
    let mut header_ok = true;
    for required in ["record", "code", "title"] {
        if !column.contains_key(required) {
            report.push(Some(header_line), ProblemKind::MissingColumn(required));
            header_ok = false;
        }
    }
    if !header_ok {
        return None;
    }
    let kind = if column.contains_key("action") {
        FileKind::Amendment
    } else {
        FileKind::Base
    };
    let mut raw = RawFile {
        kind,
        declared: None,
        executors: Vec::new(),
        rows: Vec::new(),
    };
    for result in reader.records() {
        let record = match result {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| p.line() as usize);
                report.push(line, ProblemKind::Csv(e.to_string()));
                if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                    break;
                }
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line() as usize);
        if record.iter().all(|f| f.is_empty()) {
            continue;
        }
        if record.len() != headers.len() {
            report.push(
                Some(line),
                ProblemKind::FieldCount {
                    expected: headers.len(),
                    found: record.len(),
                },
            );
        }
        let get = |name: &str| {
            column
                .get(name)
                .and_then(|i| record.get(*i))
                .and_then(|t| cell(t, line))
        };
        match get("record")
            .map(|c| c.text.to_ascii_lowercase())
            .as_deref()
        {
            Some("executor") => {
                for other in CSV_COLUMNS
                    .iter()
                    .filter(|c| !["record", "code", "title"].contains(c))
                {
                    if get(other).is_some() {
                        report.push(
                            Some(line),
                            ProblemKind::NotAllowed {
                                field: other,
                                why: "an executor record has only `code` and `title` (the unit's name)",
                            },
                        );
                    }
                }
                raw.executors.push(RawExecutor {
                    line,
                    code: get("code"),
                    name: get("title"),
                });
            }
            Some("item") => {
                let executors = get("executors")
                    .map(|c| c.text.split(';').filter_map(|t| cell(t, line)).collect())
                    .unwrap_or_default();
                let terms = RequestType::ALL
                    .into_iter()
                    .filter_map(|t| get(t.key()).map(|c| (t, c)))
                    .collect();
                raw.rows.push(RawRow {
                    line,
                    action: get("action"),
                    code: get("code"),
                    title: get("title"),
                    executors,
                    area: get("area"),
                    terms,
                    bad: Vec::new(),
                });
            }
            Some(other) => report.push(Some(line), ProblemKind::UnknownRecord(other.to_owned())),
            None => report.push(Some(line), ProblemKind::Missing("record")),
        }
    }
    Some(raw)
}

// ---------------------------------------------------------------------------------------------
// TOML

type TomlTable = BTreeMap<String, toml::Spanned<toml::Value>>;

#[derive(serde::Deserialize)]
struct TomlLists {
    #[serde(default)]
    executor: Vec<toml::Spanned<TomlTable>>,
    #[serde(default)]
    item: Vec<toml::Spanned<TomlTable>>,
}

fn line_at(src: &str, offset: usize) -> usize {
    src.get(..offset)
        .unwrap_or(src)
        .bytes()
        .filter(|b| *b == b'\n')
        .count()
        + 1
}

fn toml_error(src: &str, e: &toml::de::Error, report: &mut Report) {
    let line = e.span().map(|s| line_at(src, s.start));
    report.push(line, ProblemKind::Toml(e.message().trim().to_owned()));
}

struct TomlCtx<'a> {
    src: &'a str,
}

impl TomlCtx<'_> {
    fn line(&self, v: &toml::Spanned<toml::Value>) -> usize {
        line_at(self.src, v.span().start)
    }

    fn string(
        &self,
        table: &TomlTable,
        key: &'static str,
        expected: &'static str,
        report: &mut Report,
    ) -> Option<Cell> {
        self.string_or_bad(table, key, expected, report, &mut Vec::new())
    }

    fn string_or_bad(
        &self,
        table: &TomlTable,
        key: &'static str,
        expected: &'static str,
        report: &mut Report,
        bad: &mut Vec<&'static str>,
    ) -> Option<Cell> {
        let v = table.get(key)?;
        let line = self.line(v);
        match v.get_ref() {
            toml::Value::String(s) => cell(s, line),
            _ => {
                bad.push(key);
                report.push(
                    Some(line),
                    ProblemKind::WrongType {
                        key: key.to_owned(),
                        expected,
                    },
                );
                None
            }
        }
    }

    fn unknown_keys(
        &self,
        table: &TomlTable,
        known: &[&str],
        place: &'static str,
        report: &mut Report,
    ) {
        for (key, v) in table {
            if !known.contains(&key.as_str()) {
                report.push(
                    Some(self.line(v)),
                    ProblemKind::UnknownKey {
                        place,
                        key: key.clone(),
                    },
                );
            }
        }
    }
}

fn toml_date(
    v: &toml::Spanned<toml::Value>,
    key: &'static str,
    ctx: &TomlCtx<'_>,
    report: &mut Report,
) -> Option<NaiveDate> {
    let text = match v.get_ref() {
        toml::Value::String(s) => s.clone(),
        toml::Value::Datetime(d) => d.to_string(),
        other => other.to_string(),
    };
    match NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d") {
        Ok(d) => Some(d),
        Err(_) => {
            report.push(Some(ctx.line(v)), ProblemKind::BadDate { key, text });
            None
        }
    }
}

const TOML_TOP_KEYS: [&str; 6] = [
    "kind",
    "decision_no",
    "decision_date",
    "effective_date",
    "executor",
    "item",
];
const TOML_ITEM_KEYS: [&str; 9] = [
    "action",
    "code",
    "title",
    "executors",
    "area",
    "emergency",
    "ordinary",
    "medium",
    "long",
];

fn read_toml(src: &str, report: &mut Report) -> Option<RawFile> {
    let top: TomlTable = match toml::from_str(src) {
        Ok(t) => t,
        Err(e) => {
            toml_error(src, &e, report);
            return None;
        }
    };
    let lists: TomlLists = match toml::from_str(src) {
        Ok(l) => l,
        Err(e) => {
            toml_error(src, &e, report);
            return None;
        }
    };
    let ctx = TomlCtx { src };
    ctx.unknown_keys(&top, &TOML_TOP_KEYS, "the file", report);

    let kind = match ctx.string(&top, "kind", "a string: \"base\" or \"amendment\"", report) {
        None => FileKind::Base,
        Some(c) => match c.text.as_str() {
            "base" => FileKind::Base,
            "amendment" => FileKind::Amendment,
            other => {
                report.push(Some(c.line), ProblemKind::BadKind(other.to_owned()));
                FileKind::Base
            }
        },
    };

    let decision_no = top.get("decision_no").and_then(|v| match v.get_ref() {
        toml::Value::Integer(n) if *n > 0 => u32::try_from(*n).ok(),
        other => {
            report.push(
                Some(ctx.line(v)),
                ProblemKind::BadNumber {
                    key: "decision_no",
                    text: other.to_string(),
                },
            );
            None
        }
    });
    let decision_date = top
        .get("decision_date")
        .and_then(|v| toml_date(v, "decision_date", &ctx, report));
    let effective_date = top
        .get("effective_date")
        .and_then(|v| toml_date(v, "effective_date", &ctx, report));
    let declared = match (decision_no, decision_date) {
        (Some(no), Some(date)) => Some(Revision {
            decision_no: no,
            decision_date: date,
            effective_date: effective_date.unwrap_or(date),
        }),
        (Some(_), None) if !top.contains_key("decision_date") => {
            report.push(None, ProblemKind::Missing("decision_date"));
            None
        }
        (None, Some(_)) if !top.contains_key("decision_no") => {
            report.push(None, ProblemKind::Missing("decision_no"));
            None
        }
        _ => None,
    };

    let executors = lists
        .executor
        .iter()
        .map(|t| {
            let line = line_at(src, t.span().start);
            let table = t.get_ref();
            ctx.unknown_keys(table, &["code", "name"], "[[executor]]", report);
            RawExecutor {
                line,
                code: ctx.string(table, "code", "a string, e.g. code = \"DZHKG\"", report),
                name: ctx.string(table, "name", "a string: the unit's Ukrainian name", report),
            }
        })
        .collect();

    let rows = lists
        .item
        .iter()
        .map(|t| {
            let line = line_at(src, t.span().start);
            let table = t.get_ref();
            ctx.unknown_keys(table, &TOML_ITEM_KEYS, "[[item]]", report);
            let mut executors = Vec::new();
            if let Some(v) = table.get("executors") {
                let vline = ctx.line(v);
                let expected = "a list of executor unit codes, e.g. executors = [\"DZHKG\"]";
                match v.get_ref() {
                    toml::Value::Array(list) => {
                        for e in list {
                            match e {
                                toml::Value::String(s) => executors.extend(cell(s, vline)),
                                _ => report.push(
                                    Some(vline),
                                    ProblemKind::WrongType {
                                        key: "executors".into(),
                                        expected,
                                    },
                                ),
                            }
                        }
                    }
                    _ => report.push(
                        Some(vline),
                        ProblemKind::WrongType {
                            key: "executors".into(),
                            expected,
                        },
                    ),
                }
            }
            let terms = RequestType::ALL
                .into_iter()
                .filter_map(|rt| {
                    ctx.string(
                        table,
                        rt.key(),
                        "a string such as \"24h\", \"10wd\" or \"30cd\"",
                        report,
                    )
                    .map(|c| (rt, c))
                })
                .collect();
            let mut bad = Vec::new();
            let action = ctx.string_or_bad(
                table,
                "action",
                "a string: \"add\", \"reword\" or \"retire\"",
                report,
                &mut bad,
            );
            let code = ctx.string_or_bad(
                table,
                "code",
                "a string in quotes, e.g. code = \"22.5\" (an unquoted 22.5 is a number)",
                report,
                &mut bad,
            );
            let title = ctx.string_or_bad(
                table,
                "title",
                "a string: the Ukrainian title",
                report,
                &mut bad,
            );
            let area = ctx.string_or_bad(
                table,
                "area",
                "a string, e.g. area = \"housing\"",
                report,
                &mut bad,
            );
            RawRow {
                line: code.as_ref().map_or(line, |c| c.line),
                action,
                code,
                title,
                executors,
                area,
                terms,
                bad,
            }
        })
        .collect();

    Some(RawFile {
        kind,
        declared,
        executors,
        rows,
    })
}

// ---------------------------------------------------------------------------------------------
// Format-neutral checks

fn build(raw: RawFile, report: &mut Report) -> Option<ClassifierFile> {
    let mut executors = Vec::new();
    let mut declared: BTreeMap<ExecutorCode, usize> = BTreeMap::new();
    for e in raw.executors {
        let code = match e.code {
            None => {
                report.push(Some(e.line), ProblemKind::Missing("code"));
                None
            }
            Some(c) => match ExecutorCode::parse(&c.text) {
                Ok(code) => Some(code),
                Err(err) => {
                    report.push(Some(c.line), ProblemKind::BadExecutorCode(err));
                    None
                }
            },
        };
        let name = e.name.map(|c| c.text);
        if name.is_none() {
            report.push(Some(e.line), ProblemKind::Missing("name"));
        }
        if let Some(code) = code {
            if let Some(first_line) = declared.get(&code) {
                report.push(
                    Some(e.line),
                    ProblemKind::DuplicateExecutor {
                        code,
                        first_line: *first_line,
                    },
                );
            } else {
                declared.insert(code.clone(), e.line);
                executors.push(Located {
                    line: e.line,
                    value: ExecutorUnit {
                        code,
                        name: name.unwrap_or_default(),
                    },
                });
            }
        }
    }

    let mut rows: Vec<Located<Change>> = Vec::new();
    let mut seen: BTreeMap<ClassifierCode, usize> = BTreeMap::new();
    for r in raw.rows {
        if let Some(change) = build_row(raw.kind, r, &declared, &mut seen, report) {
            rows.push(change);
        }
    }
    if rows.is_empty() && report.is_ok() {
        report.push(None, ProblemKind::Empty);
    }

    match raw.kind {
        FileKind::Base => {
            let mut items: BTreeMap<ClassifierCode, &Item> = BTreeMap::new();
            for item in rows.iter().filter_map(|r| r.value.item()) {
                items.entry(item.code).or_insert(item);
            }
            tree::validate(&items, &|c| seen.get(&c).copied(), report);
        }
        FileKind::Amendment => check_amendment_shape(&rows, report),
    }

    Some(ClassifierFile {
        kind: raw.kind,
        declared: raw.declared,
        executors,
        rows,
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Action {
    Add,
    Reword,
    Retire,
}

fn build_row(
    kind: FileKind,
    r: RawRow,
    declared: &BTreeMap<ExecutorCode, usize>,
    seen: &mut BTreeMap<ClassifierCode, usize>,
    report: &mut Report,
) -> Option<Located<Change>> {
    let action_text = r
        .action
        .as_ref()
        .map(|c| (c.text.to_ascii_lowercase(), c.line));
    let action = match (kind, action_text) {
        (FileKind::Base, None) => Some(Action::Add),
        (FileKind::Amendment, None) if r.bad.contains(&"action") => None,
        (FileKind::Amendment, None) => {
            report.push(Some(r.line), ProblemKind::MissingAction);
            None
        }
        (_, Some((text, line))) => {
            let action = match text.as_str() {
                "add" => Some(Action::Add),
                "reword" => Some(Action::Reword),
                "retire" => Some(Action::Retire),
                _ => {
                    report.push(Some(line), ProblemKind::BadAction(text.clone()));
                    None
                }
            };
            match action {
                Some(a @ (Action::Reword | Action::Retire)) if kind == FileKind::Base => {
                    report.push(Some(line), ProblemKind::ActionInBase(text));
                    let _ = a;
                    None
                }
                other => other,
            }
        }
    };

    let code = match &r.code {
        None => {
            if !r.bad.contains(&"code") {
                report.push(Some(r.line), ProblemKind::Missing("code"));
            }
            None
        }
        Some(c) => match ClassifierCode::parse(&c.text) {
            Ok(code) => Some(code),
            Err(e) => {
                report.push(Some(c.line), ProblemKind::BadCode(e));
                None
            }
        },
    };
    if let Some(code) = code {
        match seen.get(&code) {
            Some(first_line) => report.push(
                Some(r.line),
                ProblemKind::DuplicateCode {
                    code,
                    first_line: *first_line,
                },
            ),
            None => {
                seen.insert(code, r.line);
            }
        }
    }

    if action == Some(Action::Retire) {
        let why = "a `retire` row takes only the code";
        let extra: [(&'static str, bool); 4] = [
            ("title", r.title.is_some()),
            ("executors", !r.executors.is_empty()),
            ("area", r.area.is_some()),
            ("terms", !r.terms.is_empty()),
        ];
        for (field, present) in extra {
            if present {
                report.push(Some(r.line), ProblemKind::NotAllowed { field, why });
            }
        }
        return code.map(|code| Located {
            line: r.line,
            value: Change::Retire(code),
        });
    }

    let title = r.title.as_ref().map(|c| c.text.clone());
    if title.is_none() && !r.bad.contains(&"title") {
        report.push(Some(r.line), ProblemKind::Missing("title"));
    }
    let mut executors = Vec::new();
    for c in &r.executors {
        match ExecutorCode::parse(&c.text) {
            Ok(e) => {
                if !declared.contains_key(&e) {
                    if let Some(code) = code {
                        report.push(
                            Some(c.line),
                            ProblemKind::UnknownExecutor {
                                code,
                                executor: e.clone(),
                            },
                        );
                    }
                }
                if !executors.contains(&e) {
                    executors.push(e);
                }
            }
            Err(err) => report.push(Some(c.line), ProblemKind::BadExecutorCode(err)),
        }
    }
    let mut terms = Terms::default();
    for (request_type, c) in &r.terms {
        match Term::parse(&c.text) {
            Ok(term) => {
                let unit_ok = term.is_hours() == (*request_type == RequestType::Emergency);
                if unit_ok {
                    terms.set(*request_type, Some(term));
                } else {
                    report.push(
                        Some(c.line),
                        ProblemKind::TermUnit {
                            request_type: *request_type,
                            term: c.text.clone(),
                        },
                    );
                }
            }
            Err(source) => report.push(
                Some(c.line),
                ProblemKind::BadTerm {
                    request_type: *request_type,
                    source,
                },
            ),
        }
    }
    let (Some(action), Some(code), Some(title)) = (action, code, title) else {
        return None;
    };
    let item = Item {
        code,
        title,
        executors,
        area: r.area.map(|c| c.text),
        terms,
    };
    let change = if action == Action::Reword {
        Change::Reword(item)
    } else {
        Change::Add(item)
    };
    Some(Located {
        line: r.line,
        value: change,
    })
}

/// What can be checked of an amendment without the classifier it amends.
fn check_amendment_shape(rows: &[Located<Change>], report: &mut Report) {
    let added: BTreeSet<ClassifierCode> = rows
        .iter()
        .filter(|r| matches!(r.value, Change::Add(_)))
        .map(|r| r.value.code())
        .collect();
    for row in rows {
        let Some(item) = row.value.item() else {
            continue;
        };
        let has_child_in_file = added.iter().any(|c| *c != item.code && item.code.covers(c));
        let group = item.code.level() == Level::Section || has_child_in_file;
        let leaf = item.code.level() == Level::SubItem
            || !item.terms.is_empty()
            || !item.executors.is_empty();
        if group {
            if !item.terms.is_empty() || !item.executors.is_empty() {
                report.push(
                    Some(row.line),
                    ProblemKind::GroupWithTerms { code: item.code },
                );
            }
        } else if leaf {
            if item.terms.is_empty() {
                report.push(
                    Some(row.line),
                    ProblemKind::LeafWithoutTerm { code: item.code },
                );
            }
            if item.executors.is_empty() {
                report.push(
                    Some(row.line),
                    ProblemKind::LeafWithoutExecutor { code: item.code },
                );
            }
        }
    }
}
