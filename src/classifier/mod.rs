//! The classifier in the daemon: imported files are stored in order (base, then amendments by
//! decision) and the in-memory classifier with every revision and the search index is rebuilt
//! from them at start-up, after an import, and on SIGHUP.

use std::path::Path;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, NaiveDate, Utc};
use contactd_classifier::{
    load_file, parse, Classifier, ClassifierFile, FileKind, Format, Item, Report, Revision,
    RevisionId, SearchIndex,
};
use sha2::{Digest, Sha256};

use crate::storage::{to_db_time, Storage};

/// A failed import or load, worded for the administrator.
#[derive(Debug, thiserror::Error)]
pub enum ClassifierError {
    #[error("{file}: {report}")]
    Invalid { file: String, report: Report },
    #[error("{0}")]
    Rejected(String),
    #[error("stored classifier file #{seq} ({file}) no longer loads: {report}; this build cannot read what an earlier one imported — report it")]
    Stored {
        seq: i64,
        file: String,
        report: Report,
    },
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

/// The classifier with all revisions plus the search index of its latest revision.
#[derive(Debug)]
pub struct LoadedClassifier {
    pub classifier: Classifier,
    pub latest: RevisionId,
    pub index: SearchIndex,
    /// The items the index refers to (latest revision's leaves, in index order).
    pub indexed: Vec<Item>,
}

impl LoadedClassifier {
    fn new(classifier: Classifier) -> Option<Self> {
        let latest = classifier.latest()?;
        let indexed: Vec<Item> = classifier.leaves(latest).into_iter().cloned().collect();
        let index = SearchIndex::build(&indexed);
        Some(Self {
            classifier,
            latest,
            index,
            indexed,
        })
    }
}

/// The current classifier, swapped whole on reload.
#[derive(Debug, Clone, Default)]
pub struct ClassifierHandle {
    inner: Arc<RwLock<Option<Arc<LoadedClassifier>>>>,
}

impl ClassifierHandle {
    pub fn get(&self) -> Option<Arc<LoadedClassifier>> {
        self.inner.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn set(&self, loaded: Option<LoadedClassifier>) {
        *self.inner.write().unwrap_or_else(|p| p.into_inner()) = loaded.map(Arc::new);
    }

    /// The loaded classifier; when none is loaded yet (the first import happened after start-up),
    /// look in the database once more. Later amendments still need SIGHUP.
    pub async fn get_or_load(
        &self,
        storage: &Storage,
    ) -> Result<Option<Arc<LoadedClassifier>>, ClassifierError> {
        if let Some(loaded) = self.get() {
            return Ok(Some(loaded));
        }
        self.reload(storage).await?;
        Ok(self.get())
    }

    /// Rebuild from the database.
    pub async fn reload(&self, storage: &Storage) -> Result<(), ClassifierError> {
        let loaded = load(storage).await?;
        self.set(loaded.and_then(LoadedClassifier::new));
        Ok(())
    }
}

type SourceRow = (i64, String, String, i64, String, String, String, String);

async fn stored_sources(storage: &Storage) -> Result<Vec<SourceRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT seq, kind, format, decision_no, decision_date, effective_date, file_name, content \
         FROM classifier_sources ORDER BY seq",
    )
    .fetch_all(storage.writer())
    .await
}

fn format_of(name: &str) -> Format {
    if name == "toml" {
        Format::Toml
    } else {
        Format::Csv
    }
}

/// Rebuild the classifier from the stored files; `None` when nothing was imported yet.
pub async fn load(storage: &Storage) -> Result<Option<Classifier>, ClassifierError> {
    let mut classifier: Option<Classifier> = None;
    for (seq, _kind, format, decision_no, decision_date, effective_date, file_name, content) in
        stored_sources(storage).await?
    {
        let stored = |report| ClassifierError::Stored {
            seq,
            file: file_name.clone(),
            report,
        };
        let file = parse(&content, format_of(&format)).map_err(stored)?;
        let revision = revision_of(decision_no, &decision_date, &effective_date)?;
        classifier = Some(match classifier {
            None => Classifier::from_base(&file, revision).map_err(stored)?,
            Some(mut c) => {
                c.apply(&file, revision).map_err(stored)?;
                c
            }
        });
    }
    Ok(classifier)
}

