//! The shipped example classifier files: they pass `check`, load, and amend as decision 459 says.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use chrono::NaiveDate;
use contactd_classifier::{
    check, load_file, Change, Classifier, ClassifierCode, FileError, FileKind, Format, ItemRef,
    RequestType, Revision, RevisionId, SearchIndex, Status, Term, MAX_TERM_DAYS,
};

fn config(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../config")
        .join(name)
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn code(s: &str) -> ClassifierCode {
    ClassifierCode::parse(s).unwrap()
}

fn r339() -> Revision {
    Revision::new(339, date("2020-07-22"))
}

fn r459() -> Revision {
    Revision::new(459, date("2020-09-16"))
}

fn loaded() -> Classifier {
    let base = load_file(&config("classifier.example.toml")).unwrap();
    let mut classifier = Classifier::from_base(&base, r339()).unwrap();
    let amendment = load_file(&config("classifier.amendment-459.example.toml")).unwrap();
    classifier.apply(&amendment, r459()).unwrap();
    classifier
}

#[test]
fn example_files_pass_check() {
    for name in [
        "classifier.example.toml",
        "classifier.amendment-459.example.toml",
    ] {
        let text = std::fs::read_to_string(config(name)).unwrap();
        let report = check(&text, Format::Toml);
        assert!(report.is_ok(), "{name}:\n{report}");
        assert!(
            text.starts_with("# ПРИКЛАД / EXAMPLE — not the official classifier"),
            "{name} must say at the top that it is an example"
        );
    }
}

#[test]
fn example_files_declare_their_decisions() {
    let base = load_file(&config("classifier.example.toml")).unwrap();
    assert_eq!(base.kind, FileKind::Base);
    assert_eq!(base.declared, Some(r339()));
    let amendment = load_file(&config("classifier.amendment-459.example.toml")).unwrap();
    assert_eq!(amendment.kind, FileKind::Amendment);
    assert_eq!(amendment.declared, Some(r459()));
}

#[test]
fn example_covers_what_decision_459_names() {
    let classifier = loaded();
    let base = classifier.find_revision(339, date("2020-07-22")).unwrap();
    let after = classifier.find_revision(459, date("2020-09-16")).unwrap();
    for section in 1..=29u16 {
        let s = ClassifierCode::from_segments(&[section]).unwrap();
        assert!(classifier.item(s, base).is_some(), "section {section}");
        let items = classifier.items(base);
        assert!(
            items.iter().any(|i| i.code != s && s.covers(&i.code)),
            "section {section} has an item"
        );
    }
    let reworded = [
        "3.12", "6.6", "6.7", "7.1", "12.6", "24.1", "24.2", "24.3", "25.1", "25.8", "22.1.8",
        "22.5.1", "22.5.20", "22.5.27",
    ];
    for c in reworded {
        let old = classifier.item(code(c), base).unwrap();
        let new = classifier.item(code(c), after).unwrap();
        assert_ne!(old.title, new.title, "{c} is reworded by 459");
    }
    assert!(classifier.item(code("19.12"), base).is_none());
    assert!(classifier.item(code("19.12"), after).is_some());
    // One more line in every section except 29.
    let amendment = load_file(&config("classifier.amendment-459.example.toml")).unwrap();
    let mut added_sections: Vec<u16> = amendment
        .rows
        .iter()
        .filter(|r| matches!(r.value, Change::Add(_)) && r.value.code() != code("19.12"))
        .map(|r| r.value.code().segments()[0])
        .collect();
    added_sections.sort_unstable();
    assert_eq!(added_sections, (1..=28).collect::<Vec<u16>>());
}

#[test]
fn example_terms_within_the_law() {
    let classifier = loaded();
    for rev in [
        classifier.find_revision(339, date("2020-07-22")).unwrap(),
        classifier.latest().unwrap(),
    ] {
        for leaf in classifier.leaves(rev) {
            for (request_type, term) in leaf.terms.allowed() {
                match (request_type, term) {
                    (RequestType::Emergency, Term::Hours(h)) => assert!(h <= 72, "{}", leaf.code),
                    (RequestType::Ordinary, Term::WorkingDays(d) | Term::CalendarDays(d)) => {
                        assert!(d <= 15, "{}", leaf.code)
                    }
                    (RequestType::Medium, Term::WorkingDays(d) | Term::CalendarDays(d)) => {
                        assert!(d <= 30, "{}", leaf.code)
                    }
                    (RequestType::Long, Term::WorkingDays(d) | Term::CalendarDays(d)) => {
                        assert!(d <= MAX_TERM_DAYS, "{}", leaf.code)
                    }
                    other => panic!("{}: unexpected {other:?}", leaf.code),
                }
            }
            assert!(classifier.area(leaf.code, rev).is_some(), "{}", leaf.code);
        }
    }
}

/// The acceptance test: 459 rewords 22.5.27 for new requests only.
#[test]
fn decision_459_rewords_22_5_27_for_new_requests_only() {
    let base = load_file(&config("classifier.example.toml")).unwrap();
    let mut classifier = Classifier::from_base(&base, r339()).unwrap();

    // A request filed in August 2020, before decision 459.
    let old_request = classifier
        .file_request(code("22.5.27"), RequestType::Emergency, date("2020-08-10"))
        .unwrap();
    let old_title = old_request.item.title.clone();
    assert_eq!(old_request.term, Term::Hours(6));

    let amendment = load_file(&config("classifier.amendment-459.example.toml")).unwrap();
    let r459_id = classifier.apply(&amendment, r459()).unwrap();

    // The old request still resolves to the wording and term it was filed under.
    let again = classifier
        .resolve(old_request.item_ref, RequestType::Emergency)
        .unwrap();
    assert_eq!(again, old_request);
    assert_eq!(
        classifier
            .item(old_request.item_ref.code, old_request.item_ref.revision)
            .unwrap()
            .title,
        old_title
    );

    // The day before 459 takes effect nothing changes; from its effective date new requests get
    // the new wording and term.
    let (rev, item) = classifier
        .current(code("22.5.27"), date("2020-09-15"))
        .unwrap();
    assert_eq!(
        (rev, item.title.as_str()),
        (old_request.item_ref.revision, old_title.as_str())
    );
    let new_request = classifier
        .file_request(code("22.5.27"), RequestType::Emergency, date("2020-09-16"))
        .unwrap();
    assert_eq!(new_request.item_ref.revision, r459_id);
    assert_ne!(new_request.item.title, old_title);
    assert_eq!(new_request.term, Term::Hours(4));
    assert_eq!(
        classifier
            .resolve(new_request.item_ref, RequestType::Ordinary)
            .unwrap()
            .term,
        Term::WorkingDays(5)
    );
    // Untouched items keep their wording across the revision.
    let before = classifier
        .current(code("22.5.2"), date("2020-08-01"))
        .unwrap()
        .1;
    let after = classifier
        .current(code("22.5.2"), date("2020-10-01"))
        .unwrap()
        .1;
    assert_eq!(before, after);
    assert_eq!(
        new_request.area, "housing-utilities",
        "inherited from section 22"
    );
}

#[test]
fn retire_keeps_old_lookups_working() {
    let mut classifier = loaded();
    let filed = classifier
        .file_request(code("26.1"), RequestType::Ordinary, date("2021-01-10"))
        .unwrap();
    let retire = contactd_classifier::parse(
        "kind = \"amendment\"\n[[item]]\naction = \"retire\"\ncode = \"26.1\"\n",
        Format::Toml,
    )
    .unwrap();
    let r = Revision::new(100, date("2021-03-01"));
    let id = classifier.apply(&retire, r).unwrap();

    assert_eq!(classifier.status(code("26.1"), id), Status::Retired(id));
    assert!(classifier.item(code("26.1"), id).is_none());
    assert!(classifier
        .current(code("26.1"), date("2021-03-02"))
        .is_none());
    assert_eq!(
        classifier.file_request(code("26.1"), RequestType::Ordinary, date("2021-03-02")),
        Err(FileError::Retired(code("26.1")))
    );
    // The request filed before still resolves, and so does the older lookup.
    assert_eq!(
        classifier.resolve(filed.item_ref, RequestType::Ordinary),
        Ok(filed.clone())
    );
    assert!(classifier
        .current(code("26.1"), date("2021-02-28"))
        .is_some());
    // Retiring twice is an error that names the line.
    let report = classifier
        .apply(&retire, Revision::new(101, date("2021-04-01")))
        .unwrap_err();
    assert_eq!(
        report.problems[0].line,
        Some(4),
        "the line of `code`: {report}"
    );
    // Section 26 still has 26.2 (added by 459), so it stays a group; retiring the section
    // alone is refused while 26.2 is active.
    let retire_section = contactd_classifier::parse(
        "kind = \"amendment\"\n[[item]]\naction = \"retire\"\ncode = \"26\"\n",
        Format::Toml,
    )
    .unwrap();
    let report = classifier
        .apply(&retire_section, Revision::new(102, date("2021-05-01")))
        .unwrap_err();
    assert!(report.to_string().contains("26.2"), "{report}");
}

#[test]
fn filing_rules() {
    let classifier = loaded();
    let d = date("2021-01-10");
    assert_eq!(
        classifier.file_request(code("22.5"), RequestType::Ordinary, d),
        Err(FileError::NotALeaf(code("22.5")))
    );
    assert_eq!(
        classifier.file_request(code("1.1"), RequestType::Emergency, d),
        Err(FileError::TypeNotAllowed {
            code: code("1.1"),
            request_type: RequestType::Emergency
        })
    );
    assert_eq!(
        classifier.file_request(code("1.1"), RequestType::Ordinary, date("2019-01-01")),
        Err(FileError::NoRevision(date("2019-01-01")))
    );
    assert_eq!(
        classifier.file_request(code("99.1"), RequestType::Ordinary, d),
        Err(FileError::UnknownCode(code("99.1")))
    );
}

#[test]
fn amendments_in_order_only() {
    let mut classifier = loaded();
    let amendment = load_file(&config("classifier.amendment-459.example.toml")).unwrap();
    // Applying 459 again: duplicate revision, and its adds already exist.
    let report = classifier.apply(&amendment, r459()).unwrap_err();
    let text = report.to_string();
    assert!(text.contains("already applied"), "{text}");
    assert!(text.contains("already exists"), "{text}");
    // A base file is not an amendment.
    let base = load_file(&config("classifier.example.toml")).unwrap();
    assert!(classifier
        .apply(&base, Revision::new(500, date("2021-01-01")))
        .is_err());
    // An earlier effective date is refused.
    let report = classifier
        .apply(&amendment, Revision::new(460, date("2020-09-01")))
        .unwrap_err();
    assert!(report.to_string().contains("in order"), "{report}");
    assert_eq!(
        classifier.revisions().len(),
        2,
        "failed applies change nothing"
    );
}

#[test]
fn search_over_the_example() {
    let classifier = loaded();
    let items = classifier.items(classifier.latest().unwrap());
    let index = SearchIndex::build(items.iter().copied());
    let hits = index.search("вод", 10);
    assert!(hits.iter().any(|h| h.code == code("22.5")), "{hits:?}");
    let hits = index.search("22.5", 50);
    assert_eq!(hits[0].code, code("22.5"));
    assert!(hits.iter().all(|h| code("22.5").covers(&h.code)));
    assert_eq!(hits.len(), 5);
    let hits = index.search("під’їзд", 10);
    assert_eq!(hits[0].code, code("22.1.1"));
}

/// `resolve` decides "is a leaf" and the area in place (without the revision's whole map); for
/// every row of every revision it agrees with `leaves` and with the nearest ancestor's area.
#[test]
fn resolve_agrees_with_the_revision_tree_for_every_row() {
    let classifier = loaded();
    for index in 0..classifier.revisions().len() {
        let rev = RevisionId(u32::try_from(index).unwrap());
        let leaves: Vec<ClassifierCode> = classifier.leaves(rev).iter().map(|i| i.code).collect();
        let items = classifier.items(rev);
        assert!(items.len() > leaves.len(), "revision {index} has groups");
        for item in items {
            let item_ref = ItemRef {
                code: item.code,
                revision: rev,
            };
            let filed = [
                RequestType::Emergency,
                RequestType::Ordinary,
                RequestType::Medium,
                RequestType::Long,
            ]
            .into_iter()
            .map(|t| classifier.resolve(item_ref, t))
            .find(|r| !matches!(r, Err(FileError::TypeNotAllowed { .. })));
            if leaves.contains(&item.code) {
                let filed = filed.unwrap().unwrap();
                let mut ancestor = Some(item.code);
                let expected = loop {
                    let c = ancestor.unwrap();
                    if let Some(area) = classifier.item(c, rev).and_then(|i| i.area.clone()) {
                        break area;
                    }
                    ancestor = c.parent();
                };
                assert_eq!(filed.area, expected, "{}", item.code);
            } else {
                assert!(
                    matches!(filed, Some(Err(FileError::NotALeaf(c))) if c == item.code),
                    "{}: {filed:?}",
                    item.code
                );
            }
        }
    }
}
