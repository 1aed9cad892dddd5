//! `Classifier`: every revision of every row, built from a base file and amended decision by decision.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::sync::Arc;

use chrono::NaiveDate;

use crate::code::{ClassifierCode, Level};
use crate::file::{Change, ClassifierFile, FileKind};
use crate::model::{ExecutorCode, ExecutorUnit, Item, RequestType, Revision, RevisionId, Term};
use crate::report::{ProblemKind, Report};
use crate::tree;

/// One wording of a row, valid from revision `since` until the next version.
#[derive(Debug, Clone)]
struct Version {
    since: RevisionId,
    /// `None`: retired from `since` on.
    item: Option<Arc<Item>>,
}

/// What a code is at one revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status<'a> {
    /// In force, with its wording at that revision.
    Active(&'a Item),
    /// Retired by the given revision; its last wording is still available through older revisions.
    Retired(RevisionId),
    /// The code does not exist at that revision (never added, or added later).
    Unknown,
}

/// Where a request was filed: the item and the revision it was filed under.
///
/// A request stores this; later amendments never change what it points to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct ItemRef {
    /// The leaf's code.
    pub code: ClassifierCode,
    /// The revision in force when the request was filed.
    pub revision: RevisionId,
}

/// A request's classification resolved at filing time: what the operator saw and the term that applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filed {
    /// Keep this with the request.
    pub item_ref: ItemRef,
    /// The request type it was filed as.
    pub request_type: RequestType,
    /// The regulated term for that type.
    pub term: Term,
    /// The wording at that revision.
    pub item: Item,
    /// The area (own or inherited from the item/section) at that revision.
    pub area: String,
}

/// Why a request cannot be filed under an item.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    /// No revision in force yet.
    #[error("no classifier revision is in force on {0}: import the classifier with an effective date on or before it")]
    NoRevision(NaiveDate),
    /// Unknown revision id.
    #[error("revision #{0} does not exist in this classifier")]
    UnknownRevision(u32),
    /// The code does not exist at that revision.
    #[error("{0} is not in the classifier: pick another item")]
    UnknownCode(ClassifierCode),
    /// Retired.
    #[error("{0} is retired: pick the item that replaced it")]
    Retired(ClassifierCode),
    /// A section or an item with sub-items.
    #[error("{0} groups other items: pick one of its sub-items")]
    NotALeaf(ClassifierCode),
    /// The type has no term for this item.
    #[error("{code} does not allow {request_type} requests: pick another request type")]
    TypeNotAllowed {
        /// The item.
        code: ClassifierCode,
        /// The type asked for.
        request_type: RequestType,
    },
}

/// The classifier with all its revisions, in memory. Rows are never deleted, only retired.
#[derive(Debug, Clone)]
pub struct Classifier {
    revisions: Vec<Revision>,
    versions: BTreeMap<ClassifierCode, Vec<Version>>,
    executors: BTreeMap<ExecutorCode, ExecutorUnit>,
}

impl Classifier {
    /// Builds revision #0 from a base file (see [`crate::load_file`]).
    pub fn from_base(file: &ClassifierFile, revision: Revision) -> Result<Self, Report> {
        let mut classifier = Self {
            revisions: Vec::new(),
            versions: BTreeMap::new(),
            executors: BTreeMap::new(),
        };
        if file.kind != FileKind::Base {
            let mut report = Report::default();
            report.push(
                None,
                ProblemKind::WrongKind {
                    found: "an amendment",
                    expected: "a base",
                },
            );
            return Err(report);
        }
        classifier.apply_any(file, revision)?;
        Ok(classifier)
    }

    /// Applies an amendment file as the next revision and returns its id.
    ///
    /// Nothing changes if the report has any problem.
    pub fn apply(
        &mut self,
        file: &ClassifierFile,
        revision: Revision,
    ) -> Result<RevisionId, Report> {
        if file.kind != FileKind::Amendment {
            let mut report = Report::default();
            report.push(
                None,
                ProblemKind::WrongKind {
                    found: "a base",
                    expected: "an amendment",
                },
            );
            return Err(report);
        }
        self.apply_any(file, revision)
    }

