//! Classifier of main requests: hierarchical codes, items versioned by council decision, import and check, search.
//!
//! The city's classifier (Kryvyi Rih: approved by executive committee decision No. 339 of
//! 22.07.2020, amended by No. 459 of 16.09.2020 and later decisions) is data: a base file is
//! loaded as revision #0 and each amending decision is applied on top as the next revision.
//! A request keeps the [`ItemRef`] (code + revision) it was filed under, so an amendment never
//! changes an existing request's title or term.
//!
//! ```
//! use contactd_classifier::{check, ClassifierCode, Format};
//!
//! let csv = "record,code,title,executors,area,emergency,ordinary,medium,long\n\
//!            executor,DZHKG,Департамент ЖКГ,,,,,,\n\
//!            item,22,Житлово-комунальне господарство,,housing,,,,\n\
//!            item,22.5,Водопостачання,DZHKG,,24h,10wd,,\n";
//! assert!(check(csv, Format::Csv).is_ok());
//! assert_eq!(ClassifierCode::parse("22.5.27").map(|c| c.to_string()), Ok("22.5.27".into()));
//! ```
//!
//! File formats are described in the crate README.

mod classifier;
mod code;
mod file;
mod model;
mod report;
mod search;
mod tree;

pub use classifier::{Classifier, FileError, Filed, ItemRef, Status};
pub use code::{ClassifierCode, CodeError, Level, MAX_SEGMENT};
pub use file::{
    check, check_file, load_file, parse, Change, ClassifierFile, FileKind, Format, Located,
};
pub use model::{
    ExecutorCode, ExecutorCodeError, ExecutorUnit, Item, RequestType, Revision, RevisionId, Term,
    TermError, Terms, MAX_TERM_DAYS, MAX_TERM_HOURS,
};
pub use report::{Problem, ProblemKind, Report};
pub use search::{Hit, MatchKind, SearchIndex};
