//! `Report`: every problem found in a classifier file, each with its line number.

use std::fmt;
use std::path::PathBuf;

use crate::code::{ClassifierCode, CodeError};
use crate::model::{ExecutorCode, ExecutorCodeError, RequestType, TermError};

/// What is wrong with one place of a classifier file (or with applying it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProblemKind {
    /// The file could not be read.
    #[error("cannot read the file: {0}; check the path and permissions")]
    Io(String),
    /// The extension does not say CSV or TOML.
    #[error("cannot tell the file format from its name: name it `*.csv` or `*.toml`")]
    UnknownFormat,
    /// Malformed CSV.
    #[error("malformed CSV: {0}; check quoting (a field with a comma must be in double quotes)")]
    Csv(String),
    /// Malformed TOML.
    #[error("malformed TOML: {0}")]
    Toml(String),
    /// A required CSV column is absent.
    #[error("the CSV header has no `{0}` column: the header must be `record,code,title,executors,area,emergency,ordinary,medium,long` (plus `action` in an amendment)")]
    MissingColumn(&'static str),
    /// A CSV column we do not know.
    #[error("unknown CSV column `{0}`: remove it or fix its spelling (known: record, action, code, title, executors, area, emergency, ordinary, medium, long)")]
    UnknownColumn(String),
    /// A column appears twice.
    #[error("the CSV column `{0}` appears twice in the header: keep one")]
    DuplicateColumn(String),
    /// A record with a different number of fields than the header.
    #[error("this record has {found} fields but the header has {expected}: add or remove commas")]
    FieldCount {
        /// Header width.
        expected: usize,
        /// This record's width.
        found: usize,
    },
    /// A value of the CSV `record` column we do not know.
    #[error("unknown record type `{0}`: write `executor` (an executor unit) or `item` (a classifier row)")]
    UnknownRecord(String),
    /// A key we do not know.
    #[error("unknown key `{key}` in {place}: remove it or fix its spelling")]
    UnknownKey {
        /// Where it appeared (`the file`, `[[item]]`, `[[executor]]`).
        place: &'static str,
        /// The key.
        key: String,
    },
    /// A value of the wrong TOML type.
    #[error("`{key}` must be {expected}")]
    WrongType {
        /// The key.
        key: String,
        /// What it must be, e.g. `a string in quotes, e.g. code = "22.5"`.
        expected: &'static str,
    },
    /// A required field is absent or empty.
    #[error("`{0}` is missing or empty: fill it in")]
    Missing(&'static str),
    /// A field that this row must not have.
    #[error("`{field}` must be empty here: {why}")]
    NotAllowed {
        /// The field.
        field: &'static str,
        /// Why.
        why: &'static str,
    },
    /// `kind` is neither base nor amendment.
    #[error("`kind` is `{0}`: write `base` (a whole classifier) or `amendment` (changes by one decision)")]
    BadKind(String),
    /// A bad action.
    #[error("unknown action `{0}`: write `add`, `reword` or `retire`")]
    BadAction(String),
    /// reword/retire in a base file.
    #[error("action `{0}` is only allowed in an amendment file: a base classifier only adds rows (set `kind = \"amendment\"` in TOML or add an `action` column in CSV)")]
    ActionInBase(String),
    /// An amendment row without an action.
    #[error("an amendment row needs an action: write `add`, `reword` or `retire`")]
    MissingAction,
    /// A code that does not parse.
    #[error("bad classifier code: {0}")]
    BadCode(CodeError),
    /// A term that does not parse.
    #[error("bad `{request_type}` term: {source}")]
    BadTerm {
        /// Which column.
        request_type: RequestType,
        /// Why.
        source: TermError,
    },
    /// Emergency in days or other types in hours.
    #[error("the `{request_type}` term `{term}` has the wrong unit: emergency terms are in hours (`24h`), the others in working (`10wd`) or calendar (`30cd`) days")]
    TermUnit {
        /// Which column.
        request_type: RequestType,
        /// The text given.
        term: String,
    },
    /// A bad number (decision number).
    #[error("`{key}` is `{text}`, not a positive whole number")]
    BadNumber {
        /// The key.
        key: &'static str,
        /// The text.
        text: String,
    },
    /// A bad date.
    #[error("`{key}` is `{text}`, not a date: write YYYY-MM-DD, e.g. 2020-09-16")]
    BadDate {
        /// The key.
        key: &'static str,
        /// The text.
        text: String,
    },
    /// A bad executor code.
    #[error("{0}")]
    BadExecutorCode(ExecutorCodeError),
    /// An executor unit declared twice.
    #[error("executor unit `{code}` is declared twice (first on line {first_line}): keep one declaration")]
    DuplicateExecutor {
        /// The unit.
        code: ExecutorCode,
        /// Where it was first declared.
        first_line: usize,
    },
    /// An item refers to an executor the file does not declare.
    #[error("item {code} names executor `{executor}`, which this file does not declare: add an executor record for it or fix the code")]
    UnknownExecutor {
        /// The item.
        code: ClassifierCode,
        /// The undeclared unit.
        executor: ExecutorCode,
    },
    /// The same code twice.
    #[error("code {code} appears twice (first on line {first_line}): each code may appear once per file")]
    DuplicateCode {
        /// The code.
        code: ClassifierCode,
        /// The first occurrence.
        first_line: usize,
    },
    /// A leaf with no term.
    #[error("{code} is a leaf (it has no sub-items) but has no term: give at least one of emergency/ordinary/medium/long")]
    LeafWithoutTerm {
        /// The leaf.
        code: ClassifierCode,
    },
    /// A leaf with no executor.
    #[error("{code} is a leaf (it has no sub-items) but names no executor: list its default executor unit(s)")]
    LeafWithoutExecutor {
        /// The leaf.
        code: ClassifierCode,
    },
    /// A leaf with no area, own or inherited.
    #[error("{code} has no area and neither has its item or section: set `area` on the row or on its section")]
    LeafWithoutArea {
        /// The leaf.
        code: ClassifierCode,
    },
    /// A section or an item with sub-items that carries terms or executors.
    #[error("{code} groups other rows, so requests are not filed under it: move its terms and executors to its sub-items (or to its items, for a section)")]
    GroupWithTerms {
        /// The group.
        code: ClassifierCode,
    },
    /// An item without its section or a sub-item without its item.
    #[error("{code} has no parent {parent}: add {parent} or fix the code")]
    MissingParent {
        /// The orphan.
        code: ClassifierCode,
        /// The missing parent.
        parent: ClassifierCode,
    },
    /// A file without any item.
    #[error("the file has no classifier rows")]
    Empty,
    /// A base file given where an amendment is expected or vice versa.
    #[error("this is {found} file, but {expected} file is needed here")]
    WrongKind {
        /// `a base` / `an amendment`.
        found: &'static str,
        /// `a base` / `an amendment`.
        expected: &'static str,
    },
    /// `add` of a code that is active.
    #[error("{code} already exists: use `reword` to change its wording")]
    AlreadyExists {
        /// The code.
        code: ClassifierCode,
    },
    /// `reword`/`retire` of a code the classifier never had.
    #[error("{code} is not in the classifier: use `add` for a new row")]
    NotInClassifier {
        /// The code.
        code: ClassifierCode,
    },
    /// `reword`/`retire` of a retired code.
    #[error("{code} was retired by revision {since}: `add` it again if the decision restores it")]
    Retired {
        /// The code.
        code: ClassifierCode,
        /// The revision that retired it.
        since: u32,
    },
    /// An amendment that leaves an active child under a retired parent.
    #[error(
        "{code} cannot be retired while {child} stays active: retire {child} in the same amendment"
    )]
    RetireWithChildren {
        /// The parent.
        code: ClassifierCode,
        /// An active child.
        child: ClassifierCode,
    },
    /// Revisions out of order.
    #[error("the new revision takes effect on {new}, before the latest revision ({previous}): amendments must be applied in order of their effective dates")]
    RevisionOrder {
        /// The new revision.
        new: String,
        /// The latest revision.
        previous: String,
    },
    /// The same decision twice.
    #[error("decision No. {0} of this date is already applied")]
    DuplicateRevision(u32),
}

