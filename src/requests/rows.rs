//! Multi-row inserts for the request tables, written once for both engines.
//!
//! A [`Statement`] numbers its parameters as they are added (`$1`, `$2`, … in order, which both
//! engines accept); each `*_sql` function adds one table's rows to a statement and returns the
//! `INSERT` text. SQLite runs each insert as its own statement inside the write transaction;
//! PostgreSQL can join them as data-modifying CTEs into one statement (see
//! `create::persist_postgres`), which is one round trip and atomic on its own.

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AnyConnection};

/// Most parameters one statement carries (far below SQLite's 32,766 and PostgreSQL's 65,535).
pub(crate) const MAX_PARAMS: usize = 4000;

/// A value to bind.
pub(crate) enum Value {
    Int(i64),
    OptInt(Option<i64>),
    Text(String),
    OptText(Option<String>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}
impl From<Option<i64>> for Value {
    fn from(v: Option<i64>) -> Self {
        Self::OptInt(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Self::Text(v.to_owned())
    }
}
impl From<Option<&str>> for Value {
    fn from(v: Option<&str>) -> Self {
        Self::OptText(v.map(str::to_owned))
    }
}

/// SQL text with its parameters, numbered in the order they were added.
#[derive(Default)]
pub(crate) struct Statement {
    binds: Vec<Value>,
}

impl Statement {
    /// Parameters so far.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.binds.len()
    }

    /// `($n, $n+1, …)` for one row.
    pub(crate) fn row<const N: usize>(&mut self, values: [Value; N]) -> String {
        let mut sql = String::from("(");
        for (i, v) in values.into_iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            self.binds.push(v);
            sql.push('$');
            sql.push_str(&self.binds.len().to_string());
        }
        sql.push(')');
        sql
    }

    /// `$n` for one value.
    pub(crate) fn param(&mut self, value: impl Into<Value>) -> String {
        self.binds.push(value.into());
        format!("${}", self.binds.len())
    }

    fn query(self, sql: &str) -> Query<'_, Any, AnyArguments<'_>> {
        let mut query = sqlx::query(sql);
        for b in self.binds {
            query = match b {
                Value::Int(v) => query.bind(v),
                Value::OptInt(v) => query.bind(v),
                Value::Text(v) => query.bind(v),
                Value::OptText(v) => query.bind(v),
            };
        }
        query
    }

    /// Run `sql` (built with this statement's parameters).
    pub(crate) async fn execute(
        self,
        sql: &str,
        conn: &mut AnyConnection,
    ) -> Result<(), sqlx::Error> {
        self.query(sql).execute(conn).await?;
        Ok(())
    }
}

/// Insert `rows` in as few statements as [`MAX_PARAMS`] allows; `sql` adds a chunk to a
/// statement and returns its text.
pub(crate) async fn insert_chunked<T>(
    conn: &mut AnyConnection,
    rows: &[T],
    width: usize,
    sql: impl Fn(&mut Statement, &[T]) -> String,
) -> Result<(), sqlx::Error> {
    for chunk in rows.chunks((MAX_PARAMS / width).max(1)) {
        let mut statement = Statement::default();
        let text = sql(&mut statement, chunk);
        statement.execute(&text, conn).await?;
    }
    Ok(())
}

/// The rows one transition writes.
pub(crate) struct TransitionRows {
    pub audit: Vec<AuditInsert>,
    pub executors: Vec<ExecutorInsert>,
    pub notices: Vec<NoticeInsert>,
}

/// An audit row ready to insert.
#[derive(serde::Serialize)]
pub(crate) struct AuditInsert {
    pub at: i64,
    pub actor_id: i64,
    pub actor: String,
    pub action: String,
    pub entity_id: String,
    pub before: Option<String>,
    pub after: Option<String>,
    pub comment: Option<String>,
}

pub(crate) const AUDIT_WIDTH: usize = 9;

pub(crate) fn audit_sql(st: &mut Statement, rows: &[AuditInsert]) -> String {
    let values: Vec<String> = rows
        .iter()
        .map(|r| {
            st.row([
                r.at.into(),
                r.actor_id.into(),
                r.actor.as_str().into(),
                r.action.as_str().into(),
                "request".into(),
                r.entity_id.as_str().into(),
                r.before.as_deref().into(),
                r.after.as_deref().into(),
                r.comment.as_deref().into(),
            ])
        })
        .collect();
    format!(
        "INSERT INTO audit_log (at, actor_id, actor, action, entity, entity_id, before_json, after_json, comment) VALUES {}",
        values.join(", ")
    )
}

/// A current executor of a request.
#[derive(serde::Serialize)]
pub(crate) struct ExecutorInsert {
    pub request_id: i64,
    pub unit: String,
    pub status: String,
}

pub(crate) const EXECUTOR_WIDTH: usize = 3;

pub(crate) fn executors_sql(st: &mut Statement, rows: &[ExecutorInsert]) -> String {
    let values: Vec<String> = rows
        .iter()
        .map(|r| {
            st.row([
                r.request_id.into(),
                r.unit.as_str().into(),
                r.status.as_str().into(),
            ])
        })
        .collect();
    format!(
        "INSERT INTO request_executors (request_id, executor_code, status) VALUES {}",
        values.join(", ")
    )
}

/// A notice ready to insert.
#[derive(serde::Serialize)]
pub(crate) struct NoticeInsert {
    pub request_id: i64,
    pub audience: &'static str,
    pub unit: Option<String>,
    pub kind: String,
    pub visible_from: i64,
    pub review_due: Option<i64>,
    pub created_at: i64,
}

pub(crate) const NOTICE_WIDTH: usize = 7;

pub(crate) fn notices_sql(st: &mut Statement, rows: &[NoticeInsert]) -> String {
    let values: Vec<String> = rows
        .iter()
        .map(|r| {
            st.row([
                r.request_id.into(),
                r.audience.into(),
                r.unit.as_deref().into(),
                r.kind.as_str().into(),
                r.visible_from.into(),
                r.review_due.into(),
                r.created_at.into(),
            ])
        })
        .collect();
    format!(
        "INSERT INTO notices (request_id, audience, unit, kind, visible_from, review_due, created_at) VALUES {}",
        values.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_numbered_in_the_order_they_are_added() {
        let mut st = Statement::default();
        let a = st.row([1_i64.into(), "x".into()]);
        let b = st.param(Some(2_i64));
        let c = st.row([None::<&str>.into()]);
        assert_eq!(
            (a.as_str(), b.as_str(), c.as_str()),
            ("($1, $2)", "$3", "($4)")
        );
        assert_eq!(st.len(), 4);
    }

    #[test]
    fn insert_text_names_every_column_once_per_row() {
        let mut st = Statement::default();
        let rows = [
            ExecutorInsert {
                request_id: 1,
                unit: "KP-VODA".into(),
                status: "sent".into(),
            },
            ExecutorInsert {
                request_id: 1,
                unit: "DZHKG".into(),
                status: "sent".into(),
            },
        ];
        let sql = executors_sql(&mut st, &rows);
        assert!(sql.ends_with("VALUES ($1, $2, $3), ($4, $5, $6)"), "{sql}");
        assert_eq!(st.len(), 2 * EXECUTOR_WIDTH);
    }
}