    fn apply_any(
        &mut self,
        file: &ClassifierFile,
        revision: Revision,
    ) -> Result<RevisionId, Report> {
        let mut report = Report::default();
        if let Some(last) = self.revisions.last() {
            if revision.effective_date < last.effective_date {
                report.push(
                    None,
                    ProblemKind::RevisionOrder {
                        new: revision.to_string(),
                        previous: last.to_string(),
                    },
                );
            }
        }
        if self.revisions.iter().any(|r| {
            r.decision_no == revision.decision_no && r.decision_date == revision.decision_date
        }) {
            report.push(None, ProblemKind::DuplicateRevision(revision.decision_no));
        }
        let id = RevisionId(u32::try_from(self.revisions.len()).unwrap_or(u32::MAX));
        let previous = self.latest();

        // The active rows after the change, and the lines of the rows the file touches.
        let mut next: BTreeMap<ClassifierCode, &Item> = match previous {
            Some(prev) => self.active_map(prev),
            None => BTreeMap::new(),
        };
        let mut lines: BTreeMap<ClassifierCode, usize> = BTreeMap::new();
        let mut retired: BTreeSet<ClassifierCode> = BTreeSet::new();
        for row in &file.rows {
            let code = row.value.code();
            lines.insert(code, row.line);
            let status = previous.map_or(Status::Unknown, |p| self.status(code, p));
            match (&row.value, status) {
                (Change::Add(item), Status::Unknown | Status::Retired(_)) => {
                    next.insert(code, item);
                }
                (Change::Add(_), Status::Active(_)) => {
                    report.push(Some(row.line), ProblemKind::AlreadyExists { code });
                }
                (Change::Reword(item), Status::Active(_)) => {
                    next.insert(code, item);
                }
                (Change::Retire(_), Status::Active(_)) => {
                    next.remove(&code);
                    retired.insert(code);
                }
                (Change::Reword(_) | Change::Retire(_), Status::Unknown) => {
                    report.push(Some(row.line), ProblemKind::NotInClassifier { code });
                }
                (Change::Reword(_) | Change::Retire(_), Status::Retired(since)) => {
                    report.push(
                        Some(row.line),
                        ProblemKind::Retired {
                            code,
                            since: since.0,
                        },
                    );
                }
            }
        }
        for code in &retired {
            if let Some((child, _)) = next.iter().find(|(c, _)| *c != code && code.covers(c)) {
                report.push(
                    lines.get(code).copied(),
                    ProblemKind::RetireWithChildren {
                        code: *code,
                        child: *child,
                    },
                );
            }
        }
        // Executors: those already known plus those the file declares.
        let mut known: BTreeSet<&ExecutorCode> = self.executors.keys().collect();
        known.extend(file.executors.iter().map(|e| &e.value.code));
        for item in next.values() {
            for e in &item.executors {
                if !known.contains(e) {
                    report.push(
                        lines.get(&item.code).copied(),
                        ProblemKind::UnknownExecutor {
                            code: item.code,
                            executor: e.clone(),
                        },
                    );
                }
            }
        }
        // The previous revision was valid, so any structure problem here comes from the file.
        let mut structure = Report::default();
        tree::validate(&next, &|c| lines.get(&c).copied(), &mut structure);
        report.problems.extend(structure.problems);
        if !report.is_ok() {
            report.sort();
            return Err(report);
        }

        for row in &file.rows {
            let item = row.value.item().map(|i| Arc::new(i.clone()));
            self.versions
                .entry(row.value.code())
                .or_default()
                .push(Version { since: id, item });
        }
        for e in &file.executors {
            self.executors.insert(e.value.code.clone(), e.value.clone());
        }
        self.revisions.push(revision);
        Ok(id)
    }

    fn active_map(&self, revision: RevisionId) -> BTreeMap<ClassifierCode, &Item> {
        self.versions
            .keys()
            .filter_map(|code| match self.status(*code, revision) {
                Status::Active(item) => Some((*code, item)),
                _ => None,
            })
            .collect()
    }

    /// All revisions, oldest first; the index is the [`RevisionId`].
    pub fn revisions(&self) -> &[Revision] {
        &self.revisions
    }

    /// One revision.
    pub fn revision(&self, id: RevisionId) -> Option<&Revision> {
        self.revisions.get(id.0 as usize)
    }

    /// The newest revision (`None` only before a base is loaded, which [`Self::from_base`] prevents).
    pub fn latest(&self) -> Option<RevisionId> {
        self.revisions
            .len()
            .checked_sub(1)
            .and_then(|i| u32::try_from(i).ok())
            .map(RevisionId)
    }

    /// The revision of a decision, by number and date.
    pub fn find_revision(&self, decision_no: u32, decision_date: NaiveDate) -> Option<RevisionId> {
        self.revisions
            .iter()
            .position(|r| r.decision_no == decision_no && r.decision_date == decision_date)
            .and_then(|i| u32::try_from(i).ok())
            .map(RevisionId)
    }

