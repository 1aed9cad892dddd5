//! `check` reports every problem of a CSV or TOML classifier file, each with its line.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use contactd_classifier::{
    check, parse, Change, ClassifierCode, Format, ProblemKind, Report, Term,
};

/// (line, a phrase of the message) for every problem, in order.
fn lines(report: &Report) -> Vec<(Option<usize>, String)> {
    report
        .problems
        .iter()
        .map(|p| (p.line, p.kind.to_string()))
        .collect()
}

fn assert_problems(report: &Report, expected: &[(usize, &str)]) {
    let got = lines(report);
    assert_eq!(got.len(), expected.len(), "{report}");
    for ((line, message), (want_line, phrase)) in got.iter().zip(expected) {
        assert_eq!(*line, Some(*want_line), "{report}");
        assert!(
            message.contains(phrase),
            "line {want_line}: `{message}` lacks `{phrase}`"
        );
    }
}

const GOOD_CSV: &str = "\
# ПРИКЛАД / EXAMPLE
record,code,title,executors,area,emergency,ordinary,medium,long
executor,DZHKG,Департамент ЖКГ (приклад),,,,,,
executor,KP-VODA,КП водопостачання (приклад),,,,,,
item,22,Житлово-комунальне господарство,,housing,,,,
item,22.5,Водопостачання,,,,,,
item,22.5.27,\"Витік води, порив\",KP-VODA;DZHKG,,6h,10wd,30cd,45cd
";

#[test]
fn good_csv_parses() {
    let file = parse(GOOD_CSV, Format::Csv).unwrap();
    assert_eq!(file.executors.len(), 2);
    assert_eq!(file.executors[0].line, 3);
    assert_eq!(file.rows.len(), 3);
    let last = &file.rows[2];
    assert_eq!(last.line, 7);
    let Change::Add(item) = &last.value else {
        panic!("{last:?}")
    };
    assert_eq!(item.code, ClassifierCode::parse("22.5.27").unwrap());
    assert_eq!(item.title, "Витік води, порив");
    assert_eq!(item.executors.len(), 2);
    assert_eq!(item.terms.emergency, Some(Term::Hours(6)));
    assert_eq!(item.terms.ordinary, Some(Term::WorkingDays(10)));
    assert_eq!(item.terms.long, Some(Term::CalendarDays(45)));
}

#[test]
fn csv_reports_every_problem_with_its_line() {
    let csv = "\
# ПРИКЛАД / EXAMPLE: a file full of mistakes
record,code,title,executors,area,emergency,ordinary,medium,long
executor,DZHKG,Департамент ЖКГ,,,,,,
executor,DZHKG,Ще раз,,,,,,
item,22,Житлово-комунальне господарство,,housing,,,,
item,22.5,Водопостачання,,,,,,
item,22.5.1,Без терміну,DZHKG,,,,,
item,22.5.2,Невідомий виконавець,NOBODY,,24h,,,
item,22.5.1,Дубль,DZHKG,,24h,,,
item,23.1,Без розділу,DZHKG,x,,15cd,,
item,22.x,Поганий код,DZHKG,,,15cd,,
item,22.5.3,Погані числа,DZHKG,,0h,15 days,99cd,abc
item,22.5.4,Години не там,DZHKG,,3wd,24h,,
item,22.5.5,Забагато полів,DZHKG,,,15cd,,,extra
thing,1,Що це,,,,,,
item,22.6.1,Без пункту,DZHKG,,,15cd,,
item,22.7,,DZHKG,,,15cd,,
";
    let report = check(csv, Format::Csv);
    assert_problems(
        &report,
        &[
            (4, "declared twice (first on line 3)"),
            (7, "no term"),
            (8, "does not declare"),
            (9, "appears twice (first on line 7)"),
            (10, "no parent 23"),
            (11, "bad classifier code"),
            (12, "`emergency` term: term `0h` is zero"),
            (12, "`ordinary` term: term `15 days` has no known unit"),
            (12, "`medium` term: term `99cd` exceeds"),
            (
                12,
                "`long` term: term `abc` does not start with a whole number",
            ),
            (12, "no term"),
            (13, "`emergency` term `3wd` has the wrong unit"),
            (13, "`ordinary` term `24h` has the wrong unit"),
            (13, "no term"),
            (14, "has 10 fields but the header has 9"),
            (15, "unknown record type `thing`"),
            (16, "no parent 22.6"),
            (17, "`title` is missing"),
        ],
    );
}

#[test]
fn csv_header_problems() {
    let report = check("code,title,colour\n", Format::Csv);
    assert_problems(
        &report,
        &[
            (1, "unknown CSV column `colour`"),
            (1, "no `record` column"),
        ],
    );
    let report = check("\u{feff}record,code,title\nitem,1,Розділ\n", Format::Csv);
    assert!(report.is_ok(), "a BOM from Excel is fine: {report}");
}

