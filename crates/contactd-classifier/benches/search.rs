//! Search benchmark: `SearchIndex` against a naive lowercase-and-`contains` scan on a generated 2,000-item classifier.
//!
//! Run with `cargo bench -p contactd-classifier`. Plain `Instant` loop, no external harness.

use std::hint::black_box;
use std::time::{Duration, Instant};

use contactd_classifier::{ClassifierCode, Item, SearchIndex, Terms};

const WORDS: &[&str] = &[
    "водопостачання",
    "водовідведення",
    "опалення",
    "ремонт",
    "прибирання",
    "під’їзду",
    "покрівлі",
    "ліфта",
    "освітлення",
    "вулиці",
    "дороги",
    "тротуару",
    "зупинки",
    "транспорту",
    "маршруту",
    "пільг",
    "субсидії",
    "допомоги",
    "школи",
    "садка",
    "лікарні",
    "поліклініки",
    "запису",
    "лікаря",
    "дерев",
    "озеленення",
    "сміття",
    "контейнерів",
    "звалища",
    "тварин",
    "паркування",
    "шуму",
    "порядку",
    "газу",
    "тиску",
    "води",
    "каналізації",
    "люка",
    "ями",
    "знаків",
    "розмітки",
    "світлофора",
    "майданчика",
    "спортивного",
    "дитячого",
    "будинку",
    "квартири",
    "оплати",
    "нарахувань",
    "лічильника",
    "аварії",
    "пориву",
    "витоку",
    "засмічення",
    "м’ясних",
    "кіосків",
    "торгівлі",
    "ринку",
    "земельної",
    "ділянки",
    "будівництва",
    "самочинного",
    "архітектури",
    "реклами",
    "зв’язку",
    "інтернету",
    "пенсії",
    "праці",
    "зайнятості",
    "культури",
    "бібліотеки",
    "туризму",
    "молоді",
    "спорту",
    "екології",
    "повітря",
    "захисних",
    "споруд",
    "укриття",
    "підтоплення",
    "снігу",
    "ожеледиці",
    "посипання",
    "вивезення",
    "кладовища",
    "ритуальних",
    "послуг",
    "реєстрації",
    "документів",
    "довідки",
    "енергоаудиту",
    "утеплення",
    "фасаду",
    "вікон",
    "дверей",
    "сходів",
    "підвалу",
    "горища",
    "труби",
    "батарей",
];

/// Deterministic generator (no wall clock, no external crate).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as usize
    }
}

fn title(rng: &mut Lcg) -> String {
    let n = 3 + rng.next() % 5;
    let mut words: Vec<&str> = (0..n).map(|_| WORDS[rng.next() % WORDS.len()]).collect();
    let mut t = String::new();
    if let Some(first) = words.first_mut() {
        let mut chars = first.chars();
        if let Some(c) = chars.next() {
            t.extend(c.to_uppercase());
            t.push_str(chars.as_str());
        }
    }
    for w in words.iter().skip(1) {
        t.push(' ');
        t.push_str(w);
    }
    t
}

/// 25 sections × 8 items × 9 sub-items + groups = 2,025 rows.
fn classifier() -> Vec<Item> {
    let mut rng = Lcg(20200916);
    let mut items = Vec::new();
    let mut push = |segments: &[u16], rng: &mut Lcg| {
        if let Ok(code) = ClassifierCode::from_segments(segments) {
            items.push(Item {
                code,
                title: title(rng),
                executors: Vec::new(),
                area: None,
                terms: Terms::default(),
            });
        }
    };
    for s in 1..=25u16 {
        push(&[s], &mut rng);
        for i in 1..=8u16 {
            push(&[s, i], &mut rng);
            for j in 1..=9u16 {
                push(&[s, i, j], &mut rng);
            }
        }
    }
    items
}

/// The baseline: lowercase every title per query and `contains` each query word.
fn naive(items: &[Item], query: &str, limit: usize) -> Vec<usize> {
    let words: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
    let mut hits: Vec<(usize, usize)> = items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| {
            let title = item.title.to_lowercase();
            let code = item.code.to_string();
            let n = words
                .iter()
                .filter(|w| title.contains(w.as_str()) || code.starts_with(w.as_str()))
                .count();
            (n > 0).then_some((i, n))
        })
        .collect();
    hits.sort_by(|a, b| b.1.cmp(&a.1).then(items[a.0].code.cmp(&items[b.0].code)));
    hits.truncate(limit);
    hits.into_iter().map(|(i, _)| i).collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn measure(queries: &[&str], rounds: usize, mut run: impl FnMut(&str) -> usize) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(queries.len() * rounds);
    for _ in 0..rounds {
        for q in queries {
            let start = Instant::now();
            black_box(run(black_box(q)));
            samples.push(start.elapsed());
        }
    }
    samples.sort();
    samples
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    let items = classifier();
    let build_start = Instant::now();
    let index = SearchIndex::build(&items);
    let build = build_start.elapsed();
    let queries = [
        "вод",
        "водопостачання",
        "ремонт дор",
        "під'їзд",
        "під’їзду",
        "підʼїзд прибир",
        "освітл вулиці",
        "22.5",
        "7",
        "12.3.4",
        "13.8",
        "м'ясн кіоск",
        "ЛІФТ",
        "пільг субсид",
        "сміття контейн",
        "аварія пориву",
        "дитяч майданч",
        "укриття",
        "лікар запис",
        "ожелед посип",
        "24 вод",
        "з",
        "кладов ритуал послуг",
        "фасад вікон дверей",
        "труби батарей підвалу",
    ];
    let limit = 20;
    // Warm up both.
    for q in queries {
        black_box(index.search(q, limit));
        black_box(naive(&items, q, limit));
    }
    let rounds = 200;
    let fast = measure(&queries, rounds, |q| index.search(q, limit).len());
    let slow = measure(&queries, rounds / 10, |q| naive(&items, q, limit).len());
    let (f50, f99) = (percentile(&fast, 0.5), percentile(&fast, 0.99));
    let (s50, s99) = (percentile(&slow, 0.5), percentile(&slow, 0.99));
    println!(
        "classifier: {} items, {} queries",
        items.len(),
        queries.len()
    );
    println!("index build: {:.0} us", us(build));
    println!(
        "SearchIndex::search   median {:>8.1} us   p99 {:>8.1} us   ({} samples)",
        us(f50),
        us(f99),
        fast.len()
    );
    println!(
        "naive lowercase+contains median {:>8.1} us   p99 {:>8.1} us   ({} samples)",
        us(s50),
        us(s99),
        slow.len()
    );
    println!(
        "ratio naive/index: median {:.1}x, p99 {:.1}x",
        s50.as_secs_f64() / f50.as_secs_f64().max(1e-12),
        s99.as_secs_f64() / f99.as_secs_f64().max(1e-12)
    );
    let target = Duration::from_millis(1);
    println!(
        "target p99 <= 1 ms per query: {}",
        if f99 <= target { "met" } else { "NOT met" }
    );
}