fn revision_of(
    decision_no: i64,
    decision_date: &str,
    effective_date: &str,
) -> Result<Revision, ClassifierError> {
    let parse_date = |d: &str| {
        NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .map_err(|e| ClassifierError::Rejected(format!("stored date `{d}` is invalid: {e}")))
    };
    Ok(Revision {
        decision_no: u32::try_from(decision_no).map_err(|_| {
            ClassifierError::Rejected(format!(
                "stored decision number {decision_no} is out of range"
            ))
        })?,
        decision_date: parse_date(decision_date)?,
        effective_date: parse_date(effective_date)?,
    })
}

/// What an import did.
#[derive(Debug, Clone)]
pub struct ImportOutcome {
    pub revision: RevisionId,
    pub kind: FileKind,
    pub leaves: usize,
    pub executors: usize,
}

/// Import `path` as the decision `revision`: the first import must be a base file, later ones
/// amendments applied on top of the latest revision. Executor units the file declares are added
/// (or renamed). All in one transaction, with an audit row.
pub async fn import(
    storage: &Storage,
    path: &Path,
    revision: Revision,
    now: DateTime<Utc>,
) -> Result<ImportOutcome, ClassifierError> {
    let shown = path.display().to_string();
    let file: ClassifierFile = load_file(path).map_err(|report| ClassifierError::Invalid {
        file: shown.clone(),
        report,
    })?;
    let content = std::fs::read_to_string(path)
        .map_err(|e| ClassifierError::Rejected(format!("cannot read {shown}: {e}")))?;
    let format = Format::from_path(path).unwrap_or(Format::Csv);
    let existing = load(storage).await?;
    if let Some(c) = &existing {
        if c.find_revision(revision.decision_no, revision.decision_date)
            .is_some()
        {
            return Err(ClassifierError::Rejected(format!(
                "decision No. {} of {} is already imported; nothing was changed",
                revision.decision_no, revision.decision_date
            )));
        }
    }
    let (classifier, id) = match existing {
        None => {
            let c = Classifier::from_base(&file, revision.clone()).map_err(|report| {
                ClassifierError::Invalid {
                    file: shown.clone(),
                    report,
                }
            })?;
            (c, RevisionId(0))
        }
        Some(mut c) => {
            let id =
                c.apply(&file, revision.clone())
                    .map_err(|report| ClassifierError::Invalid {
                        file: shown.clone(),
                        report,
                    })?;
            (c, id)
        }
    };
    let digest: String = Sha256::digest(content.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut tx = storage.writer().begin().await?;
    sqlx::query(
        "INSERT INTO classifier_sources (seq, kind, format, decision_no, decision_date, effective_date, file_name, content, sha256, imported_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(i64::from(id.0))
    .bind(if file.kind == FileKind::Base { "base" } else { "amendment" })
    .bind(if format == Format::Toml { "toml" } else { "csv" })
    .bind(i64::from(revision.decision_no))
    .bind(revision.decision_date.to_string())
    .bind(revision.effective_date.to_string())
    .bind(path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default())
    .bind(&content)
    .bind(&digest)
    .bind(to_db_time(now))
    .execute(&mut *tx)
    .await?;
    let mut executors = 0;
    for unit in classifier.executors() {
        sqlx::query(
            "INSERT INTO executors (code, name, active, created_at) VALUES ($1, $2, 1, $3) \
             ON CONFLICT (code) DO UPDATE SET name = excluded.name",
        )
        .bind(unit.code.as_str())
        .bind(&unit.name)
        .bind(to_db_time(now))
        .execute(&mut *tx)
        .await?;
        executors += 1;
    }
    sqlx::query(
        "INSERT INTO audit_log (at, actor_id, actor, action, entity, entity_id, after_json) VALUES ($1, NULL, 'cli', 'classifier.import', 'classifier_revision', $2, $3)",
    )
    .bind(to_db_time(now))
    .bind(id.0.to_string())
    .bind(serde_json::json!({"decision_no": revision.decision_no, "decision_date": revision.decision_date, "effective_date": revision.effective_date, "file": shown, "sha256": digest}).to_string())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(ImportOutcome {
        revision: id,
        kind: file.kind,
        leaves: classifier.leaves(id).len(),
        executors,
    })
}