    /// The revision in force on a date: the newest whose effective date is on or before it.
    pub fn revision_at(&self, date: NaiveDate) -> Option<RevisionId> {
        self.revisions
            .iter()
            .rposition(|r| r.effective_date <= date)
            .and_then(|i| u32::try_from(i).ok())
            .map(RevisionId)
    }

    /// What `code` is at `revision`.
    pub fn status(&self, code: ClassifierCode, revision: RevisionId) -> Status<'_> {
        let Some(versions) = self.versions.get(&code) else {
            return Status::Unknown;
        };
        match versions.iter().rev().find(|v| v.since <= revision) {
            None => Status::Unknown,
            Some(Version {
                item: Some(item), ..
            }) => Status::Active(item),
            Some(Version { since, item: None }) => Status::Retired(*since),
        }
    }

    /// The wording of `code` at `revision`; `None` if it did not exist or was retired then.
    ///
    /// A request filed under an [`ItemRef`] looks its item up here, so it always sees the
    /// wording it was filed under.
    pub fn item(&self, code: ClassifierCode, revision: RevisionId) -> Option<&Item> {
        match self.status(code, revision) {
            Status::Active(item) => Some(item),
            _ => None,
        }
    }

    /// The wording in force on `date`, with the revision it comes from.
    pub fn current(&self, code: ClassifierCode, date: NaiveDate) -> Option<(RevisionId, &Item)> {
        let revision = self.revision_at(date)?;
        self.item(code, revision).map(|item| (revision, item))
    }

    /// Every active row (sections, items, sub-items) at `revision`, in code order.
    pub fn items(&self, revision: RevisionId) -> Vec<&Item> {
        self.active_map(revision).into_values().collect()
    }

    /// Active rows under which requests can be filed (leaves) at `revision`.
    pub fn leaves(&self, revision: RevisionId) -> Vec<&Item> {
        let map = self.active_map(revision);
        map.iter()
            .filter(|(code, _)| code.level() != Level::Section && !tree::has_children(&map, **code))
            .map(|(_, item)| *item)
            .collect()
    }

    /// The area of `code` at `revision`: its own or the nearest ancestor's.
    pub fn area(&self, code: ClassifierCode, revision: RevisionId) -> Option<&str> {
        tree::area_by(code, |c| self.item(c, revision))
    }

    /// The executor units known so far (declared by any applied file).
    pub fn executors(&self) -> impl Iterator<Item = &ExecutorUnit> {
        self.executors.values()
    }

    /// One executor unit.
    pub fn executor(&self, code: &ExecutorCode) -> Option<&ExecutorUnit> {
        self.executors.get(code)
    }

    /// Files a new request on `date`: picks the revision in force, checks the item is an active
    /// leaf that allows `request_type`, and returns what the request must keep.
    pub fn file_request(
        &self,
        code: ClassifierCode,
        request_type: RequestType,
        date: NaiveDate,
    ) -> Result<Filed, FileError> {
        let revision = self.revision_at(date).ok_or(FileError::NoRevision(date))?;
        self.resolve(ItemRef { code, revision }, request_type)
    }

    /// Resolves a stored [`ItemRef`] again (e.g. when the request type changes): the result
    /// depends only on the revision stored, never on later amendments.
    pub fn resolve(
        &self,
        item_ref: ItemRef,
        request_type: RequestType,
    ) -> Result<Filed, FileError> {
        let ItemRef { code, revision } = item_ref;
        if self.revision(revision).is_none() {
            return Err(FileError::UnknownRevision(revision.0));
        }
        let item = match self.status(code, revision) {
            Status::Active(item) => item,
            Status::Retired(_) => return Err(FileError::Retired(code)),
            Status::Unknown => return Err(FileError::UnknownCode(code)),
        };
        // Looked up in place, not through `active_map`: filing runs for every registration and
        // must not copy the whole classifier. The codes under `code` follow it in code order.
        let has_children = self
            .versions
            .range((Bound::Excluded(code), Bound::Unbounded))
            .take_while(|(next, _)| code.covers(next))
            .any(|(next, _)| matches!(self.status(*next, revision), Status::Active(_)));
        if code.level() == Level::Section || has_children {
            return Err(FileError::NotALeaf(code));
        }
        let term = item
            .terms
            .get(request_type)
            .ok_or(FileError::TypeNotAllowed { code, request_type })?;
        Ok(Filed {
            item_ref,
            request_type,
            term,
            item: item.clone(),
            area: self.area(code, revision).unwrap_or_default().to_owned(),
        })
    }
}