#[test]
fn csv_amendment_rules() {
    let csv = "\
record,action,code,title,executors,area,emergency,ordinary,medium,long
executor,,DZHKG,Департамент ЖКГ,,,,,,
item,reword,22.5.27,Нове формулювання,DZHKG,,4h,,,
item,retire,22.5.2,Не треба назви,,,,,,
item,,22.5.3,Без дії,DZHKG,,,15cd,,
item,delete,22.5.4,Видалення,DZHKG,,,15cd,,
item,add,22.5.5,Підпункт без терміну,DZHKG,,,,,
item,add,22,Розділ з терміном,DZHKG,,,15cd,,
";
    let report = check(csv, Format::Csv);
    assert_problems(
        &report,
        &[
            (4, "`title` must be empty here"),
            (5, "needs an action"),
            (6, "unknown action `delete`"),
            (7, "no term"),
            (8, "groups other rows"),
        ],
    );
    // reword in a base file
    let base = "record,code,title,executors,area,emergency,ordinary,medium,long,\n";
    assert!(!check(base, Format::Csv).is_ok());
}

const GOOD_TOML: &str = r#"# ПРИКЛАД / EXAMPLE
kind = "base"
decision_no = 339
decision_date = 2020-07-22

[[executor]]
code = "KP-VODA"
name = "КП водопостачання (приклад)"

[[item]]
code = "22"
title = "Житлово-комунальне господарство"
area = "housing"

[[item]]
code = "22.5"
title = "Водопостачання"

[[item]]
code = "22.5.27"
title = "Витік води"
executors = ["KP-VODA"]
emergency = "6h"
ordinary = "10wd"
"#;

#[test]
fn good_toml_parses() {
    let file = parse(GOOD_TOML, Format::Toml).unwrap();
    assert_eq!(file.rows.len(), 3);
    assert_eq!(file.rows[2].line, 20, "the line of `code`");
    assert_eq!(file.declared.as_ref().map(|r| r.decision_no), Some(339));
}

#[test]
fn toml_reports_every_problem_with_its_line() {
    let toml = r#"# ПРИКЛАД / EXAMPLE: a file full of mistakes
kind = "base"
colour = "blue"

[[executor]]
code = "DZHKG"
name = "Департамент ЖКГ"

[[executor]]
code = "ДЖКГ"
name = "Кирилицею"

[[item]]
code = "22"
title = "Житлово-комунальне господарство"
area = "housing"

[[item]]
code = 22.5
title = "Код без лапок"

[[item]]
code = "22.5.1"
title = "Без терміну"
executors = ["DZHKG"]

[[item]]
code = "22.6"
title = "Невідомий виконавець"
executors = ["NOBODY"]
ordinary = "15cd"

[[item]]
code = "22.6"
title = "Дубль"
executors = ["DZHKG"]
ordinary = "15cd"

[[item]]
code = "23.1"
title = "Без розділу"
executors = ["DZHKG"]
ordinary = "15cd"

[[item]]
code = "22.7"
title = "Погані числа"
executors = ["DZHKG"]
emergency = "0h"
medium = 30
long = "46cd"
shape = "round"
"#;
    let report = check(toml, Format::Toml);
    assert_problems(
        &report,
        &[
            (3, "unknown key `colour` in the file"),
            (10, "may contain only Latin letters"),
            (19, "must be a string in quotes"),
            (23, "22.5.1 has no parent 22.5"),
            (23, "22.5.1 is a leaf (it has no sub-items) but has no term"),
            (30, "does not declare"),
            (34, "appears twice (first on line 28)"),
            (40, "no parent 23"),
            (40, "23.1 has no area"),
            (46, "22.7 is a leaf (it has no sub-items) but has no term"),
            (49, "`emergency` term: term `0h` is zero"),
            (50, "`medium` must be a string"),
            (51, "`long` term: term `46cd` exceeds"),
            (52, "unknown key `shape` in [[item]]"),
        ],
    );
}

#[test]
fn toml_syntax_error_has_its_line() {
    let toml = "kind = \"base\"\n\n[[item]]\ncode = \"1\"\ntitle = \"Розділ\n";
    let report = check(toml, Format::Toml);
    assert_eq!(report.problems.len(), 1, "{report}");
    assert_eq!(report.problems[0].line, Some(5), "{report}");
    assert!(matches!(report.problems[0].kind, ProblemKind::Toml(_)));

    let report = check(
        "kind = \"both\"\n[[item]]\ncode = \"1\"\ntitle = \"Р\"\n",
        Format::Toml,
    );
    assert_problems(&report, &[(1, "`kind` is `both`")]);

    let report = check(
        "decision_no = -5\ndecision_date = \"16.09.2020\"\n",
        Format::Toml,
    );
    assert_problems(
        &report,
        &[(1, "not a positive whole number"), (2, "not a date")],
    );
}

#[test]
fn report_display_names_file_and_line() {
    let dir = std::env::temp_dir().join(format!("contactd-classifier-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.csv");
    std::fs::write(&path, "record,code,title\nitem,1.x,Поганий\n").unwrap();
    let report = contactd_classifier::check_file(&path);
    let text = report.to_string();
    assert!(
        text.starts_with(&format!("{}:2: bad classifier code", path.display())),
        "{text}"
    );
    let report = contactd_classifier::check_file(&dir.join("nope.xlsx"));
    assert!(
        report.to_string().contains("`*.csv` or `*.toml`"),
        "{report}"
    );
    let report = contactd_classifier::check_file(&dir.join("missing.toml"));
    assert!(
        report.to_string().contains("cannot read the file"),
        "{report}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