/// One problem and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line in the file, when the problem belongs to a line.
    pub line: Option<usize>,
    /// What is wrong.
    pub kind: ProblemKind,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.kind),
            None => write!(f, "{}", self.kind),
        }
    }
}

/// Every problem found in a file, in line order. Empty means the file is fine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// The file, when the report came from [`crate::load_file`].
    pub path: Option<PathBuf>,
    /// The problems, sorted by line (problems without a line first).
    pub problems: Vec<Problem>,
}

impl Report {
    /// True when no problem was found.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// Adds a problem.
    pub fn push(&mut self, line: Option<usize>, kind: ProblemKind) {
        self.problems.push(Problem { line, kind });
    }

    /// Sorts problems by line, keeping the order of problems on one line.
    pub(crate) fn sort(&mut self) {
        self.problems.sort_by_key(|p| p.line);
    }

    /// The report as an error if it has problems.
    pub(crate) fn into_result<T>(mut self, value: T) -> Result<T, Report> {
        if self.is_ok() {
            Ok(value)
        } else {
            self.sort();
            Err(self)
        }
    }
}

impl fmt::Display for Report {
    /// One problem per line, prefixed with the file name when known (`file.csv:12: …`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.path.as_ref().map(|p| p.display().to_string());
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            match (&name, p.line) {
                (Some(name), Some(line)) => write!(f, "{name}:{line}: {}", p.kind)?,
                (Some(name), None) => write!(f, "{name}: {}", p.kind)?,
                (None, _) => write!(f, "{p}")?,
            }
        }
        Ok(())
    }
}

impl std::error::Error for Report {}
